"""The reports' reads: the turnaround of every tube, streamed, and the reconciliation lists.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import text

from hesuan.adapters.db import status_sql
from hesuan.adapters.db.repository import SqlRepository
from hesuan.adapters.db.schema import (
    to_ms,
)
from hesuan.adapters.db.sql_helpers import (
    iso_ms,
)
from hesuan.domain.corrections import CorrectionKind, CorrectionStatus
from hesuan.domain.sampling import TubeStatus
from hesuan.services.outbox_ports import (
    BoxDiscrepancy,
    LabTally,
    LateBox,
    LateResult,
    MissingTube,
    OpenPlate,
    OpenRecall,
    PoolForReview,
    Reconciliation,
    ReconciliationList,
    TurnaroundRow,
    UnboxedTube,
    UnknownTubeResult,
    UnreceivedBox,
    UnresultedTube,
)

__all__ = ["SqlReports"]



class SqlReports(SqlRepository):
    """Turnaround and reconciliation."""

    def turnaround_rows(self, since: datetime | None,
                        region_prefix: str) -> Iterator[TurnaroundRow]:
        # streamed (a server-side cursor on PostgreSQL): never the whole round in memory
        return (TurnaroundRow(*r) for r in self.conn.execution_options(stream_results=True,
                                                               yield_per=5000).execute(text(
            "SELECT t.site_id, t.lab_id, substr(s.region_code, 1, 6), t.first_sampled_at, "
            "t.sealed_at, b.sealed_at, b.handed_over_at, t.received_at, t.resulted_at, "
            "t.notified_at FROM tubes t JOIN sites s ON s.id = t.site_id "
            "LEFT JOIN boxes b ON b.id = t.box_id "
            "WHERE t.first_sampled_at IS NOT NULL AND t.first_sampled_at >= :since "
            "AND s.region_code LIKE :area"),
            {"since": 0 if since is None else to_ms(since), "area": region_prefix + "%"}))

    def reconcile(self, now: datetime, limit: int, transport_limit_ms: int,
                  lab_limit_ms: int, region_prefix: str) -> Reconciliation:
        n = to_ms(now)
        # each list: its rows (FROM ... WHERE), the columns of its items, and their kind
        queries: dict[str, tuple[str, str, Callable[..., object]]] = {
            "sampled_not_boxed": (
                "FROM tubes t WHERE t.status IN ('open', 'sealed') AND t.count > 0",
                "t.barcode, t.site_id, t.status, t.count, t.first_sampled_at", UnboxedTube),
            # a box still open holding tubes too: packed, not yet sealed or sent
            "boxed_not_received": (
                "FROM boxes b WHERE (b.status IN ('sealed', 'in_transit') OR (b.status = 'open' "
                "AND EXISTS (SELECT 1 FROM tubes t WHERE t.box_id = b.id)))",
                # an open box's count is its tubes so far (the seal writes the column)
                "b.code, b.site_id, b.status, COALESCE(b.tube_count, (SELECT count(*) FROM "
                "tubes t WHERE t.box_id = b.id)) AS tube_count, b.first_tube_sealed_at",
                UnreceivedBox),
            # a tube its lab declared missing is answered by that rejection
            "missing_from_received_boxes": (
                "FROM tubes t JOIN boxes b ON b.id = t.box_id WHERE b.status = 'received' "
                f"AND t.received_at IS NULL AND t.status <> '{TubeStatus.REJECTED.value}'",
                "t.barcode, b.code, b.lab_id, b.received_at", MissingTube),
            "received_not_resulted": (
                "FROM tubes t WHERE t.status = 'received'",
                "t.barcode, t.lab_id, t.priority, t.received_at", UnresultedTube),
            "box_discrepancies": (
                "FROM boxes b WHERE b.discrepancy = :true",
                "b.code, b.lab_id, b.tube_count, b.received_count, b.missing, b.extra",
                BoxDiscrepancy),
            "results_for_unknown_tubes": (
                "FROM rejected_results r WHERE r.reason = 'unknown_tube'",
                "r.barcode, r.lab_id, r.at", UnknownTubeResult),
            "recalls_open": (
                "FROM recalls r WHERE r.status = 'open'",
                "r.id, r.person_id, r.reason, r.opened_at, r.due_at", OpenRecall),
            # past due with no sample taken for it (one taken waits for the lab, not the person)
            "recalls_overdue": (
                "FROM recalls r WHERE r.status = 'open' AND r.due_at < :now AND NOT "
                + status_sql.recall_answered("r.person_id", "r.id"),
                "r.id, r.person_id, r.reason, r.opened_at, r.due_at", OpenRecall),
            "pools_for_review": (
                "FROM tubes t WHERE t.investigation = 'review'",
                "t.barcode, t.site_id, t.capacity, t.resulted_at", PoolForReview),
            "late_boxes": (
                "FROM boxes b WHERE b.first_tube_sealed_at IS NOT NULL AND "
                "COALESCE(b.received_at, :now) > b.first_tube_sealed_at + :tlim",
                "b.code, b.site_id, b.status, b.first_tube_sealed_at, b.received_at", LateBox),
            "late_results": (
                "FROM tubes t WHERE t.received_at IS NOT NULL AND "
                "COALESCE(t.resulted_at, :now) > t.received_at + :llim",
                "t.barcode, t.lab_id, t.received_at, t.resulted_at", LateResult),
            "plates_not_released": (
                "FROM plates p WHERE p.status <> 'released'",
                "p.id, p.lab_id, p.status, p.created_at", OpenPlate),
        }
        params = {"now": n, "tlim": transport_limit_ms, "llim": lab_limit_ms, "true": True,
                  "area": region_prefix + "%"}
        lists: dict[str, ReconciliationList[Any]] = {}
        for key, (frm, cols, item) in queries.items():
            if region_prefix:
                frm += _RECONCILE_AREA.get(key, " AND 1 = 0")
            count = self.conn.execute(text(f"SELECT count(*) {frm}"), params).scalar_one()
            items = []
            if count:
                res = self.conn.execute(text(f"SELECT {cols} {frm} LIMIT {int(limit)}"), params)
                names = list(res.keys())
                for r in res:
                    items.append(item(*[_typed(k, v) for k, v in zip(names, r, strict=True)]))
            lists[key] = ReconciliationList(count, items)
        as_of = iso_ms(n)
        assert as_of is not None
        return Reconciliation(as_of=as_of, **lists, lab=self._lab_tally(params, region_prefix))

    def _lab_tally(self, params: dict[str, Any], region_prefix: str) -> LabTally:
        area = _AT_LAB if region_prefix else ""
        plates, released, failed, reruns = self.conn.execute(text(
            f"SELECT (SELECT count(*) FROM plates p WHERE 1 = 1{area}), "
            f"(SELECT count(*) FROM plates p WHERE p.status = 'released'{area}), "
            f"(SELECT count(*) FROM plates p WHERE p.qc_passed = :false{area}), "
            "(SELECT count(*) FROM well_results r JOIN plates p ON p.id = r.plate_id "
            f"WHERE r.decision = 'rerun'{area})"), params | {"false": False}).one()
        by_result = self.conn.execute(text(
            "SELECT r.result, count(*) FROM well_results r JOIN plates p ON p.id = r.plate_id "
            f"WHERE r.result_log_id IS NOT NULL{area} GROUP BY r.result"), params).all()
        by_stage = self.conn.execute(text(
            "SELECT j.stage, count(*) FROM specimen_rejections j WHERE 1 = 1"
            f"{_OF_LAB.format('j') if region_prefix else ''} GROUP BY j.stage"), params).all()
        corrections: dict[str, int] = {}
        for status, kind, k in self.conn.execute(text(
                "SELECT c.status, c.kind, count(*) FROM result_corrections c WHERE 1 = 1"
                f"{_OF_LAB.format('c') if region_prefix else ''} GROUP BY c.status, c.kind"),
                params):
            key = (_APPLIED.get(str(kind), str(kind))
                   if status == CorrectionStatus.APPLIED.value else str(status))
            corrections[key] = corrections.get(key, 0) + int(k)
        return LabTally(int(plates), int(released), int(failed), int(reruns),
                        {str(r): int(k) for r, k in sorted(by_result)},
                        {str(s): int(k) for s, k in sorted(by_stage)},
                        dict(sorted(corrections.items())))


def _typed(column: str, value: Any) -> Any:
    """A reconciliation item's value as the report types it, whatever the driver read: a time
    (epoch ms) as ISO 8601 UTC, a JSON list of barcodes (text on SQLite) as a list, a flag
    (0/1 on SQLite) as a boolean."""
    if column in ("missing", "extra"):  # none recorded: an empty list
        return list(json.loads(value) if isinstance(value, str) else value or [])
    if value is None:
        return None
    if column == "at" or column.endswith("_at"):
        return iso_ms(int(value))
    if column == "priority":
        return bool(value)
    return value


# Where each reconciliation list's rows are, for an area's list: a tube's or box's site, a
# recall's person; a result for an unknown tube is nowhere in particular (city-wide lists only).
_AT_SITE = " AND {}.site_id IN (SELECT id FROM sites WHERE region_code LIKE :area)"
# a plate's lab; a rejection's or a correction's
_OF_LAB = " AND {}.lab_id IN (SELECT id FROM labs WHERE region_code LIKE :area)"
_AT_LAB = _OF_LAB.format("p")
# an applied correction request, in the tally: by its kind
_APPLIED = {CorrectionKind.CORRECTION.value: "corrected",
            CorrectionKind.CANCELLATION.value: "cancelled"}


_RECONCILE_AREA = {
    "sampled_not_boxed": _AT_SITE.format("t"), "boxed_not_received": _AT_SITE.format("b"),
    "missing_from_received_boxes": _AT_SITE.format("b"),
    "received_not_resulted": _AT_SITE.format("t"), "box_discrepancies": _AT_SITE.format("b"),
    "pools_for_review": _AT_SITE.format("t"), "late_boxes": _AT_SITE.format("b"),
    "late_results": _AT_SITE.format("t"), "plates_not_released": _AT_LAB,
    "recalls_open": " AND r.person_id IN (SELECT id FROM people WHERE grid_code LIKE :area)",
    "recalls_overdue": " AND r.person_id IN (SELECT id FROM people WHERE grid_code LIKE :area)",
}
