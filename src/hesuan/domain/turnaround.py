"""Per-stage turnaround of 采 → 送 → 检 → 报 and the lateness rules.

Stages, in order: sampled → tube sealed → box sealed → handed over → received → resulted →
notified. A tube's stage time is measured from its first sample. Late: a box not received within
4 h of its first tube's sealing; a result not out within 6 h of receipt (both configurable).

Imports: standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

__all__ = ["LAB_LIMIT", "STAGES", "TRANSPORT_LIMIT", "Percentiles", "percentile", "summarise"]

STAGES: tuple[str, ...] = (
    "sampled", "tube_sealed", "box_sealed", "handed_over", "received", "resulted", "notified",
)
TRANSPORT_LIMIT = timedelta(hours=4)
LAB_LIMIT = timedelta(hours=6)


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of already sorted values."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(frozen=True, slots=True)
class Percentiles:
    """How many durations, and their p50/p90/p99 in minutes to a tenth (None: no duration)."""

    n: int
    p50_min: float | None
    p90_min: float | None
    p99_min: float | None


def summarise(values: Iterable[float]) -> Percentiles:
    """Count and p50/p90/p99 of durations in minutes."""
    values = sorted(values)
    return Percentiles(len(values), _r(percentile(values, 50)), _r(percentile(values, 90)),
                       _r(percentile(values, 99)))


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 1)
