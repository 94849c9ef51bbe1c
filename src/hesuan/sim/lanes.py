"""A simulated two-lane site (登记、采样双通道), driven through the real lane service, to check the
wait estimate against the simulated truth.

People arrive (Poisson), are registered at once (bound to the current 10-in-1 tube), and wait
for the first free swab window (FIFO); each swab takes 30-60 s. The schedule is computed first
(the truth: when each person is swabbed); then the events are sent to ``LaneService`` in time
order with the platform's clock moved along, and at each probe time the site's published wait
estimate is compared with the wait of a probe person who arrives at that moment.

Imports: standard library, ``hesuan.bootstrap``, ``hesuan.services``, ``hesuan.domain``.
"""

from __future__ import annotations

import heapq
import random
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal
from hesuan.domain.event_ids import RANDOM_BITS, time_ordered_id
from hesuan.domain.sampling import make_tube_barcode
from hesuan.services.lanes import LaneEvent

__all__ = ["LaneProbe", "LaneRun", "simulate_site"]


@dataclass(frozen=True, slots=True)
class LaneProbe:
    at: datetime
    estimate_min: float | None
    truth_min: float
    queue: int | None
    basis: str

    @property
    def error(self) -> float | None:
        if self.estimate_min is None or self.truth_min <= 0:
            return None
        return abs(self.estimate_min - self.truth_min) / self.truth_min


@dataclass(slots=True)
class LaneRun:
    people: int = 0
    swabbed: int = 0
    rejected: int = 0
    probes: list[LaneProbe] = field(default_factory=list)


def _eid(at: datetime) -> str:
    """A station's id for an event at ``at``: time-ordered, as our stations make them."""
    return time_ordered_id(at, secrets.randbits(RANDOM_BITS))


def simulate_site(platform: Platform, actor: Principal, site_id: str, person_ids: Sequence[str],
                  start: datetime, *, windows: int = 2, per_min: float = 3.0,
                  minutes: float = 80, warmup: float = 25, probe_every: float = 5,
                  seed: int = 1, set_clock: Callable[[datetime], None],
                  first_barcode: int = 500_000) -> LaneRun:
    """Run the site from ``start`` for ``minutes`` with ``per_min`` arrivals a minute."""
    rng = random.Random(seed)
    # -- the truth: arrivals, FIFO over windows, swab completions
    arrivals: list[float] = []
    t = 0.0
    while t < minutes * 60 and len(arrivals) < len(person_ids):
        t += rng.expovariate(per_min / 60)
        arrivals.append(t)
    probe_times = [warmup * 60 + k * probe_every * 60
                   for k in range(int((minutes - warmup) // probe_every))]
    # probes are real people too: merge them into the arrival stream
    stream = sorted([(a, False) for a in arrivals] + [(p, True) for p in probe_times])
    stream = stream[:len(person_ids)]
    free: list[tuple[float, int]] = [(0.0, w + 1) for w in range(windows)]
    heapq.heapify(free)
    done: list[tuple[float, int]] = []  # (swab time, window) per person in stream order
    for a, _ in stream:
        at_free, w = heapq.heappop(free)
        finish = max(a, at_free) + rng.uniform(30, 60)
        done.append((finish, w))
        heapq.heappush(free, (finish, w))
    # -- the events, in time order
    serial = first_barcode
    tube = make_tube_barcode(serial)
    bound = 0
    timeline: list[tuple[float, int, LaneEvent]] = []
    for i, ((a, _), (s, w)) in enumerate(zip(stream, done, strict=True)):
        at, sat = start + timedelta(seconds=a), start + timedelta(seconds=s)
        code = platform.deps.codes.sign(person_ids[i])
        if bound == 0:
            timeline.append((a, 0, LaneEvent(_eid(at), "open_tube", site_id, at,
                                             barcode=tube, mode=10, window=1)))
        timeline.append((a, 1, LaneEvent(_eid(at), "register", site_id, at,
                                         barcode=tube, code=code)))
        timeline.append((s, 2, LaneEvent(_eid(sat), "swab", site_id, sat, code=code,
                                         window=w)))
        bound += 1
        if bound == 10:
            serial += 1
            tube = make_tube_barcode(serial)
            bound = 0
    timeline.sort(key=lambda x: (x[0], x[1]))
    run = LaneRun(people=len(stream))
    probes = {p for p in probe_times}
    truth = {a: s - a for (a, is_probe), (s, _) in zip(stream, done, strict=True) if is_probe}
    pending: list[LaneEvent] = []
    k = 0
    for p in sorted(probes):
        while k < len(timeline) and timeline[k][0] < p:
            pending.append(timeline[k][2])
            k += 1
        _send(platform, actor, pending, run, set_clock, start + timedelta(seconds=p))
        pending = []
        load = platform.lanes.load(actor, [site_id])[0]
        if p in truth:
            run.probes.append(LaneProbe(start + timedelta(seconds=p), load.wait_minutes,
                                        round(truth[p] / 60, 2), load.queue, load.basis))
    pending = [e for _, _, e in timeline[k:]]
    _send(platform, actor, pending, run, set_clock,
          start + timedelta(seconds=max((x[0] for x in timeline), default=0) + 1))
    return run


def _send(platform: Platform, actor: Principal, events: list[LaneEvent], run: LaneRun,
          set_clock: Callable[[datetime], None], now: datetime) -> None:
    set_clock(now)
    for i in range(0, len(events), 500):
        part = events[i:i + 500]
        for e, o in zip(part, platform.lanes.submit(actor, part), strict=True):
            if o.status == "rejected":
                run.rejected += 1
            elif e.kind == "swab":
                run.swabbed += 1
