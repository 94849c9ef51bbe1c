"""Ports of people and places: the rows exchanged with storage and the repositories of people,
accounts, places and the audit log (parts of the ``UnitOfWork``, implemented by
``adapters/db``).

Imports: standard library and ``hesuan.domain`` only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from hesuan.domain.access import Principal
from hesuan.domain.audit import AuditEntry
from hesuan.domain.json import JsonObject

__all__ = ["AuditLogRepository", "Home", "LabRow", "NewLab", "NewPerson", "NewSite",
           "PeopleRepository",
           "PersonCorrectionRow", "PersonFactsRow", "PersonRecallRow", "PersonRow",
           "PersonSampleRow",
           "PlaceRepository", "RegionRow", "SiteRow", "UserRepository", "UserRow"]


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
    registered_barcode: str | None = None  # a registration waiting for its swab (two lanes)


@dataclass(frozen=True, slots=True)
class PersonSampleRow:
    """One of a person's samples, with its tube's state and result and the site it was taken
    at (its name)."""

    sampled_at: datetime
    barcode: str
    capacity: int
    status: str
    result: str | None
    resulted_at: datetime | None
    site: str
    recall_id: str | None


@dataclass(frozen=True, slots=True)
class PersonRecallRow:
    """One of a person's recalls (re-tests)."""

    id: str
    reason: str
    status: str
    opened_at: datetime
    due_at: datetime
    resolved_at: datetime | None
    outcome: str | None
    detail: str | None = None  # a rejected tube's: the code of the lab's reason


@dataclass(frozen=True, slots=True)
class PersonCorrectionRow:
    """A released result of one of a person's tubes corrected (``result``) or cancelled
    (``cancelled``): the result it replaced, why, when."""

    barcode: str
    previous: str
    result: str
    reason: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class UserRow:
    """An account (the password only as its hash)."""

    id: str
    username: str
    password_hash: str
    role: str
    scope: str | None
    active: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RegionRow:
    """A region of the hierarchy (province to grid) and the region it belongs to."""

    code: str
    level: str
    name: str
    parent_code: str | None


@dataclass(frozen=True, slots=True)
class NewSite:
    id: str
    name: str
    kind: str
    region_code: str
    lat: float | None
    lng: float | None
    opening_hours: str
    windows: int
    status: str
    created_at: datetime


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


@dataclass(frozen=True, slots=True)
class Home:
    """A household's location, to about 100 m (``domain.nearby``)."""

    lat: float
    lng: float


@dataclass(frozen=True, slots=True)
class NewLab:
    id: str
    name: str
    region_code: str
    daily_capacity: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LabRow:
    id: str
    name: str
    region_code: str
    daily_capacity: int


class PeopleRepository(Protocol):
    """People, and what a window or a resident's page reads about them."""

    def insert_people(self, rows: Sequence[NewPerson], now: datetime) -> int:
        """Insert people whose id_hash is new; return how many were inserted."""

    def person(self, person_id: str) -> PersonRow | None: ...

    def people_ids(self, limit: int) -> list[str]: ...

    def home(self, household_id: str) -> Home | None:
        """Where the household lives, None when its location is not known."""
        ...

    def person_id_by_hash(self, id_hash: bytes) -> str | None: ...

    def person_facts(self, person_ids: Iterable[str]) -> dict[str, PersonFactsRow]:
        """Facts a window needs about each person, for the ids that exist."""

    def home_grids(self, person_ids: Iterable[str]) -> dict[str, str]:
        """Each person's home grid, for the ids that exist."""

    def person_samples(self, person_id: str) -> list[PersonSampleRow]:
        """The person's last 100 samples, newest first."""
        ...

    def person_recalls(self, person_id: str) -> list[PersonRecallRow]:
        """The person's last 50 recalls, newest first."""
        ...

    def person_corrections(self, person_id: str) -> list[PersonCorrectionRow]:
        """The corrections and cancellations of the results of the person's tubes (the last
        50, newest first)."""
        ...


class UserRepository(Protocol):
    """Accounts, bearer tokens and failed sign-ins."""

    def add_user(self, row: UserRow) -> None: ...

    def user_by_name(self, username: str) -> UserRow | None: ...

    def usernames(self, user_ids: Iterable[str]) -> dict[str, str]:
        """The username of each of ``user_ids`` that is an account (who did a step, for the
        pages that show it)."""

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

    def upsert_regions(self, rows: Sequence[RegionRow]) -> None: ...

    def grid_codes(self) -> set[str]: ...

    def region(self, code: str) -> RegionRow | None: ...

    def add_site(self, row: NewSite) -> None: ...

    def sites(self, ids: Iterable[str] | None = None) -> list[SiteRow]: ...

    def add_lab(self, row: NewLab) -> None: ...

    def labs(self) -> list[LabRow]:
        """Every lab, by name."""
        ...

    def lab(self, lab_id: str) -> LabRow | None: ...


class AuditLogRepository(Protocol):
    """The audit log (a keyed hash chain, append-only)."""

    def append(self, at: datetime, actor: str, action: str, subject: str,
              detail: JsonObject) -> None: ...

    def entries(self, after_seq: int, limit: int) -> list[AuditEntry]: ...

    def head(self) -> tuple[int, str] | None:
        """The last entry's (seq, hash); None for an empty log."""
        ...

    def legacy_upto(self) -> int:
        """The last entry hashed with plain SHA-256 (0: none)."""
        ...
