"""The API's documentation pages render in a browser that reaches nothing but the platform
(a machine without the internet): Swagger UI at ``/docs`` lists the operations, ReDoc at
``/redoc`` shows the title, and neither page asks any other host for anything."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, Route, expect

from tests.browser.conftest import Site, shot


@pytest.mark.parametrize(("path", "selector"), [
    ("/docs", ".swagger-ui .opblock-summary-path"),
    ("/redoc", "h1"),
])
def test_docs_render_offline(site: Site, context: BrowserContext, path: str,
                             selector: str) -> None:
    elsewhere: list[str] = []

    def only_the_platform(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", only_the_platform)
    page = context.new_page()
    page.goto(f"{site.url}{path}")
    expect(page.locator(selector).first).to_be_visible(timeout=20_000)
    if path == "/redoc":
        expect(page.locator(selector).first).to_contain_text("Hesuan")
    shot(page, f"api-docs-{path.strip('/')}", full_page=False)
    assert not elsewhere, f"{path} asked other hosts: {elsewhere}"
