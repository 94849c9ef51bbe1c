"""HTTP routes of corrections and cancellations of released results: a lab user requests one
with a reason, a second lab user approves (and so applies) or declines it (docs/LAB.md).

Imports: FastAPI, pydantic, ``hesuan.entrypoints.api``, ``hesuan.services``, ``hesuan.domain``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from hesuan.domain.access import Action
from hesuan.domain.corrections import MAX_REASON, CorrectionKind, CorrectionStatus
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.api import schemas as s
from hesuan.entrypoints.api.deps import Me, PlatformDep
from hesuan.services.corrections_ports import CorrectionRow

__all__ = ["router"]

router = APIRouter(tags=["testing"])

LabId = Annotated[str, Path(min_length=1, max_length=40)]
RequestId = Annotated[str, Path(min_length=1, max_length=40)]


class CorrectionIn(s.Strict):
    """A correction (``result``: the corrected one) or a cancellation (no result) of a tube's
    released result."""

    barcode: str = Field(min_length=1, max_length=40)
    kind: CorrectionKind = CorrectionKind.CORRECTION
    result: str | None = Field(default=None, min_length=1, max_length=20)
    ct: dict[str, float] | None = None
    reason: str = Field(min_length=1, max_length=MAX_REASON)


class DeclineIn(s.Strict):
    note: str | None = Field(default=None, max_length=500)


class CorrectionOut(BaseModel):
    id: str
    lab_id: str
    barcode: str | None
    kind: CorrectionKind
    previous: str
    result: str | None
    ct: dict[str, float] | None
    reason: str
    status: CorrectionStatus
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    result_log_id: str | None


class ApprovalOut(BaseModel):
    request: CorrectionOut
    applied: bool = Field(description="false: applied already by an earlier approval; nothing "
                                      "changed")
    people_notified: int
    recalls_opened: int
    statuses_decided: int


def _out(r: CorrectionRow) -> CorrectionOut:
    return CorrectionOut(
        id=r.id, lab_id=r.lab_id, barcode=r.barcode, kind=r.kind, previous=r.previous.value,
        result=None if r.result is None else r.result.value, ct=r.ct, reason=r.reason,
        status=r.status, requested_by=r.requested_by, requested_at=r.requested_at,
        decided_by=r.decided_by, decided_at=r.decided_at, decision_note=r.decision_note,
        result_log_id=r.result_log_id)


@router.post("/labs/{lab_id}/corrections", status_code=201,
             openapi_extra=acts(Action.REQUEST_CORRECTION))
def request_correction(me: Me, platform: PlatformDep, lab_id: LabId,
                       body: CorrectionIn) -> CorrectionOut:
    return _out(platform.corrections.request(me, lab_id, body.barcode, body.kind, body.reason,
                                             body.result, body.ct))


@router.get("/labs/{lab_id}/corrections", openapi_extra=acts(Action.READ_CORRECTIONS))
def lab_corrections(me: Me, platform: PlatformDep, lab_id: LabId,
                    status: Literal["pending", "applied", "declined"] | None = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[CorrectionOut]:
    return [_out(r) for r in platform.corrections.corrections(
        me, lab_id, None if status is None else CorrectionStatus(status), limit)]


@router.get("/corrections/{request_id}", openapi_extra=acts(Action.READ_CORRECTIONS))
def correction(me: Me, platform: PlatformDep, request_id: RequestId) -> CorrectionOut:
    return _out(platform.corrections.correction(me, request_id))


@router.post("/corrections/{request_id}/approve",
             openapi_extra=acts(Action.DECIDE_CORRECTION))
def approve(me: Me, platform: PlatformDep, request_id: RequestId) -> ApprovalOut:
    """Approve a pending request (a lab user who did not make it), and apply it."""
    out = platform.corrections.approve(me, request_id)
    c = out.fan_out
    return ApprovalOut(request=_out(out.request), applied=out.applied,
                       people_notified=0 if c is None else c.people_notified,
                       recalls_opened=0 if c is None else c.recalls_opened,
                       statuses_decided=0 if c is None else c.statuses_decided)


@router.post("/corrections/{request_id}/decline",
             openapi_extra=acts(Action.DECIDE_CORRECTION))
def decline(me: Me, platform: PlatformDep, request_id: RequestId,
            body: DeclineIn | None = None) -> CorrectionOut:
    """Decline a pending request (its requester withdrawing it, or a second lab user)."""
    return _out(platform.corrections.decline(me, request_id,
                                             None if body is None else body.note))
