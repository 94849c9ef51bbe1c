"""A simulated testing round (``hesuan simulate``): drives the real services, the same calls the
API makes, in accelerated simulated time over a generated city.

The model, a discrete-event simulation on a ``FixedClock`` that is set to each action's time:

* **People** come to the site serving their grid (``city_plan.site_catchments``) once in the round:
  the day is uniform over the cadence, the hour follows a daily curve with a morning and an
  evening peak inside the site's opening hours; about 2.5% never come. Each window serves one
  person per 30-60 s; a registrar binds people to 10-in-1 tubes, key groups (重点人群) and people
  with an open recall get a single tube. Station events (open tube, sample, seal, box, seal box)
  are batched per site per tick and sent through ``SamplingService.submit`` — the batch
  endpoint's semantics. The site whose lead signs in (else the busiest) runs two lanes: its
  registrar binds people to tubes as they come, its windows swab them
  (``LaneService.submit``).
* **Couriers** call every 30-60 min while a site is open (and once at closing): the site seals
  its partial tubes and its box, the courier hands it over, and after 20-90 min the lab scans it
  in (``DeliveryService``). Sites are served by the labs of their district.
* **Labs** start a run every 30-60 min with up to their capacity's share of waiting tubes
  (re-runs, then priority tubes first) on plates of 96 wells with the assay's controls
  (``PlateService``); 90-150 min later each plate's instrument export file is imported
  (``RunService.import_run``), and 10-30 min after that a second lab user releases it
  (``RunService.release``): the results fan out. Seeded rates of control failures (the plate's
  tubes re-run), single-target or grey-zone results (re-run, then recalled if they stay so) and
  failed internal controls (``round_labs``); seeded shares of tubes rejected at receipt and at
  the bench (their people recalled), and once a round a negative pool corrected to positive by
  the lab's reviewer and approved by its other user.
* **Infections**: ``prevalence`` × people infected, in clusters (a community, a few of its
  households, several members each); a tube amplifies when a member is infected, and a small
  share of tubes' internal controls fail (``invalid_rate``). Recalled people come back for a
  single-tube re-test within their 12 h.
* **Travellers** land at the first-landing sites day and night, are registered at the
  checkpoint and tested on landing in a tube of their own (``round_arrivals``).
* **Shifts**: the two-lane site's staff rotate every 4 h at its windows and registrar's lane
  (``round_shifts``).
* **A sealed building**: after the first confirmed case the officer seals the building the
  case lives in, and the district's door-to-door team samples it household by household
  (``round_zones``).
* Every hour: the city's housekeeping runs as the server's scheduler runs it
  (``services/housekeeping``: the overdue sweep with its reminders, late stages checked, the
  outbox delivered, zone changes, the roster's coverage snapshot refreshed, a retention pass
  and a signed checkpoint of the audit chain); while the venues are open, a few people show
  their status pass at the city's venue (``round_venues``); a few pass the city's checkpoint,
  where a support team is sent once a building is sealed, and the grid workers take up the fence
  alerts (``round_checkpoints``); at 18:00 each grid's worker calls the first outstanding
  people of their roster and records how each answered (``round_rosters``).
* **Faults** on request, each exactly once: ``lost_tube`` (a sealed tube never boxed),
  ``box_missing_tube`` (the lab finds one tube fewer than packed, declares it missing and its
  people are recalled), ``unknown_result`` (a lab
  reports a barcode that does not exist), ``late_courier`` (a box reaches the lab after 4 h),
  ``miscounted_box`` (a tube scanned into a box is left on the table: the courier's count is
  refused, and the site reopens the box, puts the tube in and seals it again).

After the arrivals end, the round drains — couriers, labs and recalls go on until nothing is in
flight — so the reconciliation holds exactly the injected faults, the results a re-run or a
rejection at the bench took past the lab's receipt-to-release target, and the pool the round's
correction made positive (its members re-test negative: a pool for review), and nothing else;
rejected tubes are neither missing nor waiting for a result. Its lab tally (plates, control
failures, re-runs, results released by plates, specimens rejected by stage, corrections by
outcome) equals the round's own; the LIS lab's results, which trace to no run file, are
exactly the round's results released without one (the lab report's integrity list).

Where the parts live: the shared state and sim-time arithmetic in ``round_state``, the city as
the round loads it (sites, labs, people, infections, arrivals) in ``round_city``, the sites and
couriers in ``round_stations``, the labs, results and recalls in ``round_labs``, the lab whose
own system (LIS) reports over MLLP in ``round_lis``, the venue's door in ``round_venues``,
the checkpoint and its support team in ``round_checkpoints``, the grid workers' calls in
``round_rosters``, the travellers landing in
``round_arrivals``, the sealed building and its team in ``round_zones``, the two-lane site's
rota in ``round_shifts``, the summary in ``round_summary``; this module runs the actions in
time order and holds the entry points.

Imports: standard library, ``hesuan.bootstrap``, ``hesuan.adapters``, ``hesuan.config``,
``hesuan.services``, ``hesuan.domain``, ``hesuan.sim``.
"""

