"""HTTP routes of results from a lab's own system and of its inbox (docs/INTEROP.md): an HL7 v2
message answered with its ACK, a FHIR Bundle answered with an OperationOutcome; the inbox (list
by state, one message, apply again, discard); the lab's interop setting.

Imports: FastAPI, pydantic, ``hesuan.entrypoints.api``, ``hesuan.services``, ``hesuan.domain``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from hesuan.domain.access import Action, Principal, Role
from hesuan.domain.errors import InvalidInput
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.api import schemas as s
from hesuan.entrypoints.api.deps import Me, PlatformDep
from hesuan.services.interop_ports import LabMessageFormat
from hesuan.services.lab_messages import MAX_REASON
from hesuan.services.lab_messages_ports import (
    InteropSetting,
    LabMessageRow,
    MessageState,
    MessageVia,
)

__all__ = ["router"]

router = APIRouter(tags=["testing"])

LabId = Annotated[str, Path(min_length=1, max_length=40)]
MessageId = Annotated[str, Path(min_length=1, max_length=40)]
#: The largest message (or batch file) taken in one request.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
HL7_MEDIA = "application/hl7-v2; charset=utf-8"
FHIR_MEDIA = "application/fhir+json; charset=utf-8"


class SpecimenOut(BaseModel):
    specimen_id: str | None
    state: str
    result: str | None
    reason: str | None
    detail: str | None
    request_id: str | None


class LabMessageOut(BaseModel):
    id: str
    lab_id: str
    format: str
    via: str
    sending_facility: str
    control_id: str
    sha256: str
    received_at: datetime
    state: MessageState
    specimens: list[SpecimenOut]
    ack_code: str
    reason: str | None
    decided_by: str | None
    decided_at: datetime | None


class DiscardIn(s.Strict):
    reason: str = Field(min_length=1, max_length=MAX_REASON)


class InteropIn(s.Strict):
    """A lab's interop setting; a part left out stays as it was."""

    id_order: list[str] | None = Field(default=None, max_length=4, description=(
        "specimen_placer (SPM-2.1), specimen_filler (SPM-2.2), filler_order (OBR-3), "
        "placer_order (OBR-2), in the order to look for the tube's barcode"))
    tests: dict[str, str] | None = Field(default=None, description=(
        "the lab's test codes, each to a LOINC code of a SARS-CoV-2 nucleic-acid test or a Ct"))
    values: dict[str, str] | None = Field(default=None, description=(
        "the lab's result codes or words, each to a finding (detected, not_detected, ...)"))


class InteropOut(BaseModel):
    lab_id: str
    id_order: list[str]
    tests: dict[str, str]
    values: dict[str, str]
    set_by: str
    set_at: datetime | None


def _out(r: LabMessageRow) -> LabMessageOut:
    return LabMessageOut(
        id=r.id, lab_id=r.lab_id, format=r.format, via=r.via.value,
        sending_facility=r.sending_facility, control_id=r.control_id, sha256=r.sha256,
        received_at=r.received_at, state=r.state,
        specimens=[SpecimenOut(specimen_id=x.specimen_id, state=x.state.value, result=x.result,
                               reason=x.reason, detail=x.detail, request_id=x.request_id)
                   for x in r.specimens],
        ack_code=r.ack_code, reason=r.reason, decided_by=r.decided_by, decided_at=r.decided_at)


def _setting(x: InteropSetting) -> InteropOut:
    return InteropOut(lab_id=x.lab_id, id_order=[i.value for i in x.id_order],
                      tests=dict(x.tests), values={k: v.value for k, v in x.values.items()},
                      set_by=x.set_by, set_at=x.set_at)


async def _body(request: Request) -> bytes:
    data = await request.body()
    if len(data) > MAX_MESSAGE_BYTES:
        raise InvalidInput(f"body: at most {MAX_MESSAGE_BYTES} bytes", code="too_large",
                           field="body")
    return data


