"""What the API answers to a body it cannot take: the 422 of a body that fails its schema, and
the refusal of a body that does not say it is JSON.

* ``validation_error`` answers FastAPI's ``RequestValidationError`` (every route's, the station
  routes' own, the pages'; a body that is not JSON too) in the platform's one error shape,
  ``{"error": {code, field, message, errors}}``: ``code``, ``field`` and ``message`` name the
  first error (pydantic's error type, the field's dotted path), ``errors`` lists each one as
  FastAPI does (``type``, ``loc``, ``msg``, ``input``, ``ctx``). Each echoes at most a short,
  cut part of what was sent, never the value of a field named like a password, secret or
  token, and at most ``MAX_ERRORS`` errors are listed. FastAPI's own answer echoes the whole
  input: a 10 MB password came back in a 10 MB answer, and a missing field echoed its whole
  object, passwords included.
* ``framework_error`` answers the framework's other refusals in the same shape: a body it could
  not parse (a malformed multipart form, which FastAPI answers 400) is a 422 ``bad_body``, and
  a method the path does not take is a 405 whose ``Allow`` lists the methods of every route of
  that path (Starlette names only the first route's, so ``PUT /policies`` was told ``GET``).
* ``RequireJson`` refuses a request to a route that reads a JSON body when the body is not
  declared ``application/json`` (or ``application/*+json``): a ``text/plain`` or form post is
  what a browser sends cross-site without asking, so a JSON route must not read one. The routes
  are the application's own (those whose body is a model, and the station routes that read
  theirs themselves, by their OpenAPI body); multipart uploads and page forms are not touched.

Imports: FastAPI/Starlette, ``hesuan.domain``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import params
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from hesuan.domain.errors import InvalidInput
from hesuan.entrypoints.errors import error_json

__all__ = ["MAX_ECHO", "MAX_ERRORS", "RequireJson", "framework_error", "is_json",
           "validation_error"]

#: Errors listed in one 422 answer (the first ones, in the body's order).
MAX_ERRORS = 20
#: Characters of one sent text echoed back in an error (then "…").
MAX_ECHO = 40
_MAX_ITEMS = 8  # entries of a sent object or array echoed back
_MAX_DEPTH = 2  # levels of a sent object echoed back
_REDACTED = "[redacted]"
_SECRET = re.compile(r"pass(?:word|wd|phrase)?|secret|token|credential", re.IGNORECASE)
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _secret(name: object) -> bool:
    return isinstance(name, str) and _SECRET.search(name) is not None


def _cut(text: str, limit: int = MAX_ECHO) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _echo(value: Any, depth: int = 0) -> Any:
    """A short copy of what was sent, without the values of secret-named fields."""
    if isinstance(value, str):
        return _cut(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth >= _MAX_DEPTH:
        return "…"
    if isinstance(value, dict):
        return {_cut(str(k)): _REDACTED if _secret(k) else _echo(v, depth + 1)
                for k, v in list(value.items())[:_MAX_ITEMS]}
    if isinstance(value, list | tuple):
        return [_echo(v, depth + 1) for v in value[:_MAX_ITEMS]]
    return {}  # bytes (maybe not UTF-8) and anything else: not echoed, as FastAPI does bytes


def _short_error(error: dict[str, Any]) -> dict[str, Any]:
    loc = tuple(_cut(p) if isinstance(p, str) else p for p in error.get("loc", ()))
    out: dict[str, Any] = {"type": error.get("type"), "loc": loc,
                           "msg": _cut(str(error.get("msg", "")), 300)}
    if "input" in error:
        out["input"] = (_REDACTED if any(_secret(p) for p in loc)
                        else _echo(error["input"]))
    if "ctx" in error:
        out["ctx"] = _echo(jsonable_encoder(error["ctx"], custom_encoder={
            Exception: lambda e: _cut(str(e), 300)}))
    return out


_SOURCES = frozenset({"body", "query", "path", "header", "cookie"})


def _field(loc: Sequence[Any], kind: str) -> str:
    """The dotted name of the field at ``loc`` (``results.0.barcode``), without the part of
    the request it is in; ``body`` for the body as a whole (a body that is not JSON)."""
    if kind == "json_invalid":  # ("body", position in the text)
        return "body"
    parts = list(loc)
    if len(parts) > 1 and parts[0] in _SOURCES:
        parts = parts[1:]
    return ".".join(str(p) for p in parts) or "body"


async def validation_error(_: Request, exc: Exception) -> JSONResponse:
    """The 422 answer to a body, path or query that fails its schema (see the module doc)."""
    assert isinstance(exc, RequestValidationError)
    errors = [_short_error(dict(e)) for e in exc.errors()[:MAX_ERRORS]]
    first = errors[0] if errors else {"type": "invalid_input", "loc": (), "msg": "invalid"}
    kind = str(first["type"])
    field = _field(first["loc"], kind)
    return JSONResponse({"error": {"code": kind, "field": field,
                                   "message": f"{field}: {first['msg']}",
                                   "errors": jsonable_encoder(errors)}}, status_code=422)


def _allowed(routes: Sequence[BaseRoute], scope: Scope) -> list[str]:
    """Every method some route of the request's path takes."""
    methods: set[str] = set()
    for route in iter_route_contexts(routes):
        regex, taken = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and taken and regex.match(scope["path"]):
            methods |= set(taken)
    return sorted(methods)