from __future__ import annotations

import gc
import heapq
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime, timedelta

from hesuan.adapters.clock import FixedClock
from hesuan.adapters.db import bulk
from hesuan.bootstrap import Platform
from hesuan.config import Settings
from hesuan.domain.audit import Checkpoint
from hesuan.domain.errors import RuleViolation
from hesuan.domain.instants import iso_utc
from hesuan.domain.local_time import local_date, midnight_of
from hesuan.services.auth import SYSTEM
from hesuan.services.elr import ElrDeliveryReport
from hesuan.services.housekeeping import BATCH, HousekeepingReport
from hesuan.services.outbox_ports import (
    LabTally,
    OutboxMessage,
    Reconciliation,
    ReconciliationList,
)
from hesuan.sim.round_arrivals import LAND, FirstLanding
from hesuan.sim.round_checkpoints import Checkpoints
from hesuan.sim.round_city import RoundCity
from hesuan.sim.round_lis import LIS_RESULTS, LisLab, ListenerFactory
from hesuan.sim.round_rosters import Rosters
from hesuan.sim.round_shifts import SHIFT, Shifts
from hesuan.sim.round_state import (
    FLUSH,
    HOUSEKEEPING,
    LAB_CORRECTION,
    LAB_RELEASE,
    LAB_RESULT,
    LAB_RUN,
    RECEIVE,
    LabRates,
)
from hesuan.sim.round_summary import RoundSummary
from hesuan.sim.round_venues import Venues
from hesuan.sim.round_zones import ZONE_DAY, ZONE_HOUSEHOLD, Outbreak

__all__ = ["FAULTS", "CountingSender", "LabRates", "RoundOverlaps", "current_round_start",
           "default_round_start", "simulate_round", "simulation_settings"]

FAULTS: tuple[str, ...] = ("lost_tube", "box_missing_tube", "unknown_result", "late_courier",
                           "miscounted_box")
#: Which reconciliation lists each fault must show up in (one item each).
FAULT_RECONCILE: dict[str, tuple[str, ...]] = {
    "lost_tube": ("sampled_not_boxed",),
    "box_missing_tube": ("box_discrepancies",),  # declared missing: its people recalled
    "unknown_result": ("results_for_unknown_tubes",),
    "late_courier": ("late_boxes",),
    "miscounted_box": (),  # put right at its site before it leaves: nothing to reconcile
}


def simulation_settings(settings: Settings) -> Settings:
    """Settings for a simulated round: the SMS rate limit paces a real gateway in real time, so
    it is lifted (the simulator's sender sends nothing; simulated time runs far faster)."""
    return settings.model_copy(update={"sms_rate_per_s": 10_000.0})


def default_round_start(today: date | None = None) -> datetime:
    """Local (Asia/Shanghai) midnight four days ago, as UTC: a 72 h round and its drain end
    before now, so the demo shows the last round."""
    day = today or local_date(datetime.now(UTC))
    return midnight_of(day - timedelta(days=4)).astimezone(UTC)


def current_round_start(now: datetime) -> datetime:
    """Local midnight of the day before ``now``'s, as UTC: ``now`` falls on the second day of
    a 72 h round, after a full day of sampling (the demo's round, stopped at now)."""
    return midnight_of(local_date(now) - timedelta(days=1)).astimezone(UTC)


class RoundOverlaps(RuleViolation):
    """A round would start before the last tube the database holds was opened."""

    default_code = "round_overlaps"


