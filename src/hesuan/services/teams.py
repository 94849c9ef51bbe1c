"""Door-to-door sampling teams (上门采样), and staff, teams and shifts (F17 轮岗调休).

Door-to-door: a team is a mobile site (``SiteKind.DOOR_TO_DOOR``) assigned to zones or to a list
of people (the bedridden, a sealed building, the people a grid worker marked "needs
door-to-door"). Its route lists the households of its assignments with who is still to be
sampled. A household visit in one-tube-per-household mode (一户一管) pools the household's
members into one tube — opened, filled and sealed as the spine's station events, so the samples
flow through the same tube, box, lab and result chain; members who must have a single tube (key
groups, open recalls) get their own, if the team brought single tubes for them.

Staff and shifts: staff belong to teams; a team is at a place (a site, a checkpoint or a
district) and a health officer moves it, with history. A stint at a window starts and ends;
the limits of ``domain.shifts`` (4 h at a window, 8 h a day, rest between) are enforced when a
stint starts, and the site lead's board shows who is on and who is due to rotate.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from hesuan.domain.access import Action, Principal, Target, allows, authorize
from hesuan.domain.errors import InvalidInput, NotFound, RuleViolation
from hesuan.domain.people import SINGLE_TUBE_GROUPS, IdKind, normalise_id_number, parse_groups
from hesuan.domain.sampling import POOL_SIZES, SiteKind, check_tube_barcode
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
from hesuan.services.people_ports import SiteRow
from hesuan.services.ports import UnitOfWork
from hesuan.services.sampling import EventKind, EventOutcome, SamplingService, StationEvent
from hesuan.services.targets import site_target
from hesuan.services.teams_ports import (
    Assignment,
    HouseholdMember,
    NewShift,
    RouteMember,
    StaffMember,
    TeamMove,
    TeamRow,
)

__all__ = ["PLACE_KINDS", "BoardLimits", "HouseholdVisit", "OnShift", "RejectedEvent",
           "RouteHousehold", "RoutePerson", "ShiftBoard", "SkippedMember", "StaffOnTeam",
           "TeamAssignment", "TeamMoved", "TeamRoute", "TeamService", "TeamStaff", "pool_mode"]

PLACE_KINDS = ("site", "checkpoint", "region")
_NS = uuid.UUID("0b8e7c55-3f0d-4a8e-9a57-6a1f3b2c9d40")


def pool_mode(members: int) -> int:
    """The smallest pool size holding a household of ``members`` (at most 20)."""
    for k in POOL_SIZES:
        if k >= members:
            return k
    raise RuleViolation("a household of more than 20 people needs several tubes",
                        code="household_too_large", field="household_id")


def _id(event_id: str, what: str) -> str:
    return str(uuid.uuid5(_NS, f"{event_id}:{what}"))


@dataclass(frozen=True, slots=True)
class TeamAssignment:
    """A door-to-door team's new assignment: a zone's people or a list, how many people."""

    id: str
    site_id: str
    zone_id: str | None
    people: int
    household_pool: bool


@dataclass(frozen=True, slots=True)
class RoutePerson:
    """A member of a household on the route: sampled since the assignment, or still to be;
    ``single_tube``: their group or an open recall needs a tube of their own."""

    person_id: str
    name: str
    sampled: bool
    single_tube: bool


@dataclass(frozen=True, slots=True)
class RouteHousehold:
    """A household on the route (someone with no household is one of their own) and how
    many of its members are still to be sampled."""

    household_id: str | None
    grid_code: str
    address: str | None
    members: list[RoutePerson]
    to_sample: int


@dataclass(frozen=True, slots=True)
class TeamRoute:
    """A team's households to visit for its open assignments, in grid and address order."""

    site_id: str
    assignments: list[str]
    households: int
    households_to_visit: int
    people_to_sample: int
    route: list[RouteHousehold]


@dataclass(frozen=True, slots=True)
class SkippedMember:
    """A member present at a visit but not sampled, and why."""

    person_id: str
    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class RejectedEvent:
    """A station event of a visit the sampling rules refused: its reason code and message."""

    reason: str | None
    message: str | None


