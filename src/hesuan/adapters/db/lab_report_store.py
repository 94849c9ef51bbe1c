"""The lab report's reads (the ``LabReportRepository`` port): a lab's counts over a window, each
a single aggregate statement, and its integrity lists, each a count and its first rows.

Imports: SQLAlchemy, ``hesuan.adapters.db``, ``hesuan.services.lab_report_ports``,
``hesuan.domain``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import text

from hesuan.adapters.db.repository import SqlRepository
from hesuan.adapters.db.schema import to_ms
from hesuan.adapters.db.sql_helpers import from_ms_or_none
from hesuan.domain.assays import Call, Reason
from hesuan.domain.corrections import CorrectionKind, CorrectionStatus
from hesuan.domain.plates import Decision, WellKind
from hesuan.domain.runs import PlateStatus
from hesuan.services.lab_report_ports import (
    IntegrityList,
    LabCounts,
    LabIntegrity,
    OnePersonRelease,
    OverfullTube,
    UncontrolledRun,
    UnfiledResult,
)

__all__ = ["SqlLabReports"]

T = TypeVar("T")

#: A tube well not interpreted: its plate's controls failed (``void``), or the analyst omitted
#: it (``omitted``) — the outcomes ``services/runs.py`` stores besides a call.
_NOT_INTERPRETED = "('void', 'omitted')"
_OPEN_PLATE = f"('{PlateStatus.BUILDING.value}', '{PlateStatus.READY.value}')"

_COUNTS = {
    "received": "SELECT count(*) FROM tubes WHERE lab_id = :lab AND received_at >= :since",
    "in_lab": "SELECT count(*), COALESCE(sum(CASE WHEN received_at < :late THEN 1 ELSE 0 END), "
              "0) FROM tubes WHERE lab_id = :lab AND status = 'received'",
    # held by a plate: one being built or ready, or an imported one that did not send it back
    "on_plates": (
        "SELECT count(DISTINCT w.tube_id) FROM plate_wells w JOIN plates p ON p.id = w.plate_id "
        "JOIN tubes t ON t.id = w.tube_id LEFT JOIN well_results r ON r.plate_id = w.plate_id "
        "AND r.well = w.well WHERE p.lab_id = :lab AND t.status = 'received' AND "
        f"(p.status IN {_OPEN_PLATE} OR (p.status = '{PlateStatus.IMPORTED.value}' AND "
        f"(r.decision IS NULL OR r.decision <> '{Decision.RERUN.value}')))"),
    "released": "SELECT result, count(*) FROM result_log WHERE lab_id = :lab AND at >= :since "
                "AND previous IS NULL GROUP BY result",
    "rejected": "SELECT code, count(*) FROM specimen_rejections WHERE lab_id = :lab AND "
                "rejected_at >= :since GROUP BY code",
    "plates": "SELECT count(*), COALESCE(sum(CASE WHEN qc_passed THEN 0 ELSE 1 END), 0) "
              "FROM plates WHERE lab_id = :lab AND imported_at >= :since",
    "wells": (
        "SELECT "
        f"COALESCE(sum(CASE WHEN r.outcome NOT IN {_NOT_INTERPRETED} THEN 1 ELSE 0 END), 0), "
        f"COALESCE(sum(CASE WHEN r.outcome = '{Call.INVALID.value}' THEN 1 ELSE 0 END), 0), "
        f"COALESCE(sum(CASE WHEN r.reason IN ('{Reason.SINGLE_TARGET.value}', "
        f"'{Reason.GREY_ZONE.value}') AND r.outcome NOT IN {_NOT_INTERPRETED} THEN 1 ELSE 0 "
        "END), 0), "
        f"COALESCE(sum(CASE WHEN r.decision = '{Decision.RERUN.value}' THEN 1 ELSE 0 END), 0) "
        "FROM well_results r JOIN plates p ON p.id = r.plate_id WHERE p.lab_id = :lab AND "
        f"p.imported_at >= :since AND r.kind = '{WellKind.TUBE.value}'"),
    "corrections": "SELECT kind, status, count(*) FROM result_corrections WHERE lab_id = :lab "
                   "AND requested_at >= :since GROUP BY kind, status",
}

# Each integrity list: its rows (FROM ... WHERE), their columns, newest first.
_UNFILED = (
    "FROM result_log l JOIN tubes t ON t.id = l.tube_id WHERE l.lab_id = :lab "
    "AND NOT EXISTS (SELECT 1 FROM well_results w WHERE w.result_log_id = l.id) "
    "AND NOT EXISTS (SELECT 1 FROM result_corrections c WHERE c.result_log_id = l.id)",
    "t.barcode, l.result, l.previous, l.actor, l.at", "l.at DESC, l.id")
_UNCONTROLLED = (
    f"FROM plates p WHERE p.lab_id = :lab AND p.status = '{PlateStatus.RELEASED.value}' "
    "AND EXISTS (SELECT 1 FROM well_results w WHERE w.plate_id = p.id AND "
    "w.result_log_id IS NOT NULL) AND (p.qc_passed IS NULL OR NOT p.qc_passed OR EXISTS ("
    f"SELECT 1 FROM well_results c WHERE c.plate_id = p.id AND c.kind <> '{WellKind.TUBE.value}'"
    " AND c.outcome <> 'passed'))",
    "p.id, p.qc_passed, (SELECT count(*) FROM well_results c WHERE c.plate_id = p.id AND "
    f"c.kind <> '{WellKind.TUBE.value}' AND c.outcome <> 'passed'), (SELECT count(*) FROM "
    "well_results w WHERE w.plate_id = p.id AND w.result_log_id IS NOT NULL), p.released_by, "
    "p.released_at", "p.released_at DESC, p.id")
_OVERFULL = (
    "FROM (SELECT t.barcode, t.capacity, count(*) AS people FROM samples s JOIN tubes t ON "
    "t.id = s.tube_id WHERE t.lab_id = :lab GROUP BY t.id, t.barcode, t.capacity "
    "HAVING count(*) > t.capacity) o",
    "o.barcode, o.capacity, o.people", "o.barcode")
_ONE_PERSON = (
    f"FROM (SELECT 'plate' AS kind, p.id, p.released_by AS by_user, p.released_at AS at FROM "
    f"plates p WHERE p.lab_id = :lab AND p.status = '{PlateStatus.RELEASED.value}' AND "
    "(p.released_by = p.created_by OR p.released_by = p.imported_by) UNION ALL "
    "SELECT 'correction', c.id, c.decided_by, c.decided_at FROM result_corrections c WHERE "
    f"c.lab_id = :lab AND c.status = '{CorrectionStatus.APPLIED.value}' AND "
    "c.decided_by = c.requested_by) o",
    "o.kind, o.id, o.by_user, o.at", "o.at DESC, o.id")


class SqlLabReports(SqlRepository):
    """A lab's counts and integrity lists."""

    def lab_counts(self, lab_id: str, since: datetime, late_before: datetime) -> LabCounts:
        params = {"lab": lab_id, "since": to_ms(since), "late": to_ms(late_before)}

        def rows(key: str) -> list[Any]:
            return list(self.conn.execute(text(_COUNTS[key]), params).all())

        in_lab, late = rows("in_lab")[0]
        plates, failed = rows("plates")[0]
        wells, invalid, single, reruns = rows("wells")[0]
        corrections = {"pending": 0, "corrected": 0, "cancelled": 0, "declined": 0}
        for kind, status, n in rows("corrections"):
            key = status
            if status == CorrectionStatus.APPLIED.value:
                key = ("cancelled" if kind == CorrectionKind.CANCELLATION.value
                       else "corrected")
            corrections[key] += int(n)
        return LabCounts(
            received=int(rows("received")[0][0]), in_lab=int(in_lab),
            on_plates=int(rows("on_plates")[0][0]), late=int(late),
            released={str(r): int(n) for r, n in rows("released")},
            rejected={str(c): int(n) for c, n in rows("rejected")},
            plates_imported=int(plates), control_failures=int(failed), tube_wells=int(wells),
            invalid=int(invalid), single_target=int(single), reruns=int(reruns),
            corrections=corrections)

    def integrity(self, lab_id: str, limit: int) -> LabIntegrity:
        params = {"lab": lab_id}
        return LabIntegrity(
            results_without_run_file=self._listed(_UNFILED, params, limit, lambda r: (
                UnfiledResult(r[0], r[1], r[2], r[3], _at(r[4])))),
            runs_without_passing_controls=self._listed(_UNCONTROLLED, params, limit,
                                                       lambda r: UncontrolledRun(
                r[0], None if r[1] is None else bool(r[1]), int(r[2]), int(r[3]), r[4],
                from_ms_or_none(r[5]))),
            tubes_above_pool_size=self._listed(_OVERFULL, params, limit, lambda r: (
                OverfullTube(r[0], int(r[1]), int(r[2])))),
            releases_by_one_person=self._listed(_ONE_PERSON, params, limit, lambda r: (
                OnePersonRelease(r[0], r[1], r[2], from_ms_or_none(r[3])))))

    def _listed(self, query: tuple[str, str, str], params: dict[str, Any], limit: int,
                make: Callable[[Any], T]) -> IntegrityList[T]:
        frm, cols, order = query
        count = int(self.conn.execute(text(f"SELECT count(*) {frm}"), params).scalar_one())
        if not count:
            return IntegrityList(0, [])
        rows = self.conn.execute(text(f"SELECT {cols} {frm} ORDER BY {order} "
                                      f"LIMIT {int(limit)}"), params).all()
        return IntegrityList(count, [make(r) for r in rows])


def _at(ms: int) -> datetime:
    at = from_ms_or_none(ms)
    assert at is not None
    return at
