"""Signing in and out, the language switch, the home redirect per role, and the files the pages
load (styles, scripts, the vendored ECharts, the service worker, the district GeoJSON).

Imports: FastAPI/Starlette, ``hesuan.domain``, the web package.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from hesuan.domain.access import Action
from hesuan.domain.errors import (
    HesuanError,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    TooManyAttempts,
)
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.web.forms import LoginForm, SignedForm, WebMe, text
from hesuan.entrypoints.web.i18n import LOCALES
from hesuan.entrypoints.web.render import (
    NEXT_MAX_LEN,
    WebRoute,
    error_text,
    pages_for,
    redirect,
    render,
)
from hesuan.entrypoints.web.session import (
    LANG_COOKIE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    clear_session,
    new_login_csrf,
    optional_principal,
    platform_of,
    set_cookie,
    start_session,
)

__all__ = ["router"]

router = APIRouter(route_class=WebRoute, include_in_schema=False)

_STATIC = Path(__file__).parent / "static"
_DATA = Path(__file__).parents[2] / "data"


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site (no scheme, no host, no ``//``) may be a redirect target."""
    if target and target.startswith("/web/") and "//" not in target and "\\" not in target:
        return target
    return None


@router.get("/", openapi_extra=acts(Action.PUBLIC))
def root() -> Response:
    return redirect("/web/")


@router.get("/web", openapi_extra=acts(Action.PUBLIC))
@router.get("/web/", openapi_extra=acts(Action.PUBLIC))
def home(request: Request) -> Response:
    me = optional_principal(request)
    if me is None:
        return redirect("/web/login")
    pages = pages_for(me.role)
    return redirect(pages[0][0] if pages else "/web/login")


def _login_page(request: Request, error: str | None = None, next_url: str | None = None,
                username: str = "", status_code: int = 200) -> Response:
    token = new_login_csrf()
    resp = render(request, "login.html", None, status_code=status_code, login_csrf=token,
                  error=error, next_url=_safe_next(next_url) or "", username=username)
    set_cookie(resp, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return resp


@router.get("/web/login", openapi_extra=acts(Action.PUBLIC))
def login_page(request: Request, next: str | None = None) -> Response:
    return _login_page(request, next_url=next)


@router.post("/web/login", openapi_extra=acts(Action.PUBLIC))
def login(request: Request, form: LoginForm) -> Response:
    username = text(form, "username", max_len=60)
    password = text(form, "password", max_len=200)
    next_url = _safe_next(text(form, "next", max_len=NEXT_MAX_LEN))
    platform = platform_of(request)
    try:
        token = platform.auth.login(username, password,
                                    request.client.host if request.client else None)
    except NotAuthenticated as exc:
        return _login_page(request, error_text(request, exc), next_url, username, 401)
    except TooManyAttempts as exc:
        resp = _login_page(request, error_text(request, exc), next_url, username, 429)
        resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    me = platform.auth.authenticate(token)
    pages = pages_for(me.role)
    if not pages:  # an account of the API alone (the province's): told so, no session
        platform.auth.logout(token)
        api_only = PermissionDenied("this account has no web pages: it reads the API",
                                    code="no_web_pages")
        return _login_page(request, error_text(request, api_only), next_url, username)
    target = next_url or pages[0][0]
    resp = redirect(target)
    start_session(request, resp, token)
    return resp


@router.post("/web/logout", openapi_extra=acts(Action.SIGNED_IN))
def logout(request: Request, me: WebMe, form: SignedForm) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        platform_of(request).auth.logout(token)
    resp = redirect("/web/login")
    clear_session(resp)
    return resp


@router.get("/web/lang/{locale}", openapi_extra=acts(Action.PUBLIC))
def switch_language(request: Request, locale: str, next: str | None = None) -> Response:
    if locale not in LOCALES:
        raise NotFound("no such language", code="unknown_language", field="locale")
    resp = redirect(_safe_next(next) or "/web/")
    set_cookie(resp, LANG_COOKIE, locale, max_age=365 * 24 * 3600, http_only=False)
    return resp


def _file(folder: Path, name: str, cache: str) -> Response:
    base = folder.resolve()
    path = (folder / name).resolve()
    if base not in path.parents or not path.is_file():
        raise NotFound("no such file", code="unknown_file")
    media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix == ".js":
        media = "text/javascript"
    return FileResponse(path, media_type=media, headers={
        "Cache-Control": cache, "X-Content-Type-Options": "nosniff"})


@router.get("/web/static/{name:path}", openapi_extra=acts(Action.PUBLIC))
def static(name: str) -> Response:
    return _file(_STATIC, name, "public, max-age=3600")


@router.get("/web/sw.js", openapi_extra=acts(Action.PUBLIC))
def service_worker() -> Response:
    """The service worker lives at /web/ so that its scope is the whole web app."""
    return _file(_STATIC, "sw.js", "no-cache")


@router.get("/web/districts.geojson", openapi_extra=acts(Action.SIGNED_IN))
def districts(me: WebMe) -> Response:
    """The district boundaries shipped with the project (no map tiles from the network)."""
    try:
        return _file(_DATA, "taiyuan-districts.geojson", "private, max-age=86400")
    except HesuanError:
        raise NotFound("the district map is not installed", code="no_district_map") from None
