"""Ports of people and places: the rows exchanged with storage and the repositories of people,
accounts, places and the audit log (parts of the ``UnitOfWork``, implemented by
``adapters/db``).

Imports: standard library and ``hesuan.domain`` only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from hesuan.domain.access import Principal
from hesuan.domain.audit import AuditEntry

__all__ = ["AuditLogRepository", "NewPerson", "PeopleRepository", "PersonFactsRow", "PersonRow",
           "PlaceRepository", "SiteRow", "UserRepository"]


@dataclass(frozen=True, slots=True)
class NewPerson:
    id: str
    id_kind: str
    id_hash: bytes
    id_enc: bytes
    id_last4: str
    name_enc: bytes
    name_masked: str
    phone_enc: bytes | None
    phone_hash: bytes | None
    grid_code: str
    household_id: str | None
    address: str | None
    groups: str
    birth_year: int | None
    language: str


@dataclass(frozen=True, slots=True)
class PersonRow:
    id: str
    id_kind: str
    id_enc: bytes
    id_last4: str
    name_enc: bytes
    name_masked: str
    phone_enc: bytes | None
    grid_code: str
    household_id: str | None
    address: str | None
    groups: str
    language: str
    test_state: str
    last_sampled_at: datetime | None
    last_result: str | None
    last_result_at: datetime | None
    last_negative_at: datetime | None
    open_recall_id: str | None
    next_due_at: datetime | None


@dataclass(frozen=True, slots=True)
class PersonFactsRow:
    groups: str
    open_tube_id: str | None
    open_recall_id: str | None
    name_masked: str
    test_state: str


@dataclass(frozen=True, slots=True)
class SiteRow:
    id: str
    name: str
    kind: str
    region_code: str
    lat: float | None
    lng: float | None
    opening_hours: str
    windows: int
    status: str


class PeopleRepository(Protocol):
    """People, and what a window or a resident's page reads about them."""

    def insert_people(self, rows: Sequence[NewPerson], now: datetime) -> int:
        """Insert people whose id_hash is new; return how many were inserted."""

    def person(self, person_id: str) -> PersonRow | None: ...

    def people_ids(self, limit: int) -> list[str]: ...

    def person_id_by_hash(self, id_hash: bytes) -> str | None: ...

    def person_facts(self, person_ids: Iterable[str]) -> dict[str, PersonFactsRow]:
        """Facts a window needs about each person, for the ids that exist."""

    def person_samples(self, person_id: str) -> list[dict[str, Any]]: ...

    def person_recalls(self, person_id: str) -> list[dict[str, Any]]: ...


class UserRepository(Protocol):
    """Accounts, bearer tokens and failed sign-ins."""

    def add_user(self, row: dict[str, Any]) -> None: ...

    def user_by_name(self, username: str) -> dict[str, Any] | None: ...

    def add_token(self, token_hash: str, user_id: str, now: datetime,
                  expires_at: datetime) -> None: ...

    def delete_token(self, token_hash: str) -> str | None: ...

    def principal_for_token(self, token_hash: str, now: datetime) -> Principal | None: ...

    # failed sign-ins, under keyed hashes of the account or address (``domain/sign_in.py``)
    def sign_in_failures(self, keys: Sequence[bytes],
                         since: datetime) -> dict[bytes, list[datetime]]: ...

    def add_sign_in_failure(self, keys: Sequence[bytes], at: datetime,
                            forget_before: datetime) -> None: ...

    def clear_sign_in_failures(self, key: bytes) -> None: ...


class PlaceRepository(Protocol):
    """Regions, sampling sites and labs."""

    def upsert_regions(self, rows: Sequence[dict[str, Any]]) -> None: ...

    def grid_codes(self) -> set[str]: ...

    def region(self, code: str) -> dict[str, Any] | None: ...

    def add_site(self, row: dict[str, Any]) -> None: ...

    def sites(self, ids: Iterable[str] | None = None) -> list[SiteRow]: ...

    def add_lab(self, row: dict[str, Any]) -> None: ...

    def labs(self) -> list[dict[str, Any]]: ...

    def lab(self, lab_id: str) -> dict[str, Any] | None: ...


class AuditLogRepository(Protocol):
    """The audit log (a keyed hash chain, append-only)."""

    def append(self, at: datetime, actor: str, action: str, subject: str,
              detail: dict[str, Any]) -> None: ...

    def entries(self, after_seq: int, limit: int) -> list[AuditEntry]: ...

    def head(self) -> tuple[int, str] | None:
        """The last entry's (seq, hash); None for an empty log."""
        ...

    def legacy_upto(self) -> int:
        """The last entry hashed with plain SHA-256 (0: none)."""
        ...
