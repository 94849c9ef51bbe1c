"""Staff, teams and shifts (F17 轮岗调休): staff belong to teams; a team is at a place (a site,
a checkpoint or a district) and a health officer moves it, with history. A stint at a window
starts and ends; the limits of ``domain.shifts`` (4 h at a window, 8 h a day, rest between) are
enforced when a stint starts, and the site lead's board shows who is on and who is due to
rotate, and the team's list when each of its people may next start. A door-to-door team's
assignments and visits are ``services/door_teams.py``'s.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hesuan.domain.access import Action, Principal, Target, allows, authorize
from hesuan.domain.errors import InvalidInput, NotFound, RuleViolation
from hesuan.domain.shifts import (
    ROTATE_LEAD,
    ShiftLimits,
    Span,
    StaffRole,
    TeamKind,
    check_start,
    may_start,
    rotation,
    worked_on_day,
)
from hesuan.services.context import Deps
from hesuan.services.ports import UnitOfWork
from hesuan.services.targets import site_target
from hesuan.services.teams_ports import NewShift, StaffMember, TeamMove, TeamRow

__all__ = ["PLACE_KINDS", "BoardLimits", "OnShift", "ShiftBoard", "StaffOnTeam", "TeamMoved",
           "TeamService", "TeamStaff"]

PLACE_KINDS = ("site", "checkpoint", "region")


@dataclass(frozen=True, slots=True)
class TeamMoved:
    """A team where it now works, the stints ended at its old place, and its moves."""

    team_id: str
    place_kind: str
    place_id: str
    shifts_ended: int
    history: list[TeamMove]


@dataclass(frozen=True, slots=True)
class OnShift:
    """Someone on shift at a place: since when, hours in this stint and today, when they
    must rotate and which limit says so (``at_window`` or ``per_day``)."""

    staff_id: str
    name: str
    role: str
    team_id: str | None
    window: int | None
    on_since: datetime
    hours_this_stint: float
    hours_today: float
    rotate_at: datetime
    rotate_because: str
    due_to_rotate: bool
    overdue: bool


@dataclass(frozen=True, slots=True)
class BoardLimits:
    """The shift limits a board applies: hours at a window, hours a day, minutes of rest."""

    at_window_h: float
    per_day_h: float
    rest_min: float


@dataclass(frozen=True, slots=True)
class ShiftBoard:
    """Who is on at a place, the windows staffed and who is due to rotate."""

    place_id: str
    as_of: datetime
    on: list[OnShift]
    staffed_windows: list[int]
    due_to_rotate: list[str]
    limits: BoardLimits


@dataclass(frozen=True, slots=True)
class StaffOnTeam:
    """A person of a team as their lead plans the next stints: where they are on now, hours
    worked today, and when they may next start (None: on a stint now)."""

    staff_id: str
    name: str
    role: str
    on_at: str | None  # the place of the stint they are on
    window: int | None
    hours_today: float
    may_start_at: datetime | None


@dataclass(frozen=True, slots=True)
class TeamStaff:
    """A team's active staff (班组名单), by name."""

    team: TeamRow
    as_of: datetime
    staff: list[StaffOnTeam]


