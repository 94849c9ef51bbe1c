"""Corrections and cancellations of released results (结果更正与撤销), by two people.

A lab user of the lab that released a tube's result requests a correction (another result) or a
cancellation, with a reason; a second lab user of the lab approves it, and only then is it
applied, in the approval's transaction (``hesuan.domain.corrections``). Either may decline it
instead (the requester withdrawing it), and nothing changes.

**A correction** goes through the results fan-out (``LabService.fan_out``) as a result naming
the one it corrects: the tube's result and the result log (both entries kept: the person's
history shows both), the recalls the first result opened cancelled and those the new one needs
opened, a positive state the first result gave taken back, the pool's investigation opened or
withdrawn, the statuses decided again, passes revoked (each asks for a new one), and every
member of the tube told once with the corrected result.

**A cancellation** withdraws the result: the tube is ``cancelled`` (no result), a result-log
entry says so, the first result's recalls are cancelled and its positive state taken back, and
every member is recalled for a new single-tube sample (``result_cancelled``), told once, their
passes revoked and their statuses decided again; with electronic lab reports on, a report per
member withdraws the released one (``LabService.report_withdrawals``).

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from hesuan.domain.access import Action, Principal, Target, authorize
from hesuan.domain.corrections import (
    CorrectionKind,
    CorrectionStatus,
    check_decider,
    check_reason,
)
from hesuan.domain.errors import InvalidInput, NotFound, RuleViolation
from hesuan.domain.results import RecallReason, Result, check_ct
from hesuan.domain.sampling import barcode_key, check_tube_barcode
from hesuan.services.context import Deps, write_retrying
from hesuan.services.correction_requests import ask_correction
from hesuan.services.corrections_ports import CorrectionDecision, CorrectionRow, ReleasedResult
from hesuan.services.lab import FanOutCounts, LabService, recall_without_result
from hesuan.services.ports import UnitOfWork
from hesuan.services.sampling_ports import CancelledResult, ResultTube, TubeResult
from hesuan.services.status import StatusService

__all__ = ["CorrectionDesk", "CorrectionOutcome", "CorrectionService"]

#: Requests listed at most by one read.
MAX_LISTED = 500
#: The longest note a decision may carry.
MAX_NOTE = 500


@dataclass(frozen=True, slots=True)
class CorrectionOutcome:
    """A request as its approval left it; ``applied``: this approval applied it (False: it
    was applied already, and nothing changed), with what its fan-out reached."""

    request: CorrectionRow
    applied: bool
    fan_out: FanOutCounts | None = None


@dataclass(frozen=True, slots=True)
class CorrectionDesk:
    """What a lab's corrections are decided from: its released results (the latest, or those
    whose barcode starts with ``searched``), its requests waiting for a second person, its
    latest decided ones, and the usernames of the people they name."""

    released: list[ReleasedResult]
    pending: list[CorrectionRow]
    decided: list[CorrectionRow]
    searched: str | None = None
    names: Mapping[str, str] = field(default_factory=dict)


def _barcode_prefix(value: str | None) -> str | None:
    """A barcode, or the start of one, as searched: digits only, at most a whole barcode."""
    text = (value or "").strip()
    if not text:
        return None
    if not text.isdigit() or not text.isascii() or len(text) > 13:
        raise InvalidInput("barcode: search by the digits of a tube barcode", code="bad_barcode",
                           field="barcode")
    return text


def _no_request() -> NotFound:
    return NotFound("request_id: no such correction request", code="unknown_correction",
                    field="request_id")


class CorrectionService:
    def __init__(self, deps: Deps, lab: LabService, status: StatusService) -> None:
        self._d = deps
        self._lab = lab
        self._status = status

    # -- requesting ---------------------------------------------------------------------------

    def request(self, actor: Principal, lab_id: str, barcode: str, kind: CorrectionKind,
                reason: str | None, result: str | None = None,
                ct: dict[str, float] | None = None) -> CorrectionRow:
        """Ask for a tube's released result to be corrected to ``result`` (or cancelled), with
        a reason: pending until a second lab user approves it."""
        authorize(actor, Action.REQUEST_CORRECTION, Target(lab=lab_id), field="lab_id")
        why = check_reason(reason)
        new = None if result is None or not result.strip() else Result.parse(result)
        cts = check_ct(ct)
        if kind is CorrectionKind.CANCELLATION and cts is not None:
            raise InvalidInput("ct: a cancellation gives no result", code="bad_ct", field="ct")
        key = check_tube_barcode(barcode)
        now = self._d.clock.now()

        def ask(uow: UnitOfWork) -> CorrectionRow:
            if uow.places.lab(lab_id) is None:
                raise NotFound("lab_id: no such lab", code="unknown_lab", field="lab_id")
            t = _tube(uow, key)
            if t.lab_id != lab_id:
                raise RuleViolation("barcode: this lab did not receive the tube",
                                    code="not_received", field="barcode")
            return ask_correction(uow, self._d.new_id, actor, lab_id, t, kind, new, cts, why,
                                  now)

        return write_retrying(self._d, ask)

    # -- deciding -----------------------------------------------------------------------------

    def approve(self, actor: Principal, request_id: str) -> CorrectionOutcome:
        """Approve a pending request — by a lab user of its lab who did not make it — and
        apply it. Approving an applied request again changes nothing."""
        now = self._d.clock.now()
        with self._d.uow() as uow:
            row = self._pending(uow, actor, request_id, approving=True)
            if row.status is CorrectionStatus.APPLIED:
                return CorrectionOutcome(row, applied=False)
            t = _tube(uow, row.barcode or "")
            if t.result is None or Result(t.result) is not row.previous:
                raise RuleViolation(f"request_id: the tube's result is no longer "
                                    f"{row.previous.value}: make a new request",
                                    code="result_changed", field="request_id")
            log_id = self._d.new_id()
            if row.kind is CorrectionKind.CORRECTION:
                assert row.result is not None
                counts = self._lab.fan_out(uow, row.lab_id, [TubeResult(
                    t.id, row.result, row.ct, log_id, row.previous, row.reason)],
                    actor.user_id, now)
            else:
                counts = self._cancel(uow, actor, row, t, log_id, now)
            decision = CorrectionDecision(CorrectionStatus.APPLIED, actor.user_id, now, None,
                                          log_id)
            uow.corrections.decide(row.id, decision)
            uow.audit_log.append(now, actor.username, "result.correction_apply",
                                 f"tube:{t.barcode}", {
                                     "request_id": row.id, "kind": row.kind.value,
                                     "previous": row.previous.value,
                                     "result": None if row.result is None else row.result.value,
                                     "requested_by": row.requested_by,
                                     "people_notified": counts.people_notified,
                                     "recalls_opened": counts.recalls_opened,
                                     "statuses_decided": counts.statuses_decided})
            uow.commit()
        return CorrectionOutcome(_decided(row, decision), applied=True, fan_out=counts)

    def decline(self, actor: Principal, request_id: str, note: str | None = None,
                ) -> CorrectionRow:
        """Decline a pending request (its requester withdrawing it, or a second lab user):
        nothing changes. Declining a declined request again changes nothing."""
        text = (note or "").strip() or None
        if text is not None and len(text) > MAX_NOTE:
            raise InvalidInput(f"note: at most {MAX_NOTE} characters", code="note_too_long",
                               field="note")
        now = self._d.clock.now()
        with self._d.uow() as uow:
            row = self._pending(uow, actor, request_id, approving=False)
            if row.status is CorrectionStatus.DECLINED:
                return row
            if row.status is CorrectionStatus.APPLIED:
                raise RuleViolation("request_id: the request is applied already: request "
                                    "another correction", code="correction_applied",
                                    field="request_id")
            decision = CorrectionDecision(CorrectionStatus.DECLINED, actor.user_id, now, text,
                                          None)
            uow.corrections.decide(row.id, decision)
            uow.audit_log.append(now, actor.username, "result.correction_decline",
                                 f"tube:{row.barcode}", {"request_id": row.id, "note": text})
            uow.commit()
        return _decided(row, decision)

    def _pending(self, uow: UnitOfWork, actor: Principal, request_id: str, *,
                 approving: bool) -> CorrectionRow:
        """The request, held until the unit of work ends, once ``actor`` may decide it; an
        applied one for a second approval; a declined one refuses an approval."""
        row = uow.corrections.correction(request_id, for_update=True)
        if row is None:
            raise _no_request()
        authorize(actor, Action.DECIDE_CORRECTION, Target(lab=row.lab_id), field="request_id")
        if row.status is CorrectionStatus.PENDING:
            check_decider(row.requested_by, actor.user_id, approving=approving)
        elif row.status is CorrectionStatus.DECLINED and approving:
            raise RuleViolation("request_id: the request was declined", code="correction_declined",
                                field="request_id")
        return row

    def _cancel(self, uow: UnitOfWork, actor: Principal, row: CorrectionRow, t: ResultTube,
                log_id: str, now: datetime) -> FanOutCounts:
        """Withdraw the tube's released result; every member recalled for a new sample."""
        if row.previous is not Result.NEGATIVE:
            uow.results.cancel_recalls_of([t.id], now)
        if row.previous is Result.POSITIVE:
            uow.results.withdraw_positives([t.id], now)
        uow.results.cancel_results([CancelledResult(t.id, log_id, row.previous, row.reason)],
                                   row.lab_id, actor.user_id, now)
        self._lab.report_withdrawals(uow, [log_id], now)
        members = uow.results.tube_members([t.id])
        recalled = recall_without_result(uow, self._d, members, RecallReason.RESULT_CANCELLED,
                                         "result_cancelled", {t.id: f"cancelled:{log_id}"}, {},
                                         now)
        people = list({m.person_id for m in members})
        uow.passes.revoke_passes(people, now, "cancelled", keep_red=False)
        decided = self._status.refresh(uow, now, person_ids=people)
        return FanOutCounts(people_notified=recalled, recalls_opened=recalled,
                            recalls_resolved=0, pools_closed=0, statuses_decided=decided)

    # -- reading ------------------------------------------------------------------------------

    def corrections(self, actor: Principal, lab_id: str, status: CorrectionStatus | None = None,
                    limit: int = 100) -> list[CorrectionRow]:
        """A lab's correction and cancellation requests, newest first."""
        authorize(actor, Action.READ_CORRECTIONS, Target(lab=lab_id), field="lab_id")
        with self._d.uow(readonly=True) as uow:
            return uow.corrections.lab_corrections(lab_id, status,
                                                   max(1, min(limit, MAX_LISTED)))

    def desk(self, actor: Principal, lab_id: str, barcode: str | None = None,
             limit: int = 50) -> CorrectionDesk:
        """A lab's released results (newest first; ``barcode``: those whose barcode starts
        with it), pending requests (oldest first: the longest waiting) and latest decided
        ones, with the usernames of who requested and decided them."""
        authorize(actor, Action.READ_CORRECTIONS, Target(lab=lab_id), field="lab_id")
        prefix = _barcode_prefix(barcode)
        n = max(1, min(limit, MAX_LISTED))
        with self._d.uow(readonly=True) as uow:
            if uow.places.lab(lab_id) is None:
                raise NotFound("lab_id: no such lab", code="unknown_lab", field="lab_id")
            released = uow.corrections.released_results(lab_id, prefix, n)
            pending = uow.corrections.lab_corrections(lab_id, CorrectionStatus.PENDING,
                                                      MAX_LISTED)
            decided = [r for r in uow.corrections.lab_corrections(lab_id, None, n + len(pending))
                       if r.status is not CorrectionStatus.PENDING][:n]
            people = {u for r in (*pending, *decided) for u in (r.requested_by, r.decided_by)
                      if u is not None}
            names = uow.users.usernames(people) if people else {}
        return CorrectionDesk(released, pending[::-1], decided, prefix, names)

    def correction(self, actor: Principal, request_id: str) -> CorrectionRow:
        with self._d.uow(readonly=True) as uow:
            row = uow.corrections.correction(request_id)
        if row is None:
            raise _no_request()
        authorize(actor, Action.READ_CORRECTIONS, Target(lab=row.lab_id), field="request_id")
        return row


def _tube(uow: UnitOfWork, barcode: str) -> ResultTube:
    """The tube, held until the unit of work ends (a result arriving for it meanwhile waits)."""
    key = barcode_key(barcode)
    t = uow.results.tubes_for_results([key], for_update=True).get(key)
    if t is None:
        raise NotFound("barcode: no tube with this barcode exists", code="unknown_tube",
                       field="barcode")
    return t


def _decided(row: CorrectionRow, d: CorrectionDecision) -> CorrectionRow:
    return replace(row, status=d.status, decided_by=d.decided_by, decided_at=d.decided_at,
                   decision_note=d.note, result_log_id=d.result_log_id)
