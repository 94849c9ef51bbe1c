"""Storage of the notification outbox (docs/SMS.md): pending messages, claims made before the
hand-over to the gateway, sent and failed marks, and the messages in doubt.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy import update as sa_update

from hesuan.adapters.db import sql_helpers, status_sql
from hesuan.adapters.db.repository import SqlRepository
from hesuan.adapters.db.schema import (
    from_ms,
    outbox,
    to_ms,
)
from hesuan.adapters.db.sql_helpers import (
    chunks,
    member_of,
)
from hesuan.domain.notices import ROUTINE, Standing
from hesuan.services.outbox_ports import InDoubtMessage, NewMessage, OutboxMessage

__all__ = ["SqlOutbox"]


#: The outbox's per-message statements (docs/SMS.md): claim before the hand-over, mark after.
_OUTBOX_CLAIM = text(
    "UPDATE outbox SET claimed_at = :now WHERE id = :id AND sent_at IS NULL "
    "AND claimed_at IS NULL AND next_attempt_at <= :now")

_OUTBOX_SENT = text("UPDATE outbox SET sent_at = :now, attempts = attempts + 1 WHERE id = :id")

_TUBE_NOTIFIED = text(
    "UPDATE tubes SET notified_at = :now WHERE notified_at IS NULL AND id = "
    "(SELECT tube_id FROM outbox WHERE id = :id) AND NOT EXISTS (SELECT 1 FROM outbox "
    "o WHERE o.tube_id = tubes.id AND o.sent_at IS NULL)")

#: ``_OUTBOX_SENT`` and ``_TUBE_NOTIFIED`` for many messages at once, by backend (True:
#: PostgreSQL).
_OUTBOX_SENT_MANY = {pg: "UPDATE outbox SET sent_at = :now, attempts = attempts + 1 WHERE "
                         + sql_helpers.one_of("id", pg) for pg in (False, True)}

_TUBE_NOTIFIED_MANY = {pg: (
    "UPDATE tubes SET notified_at = :now WHERE notified_at IS NULL AND id IN "
    f"(SELECT tube_id FROM outbox WHERE {sql_helpers.one_of('id', pg)} AND tube_id IS NOT NULL) "
    "AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.tube_id = tubes.id "
    "AND o.sent_at IS NULL)") for pg in (False, True)}


#: The messages due, each with what ``domain.notices`` judges it by: a later message about the
#: same tube to the same person; the person's last sample and due time; whether they may be
#: reminded (``status_sql.REMINDABLE``); whether a zone keeps them home. The urgent ones
#: (results, recalls) first, oldest try first, then the routine ones: the night's reminders,
#: all due at the morning's first minute, never hold up a recall behind them. Each part reads
#: ``ix_outbox_pending`` in order and stops at the limit.
_COLUMNS = (
    "o.id, o.person_id, o.template, o.params, p.phone_enc, p.language, o.attempts, "
    "o.created_at, CASE WHEN o.tube_id IS NOT NULL AND EXISTS (SELECT 1 FROM outbox l WHERE "
    "l.tube_id = o.tube_id AND l.person_id = o.person_id AND l.created_at > o.created_at) "
    "THEN 1 ELSE 0 END, ps.last_sampled_at, ps.next_due_at, "
    f"CASE WHEN {status_sql.REMINDABLE} THEN 1 ELSE 0 END, "
    f"CASE WHEN {status_sql.NOT_HELD} THEN 0 ELSE 1 END")
_ROUTINE = "(" + ", ".join(f"'{t}'" for t in sorted(ROUTINE)) + ")"


def _due(which: str) -> str:
    return (f"SELECT * FROM (SELECT {_COLUMNS} FROM outbox o "
            "JOIN people p ON p.id = o.person_id "
            "JOIN person_status ps ON ps.person_id = o.person_id "
            "WHERE o.sent_at IS NULL AND o.claimed_at IS NULL AND o.next_attempt_at <= :now "
            f"AND o.template {which} {_ROUTINE} ORDER BY o.next_attempt_at LIMIT :lim) x")


_PENDING = text(f"{_due('NOT IN')} UNION ALL {_due('IN')}")


def _at(ms: int | None) -> datetime | None:
    return None if ms is None else from_ms(ms)

class SqlOutbox(SqlRepository):
    """The notification outbox."""

    def enqueue(self, messages: Sequence[NewMessage], now: datetime) -> None:
        if not messages:
            return
        self.conn.execute(self._insert(outbox).on_conflict_do_nothing(), [
            {"id": m.id, "dedup_key": m.dedup_key, "person_id": m.person_id,
             "tube_id": m.tube_id, "template": m.template, "params": m.params,
             "created_at": now, "next_attempt_at": now, "attempts": 0} for m in messages])

    def pending(self, now: datetime, limit: int) -> list[OutboxMessage]:
        """The messages due to be sent, each with its person's facts now
        (``domain.notices.Standing``)."""
        rows = self.conn.execute(_PENDING, {"now": to_ms(now), "lim": limit}).all()[:limit]
        return [OutboxMessage(
            r[0], r[1], r[2], r[3] if isinstance(r[3], dict) else json.loads(r[3]), r[4],
            r[5], r[6], Standing(from_ms(r[7]), now, bool(r[8]), _at(r[9]), _at(r[10]),
                                 bool(r[11]), bool(r[12])))
            for r in rows]

    def claim(self, message_id: str, now: datetime) -> bool:
        return self.conn.execute(_OUTBOX_CLAIM, {"id": message_id, "now": to_ms(now)}
                                 ).rowcount == 1

    def in_doubt(self, message_id: str, error: str) -> None:
        self.conn.execute(sa_update(outbox).where(outbox.c.id == message_id).values(
            attempts=outbox.c.attempts + 1, last_error=error[:200]))

    def stale_claims(self, claimed_before: datetime,
                            limit: int) -> list[InDoubtMessage]:
        o = outbox.c
        rows = self.conn.execute(
            select(o.id, o.person_id, o.template, o.claimed_at, o.attempts, o.last_error)
            .where(o.sent_at.is_(None), o.claimed_at <= claimed_before)
            .order_by(o.claimed_at).limit(limit)).all()
        return [InDoubtMessage(*r) for r in rows]

    def release(self, message_ids: Sequence[str], claimed_before: datetime) -> int:
        o, released = outbox.c, 0
        stmt = (sa_update(outbox).where(member_of(o.id, self._pg), o.sent_at.is_(None),
                                        o.claimed_at <= claimed_before)
                .values(claimed_at=None))
        for part in chunks(list(message_ids), 5000):
            released += self.conn.execute(
                stmt, {"vals": sql_helpers.vals(part, self._pg)}).rowcount
        return released

    def sent(self, message_ids: Sequence[str], now: datetime) -> None:
        if len(message_ids) == 1:
            # prepared text: delivery marks one message a transaction, and building the
            # set-based statement would cost more than running it
            one = {"now": to_ms(now), "id": message_ids[0]}
            self.conn.execute(_OUTBOX_SENT, one)
            self.conn.execute(_TUBE_NOTIFIED, one)
            return
        c, n, pg = self.conn, to_ms(now), self._pg
        for part in chunks(list(message_ids), 5000):
            params: dict[str, Any] = {"vals": sql_helpers.vals(part, pg), "now": n}
            sql_helpers.execute(c, _OUTBOX_SENT_MANY[pg], params)
            sql_helpers.execute(c, _TUBE_NOTIFIED_MANY[pg], params)

    def unsent(self, message_ids: Sequence[str], reason: str, now: datetime) -> None:
        self.sent(message_ids, now)
        stmt = (sa_update(outbox).where(member_of(outbox.c.id, self._pg))
                .values(last_error=reason[:200]))
        for part in chunks(list(message_ids), 5000):
            self.conn.execute(stmt, {"vals": sql_helpers.vals(part, self._pg)})

    def failed(self, message_id: str, error: str, next_attempt_at: datetime) -> None:
        self.conn.execute(sa_update(outbox).where(outbox.c.id == message_id).values(
            attempts=outbox.c.attempts + 1, last_error=error[:200],
            next_attempt_at=next_attempt_at, claimed_at=None))
