"""HTTP routes of sampling (采): a station's scans, one at a time (``POST /scans``) or a
batch (``POST /scans/batch``, the station page's sync).

The two routes read their JSON straight into the models in pydantic's core
(``batch_body.validated``) and answer bytes: FastAPI's own json.loads + validate_python costs more
per event. OpenAPI shows the same body and answer. With telemetry off, the ordinary single
scan is answered below the framework (``station_path.py``); this route answers the rest.

Imports: FastAPI, pydantic, ``hesuan.entrypoints.api``, ``hesuan.services``,
``hesuan.domain``.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import TypeAdapter

from hesuan.domain.access import Action
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.api import schemas as s
from hesuan.entrypoints.api.batch_body import json_body, validated
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

@router.post("/scans", response_model=s.EventOutcomeOut,
             openapi_extra=json_body(s.StationEventIn) | acts(Action.RECORD_STATION_EVENTS))
async def scan(request: Request) -> Response:
    me = await current_principal(request)
    body = validated(s.StationEventIn.model_validate_json, await request.body())
    # async: the scan waits on the event loop for its group's commit, not in a thread
    outcome = await platform_of(request).sampling.submit_one(me, _event(body))
    return Response(_OUTCOME.dump_json(outcome), media_type="application/json")


@router.post("/scans/batch", response_model=s.StationBatchOut,
             openapi_extra=json_body(s.StationBatchIn) | acts(Action.RECORD_STATION_EVENTS))
async def scan_batch(request: Request) -> Response:
    me = await current_principal(request)
    # a malformed item comes back as its rejection, in its place (``read_batch``)
    items = validated(read_batch, await request.body())
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
