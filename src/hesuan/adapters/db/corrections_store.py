"""Storage of requests to correct or cancel a released result (the ``CorrectionRepository`` port)
and of rejected specimens (``RejectionRepository``).

Imports: SQLAlchemy, ``hesuan.adapters.db``, ``hesuan.services.corrections_ports``,
``hesuan.domain``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from hesuan.adapters.db.engine import write_race
from hesuan.adapters.db.repository import SqlRepository
from hesuan.adapters.db.schema import result_corrections, specimen_rejections, tubes
from hesuan.domain.corrections import CorrectionKind, CorrectionStatus
from hesuan.domain.results import Result
from hesuan.domain.sampling import TubeStatus
from hesuan.domain.specimens import RejectionCode, RejectionStage
from hesuan.services.corrections_ports import (
    CorrectionDecision,
    CorrectionRow,
    RejectionRow,
    ReleasedResult,
)

__all__ = ["SqlCorrections", "SqlRejections"]

_c, _j, _t = result_corrections.c, specimen_rejections.c, tubes.c

_CORRECTION = (_c.id, _c.lab_id, _c.tube_id, _c.kind, _c.previous, _c.result, _c.ct, _c.reason,
               _c.status, _c.requested_by, _c.requested_at, _c.decided_by, _c.decided_at,
               _c.decision_note, _c.result_log_id, _t.barcode)
_REJECTION = (_j.tube_id, _j.lab_id, _j.code, _j.stage, _j.note, _j.plate_id, _j.rejected_by,
              _j.rejected_at, _t.barcode)


def _correction(r: Any) -> CorrectionRow:
    return CorrectionRow(
        r.id, r.lab_id, r.tube_id, CorrectionKind(r.kind), Result(r.previous),
        None if r.result is None else Result(r.result), r.ct, r.reason,
        CorrectionStatus(r.status), r.requested_by, r.requested_at, r.decided_by, r.decided_at,
        r.decision_note, r.result_log_id, r.barcode)


def _rejection(r: Any) -> RejectionRow:
    return RejectionRow(r.tube_id, r.lab_id, RejectionCode(r.code), RejectionStage(r.stage),
                        r.note, r.plate_id, r.rejected_by, r.rejected_at, r.barcode)


class SqlCorrections(SqlRepository):
    """Correction and cancellation requests."""

    def add(self, row: CorrectionRow) -> None:
        stmt = insert(result_corrections).values(
            id=row.id, lab_id=row.lab_id, tube_id=row.tube_id, kind=row.kind.value,
            previous=row.previous.value, result=None if row.result is None else row.result.value,
            ct=row.ct, reason=row.reason, status=row.status.value,
            requested_by=row.requested_by, requested_at=row.requested_at)
        try:
            self.conn.execute(stmt)
        except IntegrityError as exc:  # another pending request for the tube won
            if (race := write_race(exc)) is not None:
                raise race from exc
            raise

    def correction(self, correction_id: str, *,
                   for_update: bool = False) -> CorrectionRow | None:
        stmt = (select(*_CORRECTION).join(tubes, _t.id == _c.tube_id)
                .where(_c.id == correction_id))
        if for_update:
            stmt = stmt.with_for_update(of=result_corrections)
        r = self.conn.execute(stmt).first()
        return None if r is None else _correction(r)

    def pending_for_tube(self, tube_id: str) -> CorrectionRow | None:
        r = self.conn.execute(
            select(*_CORRECTION).join(tubes, _t.id == _c.tube_id)
            .where(_c.tube_id == tube_id, _c.status == CorrectionStatus.PENDING.value)).first()
        return None if r is None else _correction(r)

    def lab_corrections(self, lab_id: str, status: CorrectionStatus | None,
                        limit: int) -> list[CorrectionRow]:
        stmt = select(*_CORRECTION).join(tubes, _t.id == _c.tube_id).where(_c.lab_id == lab_id)
        if status is not None:
            stmt = stmt.where(_c.status == status.value)
        stmt = stmt.order_by(_c.requested_at.desc(), _c.id.desc()).limit(limit)
        return [_correction(r) for r in self.conn.execute(stmt)]

    def decide(self, correction_id: str, decision: CorrectionDecision) -> None:
        self.conn.execute(update(result_corrections).where(_c.id == correction_id).values(
            status=decision.status.value, decided_by=decision.decided_by,
            decided_at=decision.decided_at, decision_note=decision.note,
            result_log_id=decision.result_log_id))

    def released_results(self, lab_id: str, barcode_prefix: str | None,
                         limit: int) -> list[ReleasedResult]:
        pending = and_(_c.tube_id == _t.id, _c.status == CorrectionStatus.PENDING.value)
        stmt = (select(_t.id, _t.barcode, _t.status, _t.result, _t.ct, _t.resulted_at,
                       _t.count.label("people"), _t.capacity, _c.id.label("pending_id"))
                .select_from(tubes.outerjoin(result_corrections, pending))
                .where(_t.lab_id == lab_id, or_(_t.status == TubeStatus.RESULTED.value,
                                                _t.status == TubeStatus.CANCELLED.value)))
        if barcode_prefix:
            stmt = stmt.where(_t.barcode.startswith(barcode_prefix, autoescape=True))
        stmt = stmt.order_by(_t.resulted_at.desc(), _t.id).limit(limit)
        return [ReleasedResult(r.id, r.barcode, r.status,
                               None if r.result is None else Result(r.result), r.ct,
                               r.resulted_at, r.people, r.capacity, r.pending_id)
                for r in self.conn.execute(stmt)]


class SqlRejections(SqlRepository):
    """Rejected specimens, and their tubes out of the lab's queue."""

    def add(self, rows: Sequence[RejectionRow]) -> None:
        if not rows:
            return
        self.conn.execute(insert(specimen_rejections), [
            {"tube_id": r.tube_id, "lab_id": r.lab_id, "code": r.code.value,
             "stage": r.stage.value, "note": r.note, "plate_id": r.plate_id,
             "rejected_by": r.rejected_by, "rejected_at": r.rejected_at} for r in rows])
        self.conn.execute(
            update(tubes).where(_t.id == bindparam("tube"))
            .values(status=TubeStatus.REJECTED.value, resulted_at=bindparam("at"),
                    notified_at=bindparam("at")),
            [{"tube": r.tube_id, "at": r.rejected_at} for r in rows])

    def rejection(self, tube_id: str) -> RejectionRow | None:
        r = self.conn.execute(select(*_REJECTION).join(tubes, _t.id == _j.tube_id)
                              .where(_j.tube_id == tube_id)).first()
        return None if r is None else _rejection(r)

    def lab_rejections(self, lab_id: str, limit: int) -> list[RejectionRow]:
        return [_rejection(r) for r in self.conn.execute(
            select(*_REJECTION).join(tubes, _t.id == _j.tube_id).where(_j.lab_id == lab_id)
            .order_by(_j.rejected_at.desc(), _j.tube_id).limit(limit))]
