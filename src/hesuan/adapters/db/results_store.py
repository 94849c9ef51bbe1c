"""Storage of lab results: the tubes a results file names, rejected rows, and the set-based
fan-out of a batch of results to every member of every tube (through this connection's
temporary tables ``tmp_results`` and ``tmp_members``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy import update as sa_update

from hesuan.adapters.db import status_sql
from hesuan.adapters.db.repository import SqlRepository
from hesuan.adapters.db.schema import (
    from_ms,
    outbox,
    person_status,
    recalls,
    rejected_results,
    to_ms,
    tubes,
)
from hesuan.adapters.db.sql_helpers import (
    cached_text,
    chunks,
)
from hesuan.domain.local_time import short
from hesuan.domain.results import RecallReason, Result, member_outcome, pool_outcome
from hesuan.services.sampling_ports import ResultTube

__all__ = ["SqlResults"]



class SqlResults(SqlRepository):
    """Results, applied to tubes and fanned out to their members."""

    def tubes_for_results(self, barcodes: Iterable[str],
                          for_update: bool = False) -> dict[str, ResultTube]:
        # The driver's own IN list (SQLite) or ``= ANY`` (PostgreSQL): SQLAlchemy's expanding
        # parameters cost more than the lookup itself on a 20,000-row results chunk.
        vals = list(dict.fromkeys(barcodes))
        cols = "SELECT id, barcode, lab_id, status, capacity, result, ct FROM tubes WHERE "
        rows: list[Any] = []
        if self._pg:
            # for_update: each tube locked until the commit, in one statement and in id order
            # (two uploads sharing tubes never wait on each other in a cycle); a second upload
            # of the same tubes waits here and then reads them as the first left them. NO KEY:
            # the fan-out changes no key, and samples referencing the tube stay insertable.
            lock = " ORDER BY id FOR NO KEY UPDATE" if for_update else ""
            rows = list(self.conn.exec_driver_sql(cols + "barcode = ANY(%(b)s)" + lock,
                                                  {"b": vals}))
        else:
            for part in chunks(vals):
                marks = ", ".join("?" * len(part))
                rows.extend(self.conn.exec_driver_sql(f"{cols}barcode IN ({marks})",
                                                      tuple(part)).all())
        return {r[1]: ResultTube(r[0], r[1], r[2], r[3], r[4], r[5],
                                 json.loads(r[6]) if isinstance(r[6], str) else r[6])
                for r in rows}

    def reject_results(self, rows: Sequence[dict[str, Any]]) -> None:
        self.conn.execute(self._insert(rejected_results).on_conflict_do_nothing(), list(rows))

    def _fill_tmp_results(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """The results batch into ``tmp_results`` (this connection's temporary table): tube,
        result, Ct (JSON text), the id of its ``result_log`` row, and for corrections the
        previous result and the reason. PostgreSQL: COPY, then ANALYZE so that the planner
        knows the batch is small next to the tables it is joined with."""
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
                              "reason) VALUES (?, ?, ?, ?, ?, ?)", list(rows))
            return
        c.exec_driver_sql("TRUNCATE tmp_results, tmp_members")
        raw: Any = c.connection.driver_connection
        with raw.cursor() as cur:
            with cur.copy("COPY tmp_results (tube_id, result, ct, log_id, previous, reason) "
                          "FROM STDIN") as cp:
                for r in rows:
                    cp.write_row(r)
            cur.execute("ANALYZE tmp_results")

    def apply_results(self, lab_id: str,
                      results: Sequence[tuple[str, Result, dict[str, float] | None]],
                      corrections: Sequence[tuple[str, Result, dict[str, float] | None, str,
                                                  str]],
                      actor: str, now: datetime, new_id: Callable[[], str],
                      recall_due: datetime) -> dict[str, int]:
        c = self.conn
        now_ms, due_ms = to_ms(now), to_ms(recall_due)
        allr = [(tid, res, ct) for tid, res, ct in results] + [
            (tid, res, ct) for tid, res, ct, _, _ in corrections]
        self._fill_tmp_results(
            [(tid, res.value, _json(ct), new_id(), None, None) for tid, res, ct in results]
            + [(tid, res.value, _json(ct), new_id(), prev, reason)
               for tid, res, ct, reason, prev in corrections])
        # Corrections away from positive/invalid cancel the recalls they had opened.
        undone = [tid for tid, res, _, _, prev in corrections if prev != "negative"]
        if undone:
            for part in chunks(undone):
                ids = [r[0] for r in c.execute(select(recalls.c.id).where(
                    recalls.c.pool_tube_id.in_(part), recalls.c.status == "open"))]
                for rp in chunks(ids):
                    c.execute(sa_update(recalls).where(recalls.c.id.in_(rp))
                              .values(status="cancelled", resolved_at=now))
                    c.execute(sa_update(person_status)
                              .where(person_status.c.open_recall_id.in_(rp))
                              .values(open_recall_id=None, test_state="sampled",
                                      status_valid_until=now))
        # 1. the tubes themselves and the result log, set-based from the batch. The batch is
        # read first (a materialised CTE) and each tube found by key.
        json_ct = "CAST(m.ct AS json)" if self._pg else "m.ct"
        c.execute(text(
            "WITH m AS MATERIALIZED (SELECT tube_id, result, ct FROM tmp_results) "
            f"UPDATE tubes SET status = 'resulted', result = m.result, ct = {json_ct}, "
            "resulted_at = :now, notified_at = CASE WHEN m.result = 'negative' THEN :now END, "
            "investigation = NULL FROM m WHERE tubes.id = m.tube_id"), {"now": now_ms})
        # (SQLAlchemy's JSON type wrote a missing Ct as JSON null here: kept)
        log_ct = "CAST(COALESCE(ct, 'null') AS json)" if self._pg else "COALESCE(ct, 'null')"
        c.execute(text(
            "INSERT INTO result_log (id, tube_id, lab_id, result, ct, previous, reason, actor, "
            f"at) SELECT log_id, tube_id, :lab, result, {log_ct}, previous, reason, :actor, :now "
            "FROM tmp_results"), {"lab": lab_id, "actor": actor, "now": now_ms})
        # 2. every member of the batch's tubes, read once (tmp_results first: "CROSS JOIN" fixes
        # the order on SQLite; left to itself it scanned every sample ever taken, or every
        # person, once per chunk of a results file). ``plain``: a negative that
        # reaches the person (not older than their latest result) and leaves nothing special —
        # the facts for which the status engine decides green (R-DEFAULT) and which
        # ``refresh_plain`` would decide next; the fan-out decides those itself, in the same
        # write, instead of marking them stale for a second UPDATE of every status row.
        # SQLite: each member's status row by its rowid, so that the fan-out's UPDATE finds
        # it directly rather than through the person-id index
        row = "NULL" if self._pg else "ps.rowid"
        c.execute(cached_text(
            "INSERT INTO tmp_members (person_id, tube_id, recall_id, sampled_at, result, plain, "
            "status_row) SELECT s.person_id, s.tube_id, s.recall_id, s.sampled_at, t.result, "
            f"CASE WHEN {_FANOUT_PLAIN} THEN 1 ELSE 0 END, {row} FROM tmp_results t "
            "CROSS JOIN samples s JOIN person_status ps ON ps.person_id = s.person_id "
            "WHERE s.tube_id = t.tube_id"), {"now": now_ms})
        if self._pg:
            c.exec_driver_sql("ANALYZE tmp_members")
        # 3. negatives: set-based fan-out to every member, resolving their recalls
        fanout = (
            "UPDATE person_status SET "
            "test_state = CASE WHEN person_status.test_state = 'positive' THEN 'positive' "
            "  WHEN person_status.open_recall_id IS NOT NULL AND (m.recall_id IS NULL OR "
            "  m.recall_id <> person_status.open_recall_id) THEN person_status.test_state "
            "  ELSE 'negative' END, "
            "open_recall_id = CASE WHEN m.recall_id = person_status.open_recall_id THEN NULL "
            "  ELSE person_status.open_recall_id END, "
            "last_result = 'negative', last_result_at = :now, "
            "last_result_sampled_at = m.sampled_at, last_negative_at = :now, updated_at = :now, "
            # the status: what refresh_plain decides for plain facts; the others are stale
            + "".join(f"{k} = CASE WHEN m.plain = 1 THEN {v} ELSE person_status.{k} END, "
                      for k, v in _FANOUT_DECIDED.items())
            + "status_at = CASE WHEN m.plain = 1 THEN :now ELSE person_status.status_at END, "
            "status_valid_until = CASE WHEN m.plain = 0 THEN :now ELSE "
            f"{status_sql.valid_until_due('person_status.')} END "
            "FROM tmp_members m WHERE "
            + ("person_status.person_id = m.person_id " if self._pg
               else "person_status.rowid = m.status_row ")
            + f"AND m.result = {status_sql.NEGATIVE} AND ("
            "person_status.last_result_sampled_at IS NULL OR "
            "person_status.last_result_sampled_at <= m.sampled_at)")
        if self._pg:  # one row per status row written: both counts in the same statement
            notified, decided = c.execute(cached_text(
                f"WITH u AS ({fanout} RETURNING m.plain) "
                "SELECT count(*), COALESCE(sum(plain), 0) FROM u"), {"now": now_ms}).one()
        else:
            notified = self._changed(cached_text(fanout), {"now": now_ms})
            decided = int(c.exec_driver_sql(
                "SELECT count(DISTINCT person_id) FROM tmp_members WHERE plain = 1").scalar_one())
        # re-samples answer recalls: few rows, read once
        linked = c.exec_driver_sql("SELECT tube_id, recall_id, result FROM tmp_members "
                                   "WHERE recall_id IS NOT NULL").all()
        resolved = 0
        resolve_neg = [{"id": rid, "tube": tid, "now": now_ms}
                       for tid, rid, res_s in linked if res_s == "negative"]
        if resolve_neg:
            resolved = self._changed(text(
                "UPDATE recalls SET status = 'resolved', outcome = 'negative', "
                "resolved_at = :now, resolving_tube_id = :tube WHERE id = :id "
                "AND status = 'open'"), resolve_neg)
        # 4. positives and invalids: few people, decided one by one by the domain rules
        members = c.execute(text(
            "SELECT m.tube_id, m.person_id, m.recall_id, m.sampled_at, m.result, tb.capacity "
            "FROM tmp_members m CROSS JOIN tubes tb WHERE tb.id = m.tube_id "
            "AND m.result <> 'negative'")).all()
        opened = 0
        status_rows: list[dict[str, Any]] = []
        recall_rows: list[dict[str, Any]] = []
        outbox_rows: list[dict[str, Any]] = []
        resolve_rows: list[dict[str, Any]] = []
        pools_touched: set[str] = set()
        for tube_id, pid, recall_id, sampled_at, res_s, capacity in members:
            res = Result(res_s)
            outcome = member_outcome(res, capacity)
            open_recall: str | None = None
            template = "positive"
            if recall_id is not None and res is Result.POSITIVE:
                resolve_rows.append({"id": recall_id, "outcome": "positive", "tube": tube_id,
                                     "now": now_ms})
            elif recall_id is not None:  # an invalid re-sample: the recall stays open
                open_recall, template = recall_id, "invalid"
            elif outcome.recall is not None:
                open_recall = new_id()
                template = ("recall" if outcome.recall is RecallReason.POOL_POSITIVE
                            else "invalid")
                recall_rows.append({"id": open_recall, "person_id": pid, "pool_tube_id": tube_id,
                                    "reason": outcome.recall.value, "status": "open",
                                    "opened_at": now_ms, "due_at": due_ms})
                opened += 1
            status_rows.append({"pid": pid, "state": outcome.state.value, "recall": open_recall,
                                "r": res.value, "now": now_ms, "sampled": sampled_at,
                                "keep_recall": recall_id is None and open_recall is None,
                                "answered": recall_id})
            outbox_rows.append({"id": new_id(), "dedup_key": f"{template}:{tube_id}:{pid}",
                                "person_id": pid, "tube_id": tube_id, "template": template,
                                "params": {"due": _local_hhmm(due_ms)}, "created_at": now,
                                "next_attempt_at": now, "attempts": 0})
        if recall_rows:
            c.execute(text("INSERT INTO recalls (id, person_id, pool_tube_id, reason, status, "
                           "opened_at, due_at) VALUES (:id, :person_id, :pool_tube_id, :reason, "
                           ":status, :opened_at, :due_at)"), recall_rows)
        if resolve_rows:
            c.execute(text("UPDATE recalls SET status = 'resolved', outcome = :outcome, "
                           "resolved_at = :now, resolving_tube_id = :tube WHERE id = :id"),
                      resolve_rows)
            resolved += len(resolve_rows)
        if status_rows:
            c.execute(text(
                "UPDATE person_status SET test_state = :state, "
                # a re-test answers its own recall only: a second pool that turned positive
                # before it was taken opened another recall, which stays the open one
                "open_recall_id = CASE WHEN :keep_recall THEN open_recall_id "
                "  WHEN open_recall_id <> CAST(:answered AS VARCHAR(32)) THEN open_recall_id "
                "  ELSE :recall END, "
                "last_result = :r, last_result_at = :now, last_result_sampled_at = :sampled, "
                "updated_at = :now, status_valid_until = :now WHERE person_id = :pid"),
                status_rows)
        # passes overtaken by a later positive result are revoked (red passes stay true)
        self._uow.passes.revoke_passes([r["pid"] for r in status_rows if r["r"] == "positive"], now,
                           "positive", keep_red=True)
        if outbox_rows:
            c.execute(self._insert(outbox).on_conflict_do_nothing(), outbox_rows)
        # 4. positive pools: open an investigation; close those whose recalls are all resolved
        pos_pools = [tid for tid, res, _ in allr if res is Result.POSITIVE
                     and any(m[0] == tid and m[5] > 1 for m in members)]
        for part in chunks(pos_pools):
            c.execute(sa_update(tubes).where(tubes.c.id.in_(part)).values(investigation="open"))
        if linked:  # the pools whose recalls these re-samples answer
            pools_touched.update(r[0] for r in self._in(
                recalls.c.id, [rid for _, rid, _ in linked], recalls.c.pool_tube_id,
                where=recalls.c.reason == "pool_positive"))
        closed = self._close_pools(pools_touched, now)
        return {"people_notified": int(notified) + len(status_rows), "recalls_opened": opened,
                "recalls_resolved": resolved, "pools_closed": closed,
                "statuses_decided": int(decided)}

    def _close_pools(self, pool_ids: set[str], now: datetime) -> int:
        if not pool_ids:
            return 0
        by_pool: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
        for pool, status, outcome in self._in(
                recalls.c.pool_tube_id, pool_ids, recalls.c.pool_tube_id, recalls.c.status,
                recalls.c.outcome, where=recalls.c.status != "cancelled"):
            by_pool[pool].append((status, outcome))
        closed = 0
        for pool, rs in by_pool.items():
            if any(s == "open" for s, _ in rs):
                continue
            verdict = pool_outcome([Result(o) for _, o in rs if o])
            closed += self.conn.execute(
                sa_update(tubes).where(tubes.c.id == pool, tubes.c.investigation == "open")
                .values(investigation=verdict.value, investigation_closed_at=now)).rowcount
        return closed


# A member of a negative tube whose status the fan-out decides itself (``ps``: the status row
# before the fan-out, ``s``: the sample, ``t``: the result), and what it writes for them: the
# default rule, with the reason of someone whose test state is negative.
_FANOUT_PLAIN = status_sql.fanout_plain("ps", "s", "t")


_FANOUT_DECIDED = status_sql.DEFAULT_STATUS | {
    "reasons": status_sql.negative_reason("person_status.")}


def _json(value: dict[str, float] | None) -> str | None:
    return None if value is None else json.dumps(value)


def _local_hhmm(ms: int) -> str:
    """A due time as residents read it, in local time."""
    return short(from_ms(ms))