class CountingSender:
    """The ``Sender`` port for the simulator: counts messages by template, sends nothing."""

    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()

    def send(self, phone: str | None, text: str, message: OutboxMessage) -> None:
        self.sent[message.template] += 1


@dataclass(slots=True)
class Housekept:
    """The city's housekeeping over the round: ticks, the overdue sweep's reminders, coverage
    snapshots refreshed, retention passes and what they forgot (by kind, counts only), audit
    checkpoints signed, and the electronic lab reports delivered to the authority (None: not
    enabled)."""

    ticks: int = 0
    reminders: int = 0
    snapshots_refreshed: int = 0
    retention_passes: int = 0
    forgotten: Counter[str] = field(default_factory=Counter)
    audit_checkpoints: int = 0
    lab_reports: Counter[str] | None = None

    def add(self, r: HousekeepingReport) -> None:
        self.ticks += 1
        self.reminders += r.swept.reminders
        self.snapshots_refreshed += r.snapshot_refreshed
        self.add_checkpoint(r.checkpoint, r.checkpoint_refused)
        self.add_lab_reports(r.elr)
        if r.retention is not None:
            self.retention_passes += 1
            self.forgotten.update({k: n for k, n in r.retention.counts().items() if n})

    def add_lab_reports(self, r: ElrDeliveryReport | None) -> None:
        if r is None:
            return
        if self.lab_reports is None:
            self.lab_reports = Counter()
        self.lab_reports.update(sent=r.sent, failed=r.failed, in_doubt=r.in_doubt)

    def add_checkpoint(self, checkpoint: Checkpoint | None, refused: str | None) -> None:
        if refused is not None:  # the round's own writes break no chain
            raise RuntimeError(f"the audit checkpoint was refused: {refused}")
        self.audit_checkpoints += checkpoint is not None

    def as_dict(self) -> dict[str, object]:
        return {"ticks": self.ticks, "reminders": self.reminders,
                "snapshots_refreshed": self.snapshots_refreshed,
                "retention_passes": self.retention_passes,
                "forgotten": dict(sorted(self.forgotten.items())),
                "audit_checkpoints": self.audit_checkpoints,
                "lab_reports_out": None if self.lab_reports is None else {
                    k: self.lab_reports[k] for k in ("sent", "failed", "in_doubt")}}


