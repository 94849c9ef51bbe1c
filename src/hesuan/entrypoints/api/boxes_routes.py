"""HTTP routes of delivery (送): a sealed box handed over to a courier, and received at a lab
with its tubes counted (and those it cannot test rejected); a sealed box reopened at its site
to be put right.

Imports: FastAPI, ``hesuan.entrypoints.api``, ``hesuan.domain``.
"""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from hesuan.domain.access import Action
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.api import schemas as s
from hesuan.entrypoints.api.deps import Me, PlatformDep
from hesuan.services.rejections import RejectionInput

__all__ = ["router"]

router = APIRouter(tags=["delivery"])


@router.post("/boxes/{box_code}/handover", openapi_extra=acts(Action.HAND_OVER_BOX))
def handover(me: Me, platform: PlatformDep, box_code: s.BoxCode,
             body: s.HandoverIn) -> s.HandoverOut:
    fresh = platform.delivery.hand_over(me, body.event_id, box_code, body.at,
                                        counted=body.counted)
    return s.HandoverOut(box_code=box_code, duplicate=not fresh)


@router.post("/boxes/{box_code}/reopen", openapi_extra=acts(Action.RECORD_STATION_EVENTS))
def reopen(me: Me, platform: PlatformDep, box_code: s.BoxCode,
           body: s.ReopenIn) -> s.ReopenOut:
    r = platform.delivery.reopen(me, body.event_id, box_code, body.at, take_out=body.take_out)
    return s.ReopenOut.model_validate(asdict(r))


@router.post("/boxes/{box_code}/receive", openapi_extra=acts(Action.RECEIVE_BOX))
def receive(me: Me, platform: PlatformDep, box_code: s.BoxCode,
            body: s.ReceiveIn) -> s.ReceiptOut:
    r = platform.delivery.receive(me, body.event_id, body.lab_id, box_code, body.at,
                                  body.tube_barcodes, body.counted,
                                  [RejectionInput(x.barcode, x.code, x.note)
                                   for x in body.rejected])
    return s.ReceiptOut.model_validate(asdict(r))
