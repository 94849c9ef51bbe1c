"""Results from a lab's own system (LIS): HL7 v2 ORU^R01 and FHIR R4 Bundles in, and the inbox of
what cannot be applied (docs/INTEROP.md).

:meth:`LabMessageService.receive` takes the bytes as they came (over MLLP, from a file, by the
API) and answers a :class:`Receipt` with the acknowledgment to send back — an HL7 ACK (AA
accepted, AE accepted with an error, AR unreadable or refused) or, for FHIR, an
OperationOutcome — so a listener only hands over the bytes and sends the answer. Each message:

* is kept with its bytes (encrypted by the vault: they name a patient), their SHA-256, its
  format and the way it came, under its sending facility and control id: a resend (the same
  facility and id) changes nothing and is answered the same acknowledgment again; input that
  cannot be read is kept too (under its digest) and answered AR;
* is refused as a whole, nothing of it applied, when it is not one the platform takes
  (``domain.interop.message_refusal``: another HL7 message type or event than ORU^R01, or
  another processing id than the platform's, a lab's training messages on a production
  platform): kept in the inbox with the reason, answered AR;
* is mapped with the lab's interop setting (which specimen id names its tubes, its own codes) to
  an outcome per specimen (``domain.interop.specimen_outcomes``); each specimen is matched to a
  tube the lab received;
* a final result is released through ``LabService.fan_out`` as the lab's own (the LIS verified
  it: audited as coming from the lab's system); a specimen the lab could not test (unsatisfactory,
  status X) is rejected at the bench (``RejectionService.reject_in``: its people recalled for a
  new sample); a corrected one (C) becomes a correction request
  made by the sender, applied only when a second lab user of the lab approves it, as any
  correction (``services/corrections.py``); the same result again changes nothing;
* anything else — an unknown tube, another lab's tube, a tube not received, a preliminary
  result, an unmapped code — is kept in the inbox with its reason (state ``unclear``), applied
  again after a mapping is added or the tube received (:meth:`apply_again`), or discarded with a
  reason (:meth:`discard`). Nothing is dropped without a reason.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from hesuan.domain.access import Action, Principal, Target, allows, authorize
from hesuan.domain.corrections import CorrectionKind
from hesuan.domain.errors import HesuanError, InvalidInput, NotFound, RuleViolation
from hesuan.domain.interop import (
    MESSAGE_REFUSALS,
    CannotApply,
    IdSource,
    ProcessingId,
    SpecimenOutcome,
    bundle_refusal,
    message_refusal,
    specimen_outcomes,
)
from hesuan.domain.lab_codes import CT_CODES, NAA_TESTS, Finding, standard_finding, standard_test
from hesuan.domain.programme import check_open
from hesuan.domain.results import CT_TARGETS, Result, check_ct
from hesuan.domain.sampling import TubeStatus, barcode_key
from hesuan.domain.specimens import RejectionCode, RejectionStage
from hesuan.services.context import Deps, write_retrying
from hesuan.services.correction_requests import ask_correction
from hesuan.services.interop_ports import (
    EXTRA_MISSING,
    AckCode,
    LabMessage,
    LabMessageFormat,
    LabMessageReader,
    UnreadableMessage,
)
from hesuan.services.lab import LabService
from hesuan.services.lab_messages_ports import (
    InteropSetting,
    LabMessageRow,
    MessageState,
    MessageVia,
    SpecimenLine,
    SpecimenState,
)
from hesuan.services.people_ports import LabRow
from hesuan.services.ports import UnitOfWork
from hesuan.services.rejections import CheckedRejection, RejectionService
from hesuan.services.sampling_ports import ResultTube, TubeResult

__all__ = ["LabMessageService", "MessageReceipt", "Receipt"]

#: A specimen line's result when the lab's system rejected the specimen (unsatisfactory, not
#: done): the tube is rejected at the bench, its people re-sampled.
REJECTED = "rejected"
#: Messages listed at most by one read.
MAX_LISTED = 500
#: The longest reason a discard may give.
MAX_REASON = 500
#: The longest sending facility key and control id stored (longer ones: cut, with a digest).
MAX_KEY = 200
#: The longest words an acknowledgment carries.
_MAX_ACK_TEXT = 400


@dataclass(frozen=True, slots=True)
class MessageReceipt:
    """What became of one message: its id in the inbox, its state, its acknowledgment, and
    whether it was a resend (kept already: nothing changed)."""

    message_id: str
    control_id: str
    state: MessageState
    ack_code: AckCode
    ack: bytes
    resend: bool


@dataclass(frozen=True, slots=True)
class Receipt:
    """The answer to what was received: the worst acknowledgment code of its messages and the
    bytes to send back (an HL7 batch: one ACK per message, one a line)."""

    code: AckCode
    ack: bytes
    messages: tuple[MessageReceipt, ...]


def _ack_text(lines: Sequence[SpecimenLine]) -> str:
    said = "; ".join(f"{s.specimen_id or 'no specimen id'}: {s.reason}: {s.detail}"
                     for s in lines if s.state is SpecimenState.UNCLEAR)
    return said if len(said) <= _MAX_ACK_TEXT else said[:_MAX_ACK_TEXT - 1] + "…"


def operation_outcome(code: AckCode, text: str, control_id: str = "") -> bytes:
    """A FHIR OperationOutcome answering a Bundle: ``information`` accepted, ``warning`` kept
    with what cannot be applied, ``error`` unreadable."""
    severity, issue = {"AA": ("information", "informational"), "AE": ("warning", "processing"),
                       "AR": ("error", "invalid")}[code]
    doc = {"resourceType": "OperationOutcome",
           "issue": [{"severity": severity, "code": issue,
                      "details": {"text": text or "accepted"},
                      **({"expression": [f"Bundle.identifier ({control_id})"]}
                         if control_id else {})}]}
    return json.dumps(doc, ensure_ascii=False, sort_keys=True).encode("utf-8")


def _worst(codes: Sequence[AckCode]) -> AckCode:
    return "AR" if "AR" in codes else "AE" if "AE" in codes else "AA"


class LabMessageService:
    def __init__(self, deps: Deps, lab: LabService, rejections: RejectionService,
                 reader: LabMessageReader, processing: ProcessingId = "P") -> None:
        self._d = deps
        self._lab = lab
        self._rejections = rejections
        self._reader = reader
        #: the HL7 processing id of the messages this platform applies (P: production)
        self._processing = processing

    # -- receiving ----------------------------------------------------------------------------

    def receive(self, actor: Principal, lab_id: str, data: bytes, fmt: LabMessageFormat,
                via: MessageVia) -> Receipt:
        """Receive what ``lab_id``'s system sent: every message kept, applied as far as it can
        be, and acknowledged."""
        authorize(actor, Action.SEND_LAB_MESSAGES, Target(lab=lab_id), field="lab_id")
        with self._d.uow(readonly=True) as uow:
            if uow.places.lab(lab_id) is None:
                raise NotFound("lab_id: no such lab", code="unknown_lab", field="lab_id")
            check_open(uow.programme.closed())  # a message names its patient
        try:
            messages: Sequence[LabMessage | UnreadableMessage] = (
                self._reader.read_hl7(data) if fmt is LabMessageFormat.HL7V2
                else self._reader.read_fhir(data))
        except InvalidInput as exc:
            if exc.code == EXTRA_MISSING:  # the server cannot read the format at all: nothing
                raise                      # is kept, the sender's system sends it again later
            one = self._unreadable(actor, lab_id, data, fmt, via, exc)
            return Receipt(one.ack_code, one.ack, (one,))
        # each message of a batch is answered: one that cannot be read is kept and answered
        # AR by itself, its neighbours applied
        out = tuple(self._receive_one(actor, lab_id, m, via) if isinstance(m, LabMessage)
                    else self._unreadable(actor, lab_id, m.raw, fmt, via,
                                          InvalidInput(m.message, code=m.code,
                                                       field=m.field))
                    for m in messages)
        return Receipt(_worst([m.ack_code for m in out]), b"\n".join(m.ack for m in out), out)

    def _unreadable(self, actor: Principal, lab_id: str, data: bytes, fmt: LabMessageFormat,
                    via: MessageVia, exc: InvalidInput) -> MessageReceipt:
        """Input that cannot be read: kept under its digest (a resend is the same input), in
        the inbox with the reason, answered AR."""
        digest = hashlib.sha256(data).hexdigest()
        text = f"{exc.code}: {exc.message}"
        now = self._d.clock.now()
        ack = (self._reader.ack_unreadable(data, text, now, exc.field)
               if fmt is LabMessageFormat.HL7V2
               else operation_outcome("AR", text))
        line = SpecimenLine(None, SpecimenState.UNCLEAR, reason=exc.code, detail=exc.message)

        def keep(uow: UnitOfWork) -> MessageReceipt:
            kept = uow.lab_messages.by_control_id(lab_id, "", f"sha256:{digest}")
            if kept is not None:
                return _receipt(kept, resend=True)
            row = LabMessageRow(self._d.new_id(), lab_id, fmt.value, via, "",
                                f"sha256:{digest}", digest, actor.user_id, now,
                                MessageState.UNCLEAR, (line,), "AR", ack, raw=self._seal(data))
            uow.lab_messages.add(row)
            uow.audit_log.append(now, actor.username, "lab_message.receive", f"lab:{lab_id}", {
                "message_id": row.id, "sha256": digest, "format": fmt.value, "via": via.value,
                "ack": "AR", "unreadable": exc.code})
            return _receipt(row, resend=False)

        return write_retrying(self._d, keep)

    def _receive_one(self, actor: Principal, lab_id: str, message: LabMessage,
                     via: MessageVia) -> MessageReceipt:
        facility, control_id = _stored(message.sending_facility.key), _stored(message.control_id)
        now = self._d.clock.now()

        def run(uow: UnitOfWork) -> MessageReceipt:
            kept = uow.lab_messages.by_control_id(lab_id, facility, control_id)
            if kept is not None:
                if kept.sha256 != message.sha256:
                    # the sender's key names the message (a resend changes nothing), but other
                    # bytes under a kept key are not dropped unseen: the audit log says so
                    uow.audit_log.append(now, actor.username, "lab_message.resend_differs",
                                         f"lab:{lab_id}", {
                                             "message_id": kept.id, "control_id": control_id,
                                             "sending_facility": facility,
                                             "kept_sha256": kept.sha256,
                                             "sha256": message.sha256, "via": via.value})
                return _receipt(kept, resend=True)
            message_id = self._d.new_id()
            lines, counts = self._apply(uow, actor, lab_id, message, message_id, {}, now)
            state = _state(lines)
            refused = any(s.reason in MESSAGE_REFUSALS for s in lines)
            code: AckCode = ("AA" if state is MessageState.APPLIED
                             else "AR" if refused else "AE")
            text = _ack_text(lines)
            first = next((s.reason for s in lines if s.state is SpecimenState.UNCLEAR), None)
            ack = (self._reader.ack(message, code, text, now, first)
                   if message.format is LabMessageFormat.HL7V2
                   else operation_outcome(code, text, message.control_id))
            row = LabMessageRow(message_id, lab_id, message.format.value, via, facility,
                                control_id, message.sha256, actor.user_id, now, state,
                                lines, code, ack, raw=self._seal(message.raw))
            uow.lab_messages.add(row)
            uow.audit_log.append(now, actor.username, "lab_message.receive", f"lab:{lab_id}", {
                "message_id": message_id, "control_id": message.control_id,
                "sending_facility": facility, "sha256": message.sha256,
                "format": message.format.value, "via": via.value, "ack": code,
                "state": state.value, **counts,
                # the lab's own system verified these results before sending them
                "verified_by": "lab_lis"})
            return _receipt(row, resend=False)

        return write_retrying(self._d, run)

    # -- applying -----------------------------------------------------------------------------

    def _apply(self, uow: UnitOfWork, actor: Principal, lab_id: str, message: LabMessage,
               message_id: str, done: Mapping[str, SpecimenLine], now: datetime,
               ) -> tuple[tuple[SpecimenLine, ...], dict[str, int]]:
        """Each specimen's outcome applied, its correction requested, or its reason; those in
        ``done`` (applied before) kept as they were. The lines and what was done."""
        refused = self._refusal(message)
        if refused is not None:  # nothing of it is applied: it is kept with the reason
            return ((SpecimenLine(None, SpecimenState.UNCLEAR, reason=refused.reason.value,
                                  detail=refused.detail),),
                    {"released": 0, "rejected": 0, "corrections_requested": 0, "unclear": 1})
        setting = uow.lab_messages.setting(lab_id) or InteropSetting(lab_id)
        outcomes = specimen_outcomes(message.results, setting.codes, setting.id_order)
        keys = [barcode_key(o.specimen_id) for o in outcomes if o.specimen_id]
        tubes = uow.results.tubes_for_results(keys, for_update=True) if keys else {}
        lines: list[SpecimenLine] = []
        batch: list[TubeResult] = []
        rejected: list[CheckedRejection] = []
        seen: set[str] = set()
        corrections = 0
        for o in outcomes:
            if o.specimen_id is not None and o.specimen_id in done:
                lines.append(done[o.specimen_id])
                continue
            if isinstance(o, CannotApply):
                lines.append(SpecimenLine(o.specimen_id, SpecimenState.UNCLEAR,
                                          reason=o.reason.value, detail=o.detail))
                continue
            key = barcode_key(o.specimen_id)
            line, new = self._match(uow, actor, lab_id, o, tubes.get(key), key in seen,
                                    message_id, now)
            seen.add(key)
            lines.append(line)
            if isinstance(new, TubeResult):
                batch.append(new)
            elif new is not None:
                rejected.append(new)
            corrections += line.state is SpecimenState.CORRECTION_REQUESTED
        counts = {"released": len(batch), "rejected": len(rejected),
                  "corrections_requested": corrections,
                  "unclear": sum(1 for s in lines if s.state is SpecimenState.UNCLEAR)}
        if batch:
            fanned = self._lab.fan_out(uow, lab_id, batch, actor.user_id, now)
            counts |= {"people_notified": fanned.people_notified,
                       "recalls_opened": fanned.recalls_opened}
        if rejected:
            self._rejections.reject_in(uow, actor, lab_id, rejected, RejectionStage.BENCH, now)
        return tuple(lines), counts

    def _refusal(self, message: LabMessage) -> CannotApply | None:
        """Why the message as a whole is not taken (its HL7 type or event, a FHIR Bundle's
        type or event, its processing id), or None."""
        if message.format is LabMessageFormat.FHIR:
            return (bundle_refusal(message.bundle_type, message.trigger_event)
                    or message_refusal("", message.processing_id, self._processing))
        return message_refusal(message.message_type, message.processing_id, self._processing)

    def _match(self, uow: UnitOfWork, actor: Principal, lab_id: str, o: SpecimenOutcome,
               t: ResultTube | None, twice: bool, message_id: str, now: datetime,
               ) -> tuple[SpecimenLine, TubeResult | CheckedRejection | None]:
        """One specimen's outcome against its tube: the line, and the result to release (or
        the rejection: the lab could not test the specimen)."""
        sid, result = o.specimen_id, o.result

        def unclear(reason: str, detail: str) -> tuple[SpecimenLine, None]:
            return SpecimenLine(sid, SpecimenState.UNCLEAR, result.value, reason, detail), None

        if t is None:
            return unclear("unknown_tube", "no tube with this barcode exists")
        if t.lab_id != lab_id:
            return unclear("other_lab", "the tube was sent to another lab")
        if t.status not in (TubeStatus.RECEIVED, TubeStatus.RESULTED):
            return unclear("not_received", f"the tube is {t.status}, not received by the lab")
        if twice:
            return unclear("twice_in_message", "the message gives this tube another result")
        if o.finding is Finding.PRESUMPTIVE_POSITIVE and t.capacity == 1:
            return unclear("presumptive_single", "a single tube's presumptive positive is "
                           "re-tested before a result is released: send the confirmed result")
        ct, notes = _ct(o.ct)
        detail = "; ".join((*o.notes, *notes)) or None
        current = None if t.result is None else Result(t.result)
        if current is None and o.rejected:
            why = f"the lab's system: {o.finding.value.replace('_', ' ')} ({o.test})"
            return (SpecimenLine(sid, SpecimenState.APPLIED, REJECTED, detail=why),
                    CheckedRejection(t.barcode, RejectionCode.OTHER, why))
        if current is None:
            return (SpecimenLine(sid, SpecimenState.APPLIED, result.value, detail=detail),
                    TubeResult(t.id, result, ct, self._d.new_id()))
        if o.rejected:
            return unclear("tube_resulted", f"the lab's system rejects the specimen, but its "
                           f"result is released ({current.value}): correct or cancel it")
        if current is result:  # the same result again (a correction that changes nothing)
            return SpecimenLine(sid, SpecimenState.APPLIED, result.value,
                                detail="the tube has this result already"), None
        if not o.corrected:
            return unclear("result_conflict", f"the tube is {current.value} already; the lab "
                           f"sends a corrected result (C) to change it")
        try:
            row = ask_correction(uow, self._d.new_id, actor, lab_id, t,
                                 CorrectionKind.CORRECTION, result, ct,
                                 f"corrected by the lab's system (message {message_id})", now,
                                 {"lab_message": message_id})
        except HesuanError as exc:  # another request pending: decided first
            return unclear(exc.code, exc.message)
        return SpecimenLine(sid, SpecimenState.CORRECTION_REQUESTED, result.value,
                            detail=detail, request_id=row.id), None

    def apply_again(self, actor: Principal, message_id: str) -> LabMessageRow:
        """Apply a kept message again (after a mapping is added, a tube received): the
        specimens applied before stay as they were, the others are matched anew."""
        now = self._d.clock.now()

        def run(uow: UnitOfWork) -> LabMessageRow:
            row = self._held(uow, actor, message_id)
            if row.state is MessageState.DISCARDED:
                raise RuleViolation("message_id: the message was discarded",
                                    code="message_discarded", field="message_id")
            if row.state is MessageState.APPLIED:
                return row
            message = self._read_back(row)
            done = {s.specimen_id: s for s in row.specimens
                    if s.specimen_id is not None and s.state is not SpecimenState.UNCLEAR}
            lines, counts = self._apply(uow, actor, row.lab_id, message, row.id, done, now)
            state = _state(lines)
            uow.lab_messages.update(row.id, state, lines, None, actor.user_id, now)
            uow.audit_log.append(now, actor.username, "lab_message.apply_again",
                                 f"lab:{row.lab_id}", {"message_id": row.id,
                                                       "state": state.value, **counts})
            return replace(row, state=state, specimens=lines, decided_by=actor.user_id,
                           decided_at=now)

        return write_retrying(self._d, run)

    def discard(self, actor: Principal, message_id: str, reason: str | None) -> LabMessageRow:
        """Set a message aside, with a reason; what it applied stays applied."""
        why = (reason or "").strip()
        if not why:
            raise InvalidInput("reason: say why the message is discarded",
                               code="reason_required", field="reason")
        if len(why) > MAX_REASON:
            raise InvalidInput(f"reason: at most {MAX_REASON} characters",
                               code="reason_too_long", field="reason")
        now = self._d.clock.now()

        def run(uow: UnitOfWork) -> LabMessageRow:
            row = self._held(uow, actor, message_id)
            if row.state is MessageState.DISCARDED:
                return row
            if row.state is MessageState.APPLIED:
                raise RuleViolation("message_id: the message is applied; correct a result "
                                    "instead", code="message_applied", field="message_id")
            uow.lab_messages.update(row.id, MessageState.DISCARDED, row.specimens, why,
                                    actor.user_id, now)
            uow.audit_log.append(now, actor.username, "lab_message.discard",
                                 f"lab:{row.lab_id}", {"message_id": row.id, "reason": why})
            return replace(row, state=MessageState.DISCARDED, reason=why,
                           decided_by=actor.user_id, decided_at=now)

        return write_retrying(self._d, run)

    def _held(self, uow: UnitOfWork, actor: Principal, message_id: str) -> LabMessageRow:
        row = uow.lab_messages.message(message_id, for_update=True)
        if row is None:
            raise _no_message()
        authorize(actor, Action.DECIDE_LAB_MESSAGES, Target(lab=row.lab_id),
                  field="message_id")
        return row

    def _read_back(self, row: LabMessageRow) -> LabMessage:
        try:
            raw = self._open(row.raw)
            read = (self._reader.read_hl7(raw) if row.format == LabMessageFormat.HL7V2
                    else self._reader.read_fhir(raw))
        except InvalidInput as exc:
            raise RuleViolation(f"message_id: the message cannot be read ({exc.message}): "
                                f"discard it", code="message_unreadable",
                                field="message_id") from exc
        for m in read:
            if isinstance(m, LabMessage) and (m.sha256 == row.sha256 or len(read) == 1):
                return m
        raise RuleViolation("message_id: the message cannot be read back",
                            code="message_unreadable", field="message_id")

    def _seal(self, data: bytes) -> bytes:
        """A message's bytes as kept: encrypted by the vault (they name a patient)."""
        return self._d.vault.encrypt(base64.b64encode(data).decode("ascii"))

    def _open(self, sealed: bytes) -> bytes:
        return base64.b64decode(self._d.vault.decrypt(sealed))

    # -- reading ------------------------------------------------------------------------------

    def messages(self, actor: Principal, lab_id: str | None = None,
                 state: MessageState | None = None, limit: int = 100) -> list[LabMessageRow]:
        """The messages of ``lab_id`` (None: of every lab ``actor`` may read), newest first."""
        n = max(1, min(limit, MAX_LISTED))
        with self._d.uow(readonly=True) as uow:
            if lab_id is not None:
                lab = uow.places.lab(lab_id)
                if lab is None:
                    raise NotFound("lab_id: no such lab", code="unknown_lab", field="lab_id")
                authorize(actor, Action.READ_LAB_MESSAGES, _target(lab), field="lab_id")
                return uow.lab_messages.lab_messages([lab_id], state, n)
            labs = [lab.id for lab in uow.places.labs()
                    if allows(actor, Action.READ_LAB_MESSAGES, _target(lab))]
            if not labs:
                authorize(actor, Action.READ_LAB_MESSAGES, Target(), field="lab_id")
            return uow.lab_messages.lab_messages(labs, state, n)

    def message(self, actor: Principal, message_id: str) -> LabMessageRow:
        """One message with its bytes."""
        with self._d.uow(readonly=True) as uow:
            row = uow.lab_messages.message(message_id)
            lab = None if row is None else uow.places.lab(row.lab_id)
        if row is None or lab is None:
            raise _no_message()
        authorize(actor, Action.READ_LAB_MESSAGES, _target(lab), field="message_id")
        return replace(row, raw=self._open(row.raw))

    # -- configuring --------------------------------------------------------------------------

    def setting(self, actor: Principal, lab_id: str) -> InteropSetting:
        authorize(actor, Action.SET_LAB_INTEROP, Target(lab=lab_id), field="lab_id")
        with self._d.uow(readonly=True) as uow:
            return uow.lab_messages.setting(lab_id) or InteropSetting(lab_id)

    def configure(self, actor: Principal, lab_id: str, id_order: Sequence[str] | None = None,
                  tests: Mapping[str, str] | None = None,
                  values: Mapping[str, str] | None = None) -> InteropSetting:
        """Set a lab's interop setting (None: that part as it was): which specimen ids name its
        tubes, in order; its test codes, each to the LOINC code of a SARS-CoV-2 nucleic-acid
        test or a Ct; its result codes or words, each to a finding. Audited."""
        authorize(actor, Action.SET_LAB_INTEROP, Target(lab=lab_id), field="lab_id")
        order = None if id_order is None else _id_order(id_order)
        mapped = None if tests is None else _tests(tests)
        found = None if values is None else _values(values)
        now = self._d.clock.now()

        def run(uow: UnitOfWork) -> InteropSetting:
            if uow.places.lab(lab_id) is None:
                raise NotFound("lab_id: no such lab", code="unknown_lab", field="lab_id")
            was = uow.lab_messages.setting(lab_id) or InteropSetting(lab_id)
            new = InteropSetting(lab_id, order or was.id_order,
                                 was.tests if mapped is None else mapped,
                                 was.values if found is None else found, actor.username, now)
            uow.lab_messages.set_setting(new)
            uow.audit_log.append(now, actor.username, "lab.interop_setting", f"lab:{lab_id}", {
                "id_order": [s.value for s in new.id_order], "tests": dict(new.tests),
                "values": {k: v.value for k, v in new.values.items()}})
            return new

        return write_retrying(self._d, run)