class _Round(RoundCity, Outbreak, LisLab, Venues, FirstLanding, Shifts, Checkpoints, Rosters):
    """A round: the city loaded, the people's visits planned, the actions run in time
    order."""

    def run(self, listener: ListenerFactory | None = None, stop_s: float | None = None) -> float:
        """Run the actions in time order until the round has drained, or until ``stop_s``
        (seconds into the round) with whatever is then in flight left as it is."""
        for site in self.sites:
            site.next_courier = self.align(self.next_open(site, 0.0)
                                           + self.rng.uniform(1800, 3600))
        t = self.tick_s
        while t < self.end_s + self.tick_s:
            for site in self.sites:
                self.push(t, FLUSH, site.idx)
            t += self.tick_s
        h = 3600.0
        while h < self.end_s + 48 * 3600:
            self.push(h, HOUSEKEEPING, None)
            h += 3600.0
        self.fault_times = {f: self.end_s * frac for f, frac in (
            ("late_courier", 0.2), ("lost_tube", 0.3), ("box_missing_tube", 0.4),
            ("unknown_result", 0.5), ("miscounted_box", 0.6))}
        # the city held in memory (millions of objects at 5.4 M people) lives to the end of
        # the round: keep it out of the cyclic collector's walks, which otherwise go over all
        # of it again
        gc.collect()
        gc.freeze()
        self.lis_open(listener)
        try:
            last = 0.0
            while self.actions:
                t, kind, _, payload = heapq.heappop(self.actions)
                if stop_s is not None and t > stop_s:
                    break
                if t >= self.end_s and kind == HOUSEKEEPING and self.idle():
                    self.housekeeping(t)
                    self.shifts_close(t)
                    self.checkpoints_close(t)
                    # as the scheduler does when the server stops: the round's last writes
                    # anchored outside the database
                    self.housekept.add_checkpoint(*self.p.housekeeping.checkpoint(SYSTEM))
                    last = t
                    break
                self.now_s = t
                self.clock.set(self.at(t))
                if kind == FLUSH:
                    self.flush(self.sites[payload], t)
                elif kind == RECEIVE:
                    self.receive(t, *payload)
                elif kind == LAB_RUN:
                    self.lab_run(self.labs[payload], t)
                elif kind == LAB_RESULT:
                    self.lab_result(t, *payload)
                elif kind == LAB_RELEASE:
                    self.lab_release(t, *payload)
                elif kind == LAB_CORRECTION:
                    self.lab_correction(t, *payload)
                elif kind == LIS_RESULTS:
                    self.lis_results(t, *payload)
                elif kind == LAND:
                    self.land(t, payload)
                elif kind == ZONE_DAY:
                    self.zone_day(t, payload)
                elif kind == ZONE_HOUSEHOLD:
                    self.zone_household(t, *payload)
                elif kind == SHIFT:
                    self.shift_change(t)
                else:
                    self.housekeeping(t)
                last = t
                if self.progress is not None and kind == HOUSEKEEPING:
                    self.progress(min(t, self.end_s), self.end_s)
            return last
        finally:
            self.lis_close()
            gc.unfreeze()

    # -- housekeeping ---------------------------------------------------------------------

    housekept: Housekept

    def housekeeping(self, t: float) -> None:
        """The hour's housekeeping as the server's scheduler runs it; then the outbox drained
        (a tick sends up to ``BATCH`` messages: the scheduler's next tick is minutes away, the
        round's an hour), and the round's own hourly parts."""
        r = self.p.housekeeping.tick(SYSTEM)
        self.calls += 1
        self.housekept.add(r)
        self.alerts += r.alerts_raised
        sms = r.sms
        while sms.sent + sms.failed >= BATCH:
            sms = self.p.outbox.deliver(SYSTEM, BATCH)
            self.calls += 1
        elr = r.elr
        while self.p.elr is not None and elr is not None and elr.sent + elr.failed >= BATCH:
            elr = self.p.elr.deliver(SYSTEM, BATCH)
            self.housekept.add_lab_reports(elr)
            self.calls += 1
        self.door_checks()
        self.zone_ended(t)
        self.outbreak_check(t)
        self.checkpoint_hour(t)
        self.roster_hour(t)


