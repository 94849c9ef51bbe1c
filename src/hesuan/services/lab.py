"""Testing (检): a lab records results per tube; the results fan out to every member (报).

Accepted only for tubes this lab has received. The same result twice is a no-op, also when the
same results arrive twice at once: each tube is resulted once, by whichever arrives first; a
different result for a resulted tube is a conflict unless sent as a correction with a reason
(audited).
Results for unknown tubes are rejected and kept for reconciliation. The fan-out is decided here
from the domain's rules and written through the results repository's set-based steps: a 1 M-person
results file is a handful of statements, not a loop over people; only the members of positive
and invalid tubes, few, are decided one by one (their recall, their message, their passes).

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from hesuan.domain.access import Action, Principal, Target, authorize
from hesuan.domain.corrections import CorrectionKind, check_reason
from hesuan.domain.errors import HesuanError, InvalidInput, NotFound
from hesuan.domain.json import JsonObject
from hesuan.domain.local_time import short
from hesuan.domain.results import (
    CT_TARGETS,
    RecallReason,
    Result,
    TestState,
    check_ct,
    member_outcome,
    pool_outcome,
)
from hesuan.domain.sampling import TubeStatus, barcode_key, check_tube_barcode
from hesuan.domain.specimens import check_testable
from hesuan.domain.spreadsheets import ROW_NUMBER, Columns
from hesuan.services.chunks_at_once import apply_in_order
from hesuan.services.context import Deps, write_retrying
from hesuan.services.correction_requests import ask_correction
from hesuan.services.elr import ElrPolicy
from hesuan.services.outbox_ports import NewMessage
from hesuan.services.ports import UnitOfWork
from hesuan.services.sampling_ports import (
    Member,
    MemberRecall,
    MemberResult,
    NewRecall,
    Recall,
    RecallResolution,
    RejectedResult,
    ResultTube,
    TubeMember,
    TubeResult,
)
from hesuan.services.status import StatusService

__all__ = ["RESULT_COLUMNS", "FanOutCounts", "LabService", "ResultInput", "ResultOutcome",
           "parse_result_row", "recall_without_result"]


#: A results file's columns (docs/LAB.md "Results files").
RESULT_COLUMNS = Columns(
    required=("barcode", "result"),
    optional=(*(f"ct_{t}" for t in CT_TARGETS), "correction_reason"))


@dataclass(frozen=True, slots=True)
class ResultInput:
    barcode: str
    result: str
    ct: dict[str, float] | None = None
    correction_reason: str | None = None


@dataclass(frozen=True, slots=True)
class ResultOutcome:
    barcode: str
    status: str  # accepted | correction_requested | duplicate | rejected
    reason: str | None = None
    message: str | None = None
    row: int | None = None
    correction_id: str | None = None  # the request a correction made (or a retry found)


@dataclass(frozen=True, slots=True)
class FanOutCounts:
    """What a batch's fan-out reached (the audit entry's counts)."""

    people_notified: int
    recalls_opened: int
    recalls_resolved: int
    pools_closed: int
    statuses_decided: int


class LabService:
    def __init__(self, deps: Deps, status: StatusService, elr: ElrPolicy | None = None) -> None:
        self._d = deps
        self._status = status
        self._elr = elr  # electronic lab reports out: which to queue (None: none)

    def record(self, actor: Principal, lab_id: str,
               items: Sequence[ResultInput]) -> list[ResultOutcome]:
        authorize(actor, Action.RECORD_RESULTS, Target(lab=lab_id), field="lab_id")
        # retried whole when a concurrent writer wins a race with it (another upload holding
        # the same people's status rows, on PostgreSQL): the retry reads what that one left
        return write_retrying(self._d, lambda uow: self._record(uow, actor, lab_id, items))

    def _record(self, uow: UnitOfWork, actor: Principal, lab_id: str,
                items: Sequence[ResultInput]) -> list[ResultOutcome]:
        now = self._d.clock.now()
        parsed: list[tuple[int, str, Result, dict[str, float] | None, str | None]] = []
        outcomes: list[ResultOutcome | None] = [None] * len(items)
        stats: dict[str, int] = {}
        if uow.places.lab(lab_id) is None:
            raise NotFound("lab_id: no such lab", code="unknown_lab", field="lab_id")
        # The batch's tubes, read in one statement and held until the commit: a second
        # upload of the same tubes (a lab retrying a slow upload) waits, then reads them
        # resulted and answers duplicate, on PostgreSQL as on SQLite's one writer.
        # A barcode whose stored form is a stored tube's passed the barcode check when the
        # tube was opened: only the others are checked here (the Luhn check was a fifth of
        # a results file's CPU).
        keys = [barcode_key(it.barcode) for it in items]
        tubes = uow.results.tubes_for_results(keys, for_update=True)
        for i, it in enumerate(items):
            try:
                barcode = keys[i] if keys[i] in tubes else check_tube_barcode(it.barcode)
                result = Result.parse(it.result)
                ct = check_ct(it.ct)
                reason = (it.correction_reason or "").strip() or None
            except HesuanError as exc:
                outcomes[i] = ResultOutcome(it.barcode, "rejected", exc.code, exc.message)
                continue
            parsed.append((i, barcode, result, ct, reason))
        new: list[TubeResult] = []
        rejected_rows: list[RejectedResult] = []
        in_batch: dict[str, Result] = {}
        for i, barcode, result, ct, reason in parsed:
            t = tubes.get(barcode)
            if t is None:
                outcomes[i] = ResultOutcome(barcode, "rejected", "unknown_tube",
                                            "barcode: no tube with this barcode exists")
                rejected_rows.append(RejectedResult(self._d.new_id(), lab_id, barcode,
                                                    "unknown_tube", actor.user_id, now))
                continue
            if t.lab_id == lab_id and t.status in (TubeStatus.REJECTED,
                                                   TubeStatus.CANCELLED):
                try:
                    check_testable(t.status)
                except HesuanError as exc:  # never resulted: its people are re-sampled
                    outcomes[i] = ResultOutcome(barcode, "rejected", exc.code, exc.message)
                continue
            if t.lab_id != lab_id or t.status not in ("received", "resulted"):
                outcomes[i] = ResultOutcome(barcode, "rejected", "not_received",
                                            "barcode: this lab has not received the tube")
                continue
            current = in_batch.get(barcode) or (Result(t.result) if t.result else None)
            if current is None:
                new.append(TubeResult(t.id, result, ct, self._d.new_id()))
                in_batch[barcode] = result
                outcomes[i] = ResultOutcome(barcode, "accepted")
            elif current is result and (reason is None or (barcode not in in_batch
                                                           and ct == t.ct)):
                # a correction that changes nothing (a lab's retry of one) is a duplicate
                outcomes[i] = ResultOutcome(barcode, "duplicate")
            elif barcode in in_batch:
                # one result per tube per batch: the fan-out writes each tube once, and a
                # correction must be its own audited step after the result it corrects
                outcomes[i] = ResultOutcome(
                    barcode, "rejected", "twice_in_batch",
                    "barcode: this tube already has a result in this batch; send its "
                    "correction in a later one")
            elif reason is None:
                outcomes[i] = ResultOutcome(
                    barcode, "rejected", "result_conflict",
                    f"result: the tube is already {current}; send a correction with a "
                    f"reason to change it")
            else:
                outcomes[i] = self._ask_correction(uow, actor, lab_id, t, result, ct, reason,
                                                   now)
                in_batch[barcode] = current
        if rejected_rows:
            uow.results.reject_results(rejected_rows)
        if new:
            stats = asdict(self.fan_out(uow, lab_id, new, actor.user_id, now))
        uow.audit_log.append(now, actor.username, "results.record", f"lab:{lab_id}",
                             {"accepted": len(new), "corrections_requested": sum(
                                 1 for o in outcomes if o and o.status == "correction_requested"),
                              "rejected": sum(1 for o in outcomes
                                              if o and o.status == "rejected")} | stats)
        return [o for o in outcomes if o is not None]

    def _ask_correction(self, uow: UnitOfWork, actor: Principal, lab_id: str, t: ResultTube,
                        result: Result, ct: dict[str, float] | None, reason: str,
                        now: datetime) -> ResultOutcome:
        """A released result changed on the direct path: a correction request, applied once a
        second lab user of the lab approves it (DESIGN L4, ``services/corrections.py``); the
        same request sent again is a duplicate."""
        pending = uow.corrections.pending_for_tube(t.id)
        if (pending is not None and pending.kind is CorrectionKind.CORRECTION
                and pending.result is result):
            return ResultOutcome(t.barcode, "duplicate", correction_id=pending.id)
        try:
            row = ask_correction(uow, self._d.new_id, actor, lab_id, t,
                                 CorrectionKind.CORRECTION, result, ct, check_reason(reason),
                                 now)
        except HesuanError as exc:
            return ResultOutcome(t.barcode, "rejected", exc.code, exc.message)
        return ResultOutcome(t.barcode, "correction_requested", message=(
            f"a second lab user of the lab approves it (correction {row.id})"),
            correction_id=row.id)

    def fan_out(self, uow: UnitOfWork, lab_id: str, batch: Sequence[TubeResult],
                actor_id: str, now: datetime) -> FanOutCounts:
        """Results reach people: ``batch`` (one result per tube; a correction names the result
        it corrects) on its tubes, in the result log (each entry by its ``log_id``, by
        ``actor_id`` of ``lab_id``) and on every member of every tube, then the statuses the
        fan-out left to the status engine refreshed. A step of the caller's unit of work, which
        audits and commits: the direct results path and a plate's release both reach people
        through it."""
        counts = self._fan_out(uow, lab_id, batch, actor_id, now)
        if self._elr is not None:  # the batch's reports, queued with it (services/elr.py)
            self._elr.queue(uow, now)
        # the fan-out decides the plain members itself; the refresh the rest
        refreshed = self._status.refresh(uow, now, in_results=True)
        return replace(counts, statuses_decided=counts.statuses_decided + refreshed)

    def report_withdrawals(self, uow: UnitOfWork, log_ids: Sequence[str],
                           now: datetime) -> int:
        """Electronic lab reports withdrawing the results the cancellations ``log_ids``
        (result-log entries) withdrew, queued by the same rules as the fan-out's
        (services/elr.py); none when reports are off. A step of the caller's unit of work."""
        return 0 if self._elr is None else self._elr.queue_withdrawals(uow, log_ids, now)

    def _fan_out(self, uow: UnitOfWork, lab_id: str, batch: Sequence[TubeResult],
                 actor_id: str, now: datetime) -> FanOutCounts:
        """A batch's results on their tubes, in the result log and on every member of every
        tube: the negatives set-based; the members of positive and invalid tubes one by one by
        the domain's rules (``member_outcome``): the recall each opens or answers, the message
        each is sent, the passes a positive revokes; then the pools' investigations."""
        results, new_id = uow.results, self._d.new_id
        recall_due = now + self._d.limits.recall_due
        corrected = {r.tube_id: r for r in batch if r.previous is not None}
        results.stage(batch)
        # a correction away from a positive or invalid result cancels the recalls it opened,
        # and takes back the positive state a single tube's positive gave its person
        results.cancel_recalls_of(
            [r.tube_id for r in corrected.values() if r.previous is not Result.NEGATIVE], now)
        results.withdraw_positives(
            [r.tube_id for r in corrected.values() if r.previous is Result.POSITIVE], now)
        results.record(lab_id, actor_id, now)
        results.gather_members(now)
        negatives = results.fan_out_negatives(now)
        # re-samples answer recalls: a negative one resolves its recall if it is still open
        answers = results.recall_answers()
        resolved = results.resolve_recalls(
            [RecallResolution(a.recall_id, a.result, a.tube_id) for a in answers
             if a.result is Result.NEGATIVE], now, only_open=True)
        # positives and invalids: few people, each decided by the domain's rules
        due = short(recall_due)
        opened: list[NewRecall] = []
        answered: list[RecallResolution] = []
        reached: list[MemberResult] = []
        messages: list[NewMessage] = []
        told: dict[tuple[str, str], str] = {}  # a corrected tube's member: what they are told
        asked_by: dict[tuple[str, str], str] = {}  # ... and by when, where it is not ``due``
        positive_pools: dict[str, None] = {}
        confirmed: dict[str, None] = {}  # positive single tubes: the health authority is told
        members = results.non_negative_members()
        # a re-sample that is invalid leaves its recall open: asked by its time (``_ask_by``)
        open_due = {r.id: r.due_at for r in results.recalls(
            m.recall_id for m in members if m.recall_id is not None) if r.status == "open"}
        for m in members:
            outcome = member_outcome(m.result, m.pool_size)
            if outcome.recall is RecallReason.POOL_POSITIVE:
                positive_pools[m.tube_id] = None
            if outcome.state is TestState.POSITIVE:
                confirmed[m.tube_id] = None
            recall_id, template = _recall_and_template(m, outcome.recall, answered, opened,
                                                       new_id, recall_due)
            reached.append(MemberResult(m.person_id, outcome.state, m.result, m.sampled_at,
                                        recall_id, m.recall_id))
            by = short(_ask_by(open_due.get(recall_id) if recall_id is not None
                               and recall_id == m.recall_id else None, now, recall_due))
            if m.tube_id in corrected:
                told[m.tube_id, m.person_id] = template
                asked_by[m.tube_id, m.person_id] = by
            else:
                messages.append(NewMessage(new_id(), f"{template}:{m.tube_id}:{m.person_id}",
                                           m.person_id, m.tube_id, template, {"due": by}))
        results.open_recalls(opened, now)
        results.resolve_recalls(answered, now, only_open=False)
        results.record_member_results(reached, now)
        # passes overtaken by a later positive result are revoked (red passes stay true); a
        # correction revokes its members' passes whatever they say: each asks for a new one
        uow.passes.revoke_passes([r.person_id for r in reached if r.result is Result.POSITIVE],
                                 now, "positive", keep_red=True)
        # an invalid tube's members await a re-test (yellow): their green passes are untrue
        uow.passes.revoke_passes([r.person_id for r in reached if r.result is Result.INVALID],
                                 now, "invalid", keep_red=True)
        if corrected:
            reached_members = results.tube_members(corrected)
            messages += _corrected_messages(corrected, reached_members, told, asked_by, due,
                                            new_id)
            uow.passes.revoke_passes([m.person_id for m in reached_members], now, "corrected",
                                     keep_red=False)
        uow.outbox.enqueue(messages, now)
        uow.alerts.raise_positive_results(list(confirmed), lab_id, now, new_id)
        results.open_investigations(list(positive_pools))
        return FanOutCounts(
            people_notified=negatives.notified + len(reached), recalls_opened=len(opened),
            recalls_resolved=resolved + len(answered),
            pools_closed=_close_investigations(uow, [a.recall_id for a in answers], now),
            statuses_decided=negatives.decided)

    def import_rows(self, actor: Principal, lab_id: str, rows: Iterable[Mapping[str, Any]],
                    chunk: int = 20000) -> tuple[list[ResultOutcome], int]:
        """Record results from table rows (CSV/Excel), ``chunk`` rows a transaction, up to
        ``Limits.result_chunks_at_once`` chunks at the same time (``chunks_at_once``: a chunk
        naming a tube of one being applied waits for it). Returns the outcomes that were not
        plain acceptances, in row order, and the number of rows."""
        authorize(actor, Action.RECORD_RESULTS, Target(lab=lab_id), field="lab_id")
        report: list[ResultOutcome] = []
        total = 0

        def chunks() -> Iterator[tuple[frozenset[str], _Chunk]]:
            nonlocal total
            batch: list[ResultInput] = []
            rownos: list[int] = []
            applied = False
            for counted, raw in enumerate(rows, start=2):
                n = int(raw.get(ROW_NUMBER, counted))  # as the sheet shows it, when known
                total += 1
                try:
                    batch.append(parse_result_row(raw))
                    rownos.append(n)
                except HesuanError as exc:
                    report.append(ResultOutcome(str(raw.get("barcode", "")), "rejected",
                                                exc.code, exc.message, n))
                if len(batch) >= chunk:
                    yield _keys(batch), (batch, rownos)
                    batch, rownos, applied = [], [], True
            if batch or not applied:  # a file with no results still names a lab that must exist
                yield _keys(batch), (batch, rownos)

        def apply(c: _Chunk) -> list[tuple[int, ResultOutcome]]:
            batch, rownos = c
            return list(zip(rownos, self.record(actor, lab_id, batch), strict=True))

        for answered in apply_in_order(chunks(), apply, self._d.limits.result_chunks_at_once):
            report += [replace(o, row=n) for n, o in answered if o.status != "accepted"]
        report.sort(key=lambda o: o.row or 0)
        return report, total


