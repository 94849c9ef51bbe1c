"""Door-to-door sampling teams (上门采样): a team is a mobile site (``SiteKind.DOOR_TO_DOOR``)
assigned to zones or to a list of people (the bedridden, a sealed building, the people a grid
worker marked "needs door-to-door"). Its route lists the households of its assignments with who
is still to be sampled. A household visit in one-tube-per-household mode (一户一管) pools the
household's members into one tube — opened, filled and sealed as the spine's station events, so
the samples flow through the same tube, box, lab and result chain; members who must have a
single tube (key groups, open recalls) get their own, if the team brought single tubes for them.
The team's staff and their shifts are ``services/teams.py``'s.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from hesuan.domain.access import Action, Principal, Target, allows, authorize
from hesuan.domain.errors import InvalidInput, NotFound, RuleViolation
from hesuan.domain.people import SINGLE_TUBE_GROUPS, IdKind, normalise_id_number, parse_groups
from hesuan.domain.sampling import POOL_SIZES, SiteKind, check_tube_barcode
from hesuan.services.context import Deps
from hesuan.services.people_ports import SiteRow
from hesuan.services.ports import UnitOfWork
from hesuan.services.sampling import EventKind, EventOutcome, SamplingService, StationEvent
from hesuan.services.targets import site_target
from hesuan.services.teams_ports import Assignment, HouseholdMember, RouteMember
from hesuan.services.zones_ports import ZoneRecord

__all__ = ["DoorTeamService", "HouseholdVisit", "RejectedEvent", "RouteHousehold", "RoutePerson",
           "SkippedMember", "TeamAssignment", "TeamRoute", "follow_zone", "pool_mode"]

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


def follow_zone(uow: UnitOfWork, parent: ZoneRecord, parts: Sequence[ZoneRecord],
                new_id: Callable[[], str], by: str, now: datetime) -> int:
    """A zone split or shrunk: each door-to-door team's open assignment of it follows onto
    its ``parts`` of the zone's kind (a shrink's one part), begun when the assignment was (who
    the team sampled since stays sampled), and is closed on the old zone. A part of another
    kind is left for an officer to assign; a zone lifted or expired (no parts) closes them. How
    many assignments followed."""
    kept = [z for z in parts if z.kind == parent.kind]
    followed = uow.teams.zone_assignments(parent.id)
    for a in followed:
        for z in kept:
            uow.teams.add_assignment(replace(a, id=new_id(), zone_id=z.id, note=(
                f"follows zone {parent.id}")), [])
        uow.teams.close_assignment(a.id, now)
        uow.audit_log.append(now, by, "team.assignment_follows", f"site:{a.site_id}",
                             {"assignment": a.id, "zone": parent.id,
                              "into": [z.id for z in kept]})
    return len(followed)


class DoorTeamService:
    def __init__(self, deps: Deps, sampling: SamplingService) -> None:
        self._d = deps
        self._sampling = sampling

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
                # a zone of another region is no one's to give this team, as if none were
                if z is None or z.status != "active" or not all(
                        allows(actor, Action.ASSIGN_TEAM, Target(region=a.region_code))
                        for a in z.areas):
                    raise NotFound("zone_id: no such active zone", code="unknown_zone",
                                   field="zone_id")
            homes = uow.people.home_grids(person_ids) if person_ids else {}
            # someone the assigner may not know of is answered as no one at all
            missing = [p for p in person_ids if p not in homes or not allows(
                actor, Action.ASSIGN_TEAM, Target(region=homes[p]))]
            if missing:
                raise NotFound(f"person_ids: no such person {missing[0]}",
                               code="unknown_person", field="person_ids")
            n = uow.teams.add_assignment(Assignment(
                id=aid, site_id=site_id, zone_id=zone_id, household_pool=household_pool,
                status="open", note=note, created_by=actor.username, created_at=now),
                list(person_ids))
            if zone_id is not None:  # the zone's people as it stands, whom the route lists
                n = uow.zones.zone_member_counts([zone_id]).get(zone_id, 0)
            uow.audit_log.append(now, actor.username, "team.assign", f"site:{site_id}",
                      {"assignment": aid, "zone": zone_id, "people": n})
            uow.commit()
        return TeamAssignment(aid, site_id, zone_id, n, household_pool)

    def close_assignment(self, actor: Principal, assignment_id: str,
                         site_id: str | None = None) -> None:
        """The team's work on an assignment is done: it leaves the route (``site_id``: the
        team it must be one of)."""
        now = self._d.clock.now()
        with self._d.uow() as uow:
            a = uow.teams.assignment(assignment_id)
            if a is None or (site_id is not None and a.site_id != site_id):
                raise NotFound("no such assignment", code="unknown_assignment",
                               field="assignment_id")
            authorize(actor, Action.CLOSE_ASSIGNMENT,
                      site_target(self._team_site(uow, a.site_id)), field="assignment_id")
            if a.status != "open":
                raise RuleViolation("assignment_id: the assignment is done already",
                                    code="assignment_done", field="assignment_id")
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
