"""Storage of accounts, their bearer tokens and failed sign-ins (one row a failure under a keyed
hash of the account or the client address, shared by every server process).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import datetime

from sqlalchemy import delete, insert, select

from hesuan.adapters.db.repository import SqlRepository
from hesuan.adapters.db.schema import (
    sign_in_failures,
    tokens,
    users,
)
from hesuan.domain.access import Principal, Role
from hesuan.services.people_ports import UserRow

__all__ = ["SqlUsers"]



class SqlUsers(SqlRepository):
    """Accounts, tokens and failed sign-ins."""

    def add_user(self, row: UserRow) -> None:
        self.conn.execute(insert(users), asdict(row))

    def user_by_name(self, username: str) -> UserRow | None:
        r = self.conn.execute(select(users).where(users.c.username == username)).first()
        return None if r is None else UserRow(**r._mapping)

    def usernames(self, user_ids: Iterable[str]) -> dict[str, str]:
        return {r.id: r.username
                for r in self._in(users.c.id, user_ids, users.c.id, users.c.username)}

    def add_token(self, token_hash: str, user_id: str, now: datetime,
                  expires_at: datetime) -> None:
        self.conn.execute(insert(tokens), {"token_hash": token_hash, "user_id": user_id,
                                           "created_at": now, "expires_at": expires_at})

    def delete_token(self, token_hash: str) -> str | None:
        r = self.conn.execute(delete(tokens).where(tokens.c.token_hash == token_hash)
                              .returning(tokens.c.user_id)).first()
        return None if r is None else str(r[0])

    def principal_for_token(self, token_hash: str, now: datetime) -> Principal | None:
        r = self.conn.execute(
            select(users.c.id, users.c.username, users.c.role, users.c.scope)
            .join(tokens, tokens.c.user_id == users.c.id)
            .where(tokens.c.token_hash == token_hash, tokens.c.expires_at > now,
                   users.c.active.is_(True))
        ).first()
        return None if r is None else Principal(r.id, r.username, Role(r.role), r.scope)

    # -- failed sign-ins, under keyed hashes of the account or address (``domain/sign_in.py``)

    def sign_in_failures(self, keys: Sequence[bytes],
                         since: datetime) -> dict[bytes, list[datetime]]:
        """The failure times after ``since`` of each key (every key present, perhaps empty)."""
        out: dict[bytes, list[datetime]] = {bytes(k): [] for k in keys}
        t = sign_in_failures
        # keyed hashes are bytes, which JSON cannot carry: on SQLite ``_in`` binds them one
        # parameter each (``select_in_expanding``)
        rows = self._in(t.c.key_hash, out, t.c.key_hash, t.c.at, where=t.c.at > since)
        for key, at in sorted(rows, key=lambda r: r[1]):
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