def _stored(key: str) -> str:
    """A sending facility's key or a control id as stored (at most ``MAX_KEY`` characters): a
    longer one is cut and named by its digest, so it stays unique."""
    if len(key) <= MAX_KEY:
        return key
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    return f"{key[:MAX_KEY - 72]}…sha256:{digest}"


def _receipt(row: LabMessageRow, *, resend: bool) -> MessageReceipt:
    code: AckCode = "AR" if row.ack_code == "AR" else "AE" if row.ack_code == "AE" else "AA"
    return MessageReceipt(row.id, row.control_id, row.state, code, row.ack, resend)


def _state(lines: Sequence[SpecimenLine]) -> MessageState:
    if any(s.state is SpecimenState.UNCLEAR for s in lines):
        return MessageState.UNCLEAR
    return MessageState.APPLIED


def _ct(ct: Mapping[str, float]) -> tuple[dict[str, float] | None, tuple[str, ...]]:
    """The Ct values a tube keeps (its assay's targets, in range); the others noted."""
    kept = {t: v for t, v in ct.items() if t in CT_TARGETS}
    notes = tuple(f"Ct of {t} ({v:g}) not kept: not a target here" for t, v in ct.items()
                  if t not in CT_TARGETS)
    try:
        return check_ct(kept), notes
    except HesuanError as exc:
        return None, (*notes, f"Ct values not kept: {exc.message}")


