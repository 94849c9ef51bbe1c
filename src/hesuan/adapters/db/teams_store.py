"""Storage of teams (the ``TeamRepository`` port): door-to-door assignments and routes, teams and
their moves, staff and shifts. A repository of ``SqlUnitOfWork``.

Imports: SQLAlchemy, ``hesuan.adapters.db``, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy import update as sa_update

from hesuan.adapters.db import sql_helpers
from hesuan.adapters.db.repository import SqlRepository
from hesuan.adapters.db.schema import (
    people,
    person_status,
    shifts,
    staff,
    team_assignments,
    team_moves,
    team_targets,
    teams,
    to_ms,
)
from hesuan.adapters.db.sql_helpers import chunks, from_ms_or_none, member_of, one_of
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

__all__ = ["SqlTeams"]


class SqlTeams(SqlRepository):

    # -- door-to-door teams ----------------------------------------------------------------

    def add_assignment(self, assignment: Assignment, person_ids: Sequence[str]) -> int:
        self.conn.execute(insert(team_assignments), asdict(assignment))
        ids = list(dict.fromkeys(person_ids))
        for part in chunks(ids):
            self.conn.execute(insert(team_targets), [
                {"assignment_id": assignment.id, "person_id": p} for p in part])
        return len(ids)

    def assignments(self, site_id: str, open_only: bool) -> list[Assignment]:
        stmt = select(team_assignments).where(team_assignments.c.site_id == site_id).order_by(
            team_assignments.c.created_at)
        if open_only:
            stmt = stmt.where(team_assignments.c.status == "open")
        return [Assignment(**r._mapping) for r in self.conn.execute(stmt)]

    def assignment(self, assignment_id: str) -> Assignment | None:
        r = self.conn.execute(select(team_assignments).where(
            team_assignments.c.id == assignment_id)).first()
        return None if r is None else Assignment(**r._mapping)

    def close_assignment(self, assignment_id: str, at: datetime) -> None:
        self.conn.execute(sa_update(team_assignments).where(
            team_assignments.c.id == assignment_id).values(status="done", closed_at=at))

    def zone_assignments(self, zone_id: str) -> list[Assignment]:
        return [Assignment(**r._mapping) for r in self.conn.execute(
            select(team_assignments).where(team_assignments.c.zone_id == zone_id,
                                           team_assignments.c.status == "open")
            .order_by(team_assignments.c.created_at))]

    def route(self, assignment_ids: Sequence[str], since: datetime) -> list[RouteMember]:
        if not assignment_ids:
            return []
        pg = self._pg
        params = {"vals": sql_helpers.vals(assignment_ids, pg), "since": to_ms(since)}
        people_sql = (
            f"SELECT t.person_id AS pid FROM team_targets t WHERE {one_of('t.assignment_id', pg)} "
            f"UNION SELECT ps.person_id FROM person_status ps JOIN team_assignments a ON "
            f"a.zone_id = ps.zone_id WHERE ps.zone_id IS NOT NULL AND {one_of('a.id', pg)}")
        rows = sql_helpers.fetch(self.conn, (
            "SELECT p.id, p.household_id, p.grid_code, p.address, p.name_masked, p.groups, "
            "ps.last_sampled_at, ps.open_recall_id, ps.exempt_until "
            f"FROM ({people_sql}) w JOIN people p ON p.id = w.pid "
            "JOIN person_status ps ON ps.person_id = p.id "
            "ORDER BY p.grid_code, p.address, p.household_id, p.id"), params)
        return [RouteMember(person_id=r[0], household_id=r[1], grid_code=r[2], address=r[3],
                            name=r[4], groups=r[5],
                            sampled=r[6] is not None and r[6] >= params["since"],
                            last_sampled_at=from_ms_or_none(r[6]), open_recall=r[7] is not None,
                            exempt_until=from_ms_or_none(r[8])) for r in rows]

    def on_route(self, assignment_ids: Sequence[str], person_ids: Sequence[str]) -> set[str]:
        if not assignment_ids or not person_ids:
            return set()
        pg = self._pg
        rows = sql_helpers.fetch(self.conn, (
            f"SELECT t.person_id FROM team_targets t WHERE {one_of('t.assignment_id', pg)} "
            f"AND {one_of('t.person_id', pg, name='people')} "
            f"UNION SELECT ps.person_id FROM person_status ps JOIN team_assignments a ON "
            f"a.zone_id = ps.zone_id WHERE {one_of('a.id', pg)} "
            f"AND {one_of('ps.person_id', pg, name='people')}"),
            {"vals": sql_helpers.vals(assignment_ids, pg),
             "people": sql_helpers.vals(person_ids, pg)})
        return {str(r[0]) for r in rows}

    def household_members(self, household_id: str) -> list[HouseholdMember]:
        rows = self.conn.execute(
            select(people.c.id, people.c.grid_code, people.c.groups, people.c.name_masked,
                   person_status.c.open_recall_id)
            .join(person_status, person_status.c.person_id == people.c.id)
            .where(people.c.household_id == household_id).order_by(people.c.id))
        return [HouseholdMember(person_id=r[0], grid_code=r[1], groups=r[2], name=r[3],
                                open_recall=r[4] is not None) for r in rows]

    # -- staff and shifts ------------------------------------------------------------------

    def add_team(self, team: TeamRow) -> None:
        self.conn.execute(insert(teams), asdict(team))

    def team(self, team_id: str) -> TeamRow | None:
        r = self.conn.execute(select(teams).where(teams.c.id == team_id)).first()
        return None if r is None else TeamRow(**r._mapping)

    def all(self) -> list[TeamRow]:
        return [TeamRow(**r._mapping)
                for r in self.conn.execute(select(teams).order_by(teams.c.name))]

    def move_team(self, move: TeamMove) -> None:
        self.conn.execute(insert(team_moves), asdict(move))
        self.conn.execute(sa_update(teams).where(teams.c.id == move.team_id).values(
            place_kind=move.to_kind, place_id=move.to_id))

    def team_moves(self, team_id: str) -> list[TeamMove]:
        return [TeamMove(**r._mapping) for r in self.conn.execute(
            select(team_moves).where(team_moves.c.team_id == team_id).order_by(team_moves.c.at))]

    def add_staff(self, member: StaffMember) -> None:
        self.conn.execute(insert(staff), asdict(member))

    def staff_member(self, staff_id: str) -> StaffMember | None:
        r = self.conn.execute(select(staff).where(staff.c.id == staff_id)).first()
        return None if r is None else StaffMember(**r._mapping)

    def team_staff(self, team_id: str) -> list[StaffMember]:
        return [StaffMember(**r._mapping) for r in self.conn.execute(
            select(staff).where(staff.c.team_id == team_id, staff.c.active)
            .order_by(staff.c.name, staff.c.id))]

    def staff_spans(self, staff_id: str, since: datetime) -> list[Span]:
        return self.spans_of([staff_id], since).get(staff_id, [])

    def spans_of(self, staff_ids: Sequence[str], since: datetime) -> dict[str, list[Span]]:
        out: dict[str, list[Span]] = defaultdict(list)
        stmt = (select(shifts.c.staff_id, shifts.c.started_at, shifts.c.ended_at)
                .where(member_of(shifts.c.staff_id, self._pg),
                       (shifts.c.ended_at.is_(None)) | (shifts.c.ended_at >= since))
                .order_by(shifts.c.started_at))
        for part in chunks(list(staff_ids)):
            for sid, a, b in self.conn.execute(stmt, {"vals": sql_helpers.vals(part, self._pg)}):
                out[sid].append(Span(a, b))
        return dict(out)

    def _shift_rows(self, where: Any, params: dict[str, Any] | None = None) -> list[ShiftRow]:
        rows = self.conn.execute(
            select(shifts.c.id, shifts.c.staff_id, staff.c.name, staff.c.role, staff.c.team_id,
                   shifts.c.place_kind, shifts.c.place_id, shifts.c.window,
                   shifts.c.started_at, shifts.c.ended_at)
            .join(staff, staff.c.id == shifts.c.staff_id).where(where)
            .order_by(shifts.c.place_id, shifts.c.window, shifts.c.started_at), params or {})
        return [ShiftRow(id=r[0], staff_id=r[1], staff_name=r[2], role=r[3], team_id=r[4],
                         place_kind=r[5], place_id=r[6], window=r[7], started_at=r[8],
                         ended_at=r[9]) for r in rows]

    def open_shifts(self, staff_ids: Sequence[str]) -> list[ShiftRow]:
        out: list[ShiftRow] = []
        for part in chunks(list(staff_ids)):
            out += self._shift_rows(member_of(shifts.c.staff_id, self._pg)
                                    & shifts.c.ended_at.is_(None),
                                    {"vals": sql_helpers.vals(part, self._pg)})
        return out

    def add_shift(self, shift: NewShift) -> None:
        self.conn.execute(insert(shifts), asdict(shift))

    def end_shift(self, shift_id: str, at: datetime, by: str) -> None:
        self.conn.execute(sa_update(shifts).where(shifts.c.id == shift_id)
                          .values(ended_at=at, ended_by=by))

    def shifts_on(self, place_ids: Sequence[str] | None) -> list[ShiftRow]:
        where: Any = shifts.c.ended_at.is_(None)
        params: dict[str, Any] = {}
        if place_ids is not None:
            where = where & member_of(shifts.c.place_id, self._pg)
            params["vals"] = sql_helpers.vals(place_ids, self._pg)
        return self._shift_rows(where, params)
