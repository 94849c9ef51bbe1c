"""Storage for failed sign-ins (``schema.sign_in_failures``): one row a failure under a keyed
hash of the account or the client address, shared by every server process. Mixed into
``SqlUnitOfWork`` (the sign-in part of the ``Store`` port).

Imports: SQLAlchemy, ``hesuan.adapters.db.schema``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from hesuan.adapters.db.schema import sign_in_failures

__all__ = ["SignInStoreMixin"]


class SignInStoreMixin:
    conn: Connection

    def sign_in_failures(self, keys: Sequence[bytes],
                         since: datetime) -> dict[bytes, list[datetime]]:
        """The failure times after ``since`` of each key (every key present, perhaps empty)."""
        out: dict[bytes, list[datetime]] = {bytes(k): [] for k in keys}
        t = sign_in_failures
        for key, at in self.conn.execute(
                select(t.c.key_hash, t.c.at)
                .where(t.c.key_hash.in_(list(out)), t.c.at > since).order_by(t.c.at)):
            out[bytes(key)].append(at)
        return out

    def add_sign_in_failure(self, keys: Sequence[bytes], at: datetime,
                            forget_before: datetime) -> None:
        """A failure at ``at`` for each key; failures of any key before ``forget_before`` go."""
        t = sign_in_failures
        self.conn.execute(delete(t).where(t.c.at < forget_before))
        self.conn.execute(insert(t), [{"key_hash": k, "at": at} for k in keys])

    def clear_sign_in_failures(self, key: bytes) -> None:
        self.conn.execute(delete(sign_in_failures).where(sign_in_failures.c.key_hash == key))
