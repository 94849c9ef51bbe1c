"""HTTP routes of the fence: checkpoints, scans from venue and checkpoint devices, and the fence
alerts they raise (inbox, acknowledge, close). Thin: parse → service → render.

Imports: FastAPI, pydantic, ``hesuan.entrypoints.api``, ``hesuan.services``, ``hesuan.domain``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from hesuan.domain.access import Action
from hesuan.domain.fence import AlertOutcome, PlaceKind
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.api.deps import Me, PlatformDep
from hesuan.entrypoints.api.schemas import Id, Instant, Note, RegionFilter, Strict
from hesuan.services.fence import CheckpointKind, ScanInput
from hesuan.services.fence_ports import CheckpointRow, FenceAlertRow, PlaceScan

__all__ = ["router"]

router = APIRouter(tags=["fence"])

class CheckpointIn(Strict):
    code: str = Field(min_length=4, max_length=20)
    name: str = Field(min_length=1, max_length=100)
    kind: CheckpointKind
    region_code: str = Field(min_length=2, max_length=15, pattern=r"^\d+$")
    lat: float | None = Field(default=None, ge=-90, le=90)
    lng: float | None = Field(default=None, ge=-180, le=180)


@router.post("/checkpoints", status_code=201,
             openapi_extra=acts(Action.REGISTER_CHECKPOINT))
def add_checkpoint(me: Me, platform: PlatformDep, body: CheckpointIn) -> dict[str, str]:
    return {"id": platform.fence.add_checkpoint(me, body.code, body.name, body.kind,
                                                body.region_code, body.lat, body.lng)}


@router.get("/checkpoints", openapi_extra=acts(Action.READ_CHECKPOINTS))
def checkpoints(me: Me, platform: PlatformDep) -> list[CheckpointRow]:
    """The checkpoints in the caller's area (a checkpoint's device: its own), by code."""
    return platform.fence.checkpoints(me)


@router.get("/checkpoints/{checkpoint_id}/scans",
            openapi_extra=acts(Action.READ_CHECKPOINT_SCANS))
def checkpoint_scans(me: Me, platform: PlatformDep, checkpoint_id: Id,
                     limit: Annotated[int, Query(ge=1, le=200)] = 20) -> list[PlaceScan]:
    """The checkpoint's latest scans, newest first: when, by `code` or `pass`, and how many
    fence rules each broke (more than none: the person was stopped). Nothing about the
    people; the scans are kept as long as venue scans (docs/RETENTION.md)."""
    return platform.fence.checkpoint_scans(me, checkpoint_id, limit)


class ScanIn(Strict):
    event_id: str = Field(min_length=1, max_length=36)
    place_kind: PlaceKind
    place_id: Id
    at: Instant
    code: str | None = Field(default=None, max_length=200, description="sampling code token")
    pass_: str | None = Field(default=None, alias="pass", max_length=4096,
                              description="status pass text, SP1:…")


class ScansIn(Strict):
    scans: list[ScanIn] = Field(min_length=1, max_length=1000)


@router.post("/fence/scans", openapi_extra=acts(Action.RECORD_PLACE_SCANS))
def fence_scans(me: Me, platform: PlatformDep, body: ScansIn) -> dict[str, Any]:
    """Scans from a venue or checkpoint device (sampling code or pass); per-scan outcome and
    the fence rules each scan broke (alerts are de-duplicated per person, rule and day)."""
    out = platform.fence.scan(me, [ScanInput(s.event_id, s.place_kind, s.place_id, s.at,
                                             s.code, s.pass_) for s in body.scans])
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
    for o in out:
        counts[o.status] += 1
    return counts | {"results": [asdict(o) for o in out]}


@router.get("/fence/alerts", openapi_extra=acts(Action.READ_FENCE_ALERTS))
def fence_alerts(me: Me, platform: PlatformDep,
                 status: Annotated[list[Literal["open", "acknowledged", "closed"]] | None,
                                   Query()] = None,
                 region: RegionFilter = None,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[FenceAlertRow]:
    """The caller's inbox: a grid worker's grid, an officer's region."""
    return platform.fence.alerts(me, statuses=status or ["open", "acknowledged"],
                                 region=region, limit=limit)


class AckIn(Strict):
    note: Note = None


class CloseIn(Strict):
    outcome: AlertOutcome
    note: Note = None


@router.post("/fence/alerts/{alert_id}/acknowledge",
             openapi_extra=acts(Action.HANDLE_FENCE_ALERT))
def ack_alert(me: Me, platform: PlatformDep, alert_id: str, body: AckIn) -> dict[str, str]:
    platform.fence.acknowledge(me, alert_id, body.note)
    return {"status": "acknowledged"}


@router.post("/fence/alerts/{alert_id}/close",
             openapi_extra=acts(Action.HANDLE_FENCE_ALERT))
def close_alert(me: Me, platform: PlatformDep, alert_id: str, body: CloseIn) -> dict[str, str]:
    platform.fence.close(me, alert_id, body.outcome, body.note)
    return {"status": "closed"}
