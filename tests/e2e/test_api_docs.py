"""The API's documentation pages (``/docs``: Swagger UI, ``/redoc``: ReDoc) work without the
internet: every script, style sheet and icon they reference is served by the platform itself,
from an installed package, and nothing on the page points elsewhere."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import pytest

from tests.helpers import Api

#: An absolute URL of another host, written anywhere in a page (attributes, inline script).
_EXTERNAL = re.compile(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", re.IGNORECASE)
_REFERENCED = re.compile(r"""(?:src|href)=["']([^"']+)["']""", re.IGNORECASE)


@pytest.mark.parametrize(("page", "needs"), [
    ("/docs", ("swagger-ui-bundle.js", "swagger-ui.css")),
    ("/redoc", ("redoc.standalone.js",)),
])
def test_docs_pages_reference_only_local_assets(api: Api, page: str,
                                                needs: tuple[str, ...]) -> None:
    r = api.client.get(page)
    assert r.status_code == 200, r.text
    html = r.text
    assert not _EXTERNAL.findall(html), f"{page} points outside the platform: " \
        f"{_EXTERNAL.findall(html)}"
    assets = _REFERENCED.findall(html)
    for name in needs:
        assert any(a.endswith(name) for a in assets), (name, assets)
    for asset in assets:
        got = api.client.get(urljoin(page, asset))
        assert got.status_code == 200, (asset, got.status_code)
        assert len(got.content) > 1000, asset  # the real file, not an empty answer
    if page == "/docs":  # Swagger UI's validator badge would fetch an image from its host
        assert '"validatorUrl": null' in html