#: A chunk of a results file: its results and their row numbers.
_Chunk = tuple[list[ResultInput], list[int]]


def _keys(batch: Sequence[ResultInput]) -> frozenset[str]:
    """The tubes a chunk names, in their stored form."""
    return frozenset(barcode_key(it.barcode) for it in batch)


def _recall_and_template(m: Member, recall: RecallReason | None,
                         answered: list[RecallResolution], opened: list[NewRecall],
                         new_id: Callable[[], str], due: datetime) -> tuple[str | None, str]:
    """A member of a positive or invalid tube: the recall open for them after the result (None:
    none opened nor kept open by it) and the message they are sent. A positive re-sample
    resolves the recall it answers; an invalid one leaves it open; otherwise ``recall`` (the
    domain's reason to recall, if any) opens a new one."""
    if m.recall_id is not None and m.result is Result.POSITIVE:
        answered.append(RecallResolution(m.recall_id, Result.POSITIVE, m.tube_id))
        return None, "positive"
    if m.recall_id is not None:
        return m.recall_id, "invalid"
    if recall is None:
        return None, "positive"
    opened.append(NewRecall(new_id(), m.person_id, m.tube_id, recall, due))
    return opened[-1].id, "recall" if recall is RecallReason.POOL_POSITIVE else "invalid"


