"""Storage of the electronic lab reports' queue (docs/INTEROP.md "Out"): reports queued
set-based from a fan-out's batch or a cancellation's result-log entries, what one is written
from, and the outbox's delivery marks — a claim taken once before the hand-over, the sent mark,
failures with their retry time, and the claims in doubt (docs/SMS.md "Exactly once").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text

from hesuan.adapters.db import sql_helpers, status_sql
from hesuan.adapters.db.repository import SqlRepository
from hesuan.adapters.db.schema import from_ms, to_ms
from hesuan.domain.json import JsonObject
from hesuan.domain.sampling import TubeStatus
from hesuan.services.elr_queue_ports import ElrKey, ElrQueued, ElrSource

__all__ = ["SqlElrOutbox"]

_KEY = "result_log_id = :log AND person_id = :person AND format = :format"

#: A report per person of the staged batch's tubes (``tmp_results``, each tube's samples) in
#: one format; ``{only}`` narrows it to positives and corrections of what the receiver was
#: sent: a positive, or a result of the tube a report was queued for (a positive corrected to
#: negative, corrected again).
_QUEUE = (
    "INSERT INTO elr_outbox (result_log_id, person_id, format, tube_id, created_at, "
    "next_attempt_at, attempts) SELECT t.log_id, m.person_id, :format, m.tube_id, :now, :now, 0 "
    "FROM tmp_results t CROSS JOIN samples m WHERE m.tube_id = t.tube_id{only} "
    "ON CONFLICT DO NOTHING")
_POSITIVES = (
    f" AND (t.result = {status_sql.POSITIVE} OR t.previous = {status_sql.POSITIVE} "
    "OR (t.previous IS NOT NULL AND EXISTS (SELECT 1 FROM result_log p JOIN elr_outbox o "
    "ON o.result_log_id = p.id AND o.person_id = m.person_id "
    "AND o.format = CAST(:format AS VARCHAR(4)) WHERE p.tube_id = t.tube_id "
    "AND p.id <> t.log_id)))")
#: A report per member of the tube of each cancellation (result-log entries ``cancelled``) in
#: one format; ``{only}`` narrows it to withdrawals of what the receiver was sent: a positive,
#: or any result of the tube a report was queued for (a positive corrected to negative).
_WITHDRAWALS = {pg: (
    "INSERT INTO elr_outbox (result_log_id, person_id, format, tube_id, created_at, "
    "next_attempt_at, attempts) SELECT l.id, s.person_id, :format, l.tube_id, :now, :now, 0 "
    "FROM result_log l JOIN samples s ON s.tube_id = l.tube_id "
    f"WHERE {sql_helpers.one_of('l.id', pg)} AND l.result = '{TubeStatus.CANCELLED.value}'"
    "{only} ON CONFLICT DO NOTHING") for pg in (False, True)}
_WITHDRAWN_REPORTED = (
    f" AND (l.previous = {status_sql.POSITIVE} OR EXISTS (SELECT 1 FROM result_log p "
    "JOIN elr_outbox o ON o.result_log_id = p.id AND o.person_id = s.person_id "
    "AND o.format = CAST(:format AS VARCHAR(4)) WHERE p.tube_id = l.tube_id AND p.id <> l.id))")

_CLAIM = text(
    f"UPDATE elr_outbox SET claimed_at = :now WHERE {_KEY} AND sent_at IS NULL "
    "AND claimed_at IS NULL AND next_attempt_at <= :now")
_SENT = text(f"UPDATE elr_outbox SET sent_at = :now, attempts = attempts + 1 WHERE {_KEY} "
             "AND sent_at IS NULL")
#: closed without being delivered: settled like a sent report, never retried
_UNSENT = text(f"UPDATE elr_outbox SET sent_at = :now, last_error = :error WHERE {_KEY} "
               "AND sent_at IS NULL")
_FAILED = text(
    "UPDATE elr_outbox SET attempts = attempts + 1, last_error = :error, claimed_at = NULL, "
    f"next_attempt_at = :next WHERE {_KEY}")
_IN_DOUBT = text(f"UPDATE elr_outbox SET attempts = attempts + 1, last_error = :error "
                 f"WHERE {_KEY}")
_RELEASE = text(f"UPDATE elr_outbox SET claimed_at = NULL WHERE {_KEY} AND sent_at IS NULL "
                "AND claimed_at <= :before")

_SOURCE = text(
    "SELECT l.id, l.tube_id, tb.barcode, l.lab_id, lb.name, l.result, l.ct, l.previous, "
    "l.reason, l.at, (SELECT max(p.at) FROM result_log p WHERE p.tube_id = l.tube_id "
    "AND p.id <> l.id AND p.at <= l.at), tb.count, s.sampled_at, tb.received_at, "
    "tb.resulted_at, pe.id, pe.grid_code, (SELECT r.name FROM regions r "
    "WHERE r.code = substr(pe.grid_code, 1, 6)), pe.id_kind, pe.id_enc, pe.name_enc, "
    "pe.phone_enc, pe.address "
    "FROM result_log l JOIN tubes tb ON tb.id = l.tube_id JOIN labs lb ON lb.id = l.lab_id "
    "JOIN samples s ON s.tube_id = l.tube_id AND s.person_id = :person "
    "JOIN people pe ON pe.id = s.person_id WHERE l.id = :log")
#: The assay a plate ran the tube with (the latest run); none for a result sent directly.
_ASSAY = text(
    "SELECT w.assay_id, w.assay_version, a.name, a.definition FROM well_results w JOIN assays a "
    "ON a.id = w.assay_id AND a.version = w.assay_version WHERE w.tube_id = :tube "
    "AND w.result IS NOT NULL ORDER BY w.attempt DESC LIMIT 1")


def _key(key: ElrKey) -> dict[str, str]:
    return {"log": key.result_log_id, "person": key.person_id, "format": key.format}


def _at(ms: int | None) -> datetime | None:
    return None if ms is None else from_ms(int(ms))


def _json(value: Any) -> JsonObject | None:
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else None


class SqlElrOutbox(SqlRepository):
    """The queue of electronic lab reports."""

    def queue(self, formats: Sequence[str], positives_only: bool, now: datetime) -> int:
        stmt = text(_QUEUE.format(only=_POSITIVES if positives_only else ""))
        return sum(self.conn.execute(stmt, {"format": f, "now": to_ms(now)}).rowcount
                   for f in formats)

    def queue_withdrawals(self, log_ids: Sequence[str], formats: Sequence[str],
                          positives_only: bool, now: datetime) -> int:
        if not log_ids:
            return 0
        stmt = text(_WITHDRAWALS[self._pg].format(
            only=_WITHDRAWN_REPORTED if positives_only else ""))
        ids = sql_helpers.vals(list(log_ids), self._pg)
        return sum(self.conn.execute(stmt, {"vals": ids, "format": f, "now": to_ms(now)}
                                     ).rowcount for f in formats)

    def pending(self, now: datetime, limit: int) -> list[ElrQueued]:
        rows = self.conn.execute(text(
            "SELECT result_log_id, person_id, format, tube_id, attempts FROM elr_outbox "
            "WHERE sent_at IS NULL AND claimed_at IS NULL AND next_attempt_at <= :now "
            "ORDER BY next_attempt_at LIMIT :limit"), {"now": to_ms(now), "limit": limit})
        return [ElrQueued(ElrKey(log, person, fmt), tube, attempts)
                for log, person, fmt, tube, attempts in rows]

    def source(self, key: ElrKey) -> ElrSource | None:
        row = self.conn.execute(_SOURCE, _key(key)).first()
        if row is None:
            return None
        assay = self.conn.execute(_ASSAY, {"tube": row[1]}).first()
        return ElrSource(
            result_log_id=row[0], tube_id=row[1], barcode=row[2], lab_id=row[3],
            lab_name=row[4], result=row[5], ct=_json(row[6]), previous=row[7], reason=row[8],
            released_at=from_ms(int(row[9])), previous_released_at=_at(row[10]),
            pool_size=int(row[11]), collected_at=from_ms(int(row[12])),
            received_at=_at(row[13]), resulted_at=_at(row[14]),
            assay_id=None if assay is None else assay[0],
            assay_version=None if assay is None else int(assay[1]),
            assay_name=None if assay is None else assay[2],
            assay_definition=None if assay is None else _json(assay[3]),
            person_id=row[15], grid_code=row[16], district_name=row[17], id_kind=row[18],
            id_enc=bytes(row[19]), name_enc=bytes(row[20]),
            phone_enc=None if row[21] is None else bytes(row[21]), address=row[22])

    def claim(self, key: ElrKey, now: datetime) -> bool:
        return self.conn.execute(_CLAIM, {**_key(key), "now": to_ms(now)}).rowcount == 1

    def sent(self, keys: Sequence[ElrKey], now: datetime) -> None:
        if keys:
            self.conn.execute(_SENT, [{**_key(key), "now": to_ms(now)} for key in keys])

    def unsent(self, keys: Sequence[ElrKey], reason: str, now: datetime) -> None:
        if keys:
            self.conn.execute(_UNSENT, [{**_key(key), "now": to_ms(now), "error": reason[:200]}
                                        for key in keys])

    def failed(self, key: ElrKey, error: str, next_attempt_at: datetime) -> None:
        self.conn.execute(_FAILED, {**_key(key), "error": error[:200],
                                    "next": to_ms(next_attempt_at)})

    def in_doubt(self, key: ElrKey, error: str) -> None:
        self.conn.execute(_IN_DOUBT, {**_key(key), "error": error[:200]})

    def stale_claims(self, claimed_before: datetime, limit: int) -> list[ElrQueued]:
        rows = self.conn.execute(text(
            "SELECT result_log_id, person_id, format, tube_id, attempts, claimed_at, last_error "
            "FROM elr_outbox WHERE sent_at IS NULL AND claimed_at <= :before "
            "ORDER BY claimed_at LIMIT :limit"), {"before": to_ms(claimed_before),
                                                  "limit": limit})
        return [ElrQueued(ElrKey(log, person, fmt), tube, attempts, _at(claimed), error)
                for log, person, fmt, tube, attempts, claimed, error in rows]

    def release(self, keys: Sequence[ElrKey], claimed_before: datetime) -> int:
        before = to_ms(claimed_before)
        return sum(self.conn.execute(_RELEASE, {**_key(key), "before": before}).rowcount
                   for key in keys)
