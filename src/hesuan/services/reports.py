"""Reports of the sample-to-report chain: per-stage turnaround and reconciliation (精准比对).

Turnaround is measured per tube from its first sample: tube sealed, box sealed, handed over,
received, resulted, notified; percentiles p50/p90/p99 by site, lab and district. Reconciliation
lists what fell between stages — plates not released among them; on a consistent round every
list is empty — and tallies the lab stage: plates made and released, plates whose controls
failed, tube runs decided re-run, results released by plates, specimens rejected (at receipt,
at the bench) and correction requests (pending, declined, corrected, cancelled). A rejected
tube is answered, not missing: it is in no list of tubes received and not resulted.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from hesuan.domain.access import Action, Principal, authorize, region_prefix
from hesuan.domain.turnaround import STAGES, Percentiles, summarise
from hesuan.services.context import Deps
from hesuan.services.outbox_ports import Reconciliation

__all__ = ["ReportService", "Turnaround"]

#: Keys of the turnaround report, in stage order (each measured from the first sample).
STAGE_KEYS = STAGES[1:]

#: Each stage's percentiles, by stage key
ByStage = dict[str, Percentiles]


@dataclass(frozen=True, slots=True)
class Turnaround:
    """Per-stage turnaround of the tubes in the caller's area (docs/schemas/turnaround):
    each stage measured from the tube's first sample, and from the stage before it; then from
    the first sample by site, lab and district (a key each, in order)."""

    stages: list[str]
    tubes: int
    since_first_sample: ByStage
    stage_by_stage: ByStage
    by_site: dict[str, ByStage]
    by_lab: dict[str, ByStage]
    by_district: dict[str, ByStage]


class ReportService:
    def __init__(self, deps: Deps) -> None:
        self._d = deps

    def turnaround(self, actor: Principal, since: datetime | None = None) -> Turnaround:
        authorize(actor, Action.READ_TURNAROUND)
        area = region_prefix(actor)
        # Durations are kept as 4-byte floats, rows streamed: a 5.4 M-person round is over a
        # million tubes, and Python lists of floats would cost the server ~1 GB for them.
        def minutes() -> array[float]:
            return array("f")

        overall: dict[str, array[float]] = defaultdict(minutes)
        grouped: dict[str, dict[str, dict[str, array[float]]]] = {
            "site": defaultdict(lambda: defaultdict(minutes)),
            "lab": defaultdict(lambda: defaultdict(minutes)),
            "district": defaultdict(lambda: defaultdict(minutes)),
        }
        step: dict[str, array[float]] = defaultdict(minutes)
        tubes = 0
        with self._d.uow(readonly=True) as uow:
            # row: site_id, lab_id, district, t0, tube_sealed, box_sealed, handed_over,
            #      received, resulted, notified (epoch ms or None)
            for site, lab, district, t0, *times in uow.reports.turnaround_rows(since, area):
                tubes += 1
                if t0 is None:
                    continue
                prev = t0
                for key, t in zip(STAGE_KEYS, times, strict=True):
                    if t is None:
                        break
                    m = (t - t0) / 60000
                    overall[key].append(m)
                    step[key].append((t - prev) / 60000)
                    prev = t
                    grouped["site"][site][key].append(m)
                    grouped["district"][district][key].append(m)
                    if lab is not None:
                        grouped["lab"][lab][key].append(m)
        return Turnaround(
            stages=list(STAGES), tubes=tubes,
            since_first_sample={k: summarise(overall[k]) for k in STAGE_KEYS},
            stage_by_stage={k: summarise(step[k]) for k in STAGE_KEYS},
            by_site=_by(grouped["site"]), by_lab=_by(grouped["lab"]),
            by_district=_by(grouped["district"]))

    def reconcile(self, actor: Principal, limit: int = 100) -> Reconciliation:
        authorize(actor, Action.READ_RECONCILIATION)
        lim = self._d.limits
        with self._d.uow(readonly=True) as uow:
            return uow.reports.reconcile(self._d.clock.now(), limit,
                                 int(lim.transport.total_seconds() * 1000),
                                 int(lim.lab.total_seconds() * 1000), region_prefix(actor))


def _by(groups: dict[str, dict[str, array[float]]]) -> dict[str, ByStage]:
    return {key: {k: summarise(v) for k, v in stages.items()}
            for key, stages in sorted(groups.items())}
