"""The lab report (检测实验室报表): per lab, what it received, has on plates, released, rejected
and corrected, what is waiting past the receipt-to-release target, its control failures, its
invalid and single-target (re-test) rates and its re-runs; and its **integrity list** — what
breaks the rule that every released result traces to a plate, a well, a run file, passing
controls and two people: released results no run's well names (the direct results path), runs
released without passing controls, tubes above their pool size, releases by one person.

Counts are over a window (``since``: the last 24 hours unless given); the tubes in the lab,
on plates and late are as they are now; the integrity lists cover the lab's whole history.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hesuan.domain.access import Action, Principal, Target, allows, authorize
from hesuan.domain.errors import NotFound
from hesuan.services.context import Deps
from hesuan.services.lab_report_ports import LabCounts, LabIntegrity
from hesuan.services.people_ports import LabRow
from hesuan.services.ports import UnitOfWork

__all__ = ["DEFAULT_WINDOW", "LabReport", "LabReportService"]

#: The window of the counts when none is given.
DEFAULT_WINDOW = timedelta(hours=24)
#: Items of each integrity list shown at most.
MAX_LISTED = 1000


@dataclass(frozen=True, slots=True)
class LabReport:
    lab_id: str
    lab_name: str
    region_code: str
    since: datetime
    as_of: datetime
    target_min: int  # the receipt-to-release target
    counts: LabCounts
    #: shares of the interpreted tube wells (None: no well interpreted); of imported runs
    invalid_rate: float | None
    single_target_rate: float | None
    control_failure_rate: float | None
    integrity: LabIntegrity

    @property
    def intact(self) -> bool:
        """Every integrity list is empty."""
        i = self.integrity
        return not (i.results_without_run_file.count or i.runs_without_passing_controls.count
                    or i.tubes_above_pool_size.count or i.releases_by_one_person.count)


def _rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def _target(lab: LabRow) -> Target:
    return Target(lab=lab.id, region=lab.region_code)


class LabReportService:
    def __init__(self, deps: Deps) -> None:
        self._d = deps

    def report(self, actor: Principal, lab_id: str, since: datetime | None = None,
               limit: int = 100) -> LabReport:
        """One lab's report: its own users, an administrator, the health officers of its
        region."""
        with self._d.uow(readonly=True) as uow:
            lab = uow.places.lab(lab_id)
            if lab is None:
                raise NotFound("lab_id: no such lab", code="unknown_lab", field="lab_id")
            authorize(actor, Action.READ_LAB_REPORT, _target(lab), field="lab_id")
            return self._report(uow, lab, since, limit)

    def reports(self, actor: Principal, since: datetime | None = None,
                limit: int = 100) -> list[LabReport]:
        """The report of every lab ``actor`` may read, by lab name."""
        with self._d.uow(readonly=True) as uow:
            return [self._report(uow, lab, since, limit) for lab in uow.places.labs()
                    if allows(actor, Action.READ_LAB_REPORT, _target(lab))]

    def usernames(self, actor: Principal, report: LabReport) -> dict[str, str]:
        """The usernames of the people a report's integrity list names (who posted a result
        without a run file, who released a plate alone, ...), for pages."""
        authorize(actor, Action.READ_LAB_REPORT, Target(lab=report.lab_id,
                                                        region=report.region_code),
                  field="lab_id")
        i = report.integrity
        ids = {x.actor for x in i.results_without_run_file.items}
        ids |= {x.released_by for x in i.runs_without_passing_controls.items
                if x.released_by is not None}
        ids |= {x.by for x in i.releases_by_one_person.items}
        if not ids:
            return {}
        with self._d.uow(readonly=True) as uow:
            return uow.users.usernames(ids)

    def _report(self, uow: UnitOfWork, lab: LabRow, since: datetime | None,
                limit: int) -> LabReport:
        now, target = self._d.clock.now(), self._d.limits.lab
        start = now - DEFAULT_WINDOW if since is None else since
        counts = uow.lab_reports.lab_counts(lab.id, start, now - target)
        integrity = uow.lab_reports.integrity(lab.id, max(1, min(limit, MAX_LISTED)))
        return LabReport(
            lab.id, lab.name, lab.region_code, start, now, int(target.total_seconds() // 60),
            counts, _rate(counts.invalid, counts.tube_wells),
            _rate(counts.single_target, counts.tube_wells),
            _rate(counts.control_failures, counts.plates_imported), integrity)
