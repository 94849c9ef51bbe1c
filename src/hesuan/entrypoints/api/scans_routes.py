"""HTTP routes of sampling (采): a station's scans, one at a time (``POST /scans``) or a
batch (``POST /scans/batch``, the station page's sync).

The two routes read their JSON straight into the models in pydantic's core
(``_station_body``) and answer bytes: FastAPI's own json.loads + validate_python costs more
per event. OpenAPI shows the same body and answer. With telemetry off, the ordinary single
scan is answered below the framework (``station_path.py``); this route answers the rest.

Imports: FastAPI, pydantic, ``hesuan.entrypoints.api``, ``hesuan.services``,
``hesuan.domain``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, TypeAdapter, ValidationError

from hesuan.domain.access import Action
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.api import schemas as s
from hesuan.entrypoints.api.deps import current_principal, platform_of
from hesuan.entrypoints.api.station_path import OUTCOME as _OUTCOME
from hesuan.entrypoints.api.station_path import read_batch
from hesuan.entrypoints.api.station_path import to_event as _event
from hesuan.services.sampling import EventOutcome, StationEvent

__all__ = ["router"]

router = APIRouter(tags=["sampling"])


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


@router.post("/scans", response_model=s.EventOutcomeOut,
             openapi_extra=_json_body(s.StationEventIn) | acts(Action.RECORD_STATION_EVENTS))
async def scan(request: Request) -> Response:
    me = await current_principal(request)
    body = _station_body(s.StationEventIn.model_validate_json, await request.body())
    # async: the scan waits on the event loop for its group's commit, not in a thread
    outcome = await platform_of(request).sampling.submit_one(me, _event(body))
    return Response(_OUTCOME.dump_json(outcome), media_type="application/json")


@router.post("/scans/batch", response_model=s.StationBatchOut,
             openapi_extra=_json_body(s.StationBatchIn) | acts(Action.RECORD_STATION_EVENTS))
async def scan_batch(request: Request) -> Response:
    me = await current_principal(request)
    # a malformed item comes back as its rejection, in its place (``read_batch``)
    items = _station_body(read_batch, await request.body())
    done = iter(await run_in_threadpool(platform_of(request).sampling.submit, me,
                                        [e for e in items if isinstance(e, StationEvent)]))
    outcomes = [next(done) if isinstance(e, StationEvent) else e for e in items]
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
    for o in outcomes:
        counts[o.status] += 1
    # serialised straight from the service's outcomes, in pydantic's core, rather than by
    # building 1,000 response models first (the same JSON, a fraction of the time)
    return Response(_BATCH_ANSWER.dump_json(_BatchAnswer(outcomes, **counts)),
                    media_type="application/json")
