"""A simulated round's answer to a confirmed case: a sealed building and a door-to-door team
(整体封控、划小单元, 上门采样; F16, F17).

At the first hour after the round's first confirmed case (a single tube positive), the health
officer seals the building the case lives in (封控区: a zone over that building of their grid,
for :data:`ZONE_DAYS` days, ``ZoneService.designate``): its people stay home, their status turns
red and they are tested every 24 h. The district's door-to-door team
(``SiteKind.DOOR_TO_DOOR``) is given the zone (``DoorTeamService.assign``), and from
:data:`FIRST_VISIT_AFTER_S` after the designation (when the team is at work), then every day at
09:00, it walks its route (``DoorTeamService.route``): each household one tube (一户一管,
``visit_household``), a tube of their own for members of key groups and with an open recall; a
member in isolation is not at home. A day's work is a new assignment (the route counts who is
sampled since its assignment). The team's tubes go into its box for the courier like any
site's (``round_stations``), and on to the labs.

People held at home miss their routine and recall visits at the sites: a held person recalled
is re-tested by the team, which comes back to the household 1-6 h later in its hours, in a
tube of their own. The round does not end before the team's first day; after the round's
arrivals end the team's days stop, and it comes back only for recalls.

A building an earlier round on the city sealed, whose zone still stands when this round starts,
is carried over: its people are held at home from the start, and the team, whose last
assignment that round left open, is given the zone anew; no other building is sealed then.

Every hour the round runs the scheduled zone changes as the server's scheduler does
(``ZoneService.tick``): a zone whose planned end falls in the round expires then, its people
are free (they come to their sites again; a recalled one is re-tested there), and the team's
assignment is closed.

The round is the same as without a zone until the first case; after it, the team's tubes change
what the labs draw. Where the confirmed case lives outside a building (no address), or the
district has no team, nothing is sealed.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``, ``hesuan.sim``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np

from hesuan.domain.access import Principal, Role
from hesuan.domain.errors import RuleViolation
from hesuan.domain.sampling import SiteKind, make_tube_barcode
from hesuan.domain.zones import Area, ZoneKind
from hesuan.services.door_teams import pool_mode
from hesuan.services.people_ports import SiteRow
from hesuan.services.zones import ZoneInput
from hesuan.sim.round_arrivals import LAND
from hesuan.sim.round_state import FLUSH, OFFICER, SiteState
from hesuan.sim.round_stations import Stations

__all__ = ["ZONE_DAY", "ZONE_HOUSEHOLD", "Outbreak", "ZoneResponse"]

#: The actions of the team's day (its assignment and route) and of one household's visit.
ZONE_DAY = LAND + 1
ZONE_HOUSEHOLD = LAND + 2
#: How long the building stays sealed.
ZONE_DAYS = 7
#: The team's first visit, after the designation, if the team is then at work and this long
#: before it stops; else, and on each day after, at this local hour.
FIRST_VISIT_AFTER_S = 2 * 3600.0
LAST_VISIT_BEFORE_CLOSE_S = 3 * 3600.0
VISIT_HOUR = 9
#: Seconds the team spends at a household.
PER_HOUSEHOLD_S = 180.0


@dataclass(slots=True)
class ZoneResponse:
    """What the round's zone and its team did."""

    zone_id: str | None = None
    carried_over: int = 0  # the zone stood from an earlier round, not designated in this one
    expired: int = 0  # the zone reached its planned end in the round
    people: int = 0  # held at home by the zone
    days: int = 0  # the team's days of visits
    households: int = 0  # household visits
    sampled: int = 0
    tubes: Counter[str] = field(default_factory=Counter)  # household | single

    def as_dict(self) -> dict[str, object]:
        return {"zones": int(self.zone_id is not None and not self.carried_over),
                "carried_over": self.carried_over, "expired": self.expired,
                "people": self.people,
                "days": self.days, "households": self.households, "sampled": self.sampled,
                "tubes": {k: self.tubes[k] for k in ("household", "single") if self.tubes[k]}}


