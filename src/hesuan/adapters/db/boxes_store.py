"""Storage of transport boxes along the chain of custody: hand-over, receipt at the lab, a
sealed box reopened at its site.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy import update as sa_update

from hesuan.adapters.db import sql_helpers
from hesuan.adapters.db.repository import SqlRepository
from hesuan.adapters.db.schema import (
    boxes,
    tubes,
)
from hesuan.adapters.db.sql_helpers import (
    chunks,
    member_of,
)
from hesuan.domain.sampling import TubeStatus
from hesuan.services.sampling_ports import BoxReceipt, BoxRecord

__all__ = ["SqlBoxes"]



class SqlBoxes(SqlRepository):
    """Transport boxes and the tubes they carry."""

    def box_by_code(self, code: str, *, for_update: bool = False) -> BoxRecord | None:
        stmt = select(boxes).where(boxes.c.code == code)
        if for_update:
            stmt = stmt.with_for_update()
        r = self.conn.execute(stmt).first()
        return None if r is None else BoxRecord(**r._mapping)

    def hand_over_box(self, box_id: str, courier_id: str, at: datetime) -> None:
        self.conn.execute(sa_update(boxes).where(boxes.c.id == box_id).values(
            status="in_transit", courier_id=courier_id, handed_over_at=at))

    def receive_box(self, box_id: str, receipt: BoxReceipt) -> None:
        self.conn.execute(sa_update(boxes).where(boxes.c.id == box_id).values(
            status="received", lab_id=receipt.lab_id, received_at=receipt.received_at,
            received_count=receipt.received_count, missing=receipt.missing,
            extra=receipt.extra, discrepancy=receipt.discrepancy))

    def reopen_box(self, box_id: str, take_out: Sequence[str]) -> None:
        if take_out:
            self.conn.execute(
                sa_update(tubes).where(tubes.c.box_id == box_id,
                                       member_of(tubes.c.id, self._pg))
                .values(box_id=None, status=TubeStatus.SEALED.value),
                {"vals": sql_helpers.vals(list(take_out), self._pg)})
        # the first seal of the tubes it still holds: what its delivery is timed from
        first = (select(func.min(tubes.c.sealed_at)).where(tubes.c.box_id == box_id)
                 .scalar_subquery())
        self.conn.execute(sa_update(boxes).where(boxes.c.id == box_id).values(
            status="open", sealed_at=None, tube_count=None, first_tube_sealed_at=first))

    def box_tubes(self, box_id: str) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self.conn.execute(
            select(tubes.c.id, tubes.c.barcode).where(tubes.c.box_id == box_id))]

    def mark_tubes_received(self, tube_ids: Sequence[str], lab_id: str, at: datetime) -> None:
        self._tubes_set(tube_ids, status="received", lab_id=lab_id, received_at=at)

    def mark_tubes_missing(self, tube_ids: Sequence[str], lab_id: str) -> None:
        self._tubes_set(tube_ids, lab_id=lab_id)

    def _tubes_set(self, tube_ids: Sequence[str], **values: object) -> None:
        stmt = sa_update(tubes).where(member_of(tubes.c.id, self._pg)).values(**values)
        for part in chunks(list(tube_ids)):
            self.conn.execute(stmt, {"vals": sql_helpers.vals(part, self._pg)})
