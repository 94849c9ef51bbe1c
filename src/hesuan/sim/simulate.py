"""A simulated testing round (``hesuan simulate``): drives the real services, the same calls the
API makes, in accelerated simulated time over a generated city.

The model, a discrete-event simulation on a ``FixedClock`` that is set to each action's time:

* **People** come to the site serving their grid (``city.site_catchments``) once in the round:
  the day is uniform over the cadence, the hour follows a daily curve with a morning and an
  evening peak inside the site's opening hours; about 2.5% never come. Each window serves one
  person per 30-60 s; a registrar binds people to 10-in-1 tubes, key groups (重点人群) and people
  with an open recall get a single tube. Station events (open tube, sample, seal, box, seal box)
  are batched per site per tick and sent through ``SamplingService.submit`` — the batch
  endpoint's semantics.
* **Couriers** call every 30-60 min while a site is open (and once at closing): the site seals
  its partial tubes and its box, the courier hands it over, and after 20-90 min the lab scans it
  in (``DeliveryService``). Sites are served by the labs of their district.
* **Labs** start a run every 30-60 min with up to their capacity's share of waiting tubes
  (priority first); results come out 90-150 min later (``LabService.record``) and fan out.
* **Infections**: ``prevalence`` × people infected, in clusters (a community, a few of its
  households, several members each); a tube is positive when a member is infected, a small
  share of tubes is invalid. Recalled people come back for a single-tube re-test within their
  12 h.
* Every hour: the outbox is delivered, late stages are checked (``AlertService``) and the overdue
  sweep runs (reminders, statuses).
* **Faults** on request, each exactly once: ``lost_tube`` (a sealed tube never boxed),
  ``box_missing_tube`` (the lab finds one tube fewer than packed), ``unknown_result`` (a lab
  reports a barcode that does not exist), ``late_courier`` (a box reaches the lab after 4 h).

After the arrivals end, the round drains — couriers, labs and recalls go on until nothing is in
flight — so the reconciliation holds exactly the injected faults and nothing else.

Imports: standard library, numpy, ``hesuan.bootstrap``, ``hesuan.adapters``, ``hesuan.config``,
``hesuan.services``, ``hesuan.domain``, ``hesuan.sim``.
"""

from __future__ import annotations

import gc
import heapq
import math
import random
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from hesuan.adapters.clock import FixedClock
from hesuan.adapters.db import bulk
from hesuan.bootstrap import Platform
from hesuan.config import Settings
from hesuan.domain.access import Principal, Role
from hesuan.domain.errors import NotFound
from hesuan.domain.event_ids import RANDOM_BITS, time_ordered_id
from hesuan.domain.local_time import local, local_date, midnight_of
from hesuan.domain.people import SINGLE_TUBE_GROUPS
from hesuan.domain.pooling import Estimate, PoolCounts, estimate_prevalence
from hesuan.domain.sampling import make_box_code, make_tube_barcode
from hesuan.services.auth import SYSTEM
from hesuan.services.lab import ResultInput
from hesuan.services.ports import OutboxMessage
from hesuan.services.sampling import EventKind, StationEvent
from hesuan.sim.city import CATCHMENT_KINDS, site_catchments

__all__ = ["FAULTS", "CountingSender", "NoCity", "RoundSummary", "default_round_start",
           "simulate_round", "simulation_settings"]

FAULTS: tuple[str, ...] = ("lost_tube", "box_missing_tube", "unknown_result", "late_courier")
#: Which reconciliation lists each fault must show up in (one item each).
FAULT_RECONCILE: dict[str, tuple[str, ...]] = {
    "lost_tube": ("sampled_not_boxed",),
    "box_missing_tube": ("box_discrepancies", "missing_from_received_boxes"),
    "unknown_result": ("results_for_unknown_tubes",),
    "late_courier": ("late_boxes",),
}
POOL = 10
CADENCE_H = 72


def simulation_settings(settings: Settings) -> Settings:
    """Settings for a simulated round: the SMS rate limit paces a real gateway in real time, so
    it is lifted (the simulator's sender sends nothing; simulated time runs far faster)."""
    return settings.model_copy(update={"sms_rate_per_s": 10_000.0})


class NoCity(NotFound):
    """The database has no generated city to simulate."""

    default_code = "no_city"


