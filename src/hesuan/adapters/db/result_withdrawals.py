"""The steps of the results repository that take a released result back or recall a tube's
members without one (corrections, cancellations, rejected specimens): the members of a few
tubes, positive states withdrawn, members recalled, results cancelled. A correction or a
rejection names a handful of tubes, so these are plain statements, not the batch's temporary
tables. ``SqlResults`` (``results_store.py``) is built on them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, exists, insert, update

from hesuan.adapters.db.repository import SqlRepository
from hesuan.adapters.db.schema import person_status, result_log, samples, tubes
from hesuan.domain.results import TestState
from hesuan.domain.sampling import TubeStatus
from hesuan.services.sampling_ports import CancelledResult, MemberRecall, TubeMember

__all__ = ["SqlResultWithdrawals"]

_s, _ps, _t = samples.c, person_status.c, tubes.c

#: The result-log entry of a cancellation: no result in its place.
CANCELLED = TubeStatus.CANCELLED.value


class SqlResultWithdrawals(SqlRepository):
    """Members of a few tubes recalled, or their released result taken back."""

    def tube_members(self, tube_ids: Iterable[str]) -> list[TubeMember]:
        return [TubeMember(tube_id, person_id, recall_id, sampled_at)
                for tube_id, person_id, recall_id, sampled_at
                in self._in(_s.tube_id, tube_ids, _s.tube_id, _s.person_id, _s.recall_id,
                            _s.sampled_at)]

    def withdraw_positives(self, tube_ids: Sequence[str], now: datetime) -> int:
        if not tube_ids:
            return 0
        # the tube's result is the person's latest: their sample in it is the one resulted last
        theirs = exists().where(_s.person_id == _ps.person_id, _s.tube_id.in_(list(tube_ids)),
                                _s.sampled_at == _ps.last_result_sampled_at)
        return self._changed(
            update(person_status).where(_ps.test_state == TestState.POSITIVE.value, theirs)
            .values(test_state=TestState.SAMPLED.value, updated_at=now,
                    status_valid_until=now), {})

    def recall_members(self, recalls: Sequence[MemberRecall], now: datetime) -> None:
        if not recalls:
            return
        # a person positive by another result stays positive, with the recall open as well
        self.conn.execute(
            update(person_status).where(_ps.person_id == bindparam("pid"))
            .values(test_state=_not_positive(TestState.PENDING_RETEST.value),
                    open_recall_id=bindparam("recall"), updated_at=now,
                    status_valid_until=now),
            [{"pid": r.person_id, "recall": r.recall_id} for r in recalls])

    def cancel_results(self, rows: Sequence[CancelledResult], lab_id: str, actor: str,
                       now: datetime) -> None:
        if not rows:
            return
        self.conn.execute(
            update(tubes).where(_t.id == bindparam("tube"))
            .values(status=CANCELLED, result=None, ct=None, investigation=None,
                    notified_at=now),
            [{"tube": r.tube_id} for r in rows])
        self.conn.execute(insert(result_log), [
            {"id": r.log_id, "tube_id": r.tube_id, "lab_id": lab_id, "result": CANCELLED,
             "ct": None, "previous": r.previous.value, "reason": r.reason, "actor": actor,
             "at": now} for r in rows])


def _not_positive(state: str) -> Any:
    """``state``, unless the person is positive."""
    return case((_ps.test_state == TestState.POSITIVE.value, TestState.POSITIVE.value),
                else_=state)
