"""The FastAPI application: ``create_app`` builds it, installs the middleware and the error
handlers, and includes one router per resource (``*_routes.py``); the routes are thin
(parse → service → render).

Authentication is a bearer token (``POST /auth/token``); every route but the token route and
``/health`` requires one. Errors of the one hierarchy map here, once, to HTTP status codes.

Imports: FastAPI, ``hesuan.bootstrap`` (the ``Platform`` type), the routers of this package and
of ``hesuan.entrypoints.web``, ``hesuan.services``, ``hesuan.domain``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from hesuan import __version__
from hesuan.bootstrap import Platform
from hesuan.domain.errors import HesuanError, InvalidInput
from hesuan.entrypoints.api import (
    auth_routes,
    boxes_routes,
    corrections_routes,
    door_teams_routes,
    fence_routes,
    lab_messages_routes,
    lanes_routes,
    meta_routes,
    passes_routes,
    people_routes,
    places_routes,
    plates_routes,
    rejections_routes,
    reports_routes,
    results_routes,
    rosters_routes,
    scans_routes,
    status_routes,
    teams_routes,
    zones_routes,
)
from hesuan.entrypoints.api import schemas as s
from hesuan.entrypoints.api.bad_input import RequireJson, framework_error, validation_error
from hesuan.entrypoints.api.docs_pages import add_docs_pages
from hesuan.entrypoints.api.station_path import StationFastPath
from hesuan.entrypoints.errors import ERROR_STATUSES, error_json
from hesuan.entrypoints.web import router as web_router
from hesuan.services.passes import CHECK_AUDIT_EVERY

__all__ = ["create_app"]

log = logging.getLogger("hesuan.api")

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": s.ErrorResponse} for code in ERROR_STATUSES
}


class RefuseNul:
    """Refuse a NUL character in the path or in any query parameter (no store keeps one:
    PostgreSQL rejects it outright) with the usual 422 error, naming the query parameter (or
    ``path``). A plain ASGI middleware, not a dependency: it runs before routing, at a fraction
    of a dependency's cost on every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            field = None
            if "\x00" in scope["path"]:
                field = "path"
            elif b"%00" in scope["query_string"]:
                field = next((k for k, v in parse_qsl(scope["query_string"].decode("latin-1"),
                                                      keep_blank_values=True)
                              if "\x00" in k or "\x00" in v), "query")
            if field is not None:
                exc = InvalidInput(f"{field} must not contain NUL (\\x00) characters",
                                   code="bad_character", field=field)
                await error_json(exc)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _check_audit(platform: Platform) -> Any:
    """The app's lifespan: pass checks are written to the audit log every
    ``CHECK_AUDIT_EVERY`` on a worker thread, and once more at shutdown."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async def every() -> None:
            while True:
                await asyncio.sleep(CHECK_AUDIT_EVERY.total_seconds())
                try:
                    await run_in_threadpool(platform.passes.flush_checks)
                except Exception:  # the checks stay lost only if the next flush fails too
                    log.exception("auditing pass checks failed")

        task = asyncio.create_task(every())
        try:
            yield
        finally:
            task.cancel()
            await run_in_threadpool(platform.passes.flush_checks)

    return lifespan


def create_app(platform: Platform) -> FastAPI:
    on = platform.settings.telemetry
    docs = platform.settings.docs_enabled  # /docs, /redoc and /openapi.json, or none of them
    app = FastAPI(title="Hesuan (核酸) API", version=__version__, responses=_ERRORS,
                  description="Routine PCR mass testing: sample → deliver → test → report.",
                  docs_url=None, redoc_url=None,  # add_docs_pages: served without a CDN
                  openapi_url="/openapi.json" if docs else None,
                  telemetry={"tracing": on, "metrics": on, "logs": on, "operation_spans": on},
                  lifespan=_check_audit(platform))
    app.add_middleware(RefuseNul)
    app.add_middleware(RequireJson, routes=lambda: app.routes)
    if not on:
        # outermost of ours: the usual scan skips the framework (station_path.py); FastAPI's
        # telemetry, when on, sees every request, so then it goes the usual way
        app.add_middleware(StationFastPath, platform=platform)
    app.state.platform = platform

    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, framework_error)

    @app.exception_handler(HesuanError)
    def _hesuan_error(_: Request, exc: HesuanError) -> JSONResponse:
        return error_json(exc)

    # routes match in order, a linear scan: the hot ones come first (the
    # station's scans, then the venues' pass check), the pages last
    for resource in (meta_routes, scans_routes, passes_routes, auth_routes, places_routes,
                     people_routes, boxes_routes, results_routes, plates_routes,
                     corrections_routes, rejections_routes, lab_messages_routes,
                     reports_routes,
                     status_routes, zones_routes, rosters_routes, fence_routes, lanes_routes,
                     teams_routes, door_teams_routes):
        app.include_router(resource.router)
    if docs:
        add_docs_pages(app, "/openapi.json")
    app.include_router(web_router)
    return app