def _ask_by(kept: datetime | None, now: datetime, due: datetime) -> datetime:
    """The time a re-sample is asked for by: the open recall's own due time (the one the
    status page shows), or ``due`` (the recall limit from now) with none, or one already
    past."""
    return kept if kept is not None and kept > now else due


def recall_without_result(uow: UnitOfWork, deps: Deps, members: Sequence[TubeMember],
                          reason: RecallReason, template: str, keys: Mapping[str, str],
                          params: Mapping[str, JsonObject], now: datetime) -> int:
    """The members of tubes that give no result — rejected, or their result cancelled — each
    recalled for a new single-tube sample and told once: the recall their sample answers (a
    re-sample) stays open, anyone else gets a new one (``reason``), due within the recall
    limit; each is sent ``template`` keyed ``keys[tube]:person`` with ``params[tube]`` and the
    due time. Their statuses are left stale for the caller's refresh. How many were
    recalled."""
    due = now + deps.limits.recall_due
    still_open = {r.id: r.due_at for r in uow.results.recalls(
        m.recall_id for m in members if m.recall_id) if r.status == "open"}
    opened: list[NewRecall] = []
    recalled: list[MemberRecall] = []
    messages: list[NewMessage] = []
    for m in members:
        if m.recall_id in still_open:
            recall_id = m.recall_id
        else:
            opened.append(NewRecall(deps.new_id(), m.person_id, m.tube_id, reason, due))
            recall_id = opened[-1].id
        assert recall_id is not None
        recalled.append(MemberRecall(m.person_id, recall_id))
        by = _ask_by(still_open.get(recall_id), now, due)
        messages.append(NewMessage(deps.new_id(), f"{keys[m.tube_id]}:{m.person_id}",
                                   m.person_id, m.tube_id, template,
                                   {**params.get(m.tube_id, {}), "due": short(by)}))
    uow.results.open_recalls(opened, now)
    uow.results.recall_members(recalled, now)
    uow.outbox.enqueue(messages, now)
    return len(recalled)


