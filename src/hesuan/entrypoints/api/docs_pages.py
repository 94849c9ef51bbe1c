"""The API's documentation pages, ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), served with
their scripts, style sheets and icon from an installed package (``fastapi-offline`` ships
them) under ``/docs/assets``, so they work on a machine without the internet: FastAPI's own
pages load them from a CDN and stay blank offline. Swagger UI's validator badge, which fetches
an image from swagger.io, is off, and each page's Content-Security-Policy lets the browser
fetch from this server only (ReDoc's side menu shows its maker's logo from a CDN: the browser
does not ask for it, and ReDoc leaves it out).

Imports: FastAPI/Starlette.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse

__all__ = ["ASSETS", "add_docs_pages"]

#: Where the pages' assets are served.
ASSETS = "/docs/assets"
_SWAGGER = "/docs"
_OAUTH2_REDIRECT = "/docs/oauth2-redirect"
_REDOC = "/redoc"
#: The pages' own scripts are inline (their configuration); ReDoc runs its search in a worker
#: made from a blob.
_POLICY = {"Content-Security-Policy": (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")}


def _guarded(page: HTMLResponse) -> HTMLResponse:
    page.headers.update(_POLICY)
    return page


def add_docs_pages(app: FastAPI, openapi_url: str) -> None:
    """Serve ``/docs``, its OAuth2 redirect page, ``/redoc`` and their assets on ``app``
    (created with ``docs_url=None, redoc_url=None``)."""
    app.mount(ASSETS, StaticFiles(directory=str(files("fastapi_offline") / "static")),
              name="docs-assets")

    def url(request: Request, path: str) -> str:
        return f"{request.scope.get('root_path', '')}{path}"

    async def swagger_ui(request: Request) -> HTMLResponse:
        return _guarded(get_swagger_ui_html(
            openapi_url=url(request, openapi_url), title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=url(request, _OAUTH2_REDIRECT),
            swagger_js_url=url(request, f"{ASSETS}/swagger-ui-bundle.js"),
            swagger_css_url=url(request, f"{ASSETS}/swagger-ui.css"),
            swagger_favicon_url=url(request, f"{ASSETS}/favicon.png"),
            swagger_ui_parameters={"validatorUrl": None}))

    async def oauth2_redirect(_: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> HTMLResponse:
        return _guarded(get_redoc_html(
            openapi_url=url(request, openapi_url), title=f"{app.title} - ReDoc",
            redoc_js_url=url(request, f"{ASSETS}/redoc.standalone.js"),
            redoc_favicon_url=url(request, f"{ASSETS}/favicon.png"), with_google_fonts=False))

    app.add_route(_SWAGGER, swagger_ui, include_in_schema=False)
    app.add_route(_OAUTH2_REDIRECT, oauth2_redirect, include_in_schema=False)
    app.add_route(_REDOC, redoc, include_in_schema=False)
