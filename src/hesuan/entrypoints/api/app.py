"""The FastAPI application: routes are thin (parse → service → render).

Authentication is a bearer token (``POST /auth/token``); every route but the token route and
``/health`` requires one. Errors of the one hierarchy map here, once, to HTTP status codes.

Imports: FastAPI, pydantic, ``hesuan.bootstrap`` (the ``Platform`` type), ``hesuan.services``,
``hesuan.domain``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import FastAPI, File, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from hesuan import __version__
from hesuan.bootstrap import Platform
from hesuan.domain.access import Action
from hesuan.domain.errors import HesuanError, InvalidInput, StoreUnavailable
from hesuan.domain.people import IdKind
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.api import (
    fence_routes,
    lanes_routes,
    passes_routes,
    rosters_routes,
    status_routes,
    teams_routes,
    zones_routes,
)
from hesuan.entrypoints.api import schemas as s
from hesuan.entrypoints.api.bad_input import RequireJson, validation_error
from hesuan.entrypoints.api.deps import Me, current_principal
from hesuan.entrypoints.api.station_path import OUTCOME as _OUTCOME
from hesuan.entrypoints.api.station_path import StationFastPath, read_batch
from hesuan.entrypoints.api.station_path import to_event as _event
from hesuan.entrypoints.errors import ERROR_STATUSES, error_json
from hesuan.entrypoints.web import router as web_router
from hesuan.services.lab import ResultInput
from hesuan.services.passes import CHECK_AUDIT_EVERY
from hesuan.services.people import PersonInput
from hesuan.services.places import LabInput, RegionInput, SiteInput
from hesuan.services.sampling import EventOutcome, StationEvent

__all__ = ["create_app"]

log = logging.getLogger("hesuan.api")

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": s.ErrorResponse} for code in ERROR_STATUSES
}


@dataclass(slots=True)
class _BatchAnswer:
    """``StationBatchOut``'s shape over the service's own outcomes."""

    results: list[EventOutcome]
    accepted: int
    duplicate: int
    rejected: int


_BATCH_ANSWER = TypeAdapter(_BatchAnswer)

_Read = TypeVar("_Read")


def _station_body(read: Callable[[bytes], _Read], raw: bytes) -> _Read:
    """The request's JSON as ``read`` makes it, or FastAPI's usual 422 (locations under
    ``body``) when ``read`` raises a validation error."""
    try:
        return read(raw)
    except ValidationError as exc:
        # an unreadable body is echoed as FastAPI does it (no input): it may not be UTF-8
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])}
             | ({"input": {}} if isinstance(e.get("input"), bytes) else {})
             for e in exc.errors(include_url=False)]) from None


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a route that validates its own JSON body as ``model`` (``_station_body``):
    the body's schema, with nested models written out in place, and the bearer scheme that
    ``current_principal`` checks."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": inline(schema)}}},
            "security": [{"HTTPBearer": []}]}


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
                  docs_url="/docs" if docs else None, redoc_url="/redoc" if docs else None,
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

    @app.exception_handler(HesuanError)
    def _hesuan_error(_: Request, exc: HesuanError) -> JSONResponse:
        return error_json(exc)

    @app.get("/health", tags=["meta"], openapi_extra=acts(Action.PUBLIC))
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/ready", tags=["meta"], openapi_extra=acts(Action.PUBLIC))
    async def ready() -> dict[str, str]:
        """Whether the store can write now: 200, or 503 ``store_unavailable`` with
        ``Retry-After`` (a full disk, a lost database connection). The answer is at most 2 s
        old (``adapters/db/readiness.py``)."""
        problem = await run_in_threadpool(platform.readiness.check)
        if problem is not None:  # a fresh error: the kept one is shared by every caller
            raise StoreUnavailable(problem.message, retry_after=problem.retry_after)
        return {"status": "ready", "version": __version__}

    # -- sampling (采) ----------------------------------------------------------------------

    # The two station routes read their JSON straight into the models in pydantic's core
    # (``_station_body``) and answer bytes: FastAPI's own json.loads + validate_python costs
    # more per event. OpenAPI shows the same body and answer.
    @app.post("/scans", tags=["sampling"], response_model=s.EventOutcomeOut,
              openapi_extra=_json_body(s.StationEventIn) | acts(Action.RECORD_STATION_EVENTS))
    async def scan(request: Request) -> Response:
        me = await current_principal(request)
        body = _station_body(s.StationEventIn.model_validate_json, await request.body())
        # async: the scan waits on the event loop for its group's commit, not in a thread
        outcome = await platform.sampling.submit_one(me, _event(body))
        return Response(_OUTCOME.dump_json(outcome), media_type="application/json")

    @app.post("/scans/batch", tags=["sampling"], response_model=s.StationBatchOut,
              openapi_extra=_json_body(s.StationBatchIn) | acts(Action.RECORD_STATION_EVENTS))
    async def scan_batch(request: Request) -> Response:
        me = await current_principal(request)
        # a malformed item comes back as its rejection, in its place (``read_batch``)
        items = _station_body(read_batch, await request.body())
        done = iter(await run_in_threadpool(platform.sampling.submit, me,
                                            [e for e in items if isinstance(e, StationEvent)]))
        outcomes = [next(done) if isinstance(e, StationEvent) else e for e in items]
        counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
        for o in outcomes:
            counts[o.status] += 1
        # serialised straight from the service's outcomes, in pydantic's core, rather than by
        # building 1,000 response models first (the same JSON, a fraction of the time)
        return Response(_BATCH_ANSWER.dump_json(_BatchAnswer(outcomes, **counts)),
                        media_type="application/json")

    # routes match in order, a linear scan: the hot ones come first (the
    # station's scans above, then the venues' pass check), the pages last
    app.include_router(passes_routes.router)

    # -- auth and users --------------------------------------------------------------------

    @app.post("/auth/token", tags=["auth"], openapi_extra=acts(Action.PUBLIC))
    def token(body: s.TokenRequest, request: Request) -> s.TokenResponse:
        client = request.client.host if request.client else None
        return s.TokenResponse(access_token=platform.auth.login(body.username, body.password,
                                                                client))

    @app.post("/auth/logout", tags=["auth"], status_code=204,
              openapi_extra=acts(Action.SIGNED_IN))
    def logout(me: Me, request: Request) -> Response:
        """End this bearer token at once (other server processes refuse it within 10 s)."""
        platform.auth.logout(request.headers["authorization"].partition(" ")[2].strip())
        return Response(status_code=204)

    @app.post("/users", tags=["auth"], status_code=201, openapi_extra=acts(Action.CREATE_USER))
    def create_user(me: Me, body: s.UserCreate) -> s.Created:
        return s.Created(id=platform.auth.create_user(me, body.username, body.password,
                                                      body.role, body.scope))

    @app.get("/audit/verify", tags=["auth"], openapi_extra=acts(Action.VERIFY_AUDIT))
    def audit_verify(me: Me) -> s.AuditVerifyOut:
        return s.AuditVerifyOut.model_validate(platform.audit.verify(me).as_dict())

    # -- places ----------------------------------------------------------------------------

    @app.post("/regions", tags=["places"], openapi_extra=acts(Action.DEFINE_REGIONS))
    def add_regions(me: Me, body: s.RegionsIn) -> dict[str, int]:
        n = platform.places.add_regions(me, [RegionInput(r.code, r.level, r.name, r.parent_code)
                                             for r in body.regions])
        return {"upserted": n}

    @app.get("/sites", tags=["places"], openapi_extra=acts(Action.READ_SITES))
    def list_sites(me: Me) -> list[s.SiteOut]:
        return [s.SiteOut.model_validate(asdict(x)) for x in platform.places.sites()]

    @app.post("/sites", tags=["places"], status_code=201, openapi_extra=acts(Action.CREATE_SITE))
    def add_site(me: Me, body: s.SiteIn) -> s.Created:
        return s.Created(id=platform.places.add_site(me, SiteInput(
            name=body.name, kind=body.kind, region_code=body.region_code,
            opening_hours=body.opening_hours, windows=body.windows, lat=body.lat, lng=body.lng)))

    @app.get("/labs", tags=["places"], openapi_extra=acts(Action.READ_LABS))
    def list_labs(me: Me) -> list[dict[str, Any]]:
        return platform.places.labs(me)

    @app.post("/labs", tags=["places"], status_code=201, openapi_extra=acts(Action.CREATE_LAB))
    def add_lab(me: Me, body: s.LabIn) -> s.Created:
        return s.Created(id=platform.places.add_lab(me, LabInput(body.name, body.region_code,
                                                                 body.daily_capacity)))

    # -- people ----------------------------------------------------------------------------

    @app.post("/people", tags=["people"], status_code=201,
              openapi_extra=acts(Action.REGISTER_PERSON))
    def register(me: Me, body: s.PersonIn) -> s.Created:
        return s.Created(id=platform.people.register(me, PersonInput(
            id_number=body.id_number, name=body.name, grid_code=body.grid_code,
            id_kind=IdKind(body.id_kind), phone=body.phone, groups=tuple(body.groups),
            language=body.language, household_id=body.household_id, address=body.address)))

    @app.get("/people/{person_id}", tags=["people"], openapi_extra=acts(Action.READ_PERSON))
    def get_person(me: Me, person_id: str, unmask: bool = False) -> s.PersonOut:
        return s.PersonOut.model_validate(asdict(platform.people.get(me, person_id, unmask)))

    @app.get("/people/{person_id}/history", tags=["people"], openapi_extra=acts(Action.READ_PERSON))
    def person_history(me: Me, person_id: str) -> dict[str, Any]:
        return platform.people.history(me, person_id)

    @app.get("/people/{person_id}/sampling-code", tags=["people"],
             openapi_extra=acts(Action.READ_SAMPLING_CODE))
    def sampling_code(me: Me, person_id: str) -> s.SamplingCodeOut:
        return s.SamplingCodeOut(code=platform.people.sampling_code(me, person_id))

    @app.get("/people/{person_id}/sampling-code.svg", tags=["people"],
             response_class=Response, responses={200: {"content": {"image/svg+xml": {}}}},
             openapi_extra=acts(Action.READ_SAMPLING_CODE))
    def sampling_code_svg(me: Me, person_id: str) -> Response:
        return Response(platform.people.sampling_code_image(me, person_id, "svg"),
                        media_type="image/svg+xml", headers={"Cache-Control": "private"})

    @app.get("/people/{person_id}/sampling-code.png", tags=["people"],
             response_class=Response, responses={200: {"content": {"image/png": {}}}},
             openapi_extra=acts(Action.READ_SAMPLING_CODE))
    def sampling_code_png(me: Me, person_id: str) -> Response:
        return Response(platform.people.sampling_code_image(me, person_id, "png"),
                        media_type="image/png", headers={"Cache-Control": "private"})

    # -- delivery (送) ----------------------------------------------------------------------

    @app.post("/boxes/{box_code}/handover", tags=["delivery"],
              openapi_extra=acts(Action.HAND_OVER_BOX))
    def handover(me: Me, box_code: str, body: s.HandoverIn) -> s.HandoverOut:
        fresh = platform.delivery.hand_over(me, body.event_id, box_code, body.at)
        return s.HandoverOut(box_code=box_code, duplicate=not fresh)

    @app.post("/boxes/{box_code}/receive", tags=["delivery"],
              openapi_extra=acts(Action.RECEIVE_BOX))
    def receive(me: Me, box_code: str, body: s.ReceiveIn) -> s.ReceiptOut:
        r = platform.delivery.receive(me, body.event_id, body.lab_id, box_code, body.at,
                                      body.tube_barcodes, body.counted)
        return s.ReceiptOut.model_validate(asdict(r))

    # -- testing (检) -----------------------------------------------------------------------

    @app.post("/labs/{lab_id}/results", tags=["testing"], openapi_extra=acts(Action.RECORD_RESULTS))
    def results(me: Me, lab_id: str, body: s.ResultsIn) -> s.ResultsOut:
        out = platform.lab.record(me, lab_id, [ResultInput(r.barcode, r.result, r.ct,
                                                           r.correction_reason)
                                               for r in body.results])
        return s.ResultsOut(results=[s.ResultOutcomeOut.model_validate(asdict(o)) for o in out])

    @app.post("/labs/{lab_id}/results.csv", tags=["testing"],
              openapi_extra=acts(Action.RECORD_RESULTS))
    def results_csv(me: Me, lab_id: str,
                    file: Annotated[UploadFile, File(description="CSV: barcode,result,...")],
                    ) -> s.ResultsFileOut:
        text = file.file.read().decode("utf-8-sig", errors="replace")
        try:  # parse the whole file first: a malformed file is refused before anything is written
            if "\x00" in text:
                raise csv.Error("NUL (\\x00) character in the file")
            rows = list(csv.DictReader(io.StringIO(text, newline="")))
        except csv.Error as exc:
            raise InvalidInput(f"file is not a readable CSV file: {exc}", code="bad_csv",
                               field="file") from None
        problems, total = platform.lab.import_rows(me, lab_id, rows)
        return s.ResultsFileOut(rows=total, problems=[
            s.ResultOutcomeOut.model_validate(asdict(o)) for o in problems])

    # -- reports and alerts ----------------------------------------------------------------

    @app.get("/reports/turnaround", tags=["reports"], openapi_extra=acts(Action.READ_TURNAROUND))
    def turnaround(me: Me) -> dict[str, Any]:
        return platform.reports.turnaround(me)

    @app.get("/reports/reconcile", tags=["reports"], openapi_extra=acts(Action.READ_RECONCILIATION))
    def reconcile(me: Me, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
        return platform.reports.reconcile(me, limit)

    @app.get("/alerts", tags=["reports"], openapi_extra=acts(Action.READ_ALERTS))
    def list_alerts(me: Me, open_only: bool = True) -> list[dict[str, Any]]:
        return platform.alerts.list(me, open_only)

    @app.post("/alerts/check", tags=["reports"], openapi_extra=acts(Action.CHECK_ALERTS))
    def check_alerts(me: Me) -> dict[str, int]:
        return {"raised": platform.alerts.check(me)}

    for resource in (status_routes, zones_routes, rosters_routes, fence_routes, lanes_routes,
                     teams_routes):
        app.include_router(resource.router)
    app.include_router(web_router)
    return app
