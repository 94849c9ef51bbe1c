"""Fake repository of teams (``adapters/db/teams_store.py`` in memory): the door-to-door teams'
assignments, as far as the services under test use them (a zone split or shrunk moves its
teams' open assignments, ``services/door_teams.follow_zone``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from hesuan.domain.shifts import Span
from hesuan.services.teams_ports import (
    Assignment,
    HouseholdMember,
    NewShift,
    RouteMember,
    ShiftRow,
    StaffMember,
    TeamMove,
    TeamRow,
)
from tests.fakes.base import FakeRepository, unused

__all__ = ["FakeTeams"]


class FakeTeams(FakeRepository):
    """``TeamRepository``: door-to-door assignments."""

    def add_assignment(self, assignment: Assignment, person_ids: Sequence[str]) -> int:
        self.t.assignments[assignment.id] = assignment
        return len(set(person_ids))

    def assignment(self, assignment_id: str) -> Assignment | None:
        return self.t.assignments.get(assignment_id)

    def close_assignment(self, assignment_id: str, at: datetime) -> None:
        a = self.t.assignments[assignment_id]
        self.t.assignments[assignment_id] = replace(a, status="done", closed_at=at)

    def zone_assignments(self, zone_id: str) -> list[Assignment]:
        return sorted((a for a in self.t.assignments.values()
                       if a.zone_id == zone_id and a.status == "open"),
                      key=lambda a: a.created_at)

    # -- not under test ----------------------------------------------------------------------

    def assignments(self, site_id: str, open_only: bool) -> list[Assignment]:
        unused("teams.assignments")

    def route(self, assignment_ids: Sequence[str], since: datetime) -> list[RouteMember]:
        unused("teams.route")

    def household_members(self, household_id: str) -> list[HouseholdMember]:
        unused("teams.household_members")

    def on_route(self, assignment_ids: Sequence[str], person_ids: Sequence[str]) -> set[str]:
        unused("teams.on_route")

    def add_team(self, team: TeamRow) -> None:
        unused("teams.add_team")

    def team(self, team_id: str) -> TeamRow | None:
        unused("teams.team")

    def all(self) -> list[TeamRow]:
        unused("teams.all")

    def move_team(self, move: TeamMove) -> None:
        unused("teams.move_team")

    def team_moves(self, team_id: str) -> list[TeamMove]:
        unused("teams.team_moves")

    def add_staff(self, member: StaffMember) -> None:
        unused("teams.add_staff")

    def staff_member(self, staff_id: str) -> StaffMember | None:
        unused("teams.staff_member")

    def team_staff(self, team_id: str) -> list[StaffMember]:
        unused("teams.team_staff")

    def staff_spans(self, staff_id: str, since: datetime) -> list[Span]:
        unused("teams.staff_spans")

    def spans_of(self, staff_ids: Sequence[str], since: datetime) -> dict[str, list[Span]]:
        unused("teams.spans_of")

    def open_shifts(self, staff_ids: Sequence[str]) -> list[ShiftRow]:
        unused("teams.open_shifts")

    def add_shift(self, shift: NewShift) -> None:
        unused("teams.add_shift")

    def end_shift(self, shift_id: str, at: datetime, by: str) -> None:
        unused("teams.end_shift")

    def shifts_on(self, place_ids: Sequence[str] | None) -> list[ShiftRow]:
        unused("teams.shifts_on")
