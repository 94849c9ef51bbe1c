"""HTTP routes of the lanes: a station's ordered batch in two-lane mode, and the load of every
site (queue, swabs per minute, the wait). Thin: parse → service → render.

Imports: FastAPI, pydantic, ``hesuan.entrypoints.api``, ``hesuan.services``, ``hesuan.domain``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import Field

from hesuan.domain.access import Action
from hesuan.domain.errors import NotFound
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.api.deps import Me, PlatformDep
from hesuan.entrypoints.api.schemas import Id, Instant, Strict
from hesuan.services.lanes import LaneEvent, SiteLoadNow

__all__ = ["router"]

router = APIRouter(tags=["sampling"])

class LaneEventIn(Strict):
    event_id: str = Field(min_length=1, max_length=36)
    kind: Literal["register", "swab", "open_tube", "sample", "seal_tube", "box_tube",
                  "seal_box"]
    site_id: Id
    at: Instant
    barcode: str | None = Field(default=None, max_length=40)
    code: str | None = Field(default=None, max_length=200)
    window: int | None = Field(default=None, ge=1, le=50)
    mode: int | None = Field(default=None, ge=1, le=20)
    box_code: str | None = Field(default=None, max_length=40)


class LaneBatchIn(Strict):
    events: list[LaneEventIn] = Field(min_length=1, max_length=1000)


@router.post("/lanes/batch", openapi_extra=acts(Action.RECORD_STATION_EVENTS))
def lanes_batch(me: Me, platform: PlatformDep, body: LaneBatchIn) -> dict[str, Any]:
    """A station's ordered batch in two-lane mode: ``register`` (bind a person to the next
    tube), ``swab`` (a person, by code, or a whole tube, by barcode), and the spine's events."""
    out = platform.lanes.submit(me, [LaneEvent(e.event_id, e.kind, e.site_id, e.at, e.barcode,
                                               e.code, e.window, e.mode, e.box_code)
                                     for e in body.events])
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
    for o in out:
        counts[o.status] += 1
    return counts | {"results": [asdict(o) for o in out]}


@router.get("/sites/load", openapi_extra=acts(Action.READ_SITES))
def sites_load(me: Me, platform: PlatformDep) -> list[SiteLoadNow]:
    """Every site: queue, swabs/min (per open and per staffed window), time per sample
    p50/p90, and the wait for someone arriving now."""
    return platform.lanes.load(me)


@router.get("/sites/{site_id}/load", openapi_extra=acts(Action.READ_SITES))
def site_load(me: Me, platform: PlatformDep, site_id: str) -> SiteLoadNow:
    got = platform.lanes.load(me, [site_id])
    if not got:
        raise NotFound("no such site", code="unknown_site", field="site_id")
    return got[0]
