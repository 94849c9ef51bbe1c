"""Rendering pages: one Jinja2 environment per language (catalog installed), the context every
page gets (who is signed in, their pages, the CSRF token, the language), and the route class
that turns a service error into a page (or a redirect to the login page).

Imports: FastAPI/Starlette, Jinja2, ``hesuan.domain``, ``hesuan.services``, the web package.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape

from hesuan import __version__
from hesuan.domain.access import Principal, Role
from hesuan.domain.errors import (
    HesuanError,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    RuleViolation,
)
from hesuan.domain.local_time import SHANGHAI, short
from hesuan.entrypoints.errors import error_headers, status_for
from hesuan.entrypoints.web import messages as m
from hesuan.entrypoints.web.i18n import LOCALES, N_, pick_locale, translations
from hesuan.entrypoints.web.session import LANG_COOKIE, csrf_token, optional_principal

__all__ = ["FORM_ERRORS", "NEXT_MAX_LEN", "Page", "WebRoute", "error_text", "gettext_for",
           "pages_for", "redirect", "render"]

_TEMPLATES = Path(__file__).parent / "templates"

#: Pages per role, in the order of the navigation bar: (path, label).
Page = tuple[str, str]
_PAGES: dict[str, Page] = {
    "station": ("/web/station", N_("Sampling station")),
    "site": ("/web/site", N_("My site")),
    "courier": ("/web/courier", N_("Courier")),
    "lab": ("/web/lab", N_("Laboratory")),
    "plates": ("/web/lab/plates", N_("Plates")),
    "review": ("/web/lab/review", N_("Review and release")),
    "corrections": ("/web/lab/corrections", N_("Corrections")),
    "me": ("/web/me", N_("My code and status")),
    "venue": ("/web/venue", N_("Venue check")),
    "area": ("/web/area", N_("My area")),
    "roster": ("/web/roster", N_("Roster")),
    "alerts": ("/web/alerts", N_("Fence alerts")),
    "zones": ("/web/zones", N_("Zones")),
    "dashboard": ("/web/dashboard", N_("Command centre")),
    "admin": ("/web/admin", N_("Administration")),
}
_ROLE_PAGES: dict[Role, tuple[str, ...]] = {
    Role.SAMPLER: ("station",),
    Role.SITE_LEAD: ("site", "station"),
    Role.COURIER: ("courier",),
    Role.LAB: ("lab", "plates", "review", "corrections"),
    Role.RESIDENT: ("me",),
    Role.VENUE: ("venue",),
    Role.GRID_WORKER: ("roster", "area", "alerts", "zones", "venue"),
    Role.HEALTH_OFFICER: ("dashboard", "area", "zones", "alerts", "roster", "venue"),
    Role.ADMIN: ("admin", "dashboard", "area", "zones"),
}


def pages_for(role: Role) -> list[Page]:
    return [_PAGES[k] for k in _ROLE_PAGES.get(role, ())]


_HOURS_MINUTES = N_("%(h)s h %(m)s min")
_ONLY_MINUTES = N_("%(m)s min")


def _minutes(v: float | int | None, gettext: Callable[[str], str]) -> str:
    if v is None:
        return "—"
    v = round(v)
    if v >= 60:
        return gettext(_HOURS_MINUTES) % {"h": v // 60, "m": f"{v % 60:02d}"}
    return gettext(_ONLY_MINUTES) % {"m": v}


def _iso_local(value: str | None) -> str:
    """An ISO time from a report (``…Z``) in Beijing time."""
    if not value:
        return "—"
    return short(datetime.fromisoformat(value.replace("Z", "+00:00")))


def _hour_label(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=SHANGHAI).strftime("%H:00")


@functools.cache
def _env(locale: str) -> Environment:
    env = Environment(loader=FileSystemLoader(_TEMPLATES),
                      autoescape=select_autoescape(["html", "xml", "svg"]),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.filters["local"] = short
    env.filters["minutes"] = functools.partial(_minutes, gettext=translations(locale).gettext)
    env.filters["hourlabel"] = _hour_label
    env.filters["isolocal"] = _iso_local
    env.globals.update(version=__version__, labels=m, locales=LOCALES)
    return env


def _locale(request: Request) -> str:
    return pick_locale(request.cookies.get(LANG_COOKIE))


def gettext_for(request: Request) -> Callable[[str], str]:
    return translations(_locale(request)).gettext


#: The errors a page answers itself, on the form that caused them. Access errors
#: (PermissionDenied, NotAuthenticated) are never among them: a page never turns a refusal
#: into a re-rendered form, so it answers 403/401 as the API does.
FORM_ERRORS = (InvalidInput, NotFound, RuleViolation)


def error_text(request: Request, exc: HesuanError) -> str:
    """A service error in plain words in the page's language: the words for its code and the
    state it names (``code:status``), or for its code and field (``code:field``: a box, not a
    tube, of another site), or for its code; the facts it names (who, when) filled in."""
    detail = dict(exc.detail)
    keys = (f"{exc.code}:{detail.get('status')}", f"{exc.code}:{exc.field}", exc.code)
    known = next((m.ERRORS[k] for k in keys if k in m.ERRORS), None)
    if known is None:
        return exc.message
    if "at" in detail:
        detail["at"] = _iso_local(detail["at"])
    text = gettext_for(request)(known)
    try:
        return text % detail if detail else text
    except (KeyError, TypeError, ValueError):
        return text


def render(request: Request, template: str, me: Principal | None = None,
           status_code: int = 200, *, role_label: str | None = None,
           **context: Any) -> HTMLResponse:
    """The page ``template`` for ``me``; ``role_label`` names the role more closely than the
    role's own label (a checkpoint's device signs in with a ``venue`` account)."""
    locale = _locale(request)
    env = _env(locale)
    body = env.get_template(template).render(
        request=request, me=me, nav=pages_for(me.role) if me else [], path=request.url.path,
        csrf=csrf_token(request) if me else "", locale=locale, lang_tag=LOCALES[locale],
        lang_code="en" if locale == "en" else "zh",
        role_label=role_label or (m.ROLES.get(me.role, "") if me else ""),
        here=quote(_here(request), safe="/"), **context)
    return HTMLResponse(body, status_code=status_code, headers=_headers())


def _here(request: Request) -> str:
    """Where the language switch returns to: this page with its query (the tab, the area,
    the page of a list), or after a form post the page the form was on (a form's action
    cannot be opened with GET)."""
    if request.method == "GET":
        query = request.url.query
        return f"{request.url.path}?{query}" if query else request.url.path
    ref = urlsplit(request.headers.get("referer", ""))
    if ref.netloc == request.url.netloc and ref.path.startswith("/web/"):
        return f"{ref.path}?{ref.query}" if ref.query else ref.path
    return "/web/"


def _headers() -> dict[str, str]:
    return {
        "Cache-Control": "no-store",
        "Content-Security-Policy": (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'"),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
    }


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def _error_page(request: Request, exc: HesuanError) -> Response:
    """The page (or JSON) answering ``exc``, with the status and headers the API answers
    (``entrypoints.errors``); a page's session is its cookie, so a 401 asks for no bearer
    token, and a page opened without a session goes to the login page."""
    wants_json = request.url.path.endswith(".json") or "application/json" in request.headers.get(
        "accept", "")
    code = status_for(exc)
    if isinstance(exc, NotAuthenticated):
        if wants_json or request.method != "GET":
            return JSONResponse({"error": exc.as_dict()}, status_code=code)
        return redirect(f"/web/login?next={quote(_return_to(request))}")
    if wants_json:
        resp: Response = JSONResponse({"error": exc.as_dict()}, status_code=code)
    else:
        resp = render(request, "error.html", optional_principal(request), status_code=code,
                      message=error_text(request, exc), code=code)
    resp.headers.update(error_headers(exc) or {})
    return resp


#: The longest page address the login form sends back (``auth_routes.login``'s ``next``)
NEXT_MAX_LEN = 300


def _return_to(request: Request) -> str:
    """The page to open after signing in: this one, with its query (a roster's filter and
    page) unless that makes it longer than the login form takes back."""
    path, query = request.url.path, request.url.query
    with_query = f"{path}?{query}" if query else path
    return with_query if len(with_query) <= NEXT_MAX_LEN else path


class WebRoute(APIRoute):
    """A page route: a service error becomes an error page in the page's language, and a
    missing or expired session a redirect to the login page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except HesuanError as exc:
                return _error_page(request, exc)

        return handler