def _target(lab: LabRow) -> Target:
    return Target(lab=lab.id, region=lab.region_code)


def _no_message() -> NotFound:
    return NotFound("message_id: no such lab message", code="unknown_lab_message",
                    field="message_id")


def _id_order(raw: Sequence[str]) -> tuple[IdSource, ...]:
    try:
        order = tuple(dict.fromkeys(IdSource(s.strip()) for s in raw))
    except ValueError:
        allowed = ", ".join(s.value for s in IdSource)
        raise InvalidInput(f"id_order: each one of {allowed}", code="bad_id_order",
                           field="id_order") from None
    if not order:
        raise InvalidInput("id_order: name at least one specimen id source",
                           code="bad_id_order", field="id_order")
    return order


def _tests(raw: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for code, loinc in raw.items():
        known = loinc.strip() in NAA_TESTS or loinc.strip() in CT_CODES
        if not code.strip() or not known:
            raise InvalidInput(f"tests: {code!r} must map to the LOINC code of a SARS-CoV-2 "
                               f"nucleic-acid test or a Ct", code="bad_mapping", field="tests")
        named = standard_test(code)
        if named is not None:
            raise InvalidInput(f"tests: {code.strip()!r} is already the LOINC code of {named}: "
                               "a lab maps only its own codes", code="bad_mapping",
                               field="tests")
        out[code.strip()] = loinc.strip()
    return out


def _values(raw: Mapping[str, str]) -> dict[str, Finding]:
    out: dict[str, Finding] = {}
    for code, finding in raw.items():
        try:
            out[code.strip()] = Finding(finding.strip())
        except ValueError:
            allowed = ", ".join(f.value for f in Finding)
            raise InvalidInput(f"values: {code!r} must map to one of {allowed}",
                               code="bad_mapping", field="values") from None
        if not code.strip():
            raise InvalidInput("values: a code or words to map", code="bad_mapping",
                               field="values")
        named = standard_finding(code)
        if named is not None:
            raise InvalidInput(f"values: {code.strip()!r} already says "
                               f"{named.value.replace('_', ' ')} (SNOMED CT or the result "
                               "words): a lab maps only its own codes", code="bad_mapping",
                               field="values")
    return out