#: What a member of a corrected tube is told, by what the fan-out decided for them.
_CORRECTED = {"positive": "corrected_positive", "recall": "corrected_recall",
              "invalid": "corrected_invalid"}


def _corrected_messages(corrected: Mapping[str, TubeResult], members: Sequence[TubeMember],
                        told: Mapping[tuple[str, str], str],
                        asked_by: Mapping[tuple[str, str], str], due: str,
                        new_id: Callable[[], str]) -> list[NewMessage]:
    """Everyone a corrected result reached is told once, with the corrected result: one
    message per member per correction (its key names the correction's result-log entry, never
    the first result's), and the time a re-sample is asked for by."""
    return [NewMessage(new_id(), f"corrected:{corrected[m.tube_id].log_id}:{m.person_id}",
                       m.person_id, m.tube_id,
                       _CORRECTED.get(told.get((m.tube_id, m.person_id), ""),
                                      "corrected_negative"),
                       {"due": asked_by.get((m.tube_id, m.person_id), due)})
            for m in members]


def _close_investigations(uow: UnitOfWork, answered_recalls: Sequence[str],
                          now: datetime) -> int:
    """Close the investigation of each pool whose recalls these re-samples answered, once none
    of its recalls (cancelled ones aside) is open, with the verdict of ``pool_outcome``. How
    many were closed."""
    if not answered_recalls:
        return 0
    pools = {r.pool_tube_id for r in uow.results.recalls(answered_recalls)
             if r.reason is RecallReason.POOL_POSITIVE}
    if not pools:
        return 0
    by_pool: dict[str, list[Recall]] = defaultdict(list)
    for r in uow.results.pool_recalls(pools):
        if r.status != "cancelled":
            by_pool[r.pool_tube_id].append(r)
    closed = 0
    for pool, rs in by_pool.items():
        if any(r.status == "open" for r in rs):
            continue
        verdict = pool_outcome([r.outcome for r in rs if r.outcome is not None])
        closed += uow.results.close_investigation(pool, verdict, now)
    return closed


def parse_result_row(raw: Mapping[str, Any]) -> ResultInput:
    """A results-file row: barcode, result, optional ct_ORF1ab / ct_N / ct_E, optional
    correction_reason."""
    barcode = str(raw.get("barcode") or "").strip()
    result = str(raw.get("result") or "").strip()
    if not barcode:
        raise InvalidInput("barcode is required", code="missing_field", field="barcode")
    if not result:
        raise InvalidInput("result is required", code="missing_field", field="result")
    ct: dict[str, float] = {}
    for target in CT_TARGETS:
        v = raw.get(f"ct_{target}")
        if v is None or str(v).strip() == "":
            continue
        try:
            ct[target] = float(v)
        except ValueError:
            raise InvalidInput(f"ct_{target} must be a number", code="bad_ct",
                               field=f"ct_{target}") from None
    reason = str(raw.get("correction_reason") or "").strip() or None
    return ResultInput(barcode, result, ct or None, reason)
