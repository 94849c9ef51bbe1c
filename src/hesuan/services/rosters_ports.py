"""What the rosters service needs from storage: coverage by grid and its snapshot, the people of
a roster, roster outcomes and region names (``RosterRepository``, part of the ``UnitOfWork``,
implemented by ``hesuan.adapters.db.rosters_store``).

Imports: standard library and ``hesuan.domain`` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from hesuan.domain.rosters import Counts

__all__ = ["RosterOutcomeRow", "RosterPerson", "RosterRepository"]


@dataclass(frozen=True, slots=True)
class RosterPerson:
    id: str
    name_masked: str
    grid_code: str
    household_id: str | None
    address: str | None
    last_sampled_at: datetime | None
    exempt_until: datetime | None
    exempt_reason: str | None
    colour: str
    zone_kind: str | None
    phone_enc: bytes | None
    outcome: str | None = None
    outcome_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RosterOutcomeRow:
    """What a grid worker noted of a person on the roster (reached, refused, away, ...)."""

    id: str
    person_id: str
    grid_code: str
    outcome: str
    note: str | None
    actor: str
    at: datetime


class RosterRepository(Protocol):
    # -- rosters ---------------------------------------------------------------------------
    def coverage_by_grid(self, prefix: str, since: datetime,
                         as_of: datetime) -> dict[str, Counts]: ...
    def save_coverage_snapshot(self, rows: dict[str, Counts], since: datetime,
                               as_of: datetime) -> None: ...
    def coverage_snapshot(self, prefix: str) -> tuple[dict[str, Counts], datetime, datetime] | None:
        """(grid counts, since, as_of) of the latest snapshot, or None."""
    def roster_people(self, prefix: str, since: datetime, as_of: datetime, which: str,
                      limit: int, offset: int) -> list[RosterPerson]: ...
    def roster_people_by_ids(self, person_ids: Sequence[str]) -> list[RosterPerson]:
        """The roster rows of these people (a search's hits)."""
        ...

    def people_by_lookup(self, lookup: bytes, prefix: str, limit: int) -> list[str]:
        """People in the area whose ID number's or phone's keyed hash is ``lookup``."""
        ...

    def encrypted_names(self, prefix: str, limit: int) -> list[tuple[str, bytes]]:
        """(person id, encrypted name) of the area's people: a name is looked for by
        decrypting these, there being no index of names."""
        ...

    def add_roster_outcome(self, row: RosterOutcomeRow) -> None: ...
    def region_names(self, codes: Sequence[str]) -> dict[str, str]: ...