def _lab_of(me: Principal, lab_id: str | None) -> str:
    """The lab a Bundle comes from: named, else the sending lab user's own."""
    if lab_id:
        return lab_id
    if me.role is Role.LAB and me.scope:
        return me.scope
    raise InvalidInput("lab_id: name the lab the Bundle comes from", code="missing_field",
                       field="lab_id")


@router.post("/labs/{lab_id}/messages", openapi_extra=acts(Action.SEND_LAB_MESSAGES),
             response_class=Response)
async def receive_hl7(me: Me, platform: PlatformDep, lab_id: LabId,
                      request: Request) -> Response:
    """An HL7 v2 ORU^R01 message (or an FHS/BHS batch) from the lab's system, in the body
    (``application/hl7-v2`` or text); answered with the ACK (AA, AE with the error, AR when it
    cannot be read or is refused: another message type, event or processing id; a batch: one
    ACK a line)."""
    data = await _body(request)
    receipt = await run_in_threadpool(platform.lab_messages.receive, me, lab_id, data,
                                      LabMessageFormat.HL7V2, MessageVia.API)
    return Response(receipt.ack, media_type=HL7_MEDIA)


@router.post("/fhir", openapi_extra=acts(Action.SEND_LAB_MESSAGES), response_class=Response)
async def receive_fhir(me: Me, platform: PlatformDep, request: Request,
                       lab_id: Annotated[str | None, Query(max_length=40)] = None,
                       ) -> Response:
    """A FHIR R4 message or transaction Bundle of results from a lab's system (``lab_id``, by
    default the sending lab user's lab); answered with an OperationOutcome (400 when it cannot
    be read or is refused: another processing id)."""
    lab = _lab_of(me, lab_id)
    data = await _body(request)
    receipt = await run_in_threadpool(platform.lab_messages.receive, me, lab, data,
                                      LabMessageFormat.FHIR, MessageVia.API)
    return Response(receipt.ack, status_code=400 if receipt.code == "AR" else 200,
                    media_type=FHIR_MEDIA)


@router.get("/labs/{lab_id}/messages", openapi_extra=acts(Action.READ_LAB_MESSAGES))
def lab_messages(me: Me, platform: PlatformDep, lab_id: LabId,
                 state: MessageState | None = None,
                 limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[LabMessageOut]:
    """A lab's messages, newest first (``state``: only those, e.g. ``unclear``: the inbox)."""
    return [_out(r) for r in platform.lab_messages.messages(me, lab_id, state, limit)]


@router.get("/lab-messages/{message_id}", openapi_extra=acts(Action.READ_LAB_MESSAGES))
def lab_message(me: Me, platform: PlatformDep, message_id: MessageId) -> LabMessageOut:
    return _out(platform.lab_messages.message(me, message_id))


@router.post("/lab-messages/{message_id}/apply",
             openapi_extra=acts(Action.DECIDE_LAB_MESSAGES))
def apply_again(me: Me, platform: PlatformDep, message_id: MessageId) -> LabMessageOut:
    """Apply a kept message again, after a mapping is added or its tube received."""
    return _out(platform.lab_messages.apply_again(me, message_id))


@router.post("/lab-messages/{message_id}/discard",
             openapi_extra=acts(Action.DECIDE_LAB_MESSAGES))
def discard(me: Me, platform: PlatformDep, message_id: MessageId,
            body: DiscardIn) -> LabMessageOut:
    return _out(platform.lab_messages.discard(me, message_id, body.reason))


@router.get("/labs/{lab_id}/interop", openapi_extra=acts(Action.SET_LAB_INTEROP))
def interop_setting(me: Me, platform: PlatformDep, lab_id: LabId) -> InteropOut:
    return _setting(platform.lab_messages.setting(me, lab_id))


@router.put("/labs/{lab_id}/interop", openapi_extra=acts(Action.SET_LAB_INTEROP))
def set_interop(me: Me, platform: PlatformDep, lab_id: LabId, body: InteropIn) -> InteropOut:
    return _setting(platform.lab_messages.configure(me, lab_id, body.id_order, body.tests,
                                                    body.values))
