"""The data key: personal data stored under the legacy keys (derived from the master secret,
before data key files) moved under the data key file, which the end of the programme can
destroy (docs/SECURITY.md §5, docs/RETENTION.md).

Every encrypted column is decrypted with the legacy keys and encrypted again with the data
key, and the lookup hashes made with the same keys are made again with the data key's, a batch
at a time in key order, each batch one transaction with its audit entry (counts, never data).
A row the data key already reads is left as it is, so a run that stops is finished by the
next; the data key file is put in place when every row is under it.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

from dataclasses import dataclass

from hesuan.domain.access import Action, Principal, authorize
from hesuan.domain.errors import Conflict
from hesuan.services.keys_ports import (
    DataKeyMove,
    ResealedPerson,
    SealedMessage,
    SealedPerson,
    SealingKeys,
)
from hesuan.services.ports import Clock, UnitOfWorkFactory

__all__ = ["DataKeyService", "RekeyReport"]

#: Rows a transaction moves.
BATCH = 2000


@dataclass(frozen=True, slots=True)
class RekeyReport:
    people: int  # moved by this run
    lab_messages: int
    data_key_file: str  # its name, in place


class DataKeyService:
    def __init__(self, clock: Clock, uow: UnitOfWorkFactory, move: DataKeyMove) -> None:
        self._clock = clock
        self._uow = uow
        self._move = move

    def rekey(self, actor: Principal, batch: int = BATCH) -> RekeyReport:
        """Move every encrypted column still under the legacy keys to the data key; put the
        data key file in place. Idempotent."""
        authorize(actor, Action.REKEY_DATA)
        legacy, data = self._move.keys()
        people = self._people(actor, legacy, data, batch)
        messages = self._messages(actor, legacy, data, batch)
        name = self._move.put_in_place()
        with self._uow() as uow:
            uow.audit_log.append(self._clock.now(), actor.username, "keys.rekey_data",
                                 "data_key", {"people": people, "lab_messages": messages,
                                              "data_key_file": "in place"})
            uow.commit()
        return RekeyReport(people, messages, name)

    def _people(self, actor: Principal, legacy: SealingKeys, data: SealingKeys,
                batch: int) -> int:
        moved, after = 0, ""
        while True:
            with self._uow() as uow:
                rows = uow.sealed.people_after(after, batch)
                if not rows:
                    return moved
                todo = [_reseal(p, legacy, data) for p in rows
                        if _under_legacy(p.id_enc, legacy, data, "people")]
                uow.sealed.reseal_people(todo)
                if todo:
                    uow.audit_log.append(self._clock.now(), actor.username,
                                         "keys.rekey_data", "people", {"people": len(todo)})
                uow.commit()
            moved += len(todo)
            after = rows[-1].id

    def _messages(self, actor: Principal, legacy: SealingKeys, data: SealingKeys,
                  batch: int) -> int:
        moved, after = 0, ""
        while True:
            with self._uow() as uow:
                rows = uow.sealed.messages_after(after, batch)
                if not rows:
                    return moved
                todo = [SealedMessage(m.id, data.encrypt(legacy.decrypt(m.raw))) for m in rows
                        if _under_legacy(m.raw, legacy, data, "lab_messages")]
                uow.sealed.reseal_messages(todo)
                if todo:
                    uow.audit_log.append(self._clock.now(), actor.username,
                                         "keys.rekey_data", "lab_messages",
                                         {"lab_messages": len(todo)})
                uow.commit()
            moved += len(todo)
            after = rows[-1].id


def _under_legacy(sealed: bytes, legacy: SealingKeys, data: SealingKeys, what: str) -> bool:
    """True under the legacy keys, False under the data key; neither: not this platform's
    keys, and nothing more is moved."""
    if legacy.reads(sealed):
        return True
    if data.reads(sealed):
        return False
    raise Conflict(f"{what}: a row is readable under neither the legacy keys nor the data key "
                   f"(another secret key or data key file?)", code="unreadable", field=what)


def _reseal(p: SealedPerson, legacy: SealingKeys, data: SealingKeys) -> ResealedPerson:
    number = legacy.decrypt(p.id_enc)
    phone = legacy.decrypt(p.phone_enc) if p.phone_enc is not None else None
    return ResealedPerson(
        p.id, id_hash=data.lookup_hash(f"{p.id_kind}:{number}"), id_enc=data.encrypt(number),
        name_enc=data.encrypt(legacy.decrypt(p.name_enc)),
        phone_enc=data.encrypt(phone) if phone is not None else None,
        phone_hash=data.lookup_hash(f"phone:{phone}") if phone is not None else None)