class TeamService:
    def __init__(self, deps: Deps, limits: ShiftLimits | None = None) -> None:
        self._d = deps
        self._limits = limits or ShiftLimits()

    def _place(self, uow: UnitOfWork, kind: str, place_id: str) -> Target:
        """A place where a team works, as the object of an action."""
        if kind == "site":
            got = uow.places.sites([place_id])
            if not got:
                raise NotFound("no such site", code="unknown_site", field="place_id")
            return site_target(got[0])
        if kind == "checkpoint":
            p = uow.fence.places([("checkpoint", place_id)]).get(("checkpoint", place_id))
            if p is None:
                raise NotFound("no such checkpoint", code="unknown_checkpoint",
                               field="place_id")
            return Target(region=p.region_code)
        if kind == "region":
            if uow.places.region(place_id) is None:
                raise NotFound("no such region", code="unknown_region", field="place_id")
            return Target(region=place_id)
        raise InvalidInput(f"place_kind must be one of {', '.join(PLACE_KINDS)}",
                           code="bad_place_kind", field="place_kind")

    def _board_place(self, uow: UnitOfWork, place_id: str) -> Target:
        """A place whose shifts are shown: a site, or else a checkpoint."""
        if uow.places.sites([place_id]):
            return self._place(uow, "site", place_id)
        return self._place(uow, "checkpoint", place_id)

    def add_team(self, actor: Principal, name: str, kind: TeamKind, place_kind: str,
                 place_id: str) -> str:
        if not 1 <= len(name.strip()) <= 100:
            raise InvalidInput("name must be 1-100 characters", code="bad_name", field="name")
        now = self._d.clock.now()
        tid = self._d.new_id()
        with self._d.uow() as uow:
            authorize(actor, Action.MANAGE_TEAMS, self._place(uow, place_kind, place_id),
                      field="place_id")
            uow.teams.add_team(TeamRow(id=tid, name=name.strip(), kind=kind.value,
                                       place_kind=place_kind, place_id=place_id,
                                       created_at=now))
            uow.teams.move_team(TeamMove(id=self._d.new_id(), team_id=tid, from_kind=None,
                                         from_id=None, to_kind=place_kind, to_id=place_id,
                                         note="created", actor=actor.username, at=now))
            uow.audit_log.append(now, actor.username, "team.create", f"team:{tid}",
                                 {"kind": kind.value})
            uow.commit()
        return tid

    def move_team(self, actor: Principal, team_id: str, to_kind: str, to_id: str,
                  note: str | None = None) -> TeamMoved:
        """Move a team to another site, a checkpoint (支援交通卡口) or a district; any open
        stints of its staff end at the old place."""
        now = self._d.clock.now()
        with self._d.uow() as uow:
            team = uow.teams.team(team_id)
            if team is None:
                raise NotFound("no such team", code="unknown_team", field="team_id")
            authorize(actor, Action.MANAGE_TEAMS,
                      self._place(uow, team.place_kind, team.place_id), field="team_id")
            authorize(actor, Action.MANAGE_TEAMS, self._place(uow, to_kind, to_id),
                      field="to_id")
            ended = 0
            for sh in uow.teams.shifts_on([team.place_id]):
                if sh.team_id == team_id:
                    uow.teams.end_shift(sh.id, now, actor.username)
                    ended += 1
            uow.teams.move_team(TeamMove(id=self._d.new_id(), team_id=team_id,
                                         from_kind=team.place_kind, from_id=team.place_id,
                                         to_kind=to_kind, to_id=to_id, note=note,
                                         actor=actor.username, at=now))
            uow.audit_log.append(now, actor.username, "team.move", f"team:{team_id}",
                      {"to": f"{to_kind}:{to_id}", "shifts_ended": ended})
            uow.commit()
            moves = uow.teams.team_moves(team_id)
        return TeamMoved(team_id, to_kind, to_id, ended, moves)

    def teams(self, actor: Principal) -> list[TeamRow]:
        authorize(actor, Action.READ_TEAMS)
        with self._d.uow(readonly=True) as uow:
            teams = uow.teams.all()
            # where each team is, read once for all of them: the sites and the checkpoints
            sites = {x.id: site_target(x) for x in uow.places.sites(
                {t.place_id for t in teams if t.place_kind == "site"})}
            checkpoints = uow.fence.places([("checkpoint", t.place_id) for t in teams
                                      if t.place_kind == "checkpoint"])
        where = {("site", k): v for k, v in sites.items()} | {
            k: Target(region=p.region_code) for k, p in checkpoints.items()}
        return [t for t in teams if allows(actor, Action.READ_TEAMS, where.get(
            (t.place_kind, t.place_id),
            # a place no longer on record is nobody's but the city-wide roles'
            Target(region=t.place_id) if t.place_kind == "region" else Target()))]

    def add_staff(self, actor: Principal, name: str, role: StaffRole,
                  team_id: str | None = None) -> str:
        if not 1 <= len(name.strip()) <= 60:
            raise InvalidInput("name must be 1-60 characters", code="bad_name", field="name")
        now = self._d.clock.now()
        sid = self._d.new_id()
        with self._d.uow() as uow:
            team = None if team_id is None else uow.teams.team(team_id)
            if team_id is not None and team is None:
                raise NotFound("no such team", code="unknown_team", field="team_id")
            # staff outside any team are the city's pool: an administrator's to register
            authorize(actor, Action.REGISTER_STAFF, Target() if team is None else
                      self._place(uow, team.place_kind, team.place_id), field="team_id")
            uow.teams.add_staff(StaffMember(id=sid, name=name.strip(), role=role.value,
                                            team_id=team_id, active=True, created_at=now))
            uow.audit_log.append(now, actor.username, "staff.create", f"staff:{sid}",
                                 {"role": role.value})
            uow.commit()
        return sid

    # -- shifts ------------------------------------------------------------------------------------

    def start_shift(self, actor: Principal, staff_id: str, place_kind: str, place_id: str,
                    window: int | None = None, at: datetime | None = None) -> str:
        """Put a person on (at a window of a site, or with a team at a checkpoint); refused if
        it breaks the daily limit or the rest between stints."""
        now = self._d.clock.now()
        start = at or now
        if start > now + timedelta(minutes=10):
            raise InvalidInput("at must not be in the future", code="future_time", field="at")
        with self._d.uow() as uow:
            person = uow.teams.staff_member(staff_id)
            if person is None or not person.active:
                raise NotFound("no such staff member", code="unknown_staff", field="staff_id")
            authorize(actor, Action.MANAGE_SHIFTS, self._place(uow, place_kind, place_id),
                      field="place_id")
            if window is not None and place_kind == "site":
                site = uow.places.sites([place_id])[0]
                if not 1 <= window <= site.windows:
                    raise InvalidInput(f"window must be 1-{site.windows} at this site",
                                       code="bad_window", field="window")
            check_start(uow.teams.staff_spans(staff_id, start - timedelta(days=1)), start,
                        self._limits)
            shift_id = self._d.new_id()
            uow.teams.add_shift(NewShift(id=shift_id, staff_id=staff_id, place_kind=place_kind,
                                         place_id=place_id, window=window, started_at=start))
            uow.audit_log.append(now, actor.username, "shift.start", f"staff:{staff_id}",
                      {"place": place_id, "window": window})
            uow.commit()
        return shift_id

    def end_shift(self, actor: Principal, staff_id: str, at: datetime | None = None) -> None:
        now = self._d.clock.now()
        with self._d.uow() as uow:
            on = uow.teams.open_shifts([staff_id])
            sh = on[0] if on else None
            if sh is None:
                raise RuleViolation("the person is not on a shift", code="not_on_shift",
                                    field="staff_id")
            authorize(actor, Action.MANAGE_SHIFTS, self._place(uow, sh.place_kind, sh.place_id),
                      field="staff_id")
            end = at or now
            if end < sh.started_at:
                raise InvalidInput("at is before the shift started", code="bad_time",
                                   field="at")
            uow.teams.end_shift(sh.id, end, actor.username)
            uow.audit_log.append(now, actor.username, "shift.end", f"staff:{staff_id}", {})
            uow.commit()

    def team_staff(self, actor: Principal, team_id: str) -> TeamStaff:
        """A team's people: who is on where, their hours today, and when each of the others
        may next start a stint (after their rest, or on the next local day)."""
        now = self._d.clock.now()
        with self._d.uow(readonly=True) as uow:
            team = uow.teams.team(team_id)
            if team is None:
                raise NotFound("no such team", code="unknown_team", field="team_id")
            authorize(actor, Action.READ_TEAM_STAFF,
                      self._place(uow, team.place_kind, team.place_id), field="team_id")
            members = uow.teams.team_staff(team_id)
            ids = [m.id for m in members]
            on = {s.staff_id: s for s in uow.teams.open_shifts(ids)}
            spans = uow.teams.spans_of(ids, now - timedelta(days=1))
        out = []
        for m in members:
            mine = spans.get(m.id, [])
            stint = on.get(m.id)
            out.append(StaffOnTeam(
                staff_id=m.id, name=m.name, role=m.role,
                on_at=None if stint is None else stint.place_id,
                window=None if stint is None else stint.window,
                hours_today=round(worked_on_day(mine, now).total_seconds() / 3600, 2),
                may_start_at=may_start(mine, now, self._limits)))
        return TeamStaff(team=team, as_of=now, staff=out)

    def board(self, actor: Principal, place_id: str) -> ShiftBoard:
        """Who is on at a place, since when, when each must rotate and why (4 h at a window,
        8 h a day), who is due to rotate within 15 minutes or overdue, and staffed windows."""
        now = self._d.clock.now()
        with self._d.uow(readonly=True) as uow:
            authorize(actor, Action.READ_SITE_BOARD, self._board_place(uow, place_id),
                      field="place_id")
            on = uow.teams.shifts_on([place_id])
            spans = uow.teams.spans_of([s.staff_id for s in on], now - timedelta(days=1))
        people = []
        for s in on:
            current = Span(s.started_at, None)
            mine = spans.get(s.staff_id, [current])
            rotate_at, limit = rotation(mine, current, now, self._limits)
            people.append(OnShift(
                staff_id=s.staff_id, name=s.staff_name, role=s.role, team_id=s.team_id,
                window=s.window, on_since=s.started_at,
                hours_this_stint=round((now - s.started_at).total_seconds() / 3600, 2),
                hours_today=round(worked_on_day(mine, now).total_seconds() / 3600, 2),
                rotate_at=rotate_at, rotate_because=limit,
                due_to_rotate=rotate_at - now <= ROTATE_LEAD, overdue=rotate_at <= now))
        windows = sorted({p.window for p in people if p.window is not None})
        return ShiftBoard(
            place_id=place_id, as_of=now, on=people, staffed_windows=windows,
            due_to_rotate=[p.staff_id for p in people if p.due_to_rotate],
            limits=BoardLimits(at_window_h=self._limits.at_window.total_seconds() / 3600,
                               per_day_h=self._limits.per_day.total_seconds() / 3600,
                               rest_min=self._limits.rest.total_seconds() / 60))