async def framework_error(request: Request, exc: Exception) -> Response:
    """The framework's own refusals (see the module doc); any other is FastAPI's answer."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:  # FastAPI could not parse the body (a broken multipart form)
        return error_json(InvalidInput(
            "body: the request body could not be read as its declared content type "
            f"({_cut(str(exc.detail), 120)})", code="bad_body", field="body"))
    if exc.status_code == 405:
        allow = ", ".join(_allowed(request.app.routes, request.scope))
        return JSONResponse({"error": {
            "code": "method_not_allowed", "field": None,
            "message": f"{request.method} is not a method of this path; it takes {allow}"}},
            status_code=405, headers={"Allow": allow})
    return await http_exception_handler(request, exc)


def is_json(content_type: str | None) -> bool:
    """True for ``application/json`` and ``application/<anything>+json``, with any
    parameters (``; charset=utf-8``)."""
    if not content_type:
        return False
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/")
                                           and media.endswith("+json"))


@dataclass(frozen=True, slots=True)
class _JsonRoute:
    path: re.Pattern[str]
    methods: frozenset[str]


def _json_routes(routes: Sequence[BaseRoute]) -> list[_JsonRoute]:
    """The routes that read a JSON body: a body parameter that is not a form or file, or an
    OpenAPI body in JSON for a route that reads its body itself (the station routes). Included
    routers are walked as FastAPI itself resolves them (``iter_route_contexts``)."""
    out = []
    for route in iter_route_contexts(routes):
        body_field = getattr(route, "body_field", None)
        if body_field is not None:
            takes = not isinstance(body_field.field_info, params.Form)  # File is a Form
        else:
            extra = getattr(route, "openapi_extra", None) or {}
            takes = "application/json" in extra.get("requestBody", {}).get("content", {})
        regex, methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if takes and regex is not None and methods:
            out.append(_JsonRoute(regex, frozenset(methods)))
    return out


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RequireJson:
    """ASGI middleware: a request with a body, to a route that reads JSON, must declare
    ``application/json``; otherwise a 422 naming ``content-type`` (code ``not_json``). A plain
    ASGI middleware like ``RefuseNul``: a request that declares JSON costs one header look-up,
    and only the others are matched against the routes."""

    def __init__(self, app: ASGIApp, routes: Callable[[], Sequence[BaseRoute]]) -> None:
        self.app = app
        self._routes = routes
        self._json_routes: list[_JsonRoute] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] in _BODY_METHODS
                and not is_json(_header(scope, b"content-type"))
                and self._has_body(scope) and self._reads_json(scope)):
            exc = InvalidInput("content-type: this route reads a JSON body; send it with "
                               "Content-Type: application/json", code="not_json",
                               field="content-type")
            await error_json(exc)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _has_body(scope: Scope) -> bool:
        length = _header(scope, b"content-length")
        return (length is not None and length.strip() not in ("", "0")) or (
            _header(scope, b"transfer-encoding") is not None)

    def _reads_json(self, scope: Scope) -> bool:
        if self._json_routes is None:  # the routes are complete once requests arrive
            self._json_routes = _json_routes(self._routes())
        path, method = scope["path"], scope["method"]
        return any(method in r.methods and r.path.match(path) for r in self._json_routes)
