"""Fake repository of lab results and their fan-out to every member of every tube
(``adapters/db/results_store.py`` in memory): the staged batch and its gathered members live in
the unit of work's scratch, as the SQL adapter's temporary tables do."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from hesuan.domain.results import PoolInvestigation, RecallReason, Result, TestState
from hesuan.domain.status import decide
from hesuan.services.sampling_ports import (
    CancelledResult,
    Member,
    MemberRecall,
    MemberResult,
    NegativeFanOut,
    NewRecall,
    Recall,
    RecallAnswer,
    RecallResolution,
    RejectedResult,
    ResultTube,
    TubeMember,
    TubeResult,
)
from tests.fakes.base import FakeRepository, GatheredMember
from tests.fakes.database import (
    PersonStatus,
    RecallRecord,
    ResultLogEntry,
    absent,
    not_due,
    status_facts,
    write_status,
)

__all__ = ["FakeResults"]


class FakeResults(FakeRepository):
    """``ResultRepository``."""

    def tubes_for_results(self, barcodes: Iterable[str],
                          for_update: bool = False) -> dict[str, ResultTube]:
        wanted = set(barcodes)
        return {t.barcode: ResultTube(t.id, t.barcode, t.lab_id, t.status, t.capacity,
                                      t.result, t.ct)
                for t in self.t.tubes.values() if t.barcode in wanted}

    def reject_results(self, rows: Sequence[RejectedResult]) -> None:
        for r in rows:
            self.t.rejected_results.setdefault((r.lab_id, r.barcode, r.reason), r)

    # -- a batch's fan-out -----------------------------------------------------------------

    def stage(self, batch: Sequence[TubeResult]) -> None:
        self.scratch.staged = list(batch)
        self.scratch.members = []

    def cancel_recalls_of(self, pool_tube_ids: Sequence[str], now: datetime) -> None:
        pools = set(pool_tube_ids)
        cancelled = set()
        for r in self.t.recalls.values():
            if r.pool_tube_id in pools and r.status == "open":
                r.status, r.resolved_at = "cancelled", now
                cancelled.add(r.id)
        for row in self.t.statuses.values():
            if row.open_recall_id in cancelled:
                row.open_recall_id, row.test_state = None, TestState.SAMPLED.value
                row.status_valid_until = now

    def record(self, lab_id: str, actor: str, now: datetime) -> None:
        for r in self.scratch.staged:
            tube = self.t.tubes[r.tube_id]
            tube.status, tube.result, tube.ct, tube.resulted_at = (
                "resulted", r.result.value, r.ct, now)
            tube.notified_at = now if r.result is Result.NEGATIVE else None
            tube.investigation = None
            self.t.result_log.append(ResultLogEntry(
                r.log_id, r.tube_id, lab_id, r.result.value, r.ct,
                None if r.previous is None else r.previous.value, r.reason, actor, now))

    def gather_members(self, now: datetime) -> None:
        results = {r.tube_id: r.result for r in self.scratch.staged}
        self.scratch.members = [
            GatheredMember(s.person_id, s.tube_id, s.recall_id, s.sampled_at,
                           results[s.tube_id], _fanout_plain(row, s.recall_id, s.sampled_at,
                                                             results[s.tube_id], now))
            for s in self.t.samples.values()
            if s.tube_id in results and (row := self.t.statuses.get(s.person_id)) is not None]

    def fan_out_negatives(self, now: datetime) -> NegativeFanOut:
        """Each reached status row once, judged as it was before the fan-out (as one UPDATE
        ... FROM does)."""
        notified = decided = 0
        reached: set[str] = set()
        for m in self.scratch.members:
            row = self.t.statuses[m.person_id]
            if m.result is not Result.NEGATIVE or m.person_id in reached or not (
                    row.last_result_sampled_at is None
                    or row.last_result_sampled_at <= m.sampled_at):
                continue
            reached.add(m.person_id)
            answers = m.recall_id is not None and m.recall_id == row.open_recall_id
            if row.test_state != TestState.POSITIVE and (row.open_recall_id is None or answers):
                row.test_state = TestState.NEGATIVE.value
            if answers:
                row.open_recall_id = None
            row.last_result, row.last_result_at = Result.NEGATIVE.value, now
            row.last_result_sampled_at, row.last_negative_at, row.updated_at = (
                m.sampled_at, now, now)
            notified += 1
            if m.plain:
                write_status(row, decide(status_facts(row, self.t), now), now, None)
                decided += 1
            else:
                row.status_valid_until = now
        return NegativeFanOut(notified, decided)

    def recall_answers(self) -> list[RecallAnswer]:
        return [RecallAnswer(m.tube_id, m.recall_id, m.result) for m in self.scratch.members
                if m.recall_id is not None]

    def resolve_recalls(self, resolutions: Sequence[RecallResolution], now: datetime, *,
                        only_open: bool) -> int:
        n = 0
        for res in resolutions:
            r = self.t.recalls.get(res.recall_id)
            if r is None:
                continue
            answered = [] if only_open and r.status != "open" else [r]
            # the re-sample answers its person's other open recalls opened before it was taken
            taken = next((s.sampled_at for s in self.t.samples.values()
                          if s.tube_id == res.tube_id and s.recall_id == r.id), None)
            answered += [o for o in self.t.recalls.values()
                         if o.person_id == r.person_id and o.id != r.id and o.status == "open"
                         and taken is not None and o.opened_at <= taken]
            for a in answered:
                a.status, a.outcome, a.resolved_at, a.resolving_tube_id = (
                    "resolved", res.outcome.value, now, res.tube_id)
            n += len(answered)
        return n

    def non_negative_members(self) -> list[Member]:
        return [Member(m.tube_id, m.person_id, m.recall_id, m.sampled_at, m.result,
                       self.t.tubes[m.tube_id].capacity)
                for m in self.scratch.members if m.result is not Result.NEGATIVE]

    def open_recalls(self, recalls: Sequence[NewRecall], now: datetime) -> None:
        for r in recalls:
            self.t.recalls[r.id] = RecallRecord(r.id, r.person_id, r.pool_tube_id,
                                                r.reason.value, "open", now, r.due_at)

    def record_member_results(self, results: Sequence[MemberResult], now: datetime) -> None:
        for r in results:
            row = self.t.statuses[r.person_id]
            row.test_state = r.state.value
            # a re-test answers its own recall only: a second pool that turned positive before
            # it was taken opened another recall, which stays the open one
            keep = (r.answers is None and r.recall_id is None) or (
                row.open_recall_id is not None and r.answers is not None
                and row.open_recall_id != r.answers)
            if not keep:
                row.open_recall_id = r.recall_id
            row.last_result, row.last_result_at = r.result.value, now
            row.last_result_sampled_at, row.updated_at = r.sampled_at, now
            row.status_valid_until = now

    def open_investigations(self, pool_tube_ids: Sequence[str]) -> None:
        for tid in pool_tube_ids:
            self.t.tubes[tid].investigation = PoolInvestigation.OPEN.value

    def recalls(self, recall_ids: Iterable[str]) -> list[Recall]:
        return [_recall(self.t.recalls[i]) for i in dict.fromkeys(recall_ids)
                if i in self.t.recalls]

    def pool_recalls(self, pool_tube_ids: Iterable[str]) -> list[Recall]:
        pools = set(pool_tube_ids)
        return [_recall(r) for r in self.t.recalls.values() if r.pool_tube_id in pools]

    def close_investigation(self, pool_tube_id: str, verdict: PoolInvestigation,
                            now: datetime) -> bool:
        tube = self.t.tubes.get(pool_tube_id)
        if tube is None or tube.investigation != PoolInvestigation.OPEN:
            return False
        tube.investigation, tube.investigation_closed_at = verdict.value, now
        return True


    # -- corrections, cancellations and rejected tubes ----------------------------------------

    def tube_members(self, tube_ids: Iterable[str]) -> list[TubeMember]:
        wanted = set(tube_ids)
        return [TubeMember(s.tube_id, s.person_id, s.recall_id, s.sampled_at)
                for s in self.t.samples.values() if s.tube_id in wanted]

    def withdraw_positives(self, tube_ids: Sequence[str], now: datetime) -> int:
        wanted, n = set(tube_ids), 0
        for s in self.t.samples.values():
            row = self.t.statuses.get(s.person_id)
            if (s.tube_id in wanted and row is not None and row.test_state == TestState.POSITIVE
                    and row.last_result_sampled_at == s.sampled_at):
                row.test_state, row.updated_at = TestState.SAMPLED.value, now
                row.status_valid_until = now
                n += 1
        return n

    def recall_members(self, recalls: Sequence[MemberRecall], now: datetime) -> None:
        for r in recalls:
            row = self.t.statuses[r.person_id]
            if row.test_state != TestState.POSITIVE:
                row.test_state = TestState.PENDING_RETEST.value
            row.open_recall_id, row.updated_at, row.status_valid_until = r.recall_id, now, now

    def cancel_results(self, rows: Sequence[CancelledResult], lab_id: str, actor: str,
                       now: datetime) -> None:
        for r in rows:
            tube = self.t.tubes[r.tube_id]
            tube.status, tube.result, tube.ct, tube.investigation = "cancelled", None, None, None
            tube.notified_at = now
            self.t.result_log.append(ResultLogEntry(r.log_id, r.tube_id, lab_id, "cancelled",
                                                    None, r.previous.value, r.reason, actor,
                                                    now))


def _fanout_plain(row: PersonStatus, recall_id: str | None, sampled_at: datetime,
                  result: Result, now: datetime) -> bool:
    """A member the fan-out decides itself: a negative that reaches them (not older than their
    latest result) and leaves them negative with no open recall and nothing else special, not
    past due + grace (``status_sql.fanout_plain``)."""
    return (result is Result.NEGATIVE
            and (row.last_result_sampled_at is None or row.last_result_sampled_at <= sampled_at)
            and row.test_state != TestState.POSITIVE
            and (row.open_recall_id is None or recall_id == row.open_recall_id)
            and absent(row) and not_due(row, now))


def _recall(r: RecallRecord) -> Recall:
    return Recall(r.id, r.pool_tube_id, RecallReason(r.reason), r.status,
                  None if r.outcome is None else Result(r.outcome), r.due_at)
