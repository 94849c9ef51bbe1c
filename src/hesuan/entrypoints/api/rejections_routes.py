"""HTTP routes of rejected specimens: a lab rejects a tube at the bench with a code from the
list, and reads the tubes it rejected (at receipt, a box's receipt carries its rejections:
``POST /boxes/{box_code}/receive``). docs/LAB.md.

Imports: FastAPI, pydantic, ``hesuan.entrypoints.api``, ``hesuan.services``, ``hesuan.domain``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from hesuan.domain.access import Action
from hesuan.domain.specimens import RejectionCode, RejectionStage
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.api import schemas as s
from hesuan.entrypoints.api.deps import Me, PlatformDep
from hesuan.services.corrections_ports import RejectionRow
from hesuan.services.rejections import RejectionInput

__all__ = ["router"]

router = APIRouter(tags=["testing"])

LabId = Annotated[str, Path(min_length=1, max_length=40)]


class RejectionOut(BaseModel):
    barcode: str | None
    lab_id: str
    code: RejectionCode
    words: str  # the reason in plain words (English; the pages and SMS say it in Chinese)
    stage: RejectionStage
    note: str | None
    plate_id: str | None
    rejected_by: str
    rejected_at: datetime


def _out(r: RejectionRow) -> RejectionOut:
    return RejectionOut(barcode=r.barcode, lab_id=r.lab_id, code=r.code,
                        words=r.code.words("en"), stage=r.stage, note=r.note,
                        plate_id=r.plate_id, rejected_by=r.rejected_by,
                        rejected_at=r.rejected_at)


@router.post("/labs/{lab_id}/rejections", status_code=201,
             openapi_extra=acts(Action.REJECT_SPECIMEN))
def reject(me: Me, platform: PlatformDep, lab_id: LabId, body: s.RejectionIn) -> RejectionOut:
    """Reject a tube at the bench: every member is recalled with the reason."""
    return _out(platform.rejections.reject(me, lab_id, RejectionInput(body.barcode, body.code,
                                                                       body.note)))


@router.get("/labs/{lab_id}/rejections", openapi_extra=acts(Action.READ_LAB_QUEUE))
def rejections(me: Me, platform: PlatformDep, lab_id: LabId,
               limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[RejectionOut]:
    return [_out(r) for r in platform.rejections.rejections(me, lab_id, limit)]
