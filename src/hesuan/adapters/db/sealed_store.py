"""The encrypted columns (``services/keys_ports.SealedData``): people's ID number, name and
phone with their lookup hashes, and lab messages' bytes, read a batch at a time in key order
and written back by id, one statement a batch each way.

Imports: SQLAlchemy, ``hesuan.adapters.db``, ``hesuan.services``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from sqlalchemy import bindparam, select, update

from hesuan.adapters.db.repository import SqlRepository
from hesuan.adapters.db.schema import lab_messages, people
from hesuan.services.keys_ports import ResealedPerson, SealedMessage, SealedPerson

__all__ = ["SqlSealedData"]

_RESEAL_PEOPLE = update(people).where(people.c.id == bindparam("pid")).values(
    id_hash=bindparam("id_hash"), id_enc=bindparam("id_enc"), name_enc=bindparam("name_enc"),
    phone_enc=bindparam("phone_enc"), phone_hash=bindparam("phone_hash"))
_RESEAL_MESSAGES = update(lab_messages).where(lab_messages.c.id == bindparam("mid")).values(
    raw=bindparam("raw"))


def _bytes(value: bytes | memoryview | None) -> bytes | None:
    return None if value is None else bytes(value)


class SqlSealedData(SqlRepository):
    def people_after(self, after: str, limit: int) -> list[SealedPerson]:
        rows = self.conn.execute(
            select(people.c.id, people.c.id_kind, people.c.id_enc, people.c.name_enc,
                   people.c.phone_enc)
            .where(people.c.id > after).order_by(people.c.id).limit(limit)).all()
        return [SealedPerson(r.id, r.id_kind, bytes(r.id_enc), bytes(r.name_enc),
                             _bytes(r.phone_enc)) for r in rows]

    def reseal_people(self, rows: Sequence[ResealedPerson]) -> None:
        if rows:
            self.conn.execute(_RESEAL_PEOPLE, [
                {"pid": r.id} | {k: v for k, v in asdict(r).items() if k != "id"}
                for r in rows])

    def messages_after(self, after: str, limit: int) -> list[SealedMessage]:
        rows = self.conn.execute(
            select(lab_messages.c.id, lab_messages.c.raw).where(lab_messages.c.id > after)
            .order_by(lab_messages.c.id).limit(limit)).all()
        return [SealedMessage(r.id, bytes(r.raw)) for r in rows]

    def reseal_messages(self, rows: Sequence[SealedMessage]) -> None:
        if rows:
            self.conn.execute(_RESEAL_MESSAGES, [{"mid": r.id, "raw": r.raw} for r in rows])