def default_round_start(today: date | None = None) -> datetime:
    """Local (Asia/Shanghai) midnight four days ago, as UTC: a 72 h round and its drain end
    before now, so the demo shows the last round."""
    day = today or local_date(datetime.now(UTC))
    return midnight_of(day - timedelta(days=4)).astimezone(UTC)


class CountingSender:
    """The ``Sender`` port for the simulator: counts messages by template, sends nothing."""

    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()

    def send(self, phone: str | None, text: str, message: OutboxMessage) -> None:
        self.sent[message.template] += 1


@dataclass(slots=True)
class _Site:
    idx: int
    id: str
    open_s: int  # opening and closing, seconds after local midnight
    close_s: int
    windows: list[float]  # when each window is next free (sim seconds)
    lab: int
    principal: Principal
    queue: list[tuple[float, int, int]] = field(default_factory=list)  # (time, kind, person)
    events: list[StationEvent] = field(default_factory=list)
    pool: list[tuple[str, list[int]] | None] = field(default_factory=list)  # per window
    box_code: str | None = None
    box_tubes: list[str] = field(default_factory=list)
    box_first_seal: float | None = None
    next_courier: float = 0.0


@dataclass(slots=True)
class _Lab:
    id: str
    principal: Principal
    per_run: int
    waiting: deque[str] = field(default_factory=deque)
    waiting_priority: deque[str] = field(default_factory=deque)
    run_scheduled: bool = False


@dataclass(slots=True)
class RoundSummary:
    """What happened in the round (the summary table is made from this)."""

    start: datetime
    end: datetime
    drained_until: datetime
    people: int
    people_due: int
    sampled: int
    infected: int
    infected_sampled: int
    tubes: dict[int, int]
    pooled_positive: int
    single_positive: int
    invalid_tubes: int
    recalls_opened: int
    recalls_resolved: int
    boxes: int
    events_sent: int
    events_rejected: Counter[str]
    calls: int
    messages: Counter[str]
    alerts_raised: int
    alerts_by_kind: Counter[str]
    faults: dict[str, int]
    reconcile_counts: dict[str, int]
    expected_reconcile: dict[str, int]
    turnaround: dict[str, Any]
    wall_seconds: float
    routine_pools: dict[int, tuple[int, int]] = field(default_factory=dict)
    routine_samples: int = 0
    infected_routine_samples: int = 0

    @property
    def coverage(self) -> float:
        return self.sampled / self.people_due if self.people_due else 0.0

    @property
    def true_prevalence(self) -> float | None:
        """Infected share of the routine samples (what the pool estimate aims at)."""
        return (self.infected_routine_samples / self.routine_samples
                if self.routine_samples else None)

    def estimate(self) -> Estimate:
        """The pool estimate from this round's routine tubes (as the prevalence report)."""
        return estimate_prevalence(PoolCounts(k, t, x)
                                   for k, (t, x) in sorted(self.routine_pools.items()))

    @property
    def reconcile_matches(self) -> bool:
        return self.reconcile_counts == self.expected_reconcile

    def as_dict(self) -> dict[str, Any]:
        est = self.estimate()
        return {
            "start": self.start.isoformat(), "end": self.end.isoformat(),
            "drained_until": self.drained_until.isoformat(), "people": self.people,
            "people_due": self.people_due, "sampled": self.sampled,
            "coverage": round(self.coverage, 4), "infected": self.infected,
            "infected_sampled": self.infected_sampled,
            "tubes": {str(k): v for k, v in sorted(self.tubes.items())},
            "pooled_positive": self.pooled_positive, "single_positive": self.single_positive,
            "invalid_tubes": self.invalid_tubes, "recalls_opened": self.recalls_opened,
            "recalls_resolved": self.recalls_resolved, "boxes": self.boxes,
            "events_sent": self.events_sent, "events_rejected": dict(self.events_rejected),
            "service_calls": self.calls, "messages": dict(self.messages),
            "alerts_raised": self.alerts_raised, "alerts_by_kind": dict(self.alerts_by_kind),
            "faults": self.faults, "reconcile_counts": self.reconcile_counts,
            "expected_reconcile": self.expected_reconcile,
            "reconcile_matches": self.reconcile_matches,
            "true_prevalence": self.true_prevalence,
            "estimated_prevalence": {"p_hat": est.p_hat, "ci95": [est.lower, est.upper],
                                     "method": est.method},
            "routine_samples": self.routine_samples,
            "infected_routine_samples": self.infected_routine_samples,
            "routine_pools": {str(k): {"tested": t, "positive": x}
                              for k, (t, x) in sorted(self.routine_pools.items())},
            "turnaround_since_first_sample": self.turnaround.get("since_first_sample", {}),
            "wall_seconds": round(self.wall_seconds, 2),
        }


