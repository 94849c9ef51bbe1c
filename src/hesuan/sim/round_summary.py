"""The summary of a simulated round (``simulate.simulate_round``): what happened, what the
reconciliation shows against the injected faults, the lab stage (plates, control failures,
re-runs, released results, rejected specimens, corrections) as the round counted it and as the
reconciliation tallies it, and the prevalence estimate from the round's routine tubes.

Imports: standard library, ``hesuan.domain``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from hesuan.domain.instants import iso_utc
from hesuan.domain.pooling import Estimate, PoolCounts, estimate_prevalence
from hesuan.domain.turnaround import Percentiles

__all__ = ["RoundSummary"]


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
    #: each stage's turnaround of the round's tubes, from their first sample
    turnaround: dict[str, Percentiles]
    wall_seconds: float
    routine_pools: dict[int, tuple[int, int]] = field(default_factory=dict)
    routine_samples: int = 0
    infected_routine_samples: int = 0
    # the lab stage: plates run; plates whose controls failed; tube runs decided re-run, by
    # reason; results released by plates, by result (a recall is released as invalid); tubes
    # recalled from the bench, by reason; results released past the receipt-to-release
    # target; the seeded events of the bench (control failures, single-target results, ...)
    plates: int = 0
    control_failures: int = 0
    reruns: dict[str, int] = field(default_factory=dict)
    released: dict[str, int] = field(default_factory=dict)
    recalled_at_bench: dict[str, int] = field(default_factory=dict)
    late_results: int = 0
    seeded: dict[str, int] = field(default_factory=dict)
    # specimens rejected as their box was scanned in and at the bench, by code; corrections
    # applied, by what they changed (``negative_to_positive``)
    rejected_at_receipt: dict[str, int] = field(default_factory=dict)
    rejected_at_bench: dict[str, int] = field(default_factory=dict)
    corrections: dict[str, int] = field(default_factory=dict)
    # the reconciliation's tally of the lab stage over the round, and the round's own
    lab_tally: dict[str, Any] = field(default_factory=dict)
    expected_lab_tally: dict[str, Any] = field(default_factory=dict)
    # the LIS lab (``round_lis``): messages sent over MLLP, ACKs by code, results applied by
    # result, the resend; per lab, results released without a run file in the round (its
    # integrity list), and those the round expects (the LIS lab's applied results)
    lis: dict[str, Any] = field(default_factory=dict)
    unfiled_results: dict[str, int] = field(default_factory=dict)
    expected_unfiled_results: dict[str, int] = field(default_factory=dict)
    # stopped before it drained (``simulate_round(stop_at=...)``): things are still in flight,
    # so the reconciliation is not compared with the faults
    in_progress: bool = False
    # the venue's door (``round_venues``): passes issued, checks, admitted, refused, colours
    door_checks: dict[str, Any] = field(default_factory=dict)
    # the travellers who landed (``round_arrivals``): how many, by their origin's risk
    arrivals: dict[str, Any] = field(default_factory=dict)
    # the building sealed after the first confirmed case and its door-to-door team
    # (``round_zones``): zones, people held, the team's days, visits, sampled, tubes
    zones: dict[str, Any] = field(default_factory=dict)
    # the two lanes of one site (``round_city``, ``round_stations``): registered, swabbed
    two_lanes: dict[str, int] = field(default_factory=dict)
    # the two-lane site's rota (``round_shifts``): staff registered, stints started
    shifts: dict[str, int] = field(default_factory=dict)
    # the city's checkpoint (``round_checkpoints``): scans, alerts by rule, the sealed
    # building's person turned back, its support team's moves and stints, and the fence
    # alerts the grid workers handled (acknowledged, or closed by outcome)
    checkpoints: dict[str, Any] = field(default_factory=dict)
    # the city's hourly housekeeping (``services/housekeeping``, as the server's scheduler):
    # ticks, reminders, coverage snapshots refreshed, retention passes and what they forgot,
    # audit checkpoints signed
    housekeeping: dict[str, Any] = field(default_factory=dict)
    # the grid workers' daily calls to their rosters' outstanding people (``round_rosters``):
    # lists opened, calls, outcomes by kind
    rosters: dict[str, Any] = field(default_factory=dict)

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
        return (self.reconcile_counts == self.expected_reconcile
                and self.lab_tally == self.expected_lab_tally
                and self.unfiled_results == self.expected_unfiled_results
                and bool(self.lis.get("resend_same_ack", True))
                and self.lis.get("link_check") in (None, "AR"))

    def as_dict(self) -> dict[str, Any]:
        est = self.estimate()
        return {
            "start": iso_utc(self.start), "end": iso_utc(self.end),
            "drained_until": iso_utc(self.drained_until), "people": self.people,
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
            "reconcile_matches": self.reconcile_matches, "in_progress": self.in_progress,
            "true_prevalence": self.true_prevalence,
            "estimated_prevalence": {"p_hat": est.p_hat, "ci95": [est.lower, est.upper],
                                     "method": est.method},
            "routine_samples": self.routine_samples,
            "infected_routine_samples": self.infected_routine_samples,
            "routine_pools": {str(k): {"tested": t, "positive": x}
                              for k, (t, x) in sorted(self.routine_pools.items())},
            "plates": self.plates, "control_failures": self.control_failures,
            "reruns": self.reruns, "released": self.released,
            "recalled_at_bench": self.recalled_at_bench, "late_results": self.late_results,
            "seeded": self.seeded, "rejected_at_receipt": self.rejected_at_receipt,
            "rejected_at_bench": self.rejected_at_bench, "corrections": self.corrections,
            "lab_tally": self.lab_tally,
            "expected_lab_tally": self.expected_lab_tally, "lis": self.lis,
            "unfiled_results": self.unfiled_results,
            "expected_unfiled_results": self.expected_unfiled_results,
            "door_checks": self.door_checks, "arrivals": self.arrivals, "zones": self.zones,
            "two_lanes": self.two_lanes, "shifts": self.shifts, "checkpoints": self.checkpoints,
            "housekeeping": self.housekeeping, "rosters": self.rosters,
            "turnaround_since_first_sample": {k: asdict(v) for k, v in self.turnaround.items()},
            "wall_seconds": round(self.wall_seconds, 2),
        }
