"""Ports of the data key: the repository of the encrypted columns (people's ID number, name
and phone with their lookup hashes; lab messages' bytes), part of the ``UnitOfWork``; the keys
that seal them; and the data key file a re-encryption moves them to.

Imports: standard library only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["DataKeyMove", "ResealedPerson", "SealedData", "SealedMessage", "SealedPerson",
           "SealingKeys"]


@dataclass(frozen=True, slots=True)
class SealedPerson:
    """A person's encrypted columns as stored (all three under one key: written together)."""

    id: str
    id_kind: str
    id_enc: bytes
    name_enc: bytes
    phone_enc: bytes | None


@dataclass(frozen=True, slots=True)
class ResealedPerson:
    """A person's encrypted columns and lookup hashes under another key."""

    id: str
    id_hash: bytes
    id_enc: bytes
    name_enc: bytes
    phone_enc: bytes | None
    phone_hash: bytes | None


@dataclass(frozen=True, slots=True)
class SealedMessage:
    """A lab message's bytes as stored (encrypted: they name a patient)."""

    id: str
    raw: bytes


class SealedData(Protocol):
    """The encrypted columns, read in key order a batch at a time and written back by id."""

    def people_after(self, after: str, limit: int) -> list[SealedPerson]:
        """Up to ``limit`` people whose id follows ``after``, by id."""
        ...

    def reseal_people(self, rows: Sequence[ResealedPerson]) -> None: ...

    def messages_after(self, after: str, limit: int) -> list[SealedMessage]:
        """Up to ``limit`` lab messages whose id follows ``after``, by id."""
        ...

    def reseal_messages(self, rows: Sequence[SealedMessage]) -> None: ...


class SealingKeys(Protocol):
    """The ``Vault`` port's keys, which also say whether a ciphertext is their own."""

    def encrypt(self, plaintext: str) -> bytes: ...
    def decrypt(self, ciphertext: bytes) -> str: ...
    def lookup_hash(self, value: str) -> bytes: ...
    def reads(self, ciphertext: bytes) -> bool: ...


class DataKeyMove(Protocol):
    """The data key file (``HESUAN_DATA_KEY_FILE``) a re-encryption moves the personal data to
    from the legacy keys of the master secret."""

    def keys(self) -> tuple[SealingKeys, SealingKeys]:
        """(the legacy keys, the data key's). The data key is the file's when it is in place;
        otherwise a new one, kept beside it until ``put_in_place`` (the one an interrupted
        re-encryption left there, when there is one)."""
        ...

    def put_in_place(self) -> str:
        """Give the new data key its name (``HESUAN_DATA_KEY_FILE``), durably; the file's
        name. Nothing to do when it is in place already."""
        ...