def _hours(spec: str) -> tuple[int, int]:
    a, b = spec.split("-")
    return (int(a[:2]) * 3600 + int(a[3:5]) * 60, int(b[:2]) * 3600 + int(b[3:5]) * 60)


# action kinds, in the order they run when due at the same moment
_FLUSH, _RECEIVE, _LAB_RUN, _LAB_RESULT, _HOUSEKEEPING = range(5)
# arrival kinds
_ROUTINE, _RECALL = 0, 1
#: Windows go on serving the queue this long after closing time.
_CLOSING_GRACE = 1800


class _Round:
    def __init__(self, platform: Platform, clock: FixedClock, start: datetime, hours: float,
                 prevalence: float, faults: Sequence[str], seed: int, tick: timedelta,
                 invalid_rate: float, compliance: float,
                 progress: Callable[[float, float], None] | None) -> None:
        self.p = platform
        self.clock = clock
        self.start = start
        self.end_s = hours * 3600.0
        self.tick_s = tick.total_seconds()
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng([seed, 7])
        self.prevalence = prevalence
        self.invalid_rate = invalid_rate
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
        self.lab_batches = 0
        self.now_s = 0.0
        lt = local(start)
        self.start_local_s = lt.hour * 3600 + lt.minute * 60 + lt.second + lt.microsecond / 1e6

    # -- the world ------------------------------------------------------------------------

    def load(self) -> None:
        roster = bulk.read_roster(self.p.engine)
        self.ids = [r[0] for r in roster]
        n = len(self.ids)
        sites = [s for s in self.p.places.sites() if s.status == "open"]
        labs = self.p.places.labs(SYSTEM)
        if not labs or not self.ids:
            raise NoCity("the database holds no city (people and labs): run "
                         "`hesuan city generate` first")
        catch = site_catchments(sorted({r[1] for r in roster}),
                                [(s.id, s.kind, s.region_code) for s in sites])
        routine = [s for s in sites if s.kind in CATCHMENT_KINDS]
        lab_of_district: dict[str, list[int]] = defaultdict(list)
        for i, lab in enumerate(labs):
            lab_of_district[str(lab["region_code"])[:6]].append(i)
        self.labs: list[_Lab] = []
        for lab in labs:
            cap = int(str(lab["daily_capacity"]))
            name = f"simlab{len(self.labs):04d}"
            self.labs.append(_Lab(str(lab["id"]), Principal(name, name, Role.LAB, str(lab["id"])),
                                  per_run=max(96, cap // 32)))
        self.sites: list[_Site] = []
        site_index: dict[str, int] = {}
        for s in routine:
            o, c = _hours(s.opening_hours)
            d_labs = lab_of_district.get(s.region_code[:6]) or list(range(len(labs)))
            site = _Site(len(self.sites), s.id, o, c, [0.0] * s.windows,
                         d_labs[len(self.sites) % len(d_labs)],
                         Principal(f"simsampler{len(self.sites):06d}",
                                   f"simsampler{len(self.sites):06d}", Role.SAMPLER, s.id))
            site.pool = [None] * s.windows
            site_index[s.id] = site.idx
            self.sites.append(site)
        self.site_of = np.full(n, -1, dtype=np.int32)
        self.key = np.zeros(n, dtype=bool)
        self.student = np.zeros(n, dtype=bool)
        household = np.empty(n, dtype=np.int64)
        community = np.empty(n, dtype=np.int64)
        hh_codes: dict[str | None, int] = {}
        comm_codes: dict[str, int] = {}
        key_groups = {g.value for g in SINGLE_TUBE_GROUPS}
        for i, (pid, grid, hh, groups) in enumerate(roster):
            sid = catch.get(grid)
            self.site_of[i] = -1 if sid is None else site_index[sid]
            if groups:
                gs = groups.split(",")
                self.key[i] = not key_groups.isdisjoint(gs)
                self.student[i] = "teacher_student" in gs
            household[i] = hh_codes.setdefault(hh if hh else pid, len(hh_codes))
            community[i] = comm_codes.setdefault(grid[:12], len(comm_codes))
        self.infected = self._infect(household, community)
        self.recall_state = np.zeros(n, dtype=np.int8)  # 0 none, 1 to re-test, 2 re-tested
        self.isolated = np.zeros(n, dtype=bool)  # confirmed positive: no more routine visits
        self.sampled = np.zeros(n, dtype=bool)

    def _infect(self, household: np.ndarray, community: np.ndarray) -> np.ndarray:
        """``prevalence`` × people infected, clustered by community and household."""
        n = household.shape[0]
        infected = np.zeros(n, dtype=bool)
        target = round(self.prevalence * n)
        if target <= 0:
            return infected
        members: dict[int, list[int]] = defaultdict(list)
        for i, h in enumerate(household.tolist()):
            members[h].append(i)
        by_comm: dict[int, list[int]] = defaultdict(list)
        for h, people in members.items():
            by_comm[int(community[people[0]])].append(h)
        count = 0
        rng = self.rng
        while count < target:
            comm = int(community[rng.randrange(n)])  # communities weighted by their size
            for h in rng.sample(by_comm[comm], min(len(by_comm[comm]), rng.randint(1, 3))):
                people = members[h]
                hit = [i for i in people if rng.random() < 0.5] or [rng.choice(people)]
                for i in hit:
                    if count < target and not infected[i]:
                        infected[i] = True
                        count += 1
        return infected

    def schedule_arrivals(self) -> int:
        """Each person's routine visits in the round, by their group's cadence (DESIGN.md
        defaults: key groups daily, returning students and teachers every 36 h, everyone else
        every 72 h); returns the people due in the simulated window."""
        n = len(self.ids)
        r = self.np_rng
        days = max(1, math.ceil(CADENCE_H / 24))
        visits = np.where(self.key, days, np.where(self.student, 2, 1))
        first = np.where(self.key, 0, r.integers(0, days, size=n) % (days - visits + 1))
        comes = r.random(n) < self.compliance
        local_midnight = midnight_of(local_date(self.start))
        offset = (local_midnight - self.start).total_seconds()
        is_due = np.zeros(n, dtype=bool)
        for j in range(days):
            mix = r.random(n)
            hour = np.where(mix < 0.3, r.normal(8.0, 1.0, n),
                            np.where(mix < 0.65, r.uniform(9.0, 17.0, n),
                                     r.normal(19.0, 1.2, n)))
            sec = (hour * 3600.0).tolist()
            fallback = r.random(n).tolist()
            day = (first + j).tolist()
            for i in np.flatnonzero(visits > j).tolist():
                s = int(self.site_of[i])
                if s < 0:
                    continue
                site = self.sites[s]
                t_day = sec[i]
                lo, hi = site.open_s, site.close_s - 600
                if not lo <= t_day <= hi:
                    t_day = lo + fallback[i] * (hi - lo)
                t = offset + day[i] * 86400.0 + t_day
                if t < 0.0:  # the round started mid-day: this person's day comes round again
                    t += days * 86400.0
                if t < self.end_s:
                    is_due[i] = True
                    if comes[i]:
                        site.queue.append((t, _ROUTINE, i))
        for site in self.sites:
            heapq.heapify(site.queue)
        return int(is_due.sum())

    # -- time and actions -----------------------------------------------------------------

    def at(self, s: float) -> datetime:
        return self.start + timedelta(seconds=s)

    def push(self, t: float, kind: int, payload: Any) -> None:
        self.seq += 1
        heapq.heappush(self.actions, (t, kind, self.seq, payload))

    def local_s(self, t: float) -> float:
        """Seconds after local midnight of sim time t (Asia/Shanghai has a fixed offset)."""
        return (self.start_local_s + t) % 86400.0

    def next_open(self, site: _Site, t: float) -> float:
        """The first moment at or after t when the site is open."""
        ls = self.local_s(t)
        if site.open_s <= ls < site.close_s:
            return t
        wait = (site.open_s - ls) if ls < site.open_s else (86400 - ls + site.open_s)
        return t + wait

    def run(self) -> float:
        for site in self.sites:
            site.next_courier = self.align(self.next_open(site, 0.0)
                                           + self.rng.uniform(1800, 3600))
        t = self.tick_s
        while t < self.end_s + self.tick_s:
            for site in self.sites:
                self.push(t, _FLUSH, site.idx)
            t += self.tick_s
        h = 3600.0
        while h < self.end_s + 48 * 3600:
            self.push(h, _HOUSEKEEPING, None)
            h += 3600.0
        self.fault_times = {f: self.end_s * frac for f, frac in (
            ("late_courier", 0.2), ("lost_tube", 0.3), ("box_missing_tube", 0.4),
            ("unknown_result", 0.5))}
        # the city held in memory (millions of objects at 5.4 M people) lives to the end of
        # the round: keep it out of the cyclic collector's walks, which otherwise go over all
        # of it again
        gc.collect()
        gc.freeze()
        try:
            last = 0.0
            while self.actions:
                t, kind, _, payload = heapq.heappop(self.actions)
                if t >= self.end_s and kind == _HOUSEKEEPING and self.idle():
                    self.housekeeping(t)
                    last = t
                    break
                self.now_s = t
                self.clock.set(self.at(t))
                if kind == _FLUSH:
                    self.flush(self.sites[payload], t)
                elif kind == _RECEIVE:
                    self.receive(t, *payload)
                elif kind == _LAB_RUN:
                    self.lab_run(self.labs[payload], t)
                elif kind == _LAB_RESULT:
                    self.lab_result(t, *payload)
                else:
                    self.housekeeping(t)
                last = t
                if self.progress is not None and kind == _HOUSEKEEPING:
                    self.progress(min(t, self.end_s), self.end_s)
            return last
        finally:
            gc.unfreeze()

    def idle(self) -> bool:
        """Nothing left in flight: no queue, open tube or box, box on the road, lab work or
        recall waiting."""
        if self.in_flight_boxes or self.lab_batches or any(
                lab.waiting or lab.waiting_priority or lab.run_scheduled for lab in self.labs):
            return False
        for site in self.sites:
            if site.queue or site.events or site.box_tubes or any(site.pool):
                return False
        return not bool((self.recall_state == 1).any())

    # -- the site -------------------------------------------------------------------------

    def event(self, site: _Site, kind: EventKind, t: float, **kw: Any) -> None:
        at = self.at(t)
        site.events.append(StationEvent(self._eid(at), kind, site.id, at, **kw))

    def new_tube(self, site: _Site, t: float, mode: int, window: int) -> str:
        self.tube_serial += 1
        barcode = make_tube_barcode(self.tube_serial)
        self.event(site, EventKind.OPEN_TUBE, t, barcode=barcode, mode=mode, window=window + 1)
        self.tube_members[barcode] = []
        self.tube_capacity[barcode] = mode
        self.tubes[mode] += 1
        return barcode

    def serve(self, site: _Site, until: float) -> None:
        """Serve the queue until ``until``: each free window takes the next person."""
        q = site.queue
        while q:
            w = min(range(len(site.windows)), key=site.windows.__getitem__)
            arrival, kind, person = q[0]
            begin = max(arrival, site.windows[w])
            ls = self.local_s(begin)
            if ls >= site.close_s + _CLOSING_GRACE or ls < site.open_s:
                begin = self.next_open(site, begin)
            done = begin + self.rng.uniform(30.0, 60.0)
            if done > until:
                return
            heapq.heappop(q)
            site.windows[w] = done
            if kind == _RECALL and self.recall_state[person] != 1:
                continue  # already re-tested on a routine visit
            if kind == _ROUTINE and self.isolated[person]:
                continue  # confirmed positive: in isolation, not at the site
            self.sample(site, w, person, done)

    def sample(self, site: _Site, w: int, person: int, t: float) -> None:
        code = self.p.deps.codes.sign(self.ids[person])
        single = bool(self.key[person]) or self.recall_state[person] != 0
        if single:
            barcode = self.new_tube(site, t - 20, 1, w)
            self.event(site, EventKind.SAMPLE, t, barcode=barcode, code=code, window=w + 1)
            self.tube_members[barcode].append(person)
            if self.recall_state[person] != 0:  # a re-test for the recall
                self.recall_state[person] = 2
                self.tube_recall.add(barcode)
            else:
                self.routine_samples += 1
                self.infected_routine_samples += bool(self.infected[person])
            self.tube_priority.add(barcode)
            self.sealed(site, barcode, t)
        else:
            cur = site.pool[w]
            if cur is None:
                barcode = self.new_tube(site, t - 20, POOL, w)
                cur = site.pool[w] = (barcode, [])
            barcode, members = cur
            self.event(site, EventKind.SAMPLE, t, barcode=barcode, code=code, window=w + 1)
            members.append(person)
            self.tube_members[barcode].append(person)
            self.routine_samples += 1
            self.infected_routine_samples += bool(self.infected[person])
            if len(members) >= POOL:
                site.pool[w] = None
                self.sealed(site, barcode, t)
        self.sampled[person] = True

    def sealed(self, site: _Site, barcode: str, t: float) -> None:
        """A tube was sealed at t: pack it into the site's box (or lose it, once)."""
        if ("lost_tube" in self.faults_wanted and not self.faults["lost_tube"]
                and t >= self.fault_times["lost_tube"] and self.tube_capacity[barcode] > 1):
            self.faults["lost_tube"] = 1
            self.lost.add(barcode)
            return
        if site.box_code is None:
            self.box_serial += 1
            site.box_code = make_box_code(self.box_serial)
        self.event(site, EventKind.BOX_TUBE, t + 5, barcode=barcode, box_code=site.box_code)
        site.box_tubes.append(barcode)
        if site.box_first_seal is None:
            site.box_first_seal = t

    def submit(self, site: _Site) -> None:
        if not site.events:
            return
        batch, site.events = site.events, []
        for i in range(0, len(batch), 1000):
            part = batch[i:i + 1000]
            outcomes = self.p.sampling.submit(site.principal, part)
            self.calls += 1
            self.events_sent += len(part)
            for o in outcomes:
                if o.status == "rejected":
                    self.rejected[o.reason or "unknown"] += 1

    def align(self, t: float) -> float:
        """The first tick boundary at or after t."""
        return math.ceil(t / self.tick_s - 1e-9) * self.tick_s

    def flush_at(self, site: _Site, t: float) -> None:
        """Make sure the site flushes at tick ``t`` (past the end the ticks are not pre-set)."""
        if t >= self.end_s:
            self.push(t, _FLUSH, site.idx)

    def flush(self, site: _Site, t: float) -> None:
        """End of a tick at a site: its batch of station events goes to the platform (with the
        courier's call, when the courier is due)."""
        if site.next_courier <= t:
            self.courier_call(site, t)
            return
        self.serve(site, t)
        self.submit(site)

    def courier_call(self, site: _Site, t: float) -> None:
        """The courier calls: partial tubes and the box are sealed, the box handed over."""
        self.serve(site, t - 120)
        for w, cur in enumerate(site.pool):
            if cur is not None:
                barcode, _ = cur
                site.pool[w] = None
                self.event(site, EventKind.SEAL_TUBE, t - 90, barcode=barcode)
                self.sealed(site, barcode, t - 90)
        code = site.box_code
        tubes = site.box_tubes
        if code is not None and tubes:
            self.event(site, EventKind.SEAL_BOX, t - 30, box_code=code)
        self.submit(site)
        if code is not None and tubes:
            self.p.delivery.hand_over(self.courier, self._eid(self.at(t)), code, self.at(t))
            self.calls += 1
            self.boxes += 1
            transit = self.rng.uniform(20 * 60, 90 * 60)
            if ("late_courier" in self.faults_wanted and not self.faults["late_courier"]
                    and t >= self.fault_times["late_courier"]):
                self.faults["late_courier"] = 1
                first = site.box_first_seal if site.box_first_seal is not None else t
                transit = max(transit, first + 4.5 * 3600 - t)
            self.in_flight_boxes += 1
            self.push(t + transit, _RECEIVE, (site.lab, code, list(tubes)))
            site.box_code, site.box_tubes, site.box_first_seal = None, [], None
        # the next call: 30-60 min later while open; the last one when the queue at closing
        # time has been served (windows serve up to 30 min past closing); on tick boundaries
        ls = self.local_s(t)
        close_t = t + (site.close_s - ls)  # today's closing time (past once ls >= close)
        final_t = close_t + _CLOSING_GRACE + 300
        nxt = t + self.rng.uniform(1800, 3600)
        if ls < site.open_s or t >= final_t - 1:
            nxt = self.next_open(site, t + 60) + self.rng.uniform(1800, 3600)
        elif nxt >= close_t:
            nxt = final_t
        site.next_courier = self.align(nxt)
        if site.next_courier < self.end_s + 48 * 3600:
            self.flush_at(site, site.next_courier)

    def _eid(self, at: datetime) -> str:
        # time-ordered, as a station of ours makes them; from the round's seeded generator
        return time_ordered_id(at, self.rng.getrandbits(RANDOM_BITS))

    # -- delivery and the lab -------------------------------------------------------------

    def receive(self, t: float, lab_idx: int, code: str, tubes: list[str]) -> None:
        lab = self.labs[lab_idx]
        scanned = list(tubes)
        if ("box_missing_tube" in self.faults_wanted and not self.faults["box_missing_tube"]
                and t >= self.fault_times["box_missing_tube"] and len(scanned) >= 2):
            self.faults["box_missing_tube"] = 1
            scanned.pop()
        self.p.delivery.receive(lab.principal, self._eid(self.at(t)), lab.id, code, self.at(t),
                                tube_barcodes=scanned)
        self.calls += 1
        self.in_flight_boxes -= 1
        for bc in scanned:
            (lab.waiting_priority if bc in self.tube_priority else lab.waiting).append(bc)
        if not lab.run_scheduled:
            lab.run_scheduled = True
            self.push(t + self.rng.uniform(300, 1800), _LAB_RUN, lab_idx)

    def lab_run(self, lab: _Lab, t: float) -> None:
        batch: list[str] = []
        while len(batch) < lab.per_run and (lab.waiting_priority or lab.waiting):
            batch.append((lab.waiting_priority or lab.waiting).popleft())
        lab_idx = self.labs.index(lab)
        if batch:
            self.lab_batches += 1
            self.push(t + self.rng.uniform(90 * 60, 150 * 60), _LAB_RESULT, (lab_idx, batch))
        if lab.waiting or lab.waiting_priority:
            self.push(t + self.rng.uniform(1800, 3600), _LAB_RUN, lab_idx)
        else:
            lab.run_scheduled = False

    def lab_result(self, t: float, lab_idx: int, batch: list[str]) -> None:
        lab = self.labs[lab_idx]
        self.lab_batches -= 1
        items: list[ResultInput] = []
        outcomes: list[tuple[str, str]] = []
        for bc in batch:
            members = self.tube_members[bc]
            if any(self.infected[m] for m in members):
                res = "positive"
                ct = {"ORF1ab": round(self.rng.uniform(18, 35), 1),
                      "N": round(self.rng.uniform(18, 35), 1)}
            elif self.rng.random() < self.invalid_rate:
                res, ct = "invalid", None
            else:
                res, ct = "negative", None
            items.append(ResultInput(bc, res, ct))
            outcomes.append((bc, res))
        if ("unknown_result" in self.faults_wanted and not self.faults["unknown_result"]
                and t >= self.fault_times["unknown_result"]):
            self.faults["unknown_result"] = 1
            items.append(ResultInput(make_tube_barcode(999_999_000_000 + self.tube_serial % 1000),
                                     "negative"))
        for i in range(0, len(items), 5000):
            self.p.lab.record(lab.principal, lab.id, items[i:i + 5000])
            self.calls += 1
        for bc, res in outcomes:
            self.after_result(bc, res, t)

    def after_result(self, bc: str, res: str, t: float) -> None:
        members = self.tube_members[bc]
        cap = self.tube_capacity[bc]
        if bc not in self.tube_recall and res != "invalid":
            k = self.routine_pools[len(members)]
            k[0] += 1
            k[1] += res == "positive"
        if res == "invalid":
            self.invalid += 1
        elif res == "positive":
            if cap > 1:
                self.pooled_positive += 1
            else:
                self.single_positive += 1
        for m in members:
            if res == "positive" and (cap == 1 or self.recall_state[m] == 2):
                self.isolated[m] = True
            state = int(self.recall_state[m])
            if state == 2 and cap == 1 and res != "invalid":
                self.recall_state[m] = 0  # the re-test answered the recall
                self.recalls_resolved += 1
            elif (res == "positive" and cap > 1) or res == "invalid":
                if state == 0:
                    self.recalls_opened += 1
                self.recall_state[m] = 1
                self.recall_visit(m, t)

    def recall_visit(self, person: int, t: float) -> None:
        s = int(self.site_of[person])
        if s < 0:
            return
        site = self.sites[s]
        when = t + self.rng.uniform(3600, 6 * 3600)
        ls = self.local_s(when)
        if not site.open_s <= ls < site.close_s - 600:
            when = self.next_open(site, when) + self.rng.uniform(0, 3600)
        heapq.heappush(site.queue, (when, _RECALL, person))
        # make sure the site flushes after the visit even once the ticks have run out
        self.flush_at(site, self.align(when + 60))

    # -- housekeeping ---------------------------------------------------------------------

    def housekeeping(self, t: float) -> None:
        while True:
            r = self.p.outbox.deliver(SYSTEM, 5000)
            self.calls += 1
            if r.sent + r.failed < 5000:
                break
        self.alerts += self.p.alerts.check(SYSTEM)
        self.calls += 1
        self.p.status.sweep(SYSTEM)
        self.calls += 1


def simulate_round(platform: Platform, clock: FixedClock, sender: CountingSender,
                   start: datetime, hours: float = 72.0, prevalence: float = 0.001,
                   faults: Sequence[str] = (), seed: int = 1,
                   tick: timedelta = timedelta(minutes=30), invalid_rate: float = 0.0005,
                   compliance: float = 0.975,
                   progress: Callable[[float, float], None] | None = None) -> RoundSummary:
    """Run one simulated round on ``platform`` (bootstrapped with ``clock`` and ``sender``)."""
    unknown = set(faults) - set(FAULTS)
    if unknown:
        raise ValueError(f"unknown faults {sorted(unknown)} (known: {', '.join(FAULTS)})")
    if start.tzinfo is None:
        raise ValueError("start must carry a timezone")
    wall = time.perf_counter()
    clock.set(start)
    r = _Round(platform, clock, start, hours, prevalence, faults, seed, tick, invalid_rate,
               compliance, progress)
    r.load()
    due = r.schedule_arrivals()
    last = r.run()
    clock.set(r.at(last))
    rec = platform.reports.reconcile(SYSTEM, limit=20)
    counts = {k: int(v["count"]) for k, v in rec.items() if isinstance(v, dict) and "count" in v}
    expected = dict.fromkeys(counts, 0)
    for f, n in r.faults.items():
        for key in FAULT_RECONCILE[f]:
            if key in expected:
                expected[key] += n
    alerts = platform.alerts.list(SYSTEM, open_only=False, limit=100_000)
    turnaround = platform.reports.turnaround(SYSTEM, since=start)
    infected_sampled = int((r.infected & r.sampled).sum())
    return RoundSummary(
        start=start, end=r.at(r.end_s), drained_until=r.at(last), people=len(r.ids),
        people_due=due, sampled=int(r.sampled.sum()), infected=int(r.infected.sum()),
        infected_sampled=infected_sampled, tubes=dict(r.tubes),
        pooled_positive=r.pooled_positive, single_positive=r.single_positive,
        invalid_tubes=r.invalid, recalls_opened=r.recalls_opened,
        recalls_resolved=r.recalls_resolved, boxes=r.boxes, events_sent=r.events_sent,
        events_rejected=r.rejected, calls=r.calls, messages=sender.sent,
        alerts_raised=r.alerts, alerts_by_kind=Counter(str(a["kind"]) for a in alerts),
        faults=r.faults, reconcile_counts=counts, expected_reconcile=expected,
        turnaround=turnaround, wall_seconds=time.perf_counter() - wall,
        routine_pools={k: (v[0], v[1]) for k, v in r.routine_pools.items()},
        routine_samples=r.routine_samples, infected_routine_samples=r.infected_routine_samples,
    )
