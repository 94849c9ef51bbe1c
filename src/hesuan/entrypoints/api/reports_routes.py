"""HTTP routes of reports and alerts: turnaround per stage, reconciliation lists, the daily
aggregates that outlive personal data, a lab's report with its integrity list, and the alerts,
listed and checked.

Imports: FastAPI, ``hesuan.entrypoints.api.deps``, ``hesuan.domain``.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from hesuan.domain.access import Action
from hesuan.domain.instants import check_instant
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.api.deps import Me, PlatformDep, StaleRead
from hesuan.services.outbox_ports import AlertRow, Reconciliation
from hesuan.services.reports import Turnaround
from hesuan.services.retention_ports import DailyAggregate

__all__ = ["router"]

router = APIRouter(tags=["reports"])


@router.get("/reports/turnaround", openapi_extra=acts(Action.READ_TURNAROUND),
            dependencies=[StaleRead])
def turnaround(me: Me, platform: PlatformDep) -> Turnaround:
    return platform.reports.turnaround(me)


@router.get("/reports/reconcile", openapi_extra=acts(Action.READ_RECONCILIATION),
            dependencies=[StaleRead])
def reconcile(me: Me, platform: PlatformDep,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Reconciliation:
    return platform.reports.reconcile(me, limit)


@router.get("/reports/daily", openapi_extra=acts(Action.READ_AGGREGATES))
def daily_aggregates(me: Me, platform: PlatformDep,
                     since: Annotated[str | None, Query(
                         pattern=r"^\d{4}-\d{2}-\d{2}$",
                         description="first local day, YYYY-MM-DD")] = None,
                     ) -> list[DailyAggregate]:
    """What remains of forgotten samples, per local day and district: counts and turnaround,
    no personal data; kept after the end of the programme (docs/RETENTION.md)."""
    return platform.retention.aggregates(me, since)


@router.get("/labs/{lab_id}/report", openapi_extra=acts(Action.READ_LAB_REPORT))
def lab_report(me: Me, platform: PlatformDep,
               lab_id: Annotated[str, Path(min_length=1, max_length=40)],
               since: Annotated[datetime | None, Query(
                   description="start of the counts' window (default: the last 24 h)")] = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    """The lab's counts, rates and integrity list (docs/LAB.md)."""
    start = None if since is None else check_instant(since, "since")
    report = platform.lab_reports.report(me, lab_id, start, limit)
    return asdict(report) | {"intact": report.intact}


@router.get("/alerts", openapi_extra=acts(Action.READ_ALERTS))
def list_alerts(me: Me, platform: PlatformDep, open_only: bool = True) -> list[AlertRow]:
    return platform.alerts.list(me, open_only)


@router.post("/alerts/check", openapi_extra=acts(Action.CHECK_ALERTS))
def check_alerts(me: Me, platform: PlatformDep) -> dict[str, int]:
    return {"raised": platform.alerts.check(me)}
