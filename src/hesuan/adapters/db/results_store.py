"""Storage of lab results: the tubes a results file names, rejected rows, and the set-based
primitives of a batch's fan-out to every member of every tube — the batch and its members in
this connection's temporary tables ``tmp_results`` and ``tmp_members`` (scratch of the one
unit of work), their recalls, and the pools' investigations.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy import update as sa_update

from hesuan.adapters.db import sql_helpers, status_sql
from hesuan.adapters.db.result_withdrawals import SqlResultWithdrawals
from hesuan.adapters.db.schema import (
    person_status,
    recalls,
    rejected_results,
    to_ms,
    tubes,
)
from hesuan.adapters.db.sql_helpers import (
    cached_text,
    chunks,
    member_of,
)
from hesuan.domain.results import PoolInvestigation, RecallReason, Result
from hesuan.services.sampling_ports import (
    Member,
    MemberResult,
    NegativeFanOut,
    NewRecall,
    Recall,
    RecallAnswer,
    RecallResolution,
    RejectedResult,
    ResultTube,
    TubeResult,
)

__all__ = ["SqlResults"]



class SqlResults(SqlResultWithdrawals):
    """Results, applied to tubes and fanned out to their members (and, from
    ``SqlResultWithdrawals``, taken back or replaced by a recall)."""

    def tubes_for_results(self, barcodes: Iterable[str],
                          for_update: bool = False) -> dict[str, ResultTube]:
        # On the driver's cursor: SQLAlchemy's expanding parameters cost more than the lookup
        # itself on a 20,000-row results chunk.
        rows: list[Any]
        if self._pg:
            # for_update: each tube locked until the commit, in one statement and in id order
            # (two uploads sharing tubes never wait on each other in a cycle); a second upload
            # of the same tubes waits here and then reads them as the first left them. NO KEY:
            # the fan-out changes no key, and samples referencing the tube stay insertable.
            lock = " ORDER BY id FOR NO KEY UPDATE" if for_update else ""
            rows = sql_helpers.fetch(self.conn, _TUBES_FOR_RESULTS[True] + lock, {
                "vals": sql_helpers.vals(list(dict.fromkeys(barcodes)), True)})
        else:
            rows = sql_helpers.fetch_in(self.conn, _TUBES_FOR_RESULTS[False], barcodes, False)
        return {r[1]: ResultTube(r[0], r[1], r[2], r[3], r[4], r[5],
                                 json.loads(r[6]) if isinstance(r[6], str) else r[6])
                for r in rows}

    def reject_results(self, rows: Sequence[RejectedResult]) -> None:
        if not rows:
            return
        self.conn.execute(self._insert(rejected_results).on_conflict_do_nothing(), [
            {"id": r.id, "lab_id": r.lab_id, "barcode": r.barcode, "reason": r.reason,
             "actor": r.actor, "at": r.at} for r in rows])

    # -- a batch's fan-out -----------------------------------------------------------------

    def stage(self, batch: Sequence[TubeResult]) -> None:
        """The batch into ``tmp_results`` (this connection's temporary table): tube, result,
        Ct (JSON text), the id of its ``result_log`` row, and for corrections the previous
        result and the reason; ``tmp_members`` emptied. PostgreSQL: COPY, then ANALYZE so
        that the planner knows the batch is small next to the tables it is joined with."""
        rows = [(r.tube_id, r.result.value, _json(r.ct), r.log_id,
                 None if r.previous is None else r.previous.value, r.reason) for r in batch]
        c = self.conn
        c.exec_driver_sql(
            "CREATE TEMP TABLE IF NOT EXISTS tmp_results (tube_id VARCHAR(32) PRIMARY KEY, "
            "result VARCHAR(10) NOT NULL, ct TEXT, log_id VARCHAR(32) NOT NULL, "
            "previous VARCHAR(10), reason TEXT)")
        c.exec_driver_sql(
            "CREATE TEMP TABLE IF NOT EXISTS tmp_members (person_id VARCHAR(32) NOT NULL, "
            "tube_id VARCHAR(32) NOT NULL, recall_id VARCHAR(32), sampled_at BIGINT NOT NULL, "
            "result VARCHAR(10) NOT NULL, plain INTEGER NOT NULL, status_row BIGINT)")
        if not self._pg:
            c.exec_driver_sql("DELETE FROM tmp_results")
            c.exec_driver_sql("DELETE FROM tmp_members")
            c.exec_driver_sql("INSERT INTO tmp_results (tube_id, result, ct, log_id, previous, "
                              "reason) VALUES (?, ?, ?, ?, ?, ?)", rows)
            return
        c.exec_driver_sql("TRUNCATE tmp_results, tmp_members")
        raw: Any = c.connection.driver_connection
        with raw.cursor() as cur:
            with cur.copy("COPY tmp_results (tube_id, result, ct, log_id, previous, reason) "
                          "FROM STDIN") as cp:
                for r in rows:
                    cp.write_row(r)
            cur.execute("ANALYZE tmp_results")

    @contextmanager
    def _by_key(self) -> Iterator[None]:
        """PostgreSQL: the statements inside find each row of the batch by its key (a nested
        loop over the primary key's index) rather than hashing the whole table: a batch is a
        small part of the tubes and of the people, and a hash join reads all of them for every
        batch — more of them with every round and every person. (The engine's sessions never
        compile statements, ``engine.py``: the nested loop's estimated cost would pass the
        threshold.)"""
        if not self._pg:
            yield
            return
        self.conn.exec_driver_sql("SET LOCAL enable_hashjoin = off; "
                                  "SET LOCAL enable_mergejoin = off")
        try:
            yield
        finally:
            self.conn.exec_driver_sql(
                "RESET enable_hashjoin; RESET enable_mergejoin")

    def cancel_recalls_of(self, pool_tube_ids: Sequence[str], now: datetime) -> None:
        c, pg = self.conn, self._pg
        ids = [r[0] for r in self._in(recalls.c.pool_tube_id, pool_tube_ids, recalls.c.id,
                                      where=recalls.c.status == "open")]
        for rp in chunks(ids):
            c.execute(sa_update(recalls).where(member_of(recalls.c.id, pg))
                      .values(status="cancelled", resolved_at=now),
                      {"vals": sql_helpers.vals(rp, pg)})
            c.execute(sa_update(person_status)
                      .where(member_of(person_status.c.open_recall_id, pg))
                      .values(open_recall_id=None, test_state="sampled",
                              status_valid_until=now),
                      {"vals": sql_helpers.vals(rp, pg)})

    def record(self, lab_id: str, actor: str, now: datetime) -> None:
        # set-based from the batch: the batch is read first (a materialised CTE) and each tube
        # found by key
        c, now_ms = self.conn, to_ms(now)
        json_ct = "CAST(m.ct AS json)" if self._pg else "m.ct"
        with self._by_key():
            c.execute(text(
                "WITH m AS MATERIALIZED (SELECT tube_id, result, ct FROM tmp_results"
                + (" ORDER BY tube_id) " if self._pg else ") ") +
                f"UPDATE tubes SET status = 'resulted', result = m.result, ct = {json_ct}, "
                f"resulted_at = :now, notified_at = CASE WHEN m.result = {status_sql.NEGATIVE} "
                "THEN :now "
                "END, investigation = NULL FROM m WHERE tubes.id = m.tube_id"), {"now": now_ms})
        # (SQLAlchemy's JSON type wrote a missing Ct as JSON null here: kept)
        log_ct = "CAST(COALESCE(ct, 'null') AS json)" if self._pg else "COALESCE(ct, 'null')"
        c.execute(text(
            "INSERT INTO result_log (id, tube_id, lab_id, result, ct, previous, reason, actor, "
            f"at) SELECT log_id, tube_id, :lab, result, {log_ct}, previous, reason, :actor, :now "
            "FROM tmp_results"), {"lab": lab_id, "actor": actor, "now": now_ms})

    def gather_members(self, now: datetime) -> None:
        # tmp_results first: "CROSS JOIN" fixes the order on SQLite; left to itself it scanned
        # every sample ever taken, or every person, once per chunk of a results file.
        # ``plain``: a negative that reaches the person (not older than their latest result)
        # and leaves nothing special — the facts for which the status engine decides green
        # (R-DEFAULT) and which ``refresh_plain`` would decide next; the fan-out decides those
        # itself, in the same write, instead of marking them stale for a second UPDATE of
        # every status row. SQLite: every member, each with its status row's rowid, so that
        # the fan-out's UPDATE finds it directly rather than through the person-id index.
        # PostgreSQL: only the members the domain decides one by one (of positive and invalid
        # tubes); the negatives' fan-out joins the samples itself, and adds the re-samples
        # among them (recall answers) here as it reads them, rather than every negative
        # tube's samples being read twice.
        row = "NULL" if self._pg else "ps.rowid"
        self.conn.execute(cached_text(
            "INSERT INTO tmp_members (person_id, tube_id, recall_id, sampled_at, result, plain, "
            "status_row) SELECT s.person_id, s.tube_id, s.recall_id, s.sampled_at, t.result, "
            f"CASE WHEN {_FANOUT_PLAIN} THEN 1 ELSE 0 END, {row} FROM tmp_results t "
            "CROSS JOIN samples s JOIN person_status ps ON ps.person_id = s.person_id "
            "WHERE s.tube_id = t.tube_id"
            + (f" AND t.result <> {status_sql.NEGATIVE}" if self._pg else "")),
            {"now": to_ms(now)})
        if self._pg:
            self.conn.exec_driver_sql("ANALYZE tmp_members")

    def fan_out_negatives(self, now: datetime) -> NegativeFanOut:
        c, params = self.conn, {"now": to_ms(now)}
        if self._pg:  # one row per status row written: both counts in the same statement
            with self._by_key():
                notified, decided = c.execute(cached_text(_FAN_OUT[True]), params).one()
        else:
            notified = self._changed(cached_text(_FAN_OUT[False]), params)
            decided = int(c.exec_driver_sql(
                "SELECT count(DISTINCT person_id) FROM tmp_members WHERE plain = 1").scalar_one())
        return NegativeFanOut(int(notified), int(decided))

    def recall_answers(self) -> list[RecallAnswer]:
        return [RecallAnswer(tube_id, recall_id, Result(result))
                for tube_id, recall_id, result in self.conn.exec_driver_sql(
                    "SELECT tube_id, recall_id, result FROM tmp_members "
                    "WHERE recall_id IS NOT NULL")]

    def resolve_recalls(self, resolutions: Sequence[RecallResolution], now: datetime, *,
                        only_open: bool) -> int:
        if not resolutions:
            return 0
        now_ms = to_ms(now)
        params = [{"id": r.recall_id, "outcome": r.outcome.value, "tube": r.tube_id,
                   "now": now_ms} for r in resolutions]
        answered = self._changed(_RESOLVE_OPEN if only_open else _RESOLVE, params)
        return answered + self._changed(_RESOLVE_EARLIER, params)

    def non_negative_members(self) -> list[Member]:
        return [Member(tube_id, person_id, recall_id, _instant(sampled_at), Result(result),
                       capacity)
                for tube_id, person_id, recall_id, sampled_at, result, capacity
                in self.conn.execute(text(
                    "SELECT m.tube_id, m.person_id, m.recall_id, m.sampled_at, m.result, "
                    "tb.capacity FROM tmp_members m CROSS JOIN tubes tb WHERE tb.id = m.tube_id "
                    f"AND m.result <> {status_sql.NEGATIVE}"))]

    def open_recalls(self, recalls: Sequence[NewRecall], now: datetime) -> None:
        if not recalls:
            return
        now_ms = to_ms(now)
        self.conn.execute(text(
            "INSERT INTO recalls (id, person_id, pool_tube_id, reason, status, opened_at, "
            "due_at) VALUES (:id, :person_id, :pool_tube_id, :reason, 'open', :opened_at, "
            ":due_at)"), [
            {"id": r.id, "person_id": r.person_id, "pool_tube_id": r.pool_tube_id,
             "reason": r.reason.value, "opened_at": now_ms, "due_at": to_ms(r.due_at)}
            for r in recalls])

    def record_member_results(self, results: Sequence[MemberResult], now: datetime) -> None:
        if not results:
            return
        now_ms = to_ms(now)
        self.conn.execute(text(
            "UPDATE person_status SET test_state = :state, "
            # a re-test answers its own recall only: a second pool that turned positive
            # before it was taken opened another recall, which stays the open one
            "open_recall_id = CASE WHEN :keep_recall THEN open_recall_id "
            "  WHEN open_recall_id <> CAST(:answered AS VARCHAR(32)) THEN open_recall_id "
            "  ELSE :recall END, "
            "last_result = :r, last_result_at = :now, last_result_sampled_at = :sampled, "
            "updated_at = :now, status_valid_until = :now WHERE person_id = :pid"), [
            {"pid": r.person_id, "state": r.state.value, "recall": r.recall_id,
             "r": r.result.value, "now": now_ms, "sampled": _ms(r.sampled_at),
             "keep_recall": r.answers is None and r.recall_id is None, "answered": r.answers}
            for r in results])

    def open_investigations(self, pool_tube_ids: Sequence[str]) -> None:
        for part in chunks(list(pool_tube_ids)):
            self.conn.execute(sa_update(tubes).where(member_of(tubes.c.id, self._pg))
                              .values(investigation=PoolInvestigation.OPEN.value),
                              {"vals": sql_helpers.vals(part, self._pg)})

    def recalls(self, recall_ids: Iterable[str]) -> list[Recall]:
        return self._recalls(recalls.c.id, recall_ids)

    def pool_recalls(self, pool_tube_ids: Iterable[str]) -> list[Recall]:
        return self._recalls(recalls.c.pool_tube_id, pool_tube_ids)

    def _recalls(self, column: Any, values: Iterable[str]) -> list[Recall]:
        r = recalls.c
        return [Recall(id_, pool, RecallReason(reason), status,
                       None if outcome is None else Result(outcome), due)
                for id_, pool, reason, status, outcome, due
                in self._in(column, values, r.id, r.pool_tube_id, r.reason, r.status,
                            r.outcome, r.due_at)]

    def close_investigation(self, pool_tube_id: str, verdict: PoolInvestigation,
                            now: datetime) -> bool:
        return bool(self.conn.execute(
            sa_update(tubes).where(tubes.c.id == pool_tube_id,
                                   tubes.c.investigation == PoolInvestigation.OPEN.value)
            .values(investigation=verdict.value, investigation_closed_at=now)).rowcount)


#: The tubes a results file names, by backend (True: PostgreSQL).
_TUBES_FOR_RESULTS = {pg: "SELECT id, barcode, lab_id, status, capacity, result, ct FROM tubes "
                          "WHERE " + sql_helpers.one_of("barcode", pg) for pg in (False, True)}


# A member of a negative tube whose status the fan-out decides itself (``ps``: the status row
# before the fan-out, ``s``: the sample, ``t``: the result), and what it writes for them: the
# default rule, with the reason of someone whose test state is negative.
_FANOUT_PLAIN = status_sql.fanout_plain("ps", "s", "t")


_FANOUT_DECIDED = status_sql.DEFAULT_STATUS | {
    "reasons": status_sql.negative_reason("person_status.")}


def _fan_out_sql(pg: bool) -> str:
    """The negatives' fan-out to every member, resolving the recall their sample answers on
    their status row. SQLite: from the gathered members, each status row found by rowid and
    whether it is plain read from the member. PostgreSQL: from the batch's samples, each status
    row found by person and whether it is plain decided on the row itself (its values before
    the write); the rows written counted, and the plain ones by ``PLAIN`` on the row as
    written, which is the same test on the row the fan-out leaves; the re-samples among them
    added to ``tmp_members`` as the recall answers they are."""
    # PostgreSQL: ``fanout_plain`` without the two conditions the statement already has (the
    # negatives only; the result reaches them), which it would evaluate again for every column
    plain = (status_sql.negative_leaves_plain("person_status", "m") if pg else "m.plain = 1")
    update = (
        "UPDATE person_status SET "
        f"test_state = CASE WHEN person_status.test_state = {status_sql.POSITIVE_STATE} "
        f"THEN {status_sql.POSITIVE_STATE} "
        "  WHEN person_status.open_recall_id IS NOT NULL AND (m.recall_id IS NULL OR "
        "  m.recall_id <> person_status.open_recall_id) THEN person_status.test_state "
        f"  ELSE {status_sql.NEGATIVE_STATE} END, "
        "open_recall_id = CASE WHEN m.recall_id = person_status.open_recall_id THEN NULL "
        "  ELSE person_status.open_recall_id END, "
        f"last_result = {status_sql.NEGATIVE}, last_result_at = :now, "
        "last_result_sampled_at = m.sampled_at, last_negative_at = :now, updated_at = :now, "
        # the status: what refresh_plain decides for plain facts; the others are stale
        + "".join(f"{k} = CASE WHEN {plain} THEN {v} ELSE person_status.{k} END, "
                  for k, v in _FANOUT_DECIDED.items())
        + f"status_at = CASE WHEN {plain} THEN :now ELSE person_status.status_at END, "
        f"status_valid_until = CASE WHEN NOT ({plain}) THEN :now ELSE "
        f"{status_sql.valid_until_due('person_status.')} END "
        + ("FROM m WHERE person_status.person_id = m.person_id " if pg
           else "FROM tmp_members m WHERE person_status.rowid = m.status_row ")
        + f"AND m.result = {status_sql.NEGATIVE} AND "
        + status_sql.reaches("person_status", "m"))
    if not pg:
        return update
    # the members in the order of their status rows' key (and the batch in the order of the
    # samples' key): each index is then read from one end to the other, not at random
    # the re-samples among them join the gathered members (``gather_members``)
    return ("WITH m AS MATERIALIZED (SELECT s.person_id, s.tube_id, s.recall_id, s.sampled_at, "
            "t.result FROM (SELECT tube_id, result FROM tmp_results ORDER BY tube_id) t "
            "CROSS JOIN samples s WHERE s.tube_id = t.tube_id "
            f"AND t.result = {status_sql.NEGATIVE} ORDER BY s.person_id), "
            "a AS (INSERT INTO tmp_members (person_id, tube_id, recall_id, sampled_at, result, "
            "plain) SELECT person_id, tube_id, recall_id, sampled_at, result, 0 FROM m "
            "WHERE recall_id IS NOT NULL), "
            f"u AS ({update} RETURNING CASE WHEN {status_sql.PLAIN} THEN 1 ELSE 0 END AS plain) "
            "SELECT count(*), COALESCE(sum(plain), 0) FROM u")


#: The fan-out's UPDATE, by backend (True: PostgreSQL).
_FAN_OUT = {pg: _fan_out_sql(pg) for pg in (False, True)}


_RESOLVE = text(
    "UPDATE recalls SET status = 'resolved', outcome = :outcome, resolved_at = :now, "
    "resolving_tube_id = :tube WHERE id = :id")

_RESOLVE_OPEN = text(
    "UPDATE recalls SET status = 'resolved', outcome = :outcome, resolved_at = :now, "
    "resolving_tube_id = :tube WHERE id = :id AND status = 'open'")

#: A re-sample answers, beside its own recall, every other recall of its person still open that
#: was opened before it was taken (``RecallResolution``).
_RESOLVE_EARLIER = text(
    "UPDATE recalls SET status = 'resolved', outcome = :outcome, resolved_at = :now, "
    "resolving_tube_id = :tube WHERE status = 'open' AND id <> :id "
    "AND person_id = (SELECT r.person_id FROM recalls r WHERE r.id = :id) "
    "AND opened_at <= (SELECT s.sampled_at FROM samples s "
    "  WHERE s.tube_id = :tube AND s.recall_id = :id)")

#: Epoch milliseconds ⇄ instants, exactly (a sample's time goes out and back unchanged).
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def _instant(ms: int) -> datetime:
    return _EPOCH + ms * _MS


def _ms(at: datetime) -> int:
    return (at - _EPOCH) // _MS


def _json(value: dict[str, float] | None) -> str | None:
    return None if value is None else json.dumps(value)
