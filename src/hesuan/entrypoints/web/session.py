"""Web sessions and CSRF protection.

The session is the same bearer token the API hands out (``AuthService.login``), kept in a
``Secure; HttpOnly; SameSite=Strict`` cookie so that page scripts never see it. Every form
carries a CSRF token:

- signed in: the token is an HMAC of the session token under the platform's keyed hash (a
  per-session secret the server can recompute and a cross-site page cannot know);
- on the login form (no session yet): a random double-submit token, in an HttpOnly cookie and
  in the form, which must match.

Scripts that post JSON (the sampling station's sync) send the signed token in the
``X-CSRF-Token`` header, read from the page's ``<meta name="csrf-token">``.

Imports: FastAPI/Starlette, ``hesuan.bootstrap`` (types), ``hesuan.domain``.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request
from fastapi.responses import Response

from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal
from hesuan.domain.errors import NotAuthenticated, PermissionDenied

__all__ = [
    "LANG_COOKIE",
    "LOGIN_CSRF_COOKIE",
    "SESSION_COOKIE",
    "check_csrf",
    "check_login_csrf",
    "clear_session",
    "csrf_token",
    "new_login_csrf",
    "optional_principal",
    "principal",
    "set_cookie",
    "start_session",
]

SESSION_COOKIE = "hs_session"
LOGIN_CSRF_COOKIE = "hs_login_csrf"
LANG_COOKIE = "hs_lang"


def platform_of(request: Request) -> Platform:
    p: Platform = request.app.state.platform
    return p


def set_cookie(response: Response, name: str, value: str, max_age: int | None,
               http_only: bool = True) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", secure=True,
                        httponly=http_only, samesite="strict")


def start_session(request: Request, response: Response, token: str) -> None:
    ttl = platform_of(request).settings.token_ttl
    set_cookie(response, SESSION_COOKIE, token, int(ttl.total_seconds()))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/", secure=True, httponly=True,
                           samesite="strict")


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True,
                           samesite="strict")


def optional_principal(request: Request) -> Principal | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return platform_of(request).auth.authenticate(token)
    except NotAuthenticated:
        return None


def principal(request: Request) -> Principal:
    """The signed-in user of a page request (redirected to the login page otherwise)."""
    me = optional_principal(request)
    if me is None:
        raise NotAuthenticated("please sign in", code="not_signed_in")
    return me


def csrf_token(request: Request) -> str:
    """The signed CSRF token of the current session ('' without a session)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return ""
    mac = platform_of(request).deps.vault.lookup_hash(f"web-csrf:{token}")
    return mac.hex()[:40]


def _same(expected: str, sent: str) -> bool:
    """A token compared in constant time, as bytes: a sent token of any characters is just
    wrong (``compare_digest`` refuses non-ASCII ``str``)."""
    return hmac.compare_digest(expected.encode(), sent.encode("utf-8", "surrogateescape"))


def check_csrf(request: Request, sent: str | None) -> None:
    expected = csrf_token(request)
    if not expected or not sent or not _same(expected, sent):
        raise PermissionDenied("the form has expired or did not come from this site; "
                               "reload the page and try again", code="bad_csrf")


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def check_login_csrf(request: Request, sent: str | None) -> None:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not cookie or not sent or not _same(cookie, sent):
        raise PermissionDenied("the form has expired or did not come from this site; "
                               "reload the page and try again", code="bad_csrf")
