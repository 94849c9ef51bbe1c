"""Storage for signed status passes: the register of issued passes and their revocation.
A repository of ``SqlUnitOfWork`` (the ``PassStore`` part of the ``Store`` port).

A pass is revoked when a later positive result overtakes it (``revoke_passes`` is called in the
results transaction), or by a health officer. The revocation list holds the hashes of revoked
passes that have not yet expired, read through the index on (revoked_at, expires_at).

Imports: SQLAlchemy, ``hesuan.adapters.db.schema``, ``hesuan.services.ports``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine, insert, select, text
from sqlalchemy import update as sa_update

from hesuan.adapters.db import sql_helpers, status_sql
from hesuan.adapters.db.repository import SqlRepository
from hesuan.adapters.db.schema import passes, person_status, to_ms
from hesuan.domain.results import Result
from hesuan.domain.status import Colour
from hesuan.services.status_ports import IssuedPass

__all__ = ["SqlPasses", "last_live_pass"]

_CHUNK = 10000


def last_live_pass(engine: Engine, now: datetime) -> tuple[str, datetime] | None:
    """The signing key and expiry of the pass, not revoked, that expires last after ``now``
    (None when there is none): a key a start must hold, as venues go on checking that pass.
    One read down the index on ``expires_at``, at a start of any size."""
    with engine.connect() as c:
        r = c.execute(select(passes.c.key_id, passes.c.expires_at)
                      .where(passes.c.expires_at > now, passes.c.revoked_at.is_(None))
                      .order_by(passes.c.expires_at.desc()).limit(1)).first()
    return None if r is None else (str(r[0]), r[1])


class SqlPasses(SqlRepository):

    def add_pass(self, row: IssuedPass, status_read_at: datetime) -> bool:
        """Record an issued pass. If a positive result arrived after its status was read, the
        pass is recorded as revoked at once and False is returned (the caller issues anew)."""
        c = self.conn
        c.execute(insert(passes).values(
            id_hash=row.id_hash, person_id=row.person_id, key_id=row.key_id, colour=row.colour,
            issued_at=row.issued_at, expires_at=row.expires_at))
        if row.colour == Colour.RED:
            return True
        r = c.execute(select(person_status.c.last_result, person_status.c.last_result_at)
                      .where(person_status.c.person_id == row.person_id)).first()
        if r is None or r[0] != Result.POSITIVE or r[1] is None or r[1] <= status_read_at:
            return True
        c.execute(sa_update(passes).where(passes.c.id_hash == row.id_hash)
                  .values(revoked_at=row.issued_at, revoke_reason=Result.POSITIVE.value))
        return False

    def revoke_passes(self, person_ids: Sequence[str], now: datetime, reason: str,
                      keep_red: bool) -> int:
        """Revoke the live passes of these people (all of them, or all but red ones)."""
        n = 0
        ids = list(dict.fromkeys(person_ids))
        stmt = (sa_update(passes)
                .where(sql_helpers.member_of(passes.c.person_id, self._pg),
                       passes.c.revoked_at.is_(None), passes.c.expires_at > now)
                .values(revoked_at=now, revoke_reason=reason))
        if keep_red:
            stmt = stmt.where(passes.c.colour != Colour.RED.value)
        for i in range(0, len(ids), _CHUNK):
            n += self.conn.execute(
                stmt, {"vals": sql_helpers.vals(ids[i:i + _CHUNK], self._pg)}).rowcount
        return n

    def revoke_untrue_green(self, now: datetime, reason: str) -> int:
        return int(self.conn.execute(text(
            "UPDATE passes SET revoked_at = :now, revoke_reason = :reason WHERE revoked_at IS "
            f"NULL AND expires_at > :now AND colour = {status_sql.GREEN} AND EXISTS (SELECT 1 "
            "FROM person_status ps WHERE ps.person_id = passes.person_id "  # the live passes
            f"AND ps.colour <> {status_sql.GREEN})"),
            {"now": to_ms(now), "reason": reason}).rowcount)

    def revoked_pass_hashes(self, now: datetime) -> list[str]:
        return list(self.conn.execute(
            select(passes.c.id_hash).where(passes.c.revoked_at.is_not(None),
                                           passes.c.expires_at > now)).scalars())