def simulate_round(platform: Platform, clock: FixedClock, sender: CountingSender,
                   start: datetime, hours: float = 72.0, prevalence: float = 0.001,
                   faults: Sequence[str] = (), seed: int = 1,
                   tick: timedelta = timedelta(minutes=30), invalid_rate: float = 0.0005,
                   compliance: float = 0.975,
                   progress: Callable[[float, float], None] | None = None,
                   lab_rates: LabRates | None = None,
                   lis_listener: ListenerFactory | None = None,
                   stop_at: datetime | None = None) -> RoundSummary:
    """Run one simulated round on ``platform`` (bootstrapped with ``clock`` and ``sender``);
    with ``lis_listener`` (``entrypoints.mllp.MllpListener``) its last lab is a LIS lab that
    reports over MLLP (``round_lis``). With ``stop_at`` the round stops at that instant, in
    progress: queues, tubes, boxes and lab work in flight stay so (the demo stops it at now),
    and its reconciliation is not checked (``RoundSummary.in_progress``)."""
    unknown = set(faults) - set(FAULTS)
    if unknown:
        raise ValueError(f"unknown faults {sorted(unknown)} (known: {', '.join(FAULTS)})")
    if start.tzinfo is None:
        raise ValueError("start must carry a timezone")
    latest = bulk.last_tube_opened(platform.engine)
    if latest is not None and start < latest:
        raise RoundOverlaps(
            f"the database holds tubes opened until {iso_utc(latest)}: a round over hours "
            "already simulated would sample people twice in them; start it after that",
            field="start")
    wall = time.perf_counter()
    clock.set(start)
    before = platform.reports.reconcile(SYSTEM, limit=0)  # what earlier rounds left
    r = _Round(platform, clock, start, hours, prevalence, faults, seed, tick, invalid_rate,
               compliance, progress, lab_rates)
    r.load()
    r.venues_open(seed)
    r.arrivals_open(seed)
    r.outbreak_open()
    r.shifts_open()
    r.checkpoints_open(seed)
    r.housekept = Housekept()
    r.rosters_open(seed)
    unfiled_before = _unfiled(platform)
    due = r.schedule_arrivals()
    stop_s = None if stop_at is None else (stop_at - start).total_seconds()
    last = r.run(lis_listener, stop_s)
    in_progress = stop_s is not None and bool(r.actions)
    clock.set(stop_at if in_progress and stop_at is not None else r.at(last))
    rec = platform.reports.reconcile(SYSTEM, limit=20)
    counts = _list_counts(rec)
    expected = _list_counts(before)
    for f, n in r.faults.items():
        for key in FAULT_RECONCILE[f]:
            if key in expected:
                expected[key] += n
    expected["late_results"] += r.late_results
    # a pool corrected to positive whose members all re-test negative is one for review
    expected["pools_for_review"] += sum(
        not any(r.infected[m] for m in r.tube_members[bc]) for bc in r.corrected_to_positive)
    lab_tally = _tally_since(rec.lab, before.lab)
    # results released without a run file: the LIS lab's, each applied by an AA, and no other
    unfiled = {lab: n - unfiled_before.get(lab, 0) for lab, n in _unfiled(platform).items()
               if n != unfiled_before.get(lab, 0)}
    applied = r.lis.applied.total()
    expected_unfiled = {r.lis.lab_id: applied} if r.lis.lab_id and applied else {}
    rejected = {"receipt": r.receipt_rejections.total(), "bench": r.bench_rejections.total()}
    own_tally = LabTally(r.plates, r.plates, r.control_failures, sum(r.reruns.values()),
                         {k: v for k, v in sorted(r.released.items()) if v},
                         {k: v for k, v in sorted(rejected.items()) if v},
                         {"corrected": r.corrections.total()} if r.corrections else {})
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
        alerts_raised=r.alerts, alerts_by_kind=Counter(a.kind for a in alerts),
        faults=r.faults, reconcile_counts=counts, expected_reconcile=expected,
        turnaround=turnaround.since_first_sample, wall_seconds=time.perf_counter() - wall,
        routine_pools={k: (v[0], v[1]) for k, v in r.routine_pools.items()},
        routine_samples=r.routine_samples, infected_routine_samples=r.infected_routine_samples,
        plates=r.plates, control_failures=r.control_failures, reruns=dict(r.reruns),
        released=dict(r.released), recalled_at_bench=dict(r.recalled),
        late_results=r.late_results, seeded=dict(r.seeded_events),
        rejected_at_receipt=dict(r.receipt_rejections),
        rejected_at_bench=dict(r.bench_rejections), corrections=dict(r.corrections),
        lab_tally=asdict(lab_tally), expected_lab_tally=asdict(own_tally),
        lis=r.lis.as_dict(), unfiled_results=unfiled, expected_unfiled_results=expected_unfiled,
        in_progress=in_progress, door_checks=r.doors.as_dict(), arrivals=r.landings.as_dict(),
        zones=r.zone_response.as_dict(),
        two_lanes={k: r.lane_counts[k] for k in ("registered", "swabbed")},
        shifts=dict(r.shift_counts), checkpoints=r.checkpoint_work.as_dict(),
        housekeeping=r.housekept.as_dict(), rosters=r.roster_calls.as_dict(),
    )


def _unfiled(platform: Platform) -> dict[str, int]:
    """Per lab, the released results no run's well names (its report's integrity list)."""
    return {x.lab_id: x.integrity.results_without_run_file.count
            for x in platform.lab_reports.reports(SYSTEM, limit=1)}


def _list_counts(rec: Reconciliation) -> dict[str, int]:
    return {f.name: v.count for f in fields(rec)
            if isinstance(v := getattr(rec, f.name), ReconciliationList)}


def _tally_since(now: LabTally, before: LabTally) -> LabTally:
    """What the lab stage did between two tallies."""

    def since(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
        return {k: n - b.get(k, 0) for k, n in sorted(a.items()) if n != b.get(k, 0)}

    return LabTally(now.plates - before.plates, now.plates_released - before.plates_released,
                    now.control_failures - before.control_failures,
                    now.reruns - before.reruns, since(now.released, before.released),
                    since(now.rejected, before.rejected),
                    since(now.corrections, before.corrections))
