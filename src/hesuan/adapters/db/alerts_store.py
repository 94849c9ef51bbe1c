"""Storage of alerts: late boxes and late results raised by the checker, and alerts raised by
the services (custody breaks, event conflicts, confirmed positives), once per kind and subject.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime

from sqlalchemy import func, select, text

from hesuan.adapters.db.repository import SqlRepository
from hesuan.adapters.db.schema import (
    alerts,
    boxes,
    sites,
    to_ms,
    tubes,
)
from hesuan.adapters.db.sql_helpers import (
    iso_ms,
)
from hesuan.services.outbox_ports import AlertRow

__all__ = ["SqlAlerts"]



class SqlAlerts(SqlRepository):
    """Alerts."""

    def raise_late(self, now: datetime, transport_limit_ms: int, lab_limit_ms: int,
                     new_id: Callable[[], str]) -> int:
        c, n = self.conn, to_ms(now)
        late_boxes = c.execute(text(
            "SELECT b.id, b.code, b.site_id, b.first_tube_sealed_at, b.received_at FROM boxes b "
            "WHERE b.first_tube_sealed_at IS NOT NULL AND "
            "COALESCE(b.received_at, :now) > b.first_tube_sealed_at + :lim AND NOT EXISTS "
            "(SELECT 1 FROM alerts a WHERE a.kind = 'late_box' AND a.subject_id = b.id)"),
            {"now": n, "lim": transport_limit_ms}).all()
        late_results = c.execute(text(
            "SELECT t.id, t.barcode, t.lab_id, t.received_at, t.resulted_at FROM tubes t "
            "WHERE t.received_at IS NOT NULL AND "
            "COALESCE(t.resulted_at, :now) > t.received_at + :lim AND NOT EXISTS "
            "(SELECT 1 FROM alerts a WHERE a.kind = 'late_result' AND a.subject_id = t.id)"),
            {"now": n, "lim": lab_limit_ms}).all()
        rows = [{"id": new_id(), "kind": "late_box", "subject_id": r[0], "raised_at": now,
                 "detail": {"box_code": r[1], "site_id": r[2], "first_tube_sealed_at": iso_ms(r[3]),
                            "received_at": iso_ms(r[4])}} for r in late_boxes]
        rows += [{"id": new_id(), "kind": "late_result", "subject_id": r[0], "raised_at": now,
                  "detail": {"barcode": r[1], "lab_id": r[2], "received_at": iso_ms(r[3]),
                             "resulted_at": iso_ms(r[4])}} for r in late_results]
        if rows:
            c.execute(self._insert(alerts).on_conflict_do_nothing(), rows)
        return len(rows)

    def add(self, row: AlertRow) -> None:
        self.conn.execute(self._insert(alerts).on_conflict_do_nothing(), [asdict(row)])

    def raise_positive_results(self, tube_ids: Sequence[str], lab_id: str, now: datetime,
                               new_id: Callable[[], str]) -> int:
        if not tube_ids:
            return 0
        t = tubes.c
        found = self.conn.execute(select(t.id, t.barcode, t.site_id).where(
            t.id.in_(list(tube_ids)))).all()
        rows = [{"id": new_id(), "kind": "positive_result", "subject_id": tube_id,
                 "raised_at": now, "detail": {"barcode": barcode, "lab_id": lab_id,
                                              "site_id": site_id}}
                for tube_id, barcode, site_id in found]
        if rows:
            self.conn.execute(self._insert(alerts).on_conflict_do_nothing(), rows)
        return len(rows)

    def recent(self, open_only: bool, limit: int, region_prefix: str) -> list[AlertRow]:
        stmt = select(alerts).order_by(alerts.c.raised_at.desc()).limit(limit)
        if open_only:
            stmt = stmt.where(alerts.c.closed_at.is_(None))
        if region_prefix:
            # where an alert came from: the site its detail names (late boxes, custody breaks,
            # event conflicts), or else its subject's, a box or a tube (late results)
            site_id = func.coalesce(
                alerts.c.detail["site_id"].as_string(),
                select(boxes.c.site_id).where(boxes.c.id == alerts.c.subject_id)
                .correlate(alerts).scalar_subquery(),
                select(tubes.c.site_id).where(tubes.c.id == alerts.c.subject_id)
                .correlate(alerts).scalar_subquery())
            stmt = stmt.where(select(sites.c.region_code).where(sites.c.id == site_id)
                              .scalar_subquery().startswith(region_prefix, autoescape=True))
        return [AlertRow(**r._mapping) for r in self.conn.execute(stmt)]