class Outbreak(Stations):
    """The sealed building and the team that samples it."""

    zone_response: ZoneResponse
    _team: SiteState | None
    _assignment: str | None
    _household_of: dict[int, str]  # a held person's household
    _households: dict[str, list[int]]  # the sealed building's households and their people
    _sampled_today: set[int]  # sampled at the door since the day's assignment
    _case_seen: bool  # the first confirmed case was seen: one zone a round at most
    _zone_end_s: float | None  # the zone's planned end

    def outbreak_open(self) -> None:
        """Ready the round's answer (a zone is designated only once a case is confirmed)."""
        self.zone_response = ZoneResponse()
        self._team = None
        self._assignment = None
        self._household_of = {}
        self._households = {}
        self._sampled_today = set()
        self._case_seen = False
        self._zone_end_s = None
        self._carry_over()

    def outbreak_check(self, t: float) -> None:
        """At each hour of the round: seal the first confirmed case's building, once."""
        if self._case_seen or t >= self.end_s:
            return
        confirmed = np.flatnonzero(self.isolated)
        if not confirmed.size:
            return
        self._case_seen = True
        case = self.ids[int(confirmed[0])]
        person = self.p.people.get(OFFICER, case)
        team = self._door_team(person.grid_code)
        building = (person.address or "").partition("号楼")
        if team is None or not building[1]:
            return
        now = self.at(t)
        zone = self.p.zones.designate(OFFICER, ZoneInput(
            f"{building[0]}号楼封控区", ZoneKind.SEALED,
            [Area(person.grid_code, building[0] + building[1])],
            planned_end=now + timedelta(days=ZONE_DAYS), note="confirmed case in the building"))
        self.zone_response.zone_id = zone.id
        self.zone_response.people = zone.people or 0
        self._zone_end_s = t + ZONE_DAYS * 86400.0
        self.calls += 1
        self._team_at_work(team, zone.id, t)

    def _carry_over(self) -> None:
        """A building an earlier round on the city sealed, whose zone still stands: its people
        are held at home from the round's start and the district's team, whose assignment the
        earlier round left open, is given the zone anew for this round; no other building is
        sealed in the round."""
        for z in self.p.zones.list_zones(OFFICER):
            if z.status != "active" or z.kind != ZoneKind.SEALED.value or not z.areas:
                continue
            team = self._door_team(z.areas[0].region_code)
            if team is None:
                continue
            visitor = Principal("sim-door", "sim-door", Role.SAMPLER, team.id)
            left = self.p.door_teams.route(visitor, team.id).assignments
            self.calls += 2
            if not left:
                continue
            for assignment in left:
                self._close(assignment)
                self.calls += 1
            self._case_seen = True
            self.zone_response.zone_id = z.id
            self.zone_response.carried_over = 1
            self.zone_response.people = z.people or 0
            self._zone_end_s = (None if z.planned_end is None
                                else (z.planned_end - self.start).total_seconds())
            self._team_at_work(team, z.id, 0.0)
            return

    def _door_team(self, region_code: str) -> SiteRow | None:
        """The door-to-door team of the district ``region_code`` lies in."""
        return next((s for s in self.p.places.sites() if s.status == "open"
                     and s.kind == SiteKind.DOOR_TO_DOOR.value
                     and s.region_code == region_code[:6]), None)

    def _team_at_work(self, team: SiteRow, zone_id: str, t: float) -> None:
        """The district's team given the zone at ``t``: the people held at home from its
        route, and their households; the team's site joins the round (its ticks, its courier
        from its next opening) and its first day's visits are planned."""
        site = self._team = self.add_site(team)
        self._assignment = self.p.door_teams.assign(OFFICER, team.id, zone_id=zone_id).id
        self.calls += 2
        # the people held at home, and their households, from the team's route
        for h in self.p.door_teams.route(site.principal, site.id).route:
            members = [self.index_of(m.person_id) for m in h.members]
            for i in members:
                self.held_from[i] = t
                if h.household_id is not None:
                    self._household_of[i] = h.household_id
            if h.household_id is not None:
                self._households[h.household_id] = members
        # the team's site joins the round: its ticks, and its courier from its next opening
        tick = self.align(t)
        while tick < self.end_s + self.tick_s:
            self.push(tick, FLUSH, site.idx)
            tick += self.tick_s
        site.next_courier = self.align(self.next_open(site, t) + 1800.0)
        self.flush_at(site, site.next_courier)
        first = t + FIRST_VISIT_AFTER_S
        ls = self.local_s(first)
        if not site.open_s <= ls <= site.close_s - LAST_VISIT_BEFORE_CLOSE_S:
            first += (VISIT_HOUR * 3600.0 - ls) % 86400.0
        self.door_visits_due += 1  # the round does not end before the first day's visits
        self.push(first, ZONE_DAY, True)

    def zone_ended(self, t: float) -> None:
        """At each hour, after the housekeeping's zone changes (``ZoneService.tick``): once the
        round's zone has reached its planned end (and expired) its people are free: the team's
        assignment is closed, and a recalled person is re-tested at their site instead of at
        home."""
        if (self._zone_end_s is None or self.zone_response.expired
                or t < self._zone_end_s):
            return
        self.zone_response.expired = 1
        if self._assignment is not None:
            self._close(self._assignment)
            self._assignment = None
            self.calls += 1
        for i in self.held_from:
            self.held_until[i] = t
            if self.recall_state[i] == 1:
                self.recall_visit(i, t)

    def _close(self, assignment_id: str) -> None:
        """The team's day on the assignment is done; the zone's end may have closed it first."""
        try:
            self.p.door_teams.close_assignment(OFFICER, assignment_id)
        except RuleViolation as exc:
            if exc.code != "assignment_done":
                raise

    def zone_day(self, t: float, first: bool) -> None:
        """The team's day: a new assignment (after the first day), its route, and a visit
        planned to each household with someone to sample; the next day planned while the
        round runs and the zone stands."""
        self.door_visits_due -= first
        if self.zone_response.expired:
            return
        site = self._team
        zone_id = self.zone_response.zone_id
        assert site is not None and zone_id is not None
        if not first:
            assert self._assignment is not None
            self._close(self._assignment)
            self._assignment = self.p.door_teams.assign(OFFICER, site.id, zone_id=zone_id).id
            self._sampled_today.clear()
            self.calls += 2
        self.zone_response.days += 1
        route = self.p.door_teams.route(site.principal, site.id)
        self.calls += 1
        at = t
        for h in route.route:
            if h.to_sample and h.household_id is not None:
                self.door_visits_due += 1
                self.push(at, ZONE_HOUSEHOLD, (h.household_id, False))
                at += PER_HOUSEHOLD_S
        nxt = t + 86400.0 - (self.local_s(t) - VISIT_HOUR * 3600.0) % 86400.0
        if nxt < self.end_s:
            self.push(nxt, ZONE_DAY, False)

    def door_recall(self, person: int, t: float) -> bool:
        """A held person recalled: the team comes back for their re-test 1-6 h later, in its
        hours (as a recalled person comes back to a site)."""
        household = self._household_of.get(person)
        site = self._team
        if site is None or household is None or not self.held(person, t):
            return False
        when = t + self.rng.uniform(3600, 6 * 3600)
        ls = self.local_s(when)
        if not site.open_s <= ls < site.close_s - 600:
            when = self.next_open(site, when) + self.rng.uniform(0, 3600)
        self.door_visits_due += 1
        self.push(when, ZONE_HOUSEHOLD, (household, True))
        return True

    def zone_household(self, t: float, household_id: str, recall: bool) -> None:
        """One household's visit: those at home and not yet sampled on the day's assignment
        (for a ``recall``, those with an open recall); a tube of their own for key groups and
        open recalls, as at a window (``Stations.sample``)."""
        self.door_visits_due -= 1
        site = self._team
        assert site is not None
        if self.zone_response.expired:
            return  # the zone ended: its people come to their sites
        home = [i for i in self._households[household_id] if self.recall_state[i] == 1
                or not (recall or i in self._sampled_today or self.isolated[i])]
        if not home:
            return
        singles = {i: self._barcode() for i in home
                   if self.key[i] or self.recall_state[i] != 0}
        barcode = self._barcode()
        out = self.p.door_teams.visit_household(
            site.principal, site.id, self._eid(self.at(t)), household_id, barcode,
            self.at(t), scanned=[self.p.deps.codes.sign(self.ids[i]) for i in home],
            single_barcodes={self.ids[i]: bc for i, bc in singles.items()})
        self.calls += 1
        # the platform decides the same from its own facts: anything else shows as a rejection
        for reason in [r.reason for r in out.rejected] + [x.reason for x in out.skipped]:
            self.rejected[reason or "unknown"] += 1
        self.zone_response.households += 1
        self.zone_response.sampled += out.sampled
        self._sampled_today.update(home)
        pooled = [i for i in home if i not in singles]
        if pooled:
            self._tube(site, barcode, pooled, t, single=False)
        for i, bc in singles.items():
            self._tube(site, bc, [i], t, single=True)

    # -- helpers -------------------------------------------------------------------------

    def _barcode(self) -> str:
        self.tube_serial += 1
        return make_tube_barcode(self.tube_serial)

    def _tube(self, site: SiteState, barcode: str, members: list[int], t: float, *,
              single: bool) -> None:
        """A tube the team filled and sealed at a door: the round's record of it, and into
        the team's box."""
        mode = 1 if single or len(members) == 1 else pool_mode(len(members))
        self.tube_members[barcode] = list(members)
        self.tube_capacity[barcode] = mode
        self.tubes[mode] += 1
        self.zone_response.tubes["single" if single else "household"] += 1
        for i in members:
            self.sampled[i] = True
            if single and self.recall_state[i] == 1:
                self.recall_state[i] = 2
                self.tube_recall.add(barcode)
            else:
                self.routine_samples += 1
                self.infected_routine_samples += bool(self.infected[i])
        if single:
            self.tube_priority.add(barcode)
        self.sealed(site, barcode, t)