@dataclass(frozen=True, slots=True)
class HouseholdVisit:
    """One household visited: members sampled into the household's tube and into single
    tubes, those skipped, and whether the visit had been recorded before (``duplicate``)."""

    household_id: str
    pooled: int
    single: int
    sampled: int
    skipped: list[SkippedMember]
    duplicate: bool
    rejected: list[RejectedEvent]


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
    def __init__(self, deps: Deps, sampling: SamplingService,
                 limits: ShiftLimits | None = None) -> None:
        self._d = deps
        self._sampling = sampling
        self._limits = limits or ShiftLimits()

    # -- door-to-door assignments --------------------------------------------------------------

    def _team_site(self, uow: UnitOfWork, site_id: str) -> SiteRow:
        got = uow.places.sites([site_id])
        if not got:
            raise NotFound("site_id: no such site", code="unknown_site", field="site_id")
        if got[0].kind != SiteKind.DOOR_TO_DOOR.value:
            raise RuleViolation("site_id: not a door-to-door team (site kind door_to_door)",
                                code="not_a_team", field="site_id")
        return got[0]

    def assign(self, actor: Principal, site_id: str, *, zone_id: str | None = None,
               person_ids: Sequence[str] = (), household_pool: bool = True,
               note: str | None = None) -> TeamAssignment:
        """Give a door-to-door team a zone (its people, as the zone stands) or a list."""
        if (zone_id is None) == (not person_ids):
            raise InvalidInput("give a zone_id or a list of person_ids (one of them)",
                               code="missing_field", field="zone_id")
        if len(person_ids) > 100_000:
            raise InvalidInput("person_ids: at most 100,000", code="too_many",
                               field="person_ids")
        now = self._d.clock.now()
        aid = self._d.new_id()
        with self._d.uow() as uow:
            site = self._team_site(uow, site_id)
            authorize(actor, Action.ASSIGN_TEAM, site_target(site), field="site_id")
            if zone_id is not None:
                z = uow.zones.zone(zone_id)
                if z is None or z.status != "active":
                    raise NotFound("zone_id: no such active zone", code="unknown_zone",
                                   field="zone_id")
            facts = uow.people.person_facts(person_ids) if person_ids else {}
            missing = [p for p in person_ids if p not in facts]
            if missing:
                raise NotFound(f"person_ids: no such person {missing[0]}",
                               code="unknown_person", field="person_ids")
            n = uow.teams.add_assignment(Assignment(
                id=aid, site_id=site_id, zone_id=zone_id, household_pool=household_pool,
                status="open", note=note, created_by=actor.username, created_at=now),
                list(person_ids))
            uow.audit_log.append(now, actor.username, "team.assign", f"site:{site_id}",
                      {"assignment": aid, "zone": zone_id, "people": n})
            uow.commit()
        return TeamAssignment(aid, site_id, zone_id, n, household_pool)

    def close_assignment(self, actor: Principal, assignment_id: str) -> None:
        now = self._d.clock.now()
        with self._d.uow() as uow:
            a = uow.teams.assignment(assignment_id)
            if a is None:
                raise NotFound("no such assignment", code="unknown_assignment",
                               field="assignment_id")
            authorize(actor, Action.CLOSE_ASSIGNMENT,
                      site_target(self._team_site(uow, a.site_id)), field="assignment_id")
            uow.teams.close_assignment(assignment_id, now)
            uow.audit_log.append(now, actor.username, "team.assignment_done",
                                 f"site:{a.site_id}",
                      {"assignment": assignment_id})
            uow.commit()

    def route(self, actor: Principal, site_id: str) -> TeamRoute:
        """The team's households to visit (open assignments), in grid and address order, with
        who is still to be sampled since the assignment."""
        now = self._d.clock.now()
        with self._d.uow() as uow:
            site = self._team_site(uow, site_id)
            authorize(actor, Action.READ_TEAM_ROUTE, site_target(site), field="site_id")
            assignments = uow.teams.assignments(site_id, open_only=True)
            since = min((a.created_at for a in assignments), default=now)
            rows = uow.teams.route([a.id for a in assignments], since)
            uow.audit_log.append(now, actor.username, "team.route", f"site:{site_id}",
                      {"people": len(rows)})
            uow.commit()
        by_household: dict[str, list[RouteMember]] = {}
        for r in rows:
            by_household.setdefault(r.household_id or f"person:{r.person_id}", []).append(r)
        route = [RouteHousehold(
            rs[0].household_id, rs[0].grid_code, rs[0].address,
            [RoutePerson(r.person_id, r.name, r.sampled, bool(
                parse_groups((r.groups or "").split(",")) & SINGLE_TUBE_GROUPS) or r.open_recall)
             for r in rs],
            sum(not r.sampled for r in rs)) for rs in by_household.values()]
        todo = [h for h in route if h.to_sample]
        return TeamRoute(site_id=site_id, assignments=[a.id for a in assignments],
                         households=len(route), households_to_visit=len(todo),
                         people_to_sample=sum(h.to_sample for h in todo), route=route)

    def visit_household(self, actor: Principal, site_id: str, event_id: str,
                        household_id: str, barcode: str, at: datetime, *,
                        scanned: Sequence[str],
                        single_barcodes: Mapping[str, str] | None = None,
                        ) -> HouseholdVisit:
        """One tube per household (一户一管): open a pooled tube sized for the household, sample
        into it the members present, seal it. As at a window, each member sampled is scanned:
        ``scanned`` holds the sampling code (``HS1:``) or resident ID number read for each; a
        household is visited only when it is on the team's open route. Members who need a
        single tube get one from ``single_barcodes`` (person id → barcode) or are reported as
        not sampled. Idempotent by ``event_id``."""
        check_tube_barcode(barcode)
        try:
            uuid.UUID(event_id)
        except ValueError:
            raise InvalidInput("event_id must be a UUID made by the station",
                               code="bad_event_id", field="event_id") from None
        if not scanned:
            raise InvalidInput("scanned: scan the code or ID number of each member sampled",
                               code="missing_field", field="scanned")
        singles = dict(single_barcodes or {})
        now = self._d.clock.now()
        with self._d.uow() as uow:
            site = self._team_site(uow, site_id)
            authorize(actor, Action.VISIT_HOUSEHOLD, site_target(site), field="site_id")
            by_person = dict(self._scanned_member(uow, text) for text in scanned)
            members = uow.teams.household_members(household_id)
            if not members:
                raise NotFound("household_id: no one registered in this household",
                               code="unknown_household", field="household_id")
            members = [m for m in members if m.person_id in by_person]
            if len(members) != len(by_person):
                raise InvalidInput("scanned: someone scanned is not in this household",
                                   code="not_in_household", field="scanned")
            open_ids = [a.id for a in uow.teams.assignments(site_id, open_only=True)]
            on_route = uow.teams.on_route(open_ids, [m.person_id for m in members])
            if len(on_route) != len(members):
                raise RuleViolation("household_id: the household is not on this team's route",
                                    code="not_on_route", field="household_id")
            pooled: list[HouseholdMember] = []
            single: list[HouseholdMember] = []
            skipped: list[SkippedMember] = []
            for m in members:
                needs_single = bool(parse_groups((m.groups or "").split(","))
                                    & SINGLE_TUBE_GROUPS) or m.open_recall
                if not needs_single:
                    pooled.append(m)
                elif m.person_id in singles:
                    single.append(m)
                else:
                    skipped.append(SkippedMember(m.person_id, m.name, "single_tube_required"))
            events: list[StationEvent] = []
            if pooled:
                mode = 1 if len(pooled) == 1 else pool_mode(len(pooled))
                events.append(StationEvent(_id(event_id, "open"), EventKind.OPEN_TUBE, site_id,
                                           at, barcode, mode))
                for m in pooled:
                    events.append(StationEvent(_id(event_id, f"s:{m.person_id}"),
                                               EventKind.SAMPLE, site_id, at, barcode, None,
                                               by_person[m.person_id]))
                if len(pooled) < mode:
                    events.append(StationEvent(_id(event_id, "seal"), EventKind.SEAL_TUBE,
                                               site_id, at, barcode))
            for m in single:
                b = singles[m.person_id]
                events += [
                    StationEvent(_id(event_id, f"o1:{m.person_id}"), EventKind.OPEN_TUBE,
                                 site_id, at, b, 1),
                    StationEvent(_id(event_id, f"s1:{m.person_id}"), EventKind.SAMPLE,
                                 site_id, at, b, None, by_person[m.person_id])]
            outs: list[EventOutcome] = self._sampling.run_in(uow, actor, events, now)
            uow.commit()
        rejected = [o for o in outs if o.status == "rejected"]
        sampled = sum(1 for e, o in zip(events, outs, strict=True)
                      if e.kind is EventKind.SAMPLE and o.status in ("accepted", "duplicate"))
        return HouseholdVisit(
            household_id=household_id, pooled=len(pooled), single=len(single), sampled=sampled,
            skipped=skipped, duplicate=bool(outs) and all(o.status == "duplicate" for o in outs),
            rejected=[RejectedEvent(o.reason, o.message) for o in rejected])

    def _scanned_member(self, uow: UnitOfWork, text: str) -> tuple[str, str]:
        """The person scanned at the door and their sampling code: the code itself, or the
        code of the person a resident ID number belongs to."""
        text = text.strip()  # a scanner's trailing newline or spaces are not the code's
        pid = self._d.codes.verify(text)
        if pid is not None:
            return pid, text
        try:
            number = normalise_id_number(IdKind.RESIDENT, text, today=date.max)
        except InvalidInput:
            number = None
        pid = None if number is None else uow.people.person_id_by_hash(
            self._d.vault.lookup_hash(f"{IdKind.RESIDENT.value}:{number}"))
        if pid is None:
            raise InvalidInput("scanned: not a valid sampling code or a registered ID number",
                               code="unreadable_code", field="scanned")
        return pid, self._d.codes.sign(pid)

    # -- teams and staff -------------------------------------------------------------------------

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
