"""Site queues, the two lanes and wait estimates (F2 采样能力/单次采样用时, F5 登记、采样双通道).

At a two-lane site the registrar (登记) scans a person's sampling code and binds them to the next
tube; the swabber (采样) only swabs, marking each bound person (or the whole tube) swabbed. The
queue is the people registered but not yet swabbed. From the swab times:

* swabs per minute over a recent window, per site and per open window;
* the time per sample (单次采样用时): the gap between consecutive swabs at one window, idle gaps
  (longer than ``IDLE_GAP``) left out; p50 and p90;
* the wait for someone arriving now: the people ahead of them plus themself over the current swab
  rate, ``(queue + 1) ÷ rate`` minutes, shown with the sample it is based on.

Imports: standard library only.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from hesuan.domain.turnaround import percentile

__all__ = ["IDLE_GAP", "LAPSING_REASONS", "RATE_WINDOW", "SiteLoad", "sample_gaps", "site_load",
           "wait_minutes"]

IDLE_GAP = timedelta(minutes=10)
RATE_WINDOW = timedelta(minutes=15)

#: The reasons a swab finds a registered person may no longer go into their tube, whatever the
#: swab's time: recalled or put in a key group while they waited (single tubes only), or in
#: another open tube. Their registration lapses: they leave the queue, the place they held in
#: the tube is freed, and they may be registered to a tube they can go into. Any other reason
#: (the swab's time, the tube's state) leaves the registration waiting for a swab sent again.
LAPSING_REASONS = frozenset({"recall_requires_single_tube", "single_tube_required",
                             "person_in_open_tube"})


@dataclass(frozen=True, slots=True)
class SiteLoad:
    queue: int | None  # None at a single-lane site (no registrations)
    swabs: int  # in the rate window
    window_minutes: float
    open_windows: int  # windows that swabbed in the rate window
    swabs_per_min: float
    swabs_per_min_per_window: float | None
    sample_seconds_p50: float | None
    sample_seconds_p90: float | None
    wait_minutes: float | None
    basis: str


def sample_gaps(times_by_window: Mapping[int | None, Sequence[datetime]],
                idle: timedelta = IDLE_GAP) -> list[float]:
    """Seconds between consecutive swabs at the same window, idle gaps left out."""
    gaps: list[float] = []
    for times in times_by_window.values():
        ordered = sorted(times)
        for a, b in itertools.pairwise(ordered):
            d = (b - a).total_seconds()
            if 0 < d <= idle.total_seconds():
                gaps.append(d)
    return gaps


def wait_minutes(queue: int, swabs_per_min: float) -> float | None:
    """Minutes until someone arriving now is swabbed: ``(queue + 1) ÷ rate``."""
    if swabs_per_min <= 0:
        return None
    return round((queue + 1) / swabs_per_min, 1)


def site_load(swabs: Iterable[tuple[int | None, datetime]], queue: int | None, now: datetime,
              window: timedelta = RATE_WINDOW) -> SiteLoad:
    """The live numbers of one site from its recent swabs ``(window number, time)``."""
    since = now - window
    by_window: dict[int | None, list[datetime]] = {}
    recent = 0
    windows: set[int | None] = set()
    for w, t in swabs:
        by_window.setdefault(w, []).append(t)
        if since <= t <= now:
            recent += 1
            windows.add(w)
    minutes = window.total_seconds() / 60
    rate = recent / minutes
    gaps = sorted(sample_gaps(by_window))
    p50, p90 = percentile(gaps, 50), percentile(gaps, 90)
    wait = None if queue is None else wait_minutes(queue, rate)
    basis = (f"{recent} swabs at {len(windows)} windows in the last {minutes:.0f} min"
             + (f", {queue} in the queue" if queue is not None else ""))
    return SiteLoad(queue, recent, minutes, len(windows), round(rate, 2),
                    round(rate / len(windows), 2) if windows else None,
                    None if p50 is None else round(p50, 1), None if p90 is None else round(p90, 1),
                    wait, basis)
