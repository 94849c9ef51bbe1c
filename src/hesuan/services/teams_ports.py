"""What the teams service needs from storage: door-to-door assignments and routes, teams and
their moves, staff and shifts (``TeamRepository``, part of the ``UnitOfWork``, implemented by
``hesuan.adapters.db.teams_store``).

Imports: standard library and ``hesuan.domain`` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from hesuan.domain.shifts import Span

__all__ = ["Assignment", "HouseholdMember", "NewShift", "RouteMember", "ShiftRow",
           "StaffMember", "TeamMove", "TeamRepository", "TeamRow"]


@dataclass(frozen=True, slots=True)
class Assignment:
    """A door-to-door team's assignment: a zone (its people as the zone stands) or a list of
    people (``team_targets``); open until closed."""

    id: str
    site_id: str
    zone_id: str | None
    household_pool: bool
    status: str
    note: str | None
    created_by: str
    created_at: datetime
    closed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RouteMember:
    """A person on a team's route, with their household and whether they were sampled since
    the route's assignments began."""

    person_id: str
    household_id: str | None
    grid_code: str
    address: str | None
    name: str
    groups: str
    sampled: bool
    last_sampled_at: datetime | None
    open_recall: bool
    exempt_until: datetime | None


@dataclass(frozen=True, slots=True)
class HouseholdMember:
    person_id: str
    grid_code: str
    groups: str
    name: str
    open_recall: bool


@dataclass(frozen=True, slots=True)
class TeamRow:
    id: str
    name: str
    kind: str
    place_kind: str
    place_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TeamMove:
    """A team's move from one place to another (none: the team was created there)."""

    id: str
    team_id: str
    from_kind: str | None
    from_id: str | None
    to_kind: str
    to_id: str
    note: str | None
    actor: str
    at: datetime


@dataclass(frozen=True, slots=True)
class StaffMember:
    id: str
    name: str
    role: str
    team_id: str | None
    active: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewShift:
    """A stint starting: a staff member at a place (and a window of a site)."""

    id: str
    staff_id: str
    place_kind: str
    place_id: str
    window: int | None
    started_at: datetime


@dataclass(frozen=True, slots=True)
class ShiftRow:
    id: str
    staff_id: str
    staff_name: str
    role: str
    team_id: str | None
    place_kind: str
    place_id: str
    window: int | None
    started_at: datetime
    ended_at: datetime | None


class TeamRepository(Protocol):
    # -- door-to-door teams ----------------------------------------------------------------
    def add_assignment(self, assignment: Assignment, person_ids: Sequence[str]) -> int:
        """Store the assignment and its list of people; how many distinct people."""
    def assignments(self, site_id: str, open_only: bool) -> list[Assignment]: ...
    def assignment(self, assignment_id: str) -> Assignment | None: ...
    def close_assignment(self, assignment_id: str, at: datetime) -> None:
        """The assignment is done, closed at ``at``."""
    def zone_assignments(self, zone_id: str) -> list[Assignment]:
        """The open assignments of the zone ``zone_id``."""
    def route(self, assignment_ids: Sequence[str], since: datetime) -> list[RouteMember]:
        """One row per person of the assignments, in grid, address and household order."""
    def household_members(self, household_id: str) -> list[HouseholdMember]: ...
    def on_route(self, assignment_ids: Sequence[str], person_ids: Sequence[str]) -> set[str]:
        """Those of ``person_ids`` whom the assignments reach (listed, or in their zone)."""

    # -- staff and shifts ------------------------------------------------------------------
    def add_team(self, team: TeamRow) -> None: ...
    def team(self, team_id: str) -> TeamRow | None: ...
    def all(self) -> list[TeamRow]: ...
    def move_team(self, move: TeamMove) -> None:
        """Record the move and put the team at its new place."""
    def team_moves(self, team_id: str) -> list[TeamMove]: ...
    def add_staff(self, member: StaffMember) -> None: ...
    def staff_member(self, staff_id: str) -> StaffMember | None: ...
    def team_staff(self, team_id: str) -> list[StaffMember]:
        """A team's active staff, by name."""
    def staff_spans(self, staff_id: str, since: datetime) -> list[Span]: ...
    def spans_of(self, staff_ids: Sequence[str], since: datetime) -> dict[str, list[Span]]: ...
    def open_shifts(self, staff_ids: Sequence[str]) -> list[ShiftRow]:
        """The stints these people are on now."""
    def add_shift(self, shift: NewShift) -> None: ...
    def end_shift(self, shift_id: str, at: datetime, by: str) -> None: ...
    def shifts_on(self, place_ids: Sequence[str] | None) -> list[ShiftRow]: ...
