"""The state of a simulated round (``simulate.simulate_round``) and its sim-time arithmetic.

Sim time is seconds after the round's start. ``RoundState`` holds what the parts of the round
share (the loaded city, the tubes and boxes in flight, the tallies for the summary, the action
queue) and places actions on the queue; the parts (``round_city``, ``round_stations``,
``round_labs``) act on it, and ``simulate`` runs the queue.

Imports: standard library, numpy, ``hesuan.bootstrap``, ``hesuan.adapters``, ``hesuan.services``,
``hesuan.domain``, ``hesuan.sim``.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import math
import random
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from hesuan.adapters.clock import FixedClock
from hesuan.adapters.db import bulk
from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.domain.assays import Assay, AssayRef
from hesuan.domain.event_ids import RANDOM_BITS, time_ordered_id
from hesuan.domain.local_time import local
from hesuan.domain.shifts import StaffRole, TeamKind
from hesuan.services.lanes import LaneEvent
from hesuan.services.people_ports import SiteRow
from hesuan.services.sampling import StationEvent
from hesuan.sim.instrument_runs import Shows

__all__ = ["CLOSING_GRACE", "FLUSH", "HOME_AFTER_LANDING_S", "HOUSEKEEPING", "LAB_CORRECTION",
           "LAB_RELEASE", "LAB_RESULT", "LAB_RUN", "LANDING", "OFFICER", "RECALL", "RECEIVE",
           "ROUTINE", "LabRates", "LabState", "RoundState", "SiteState", "opening_seconds"]

# action kinds, in the order they run when due at the same moment
FLUSH, RECEIVE, LAB_RUN, LAB_RESULT, LAB_RELEASE, LAB_CORRECTION, HOUSEKEEPING = range(7)
# why a person is in a site's queue: a routine visit, a recall's re-test, a traveller's test
# on landing
ROUTINE, RECALL, LANDING = 0, 1, 2
#: Windows go on serving the queue this long after closing time.
CLOSING_GRACE = 1800
#: A traveller is home, and may come to a routine visit, this long after landing.
HOME_AFTER_LANDING_S = 6 * 3600.0
#: The city's health officer, who seals a zone and makes teams in the round.
OFFICER = Principal("sim-officer", "sim-officer", Role.HEALTH_OFFICER, "1401")


@dataclass(slots=True)
class SiteState:
    """A routine sampling site in the round: its windows, queue, open tubes and box."""

    idx: int
    id: str
    open_s: int  # opening and closing, seconds after local midnight
    close_s: int
    windows: list[float]  # when each window is next free (sim seconds)
    lab: int
    principal: Principal
    queue: list[tuple[float, int, int]] = field(default_factory=list)  # (time, kind, person)
    events: list[StationEvent | LaneEvent] = field(default_factory=list)
    pool: list[tuple[str, list[int]] | None] = field(default_factory=list)  # per window
    box_code: str | None = None
    box_tubes: list[str] = field(default_factory=list)
    box_first_seal: float | None = None
    next_courier: float = 0.0
    single_only: bool = False  # a first-landing site: a tube of its own for everyone
    # a two-lane site (登记、采样双通道, ``round_stations``): the registrar's tube being filled
    # and the people bound to it so far; who is registered and waiting, bound to which tube
    lanes: bool = False
    registrar_tube: tuple[str, int] | None = None
    bound: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LabRates:
    """The seeded rates of what goes wrong in the lab (``round_labs``)."""

    control_failure: float = 0.02  # a plate's positive control does not amplify
    single_target: float = 0.1  # an infected tube's first run shows one target or grey zone
    stays_single: float = 0.5  # ... and its re-run shows the same again: its people recalled
    rejected_at_receipt: float = 0.002  # a tube refused as its box is scanned in (leaked, ...)
    rejected_at_bench: float = 0.001  # a tube refused as it is taken for a run


@dataclass(slots=True)
class LabState:
    """A lab in the round: the tubes waiting for a plate, and its two users (the one who
    builds and runs plates, the one who reviews and releases them)."""

    id: str
    principal: Principal
    reviewer: Principal
    per_run: int
    waiting: deque[str] = field(default_factory=deque)
    waiting_priority: deque[str] = field(default_factory=deque)
    reruns: deque[str] = field(default_factory=deque)  # back from a run, the same sample
    next_run: float | None = None  # when the next run starts (sim seconds), if one is due
    runs: int = 0  # runs started: names the plates' run files


def opening_seconds(spec: str) -> tuple[int, int]:
    """Opening hours such as ``07:00-21:00`` as seconds after local midnight."""
    a, b = spec.split("-")
    return (int(a[:2]) * 3600 + int(a[3:5]) * 60, int(b[:2]) * 3600 + int(b[3:5]) * 60)


class RoundState:
    """What the parts of a round share, and the round's clock arithmetic."""

    # set by ``RoundCity.load``
    ids: list[str]
    sites: list[SiteState]
    lab_of_district: dict[str, list[int]]  # district code -> indexes of its labs
    labs: list[LabState]
    site_of: np.ndarray  # person -> index of the site serving their grid, -1: none
    key: np.ndarray  # person is in a key group (a single tube)
    student: np.ndarray
    infected: np.ndarray
    recall_state: np.ndarray  # 0 none, 1 to re-test, 2 re-tested
    isolated: np.ndarray  # confirmed positive: no more routine visits
    sampled: np.ndarray
    # set by the run: when each injected fault may happen
    fault_times: dict[str, float]

    def __init__(self, platform: Platform, clock: FixedClock, start: datetime, hours: float,
                 prevalence: float, faults: Sequence[str], seed: int, tick: timedelta,
                 invalid_rate: float, compliance: float,
                 progress: Callable[[float, float], None] | None,
                 lab_rates: LabRates | None = None) -> None:
        self.p = platform
        self.clock = clock
        self.start = start
        self.end_s = hours * 3600.0
        self.tick_s = tick.total_seconds()
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng([seed, 7])
        self.prevalence = prevalence
        self.invalid_rate = invalid_rate
        self.lab_rates = lab_rates or LabRates()
        self.compliance = compliance
        self.faults_wanted = set(faults)
        self.faults: dict[str, int] = dict.fromkeys(faults, 0)
        self.progress = progress
        self.actions: list[tuple[float, int, int, Any]] = []
        self.seq = 0
        self.calls = 0
        self.events_sent = 0
        self.rejected: Counter[str] = Counter()
        self.tube_serial, self.box_serial = bulk.last_serials(platform.engine)
        self.tube_members: dict[str, list[int]] = {}
        self.tube_capacity: dict[str, int] = {}
        self.tube_recall: set[str] = set()  # tubes holding a recall re-sample
        self.tube_landing: set[str] = set()  # tubes of travellers tested on landing
        self.landed_at: dict[int, float] = {}  # traveller -> when they landed (sim seconds)
        self.held_from: dict[int, float] = {}  # person -> since when a zone holds them home
        self.held_until: dict[int, float] = {}  # person -> when their zone ended
        self.door_visits_due = 0  # a door-to-door team's visits planned and not yet made
        self.lane_counts: Counter[str] = Counter()  # the two-lane site: registered, swabbed
        self.tube_priority: set[str] = set()
        self.lost: set[str] = set()
        self.courier = Principal("simcourier", "sim-courier", Role.COURIER)
        self.tubes: Counter[int] = Counter()
        self.routine_pools: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        self.pooled_positive = self.single_positive = self.invalid = 0
        self.recalls_opened = self.recalls_resolved = 0
        self.boxes = 0
        self.alerts = 0
        self.in_flight_boxes = 0
        self.routine_samples = self.infected_routine_samples = 0
        self.lab_batches = 0  # plates on the instrument or waiting for review
        # the bench: each tube's receipt (epoch ms), counted runs and what its last counted
        # run showed; the tallies of plates, runs and releases
        self.received_ms: dict[str, int] = {}
        #: when the pool picked for the round's correction was released (simulated seconds)
        self.correction_released_s: dict[str, float] = {}
        self.tube_runs: Counter[str] = Counter()
        self.tube_last: dict[str, Shows] = {}
        self.assays: dict[AssayRef, Assay] = {}  # the plates' assay versions
        self.seeded_events: Counter[str] = Counter()
        self.plates = self.control_failures = self.late_results = 0
        self.reruns: Counter[str] = Counter()  # tube runs decided re-run, by reason
        self.recalled: Counter[str] = Counter()  # tubes recalled from the bench, by reason
        self.released: Counter[str] = Counter()  # results released by plates, by result
        # specimens rejected, by code; corrections applied (by what they changed), the pools
        # a correction made positive, and the corrections requested and not yet applied
        self.receipt_rejections: Counter[str] = Counter()
        self.bench_rejections: Counter[str] = Counter()
        self.corrections: Counter[str] = Counter()
        self.corrected_to_positive: list[str] = []
        self.corrections_due = 0
        self.now_s = 0.0
        lt = local(start)
        self.start_local_s = lt.hour * 3600 + lt.minute * 60 + lt.second + lt.microsecond / 1e6

    # -- time and actions -----------------------------------------------------------------

    def at(self, s: float) -> datetime:
        return self.start + timedelta(seconds=s)

    def push(self, t: float, kind: int, payload: Any) -> None:
        self.seq += 1
        heapq.heappush(self.actions, (t, kind, self.seq, payload))

    def local_s(self, t: float) -> float:
        """Seconds after local midnight of sim time t (Asia/Shanghai has a fixed offset)."""
        return (self.start_local_s + t) % 86400.0

    def next_open(self, site: SiteState, t: float) -> float:
        """The first moment at or after t when the site is open."""
        ls = self.local_s(t)
        if site.open_s <= ls < site.close_s:
            return t
        wait = (site.open_s - ls) if ls < site.open_s else (86400 - ls + site.open_s)
        return t + wait

    def align(self, t: float) -> float:
        """The first tick boundary at or after t."""
        return math.ceil(t / self.tick_s - 1e-9) * self.tick_s

    def index_of(self, person_id: str) -> int:
        """The round's index of a person (the round's people are in id order)."""
        i = bisect.bisect_left(self.ids, person_id)
        assert i < len(self.ids) and self.ids[i] == person_id, person_id
        return i

    def away(self, person: int, t: float) -> bool:
        """Is ``person`` away at ``t``: a traveller before landing, or on the way home from
        the first-landing site (:data:`HOME_AFTER_LANDING_S`)?"""
        landed = self.landed_at.get(person)
        return landed is not None and t < landed + HOME_AFTER_LANDING_S

    def idle(self) -> bool:
        """Nothing left in flight: no queue, open tube or box, box on the road, lab work,
        correction, recall or door-to-door visit waiting."""
        if (self.in_flight_boxes or self.lab_batches or self.corrections_due
                or self.door_visits_due) or any(
                lab.waiting or lab.waiting_priority or lab.reruns or lab.next_run is not None
                for lab in self.labs):
            return False
        for site in self.sites:
            if (site.queue or site.events or site.box_tubes or any(site.pool)
                    or site.registrar_tube is not None):
                return False
        return not bool((self.recall_state == 1).any())

    def held(self, person: int, t: float) -> bool:
        """Is ``person`` held at home by a sealed zone at ``t`` (sampled at the door)?"""
        since = self.held_from.get(person)
        return since is not None and since <= t < self.held_until.get(person, math.inf)

    def out_and_about(self, person: int, t: float) -> bool:
        """May ``person`` be met out in the city at ``t`` (at a venue, passing a checkpoint):
        not held at home by a zone, not in isolation, not away?"""
        return not (self.held(person, t) or self.isolated[person] or self.away(person, t))

    def door_recall(self, person: int, t: float) -> bool:
        """Plan a recalled person's re-test at home, if a zone holds them there (``True``);
        without a door-to-door team (``round_zones``), they come to their site."""
        return False

    def recall_visit(self, person: int, t: float) -> None:
        """A recalled person comes back for their re-test 1-6 h after ``t``, in their site's
        hours (at home, if a zone holds them there: ``door_recall``)."""
        if self.door_recall(person, t):
            return  # held at home: the door-to-door team comes back for the re-test
        s = int(self.site_of[person])
        if s < 0:
            return
        site = self.sites[s]
        when = t + self.rng.uniform(3600, 6 * 3600)
        ls = self.local_s(when)
        if not site.open_s <= ls < site.close_s - 600:
            when = self.next_open(site, when) + self.rng.uniform(0, 3600)
        heapq.heappush(site.queue, (when, RECALL, person))
        # make sure the site flushes after the visit even once the ticks have run out
        self.flush_at(site, self.align(when + 60))

    def flush_at(self, site: SiteState, t: float) -> None:
        """Make sure the site flushes at tick ``t`` (past the end the ticks are not pre-set)."""
        if t >= self.end_s:
            self.push(t, FLUSH, site.idx)

    def add_site(self, s: SiteRow, *, single_only: bool = False) -> SiteState:
        """Open ``s`` in the round: its windows, a sampler, and a lab of its district (in turn;
        any lab when its district has none)."""
        o, c = opening_seconds(s.opening_hours)
        d_labs = self.lab_of_district.get(s.region_code[:6]) or list(range(len(self.labs)))
        name = f"simsampler{len(self.sites):06d}"
        site = SiteState(len(self.sites), s.id, o, c, [0.0] * s.windows,
                         d_labs[len(self.sites) % len(d_labs)],
                         Principal(name, name, Role.SAMPLER, s.id), single_only=single_only)
        site.pool = [None] * s.windows
        self.sites.append(site)
        return site

    def take_up_team(self, lead: Principal, kind: TeamKind, places: Sequence[tuple[str, str]],
                     name: str, people: Sequence[tuple[str, StaffRole]],
                     ) -> tuple[str, tuple[str, str], list[str]]:
        """The team of ``kind`` an earlier round on the city left at one of ``places`` (else a
        new one at the first, named ``name``), where it is, and the ids of ``people``, by
        name, in their order (those it lacks registered by ``lead``); anyone of it still on a
        stint, from a round stopped in progress, goes off as this round starts."""
        found = next(((t.id, (t.place_kind, t.place_id)) for t in self.p.teams.teams(OFFICER)
                      if t.kind == kind and (t.place_kind, t.place_id) in places), None)
        self.calls += 1
        known: dict[str, str] = {}
        if found is None:
            team, place = self.p.teams.add_team(OFFICER, name, kind, *places[0]), places[0]
        else:
            team, place = found
            for m in self.p.teams.team_staff(OFFICER, team).staff:
                known[m.name] = m.staff_id
                if m.may_start_at is None:
                    self.p.teams.end_shift(lead, m.staff_id, self.at(0.0))
                    self.calls += 1
        self.calls += 1
        ids = [known.get(n) or self.p.teams.add_staff(lead, n, role, team) for n, role in people]
        self.calls += sum(n not in known for n, _ in people)
        return team, place, ids

    def free_staff(self, lead: Principal, team: str, at: datetime) -> set[str]:
        """The people of ``team`` whose rest and day's hours allow a start at ``at``
        (``TeamService.team_staff``; a person may have worked the day's hours in an earlier
        round)."""
        self.calls += 1
        return {m.staff_id for m in self.p.teams.team_staff(lead, team).staff
                if m.may_start_at is not None and m.may_start_at <= at}

    @staticmethod
    def next_free(order: Sequence[str], k: int, free: set[str]) -> str | None:
        """Who of ``order`` takes a stint: the ``k``-th in turn, or the first after them who is
        ``free``; None: nobody may."""
        return next((order[(k + j) % len(order)] for j in range(len(order))
                     if order[(k + j) % len(order)] in free), None)

    def _eid(self, at: datetime) -> str:
        # time-ordered, as a station of ours makes them; from the round's seeded generator
        return time_ordered_id(at, self.rng.getrandbits(RANDOM_BITS))

    def _fault_eid(self, at: datetime, what: str) -> str:
        """An event id for a fault's extra steps, from what they are: the seeded generator's
        draws, and so the rest of the round, stay as they are without the fault."""
        digest = hashlib.blake2b(what.encode(), digest_size=16).digest()
        return time_ordered_id(at, int.from_bytes(digest) >> (128 - RANDOM_BITS))

