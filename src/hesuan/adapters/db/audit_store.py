"""The audit log's storage: appending entries to the keyed hash chain, and reading it back.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Row, insert, select

from hesuan.adapters.db import sql_helpers
from hesuan.adapters.db.repository import SqlRepository
from hesuan.adapters.db.schema import (
    audit_log,
    audit_meta,
)
from hesuan.domain.audit import GENESIS, AuditEntry, ChainKey, signs
from hesuan.domain.errors import InvalidInput
from hesuan.domain.json import JsonObject

if TYPE_CHECKING:
    from hesuan.adapters.db.store import SqlUnitOfWork

__all__ = ["SqlAuditLog", "check_chain_key", "has_audit_log"]


_AUDIT_LOCK = 7_411_0001

# Hot statements built once: SQLAlchemy then skips rebuilding each statement and its cache key
# on every call, a large share of a single scan's CPU; the plain-SQL ones
# run on the driver's cursor (``sql_helpers.fetch``).
_AUDIT_LAST = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
_AUDIT_LOCK_SQL = "SELECT pg_advisory_xact_lock(:k)"

_AUDIT_INSERT = insert(audit_log)


def _entry(r: Row[Any]) -> AuditEntry:
    return AuditEntry(r.seq, r.at, r.actor, r.action, r.subject, r.detail, r.prev_hash, r.hash)


class SqlAuditLog(SqlRepository):
    """The audit log, appended to in this unit of work. Its entries are kept until the commit
    and written then in one statement."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        super().__init__(uow)
        self._chain = uow.chain
        self._tail: tuple[int, str] | None = None
        self._rows: list[dict[str, Any]] = []

    def append(self, at: datetime, actor: str, action: str, subject: str,
              detail: JsonObject) -> None:
        tail = self._tail
        if tail is None:
            # PostgreSQL: the lock serialises appends so the chain never forks between
            # transactions. The read goes with it in one round trip; the server runs it once
            # the lock is held, in a snapshot of its own that sees the last holder's entries.
            with sql_helpers.pipelined(self.conn):
                if self._pg:
                    sql_helpers.execute(self.conn, _AUDIT_LOCK_SQL, {"k": _AUDIT_LOCK})
                last = sql_helpers.fetch(self.conn, _AUDIT_LAST, {})
            tail = (last[0][0], last[0][1]) if last else (0, GENESIS)
        # the chain's end is read once a transaction: no one else appends until it ends (the
        # write turn on SQLite, the advisory lock on PostgreSQL)
        seq, prev = tail[0] + 1, tail[1]
        at_s = at.isoformat()
        h = self._chain.entry_hash(prev, seq, at_s, actor, action, subject, detail)
        # kept until the commit and written then in one statement: a group commit of many
        # sites' windows appends one entry per site, and each INSERT cost a statement
        self._rows.append({"seq": seq, "at": at_s, "actor": actor, "action": action,
                                 "subject": subject, "detail": detail, "prev_hash": prev,
                                 "hash": h})
        self._tail = (seq, h)

    def flush(self) -> None:
        if self._rows:
            self.conn.execute(_AUDIT_INSERT, self._rows)
            self._rows = []

    def entries(self, after_seq: int, limit: int) -> list[AuditEntry]:
        self.flush()
        rows = self.conn.execute(select(audit_log).where(audit_log.c.seq > after_seq)
                                 .order_by(audit_log.c.seq).limit(limit)).all()
        return [_entry(r) for r in rows]

    def head(self) -> tuple[int, str] | None:
        self.flush()
        last = sql_helpers.fetch(self.conn, _AUDIT_LAST, {})
        return (int(last[0][0]), str(last[0][1])) if last else None

    def legacy_upto(self) -> int:
        value = self.conn.execute(select(audit_meta.c.legacy_upto)
                                  .where(audit_meta.c.id == 1)).scalar()
        return int(value or 0)


#: How many of the log's last entries a start or a backup looks at for one its key signs.
_RECENT = 8


def check_chain_key(engine: Engine, chain: ChainKey, setting: str) -> None:
    """Refuse (``InvalidInput`` on ``setting``, code ``invalid_setting``) a chain key that does
    not sign the audit log of ``engine``'s database: entries appended under it would not
    verify under the database's own (``domain.audit.signs``)."""
    with engine.connect() as c:
        recent = [_entry(r) for r in c.execute(select(audit_log)
                                               .order_by(audit_log.c.seq.desc()).limit(_RECENT))]
        legacy = c.execute(select(audit_meta.c.legacy_upto)
                           .where(audit_meta.c.id == 1)).scalar()
    if not signs(chain, recent, int(legacy or 0)):
        raise InvalidInput(
            f"{setting} is not the master secret the database's audit log is signed under "
            f"(none of its last {len(recent)} entries verifies under it): entries written "
            f"under it would break the chain; set the database's own",
            code="invalid_setting", field=setting)


def has_audit_log(engine: Engine) -> bool:
    """Whether the database's audit log holds an entry (signed under a master secret)."""
    with engine.connect() as c:
        return c.execute(select(audit_log.c.seq).limit(1)).first() is not None
