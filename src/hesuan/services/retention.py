"""History that expires: one pass forgets each kind of personal data whose period has passed
(``domain/retention.py``), after counting the samples it forgets into the daily aggregates, in
one transaction; the audit log records how many rows of each kind, never which. The scheduler
inside ``serve`` runs it once an hour, ``hesuan retention run`` on demand (docs/RETENTION.md).

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

from datetime import date

from hesuan.domain.access import Action, Principal, authorize, region_prefix
from hesuan.domain.errors import InvalidInput
from hesuan.domain.retention import Kind, Retention, RetentionReport
from hesuan.services.context import Deps
from hesuan.services.retention_ports import DailyAggregate

__all__ = ["RetentionService"]


class RetentionService:
    def __init__(self, deps: Deps, retention: Retention) -> None:
        self._d = deps
        self._r = retention

    @property
    def periods(self) -> Retention:
        return self._r

    def run(self, actor: Principal) -> RetentionReport:
        """Forget what has expired; the counts of what was forgotten. Idempotent: a second pass
        at the same instant forgets and counts nothing."""
        authorize(actor, Action.RUN_RETENTION)
        now = self._d.clock.now()
        samples = self._r.cutoff(Kind.SAMPLES, now)
        notified = self._r.cutoff(Kind.NOTIFICATIONS, now)
        scans = self._r.cutoff(Kind.VENUE_SCANS, now)
        with self._d.uow() as uow:  # its own transaction: ready even if the pass fails
            uow.retention.prepare(now)
            uow.commit()
        with self._d.uow() as uow:
            r = uow.retention
            aggregated = r.aggregate_samples(samples)  # before anything is deleted
            # the kinds a store may drop whole partitions of come last: writers of those
            # tables may wait from the drop to the commit
            report = RetentionReport(
                lane_entries=r.expire_lane_entries(samples),
                recalls=r.expire_recalls(samples),
                sms=r.expire_sms(notified),
                lab_reports=r.expire_lab_reports(notified),
                passes=r.expire_passes(self._r.cutoff(Kind.PASSES, now)),
                venue_checks=r.expire_venue_checks(scans),
                fence_scans=r.expire_fence_scans(scans),
                arrivals=r.expire_arrivals(self._r.cutoff(Kind.ARRIVALS, now)),
                lab_messages=r.expire_lab_messages(self._r.cutoff(Kind.LAB_MESSAGES, now)),
                station_events=r.expire_station_events(
                    self._r.cutoff(Kind.STATION_EVENTS, now)),
                samples=r.expire_samples(samples),
                aggregated=aggregated,
            )
            if report != RetentionReport():
                uow.audit_log.append(now, actor.username, "retention.run", "retention",
                                     report.counts())
            uow.commit()
        return report

    def aggregates(self, actor: Principal, since: str | None = None) -> list[DailyAggregate]:
        """The daily aggregates of the principal's region (district codes under it)."""
        authorize(actor, Action.READ_AGGREGATES)
        if since is not None:
            try:
                date.fromisoformat(since)
            except ValueError:
                raise InvalidInput("since must be a local day, YYYY-MM-DD", code="bad_date",
                                   field="since") from None
        prefix = region_prefix(actor, Action.READ_AGGREGATES)
        with self._d.uow(readonly=True) as uow:
            rows = uow.retention.aggregates(since)
        return [a for a in rows if a.district.startswith(prefix)]
