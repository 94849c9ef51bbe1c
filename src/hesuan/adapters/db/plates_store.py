"""Storage of plates (the ``PlateRepository`` port): the plates and their maps, the run files
imported onto them, the result of every well, the lab queue, and the labs' release settings.

A tube is *held* by a plate that is being built or is ready, and by an imported plate whose
decision for it is not a re-run; a released plate holds nothing. The queue and the bench's
scan read the same condition (``_holding``).

Imports: SQLAlchemy, ``hesuan.adapters.db``, ``hesuan.services.lab_ports``, ``hesuan.domain``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from hesuan.adapters.db import sql_helpers
from hesuan.adapters.db.engine import write_race
from hesuan.adapters.db.repository import SqlRepository
from hesuan.adapters.db.schema import (
    lab_settings,
    plate_wells,
    plates,
    run_files,
    tubes,
    well_results,
)
from hesuan.adapters.db.sql_helpers import chunks, member_of
from hesuan.domain.assays import AssayRef
from hesuan.domain.plates import Decision, PlateSize, WellKind
from hesuan.domain.results import Result
from hesuan.domain.runs import PlateStatus
from hesuan.services.lab_ports import (
    BenchTube,
    LabQueueCounts,
    PlacedWell,
    PlateRow,
    QueueTube,
    ReleaseSetting,
    RunFileFormat,
    RunFileRow,
    WellResultRow,
)

__all__ = ["SqlPlates"]

_p, _w, _r, _f, _t = plates.c, plate_wells.c, well_results.c, run_files.c, tubes.c
_OPEN = (PlateStatus.BUILDING.value, PlateStatus.READY.value)

_PLATE = (_p.id, _p.lab_id, _p.assay_id, _p.assay_version, _p.size, _p.status, _p.created_by,
          _p.created_at, _p.ready_by, _p.ready_at, _p.run_file_id, _p.imported_by,
          _p.imported_at, _p.qc_passed, _p.released_by, _p.released_at)
_FILE = (_f.id, _f.lab_id, _f.name, _f.format, _f.sha256, _f.size, _f.instrument,
         _f.instrument_serial, _f.software, _f.run_name, _f.uploaded_by, _f.uploaded_at)


def _holding() -> Any:
    """A plate well that holds its tube now: the plate is open, or imported and its decision
    for the well is not a re-run (a plate's wells join their results)."""
    return or_(_p.status.in_(_OPEN),
               and_(_p.status == PlateStatus.IMPORTED.value,
                    or_(_r.decision.is_(None), _r.decision != Decision.RERUN.value)))


def _held() -> Any:
    """The wells that hold their tubes (``tube_id``, ``plate_id``, ``status``), as a FROM."""
    return (plate_wells.join(plates, _p.id == _w.plate_id)
            .outerjoin(well_results, and_(_r.plate_id == _w.plate_id, _r.well == _w.well)))


def _plate(r: Any) -> PlateRow:
    return PlateRow(r.id, r.lab_id, AssayRef(r.assay_id, r.assay_version), PlateSize(r.size),
                    PlateStatus(r.status), r.created_by, r.created_at, r.ready_by, r.ready_at,
                    r.run_file_id, r.imported_by, r.imported_at,
                    None if r.qc_passed is None else bool(r.qc_passed), r.released_by,
                    r.released_at)


def _file(r: Any) -> RunFileRow:
    return RunFileRow(r.id, r.lab_id, r.name, RunFileFormat(r.format), r.sha256, r.size,
                      r.instrument, r.instrument_serial, r.software, r.run_name, r.uploaded_by,
                      r.uploaded_at)


def _plate_order(well: str) -> tuple[str, int]:
    return well[0], int(well[1:])


class SqlPlates(SqlRepository):
    """Plates, their wells, run files and well results; the lab queue; release settings."""

    # -- plates and their maps ------------------------------------------------------------

    def add_plate(self, row: PlateRow) -> None:
        self.conn.execute(insert(plates).values(
            id=row.id, lab_id=row.lab_id, assay_id=row.assay.id,
            assay_version=row.assay.version, size=int(row.size), status=row.status.value,
            created_by=row.created_by, created_at=row.created_at))

    def plate(self, plate_id: str, *, for_update: bool = False) -> PlateRow | None:
        stmt = select(*_PLATE).where(_p.id == plate_id)
        if for_update:
            stmt = stmt.with_for_update()
        r = self.conn.execute(stmt).first()
        return None if r is None else _plate(r)

    def lab_plates(self, lab_id: str, statuses: Collection[PlateStatus] | None,
                   limit: int) -> list[PlateRow]:
        stmt = select(*_PLATE).where(_p.lab_id == lab_id)
        params: dict[str, Any] = {}
        if statuses is not None:
            stmt = stmt.where(member_of(_p.status, self._pg))
            params["vals"] = sql_helpers.vals([s.value for s in statuses], self._pg)
        stmt = stmt.order_by(_p.created_at.desc(), _p.id.desc()).limit(limit)
        return [_plate(r) for r in self.conn.execute(stmt, params)]

    def wells(self, plate_id: str) -> list[PlacedWell]:
        rows = self.conn.execute(
            select(_w.plate_id, _w.well, _w.kind, _w.tube_id, _t.barcode, _w.placed_by,
                   _w.placed_at)
            .select_from(plate_wells.outerjoin(tubes, _t.id == _w.tube_id))
            .where(_w.plate_id == plate_id)).all()
        return sorted((PlacedWell(r.plate_id, r.well, WellKind(r.kind), r.tube_id, r.barcode,
                                  r.placed_by, r.placed_at) for r in rows),
                      key=lambda w: _plate_order(w.well))

    def bench_tube(self, barcode: str, *, for_update: bool = False) -> BenchTube | None:
        stmt = select(_t.id, _t.barcode, _t.lab_id, _t.status).where(_t.barcode == barcode)
        if for_update:  # PostgreSQL: FOR NO KEY UPDATE (samples may still reference the tube)
            stmt = stmt.with_for_update(key_share=True)
        t = self.conn.execute(stmt).first()
        if t is None:
            return None
        plate_id = self.conn.execute(
            select(_w.plate_id).select_from(_held())
            .where(_w.tube_id == t.id, _holding()).limit(1)).scalar()
        return BenchTube(t.id, t.barcode, t.lab_id, t.status, plate_id)

    def bench_tubes(self, barcodes: Sequence[str], *,
                    for_update: bool = False) -> dict[str, BenchTube]:
        out: dict[str, BenchTube] = {}
        for part in chunks(list(dict.fromkeys(barcodes))):
            stmt = select(_t.id, _t.barcode, _t.lab_id, _t.status).where(
                member_of(_t.barcode, self._pg))
            if for_update:  # as bench_tube
                stmt = stmt.with_for_update(key_share=True)
            found = self.conn.execute(stmt, {"vals": sql_helpers.vals(part, self._pg)}).all()
            held = dict(self.conn.execute(
                select(_w.tube_id, _w.plate_id).select_from(_held())
                .where(member_of(_w.tube_id, self._pg), _holding()),
                {"vals": sql_helpers.vals([t.id for t in found], self._pg)}).all())
            out.update((t.barcode, BenchTube(t.id, t.barcode, t.lab_id, t.status,
                                             held.get(t.id))) for t in found)
        return out

    def place(self, well: PlacedWell) -> None:
        self._inserting(insert(plate_wells).values(
            plate_id=well.plate_id, well=well.well, kind=well.kind.value, tube_id=well.tube_id,
            placed_by=well.placed_by, placed_at=well.placed_at))

    def place_many(self, wells: Sequence[PlacedWell]) -> None:
        if wells:
            self._inserting(insert(plate_wells), [
                {"plate_id": w.plate_id, "well": w.well, "kind": w.kind.value,
                 "tube_id": w.tube_id, "placed_by": w.placed_by, "placed_at": w.placed_at}
                for w in wells])

    def _inserting(self, stmt: Any, rows: Sequence[Mapping[str, Any]] | None = None) -> None:
        """Run an INSERT (of ``rows``, when given); a unique key another transaction wrote
        first is a ``WriteRace``."""
        try:
            self.conn.execute(stmt, rows)
        except IntegrityError as exc:
            if (race := write_race(exc)) is not None:
                raise race from exc
            raise

    def remove_well(self, plate_id: str, well: str) -> bool:
        return bool(self.conn.execute(delete(plate_wells).where(
            _w.plate_id == plate_id, _w.well == well)).rowcount)

    def mark_ready(self, plate_id: str, by: str, at: datetime) -> None:
        self.conn.execute(update(plates).where(_p.id == plate_id).values(
            status=PlateStatus.READY.value, ready_by=by, ready_at=at))

    # -- run files and results ------------------------------------------------------------

    def run_file_by_hash(self, lab_id: str, sha256: str) -> RunFileRow | None:
        r = self.conn.execute(select(*_FILE).where(_f.lab_id == lab_id,
                                                   _f.sha256 == sha256)).first()
        return None if r is None else _file(r)

    def run_file(self, file_id: str) -> RunFileRow | None:
        r = self.conn.execute(select(*_FILE).where(_f.id == file_id)).first()
        return None if r is None else _file(r)

    def run_file_data(self, file_id: str) -> bytes | None:
        data = self.conn.execute(select(_f.data).where(_f.id == file_id)).scalar()
        return None if data is None else bytes(data)

    def add_run_file(self, row: RunFileRow, data: bytes) -> None:
        self._inserting(insert(run_files).values(
            id=row.id, lab_id=row.lab_id, name=row.name, format=row.format.value,
            sha256=row.sha256, size=row.size, data=data, instrument=row.instrument,
            instrument_serial=row.instrument_serial, software=row.software,
            run_name=row.run_name, uploaded_by=row.uploaded_by, uploaded_at=row.uploaded_at))

    def mark_imported(self, plate_id: str, run_file_id: str, by: str, at: datetime,
                      qc_passed: bool) -> None:
        self.conn.execute(update(plates).where(_p.id == plate_id).values(
            status=PlateStatus.IMPORTED.value, run_file_id=run_file_id, imported_by=by,
            imported_at=at, qc_passed=qc_passed))

    def add_well_results(self, rows: Sequence[WellResultRow]) -> None:
        if not rows:
            return
        self.conn.execute(insert(well_results), [
            {"plate_id": r.plate_id, "well": r.well, "kind": r.kind.value, "tube_id": r.tube_id,
             "sample_name": r.sample_name, "cts": dict(r.cts), "outcome": r.outcome,
             "reason": r.reason, "evidence": dict(r.evidence), "assay_id": r.assay.id,
             "assay_version": r.assay.version, "attempt": r.attempt, "counted": r.counted,
             "decision": None if r.decision is None else r.decision.value,
             "result": None if r.result is None else r.result.value,
             "result_log_id": r.result_log_id} for r in rows])

    def well_results(self, plate_id: str) -> list[WellResultRow]:
        rows = self.conn.execute(
            select(_r.plate_id, _r.well, _r.kind, _r.tube_id, _r.sample_name, _r.cts,
                   _r.outcome, _r.reason, _r.evidence, _r.assay_id, _r.assay_version,
                   _r.attempt, _r.counted, _r.decision, _r.result, _r.result_log_id,
                   _t.barcode)
            .select_from(well_results.outerjoin(tubes, _t.id == _r.tube_id))
            .where(_r.plate_id == plate_id)).all()
        out = [WellResultRow(
            r.plate_id, r.well, WellKind(r.kind), r.tube_id, r.sample_name, r.cts, r.outcome,
            r.reason, r.evidence, AssayRef(r.assay_id, r.assay_version), r.attempt,
            bool(r.counted), None if r.decision is None else Decision(r.decision),
            None if r.result is None else Result(r.result), r.result_log_id, r.barcode)
            for r in rows]
        return sorted(out, key=lambda w: _plate_order(w.well))

    def counted_runs(self, tube_ids: Iterable[str]) -> dict[str, int]:
        ids = list(dict.fromkeys(tube_ids))
        out: dict[str, int] = {}
        stmt = (select(_r.tube_id, func.count()).where(member_of(_r.tube_id, self._pg), _r.counted)
                .group_by(_r.tube_id))
        for part in chunks(ids):
            for tube_id, n in self.conn.execute(stmt, {"vals": sql_helpers.vals(part, self._pg)}):
                out[tube_id] = int(n)
        return out

    def mark_released(self, plate_id: str, by: str, at: datetime,
                      result_log_ids: Mapping[str, str]) -> None:
        self.conn.execute(update(plates).where(_p.id == plate_id).values(
            status=PlateStatus.RELEASED.value, released_by=by, released_at=at))
        if result_log_ids:
            self.conn.execute(
                update(well_results)
                .where(_r.plate_id == bindparam("p"), _r.well == bindparam("w"))
                .values(result_log_id=bindparam("log")),
                [{"p": plate_id, "w": w, "log": log} for w, log in result_log_ids.items()])

    # -- the lab queue ----------------------------------------------------------------------

    def queue(self, lab_id: str, late_before: datetime,
              limit: int) -> tuple[LabQueueCounts, list[QueueTube]]:
        waiting = and_(_t.lab_id == lab_id, _t.status == "received")
        total, priority, late = self.conn.execute(select(
            func.count(),
            func.coalesce(func.sum(case((_t.priority, 1), else_=0)), 0),
            func.coalesce(func.sum(case((_t.received_at < late_before, 1), else_=0)), 0))
            .where(waiting)).one()
        held = (select(_w.tube_id, _w.plate_id, _p.status).select_from(_held())
                .where(_p.lab_id == lab_id, _w.tube_id.is_not(None), _holding()).subquery())
        runs = (select(func.count()).where(_r.tube_id == _t.id, _r.counted)
                .scalar_subquery())
        rerun = exists().where(_r.tube_id == _t.id, _r.decision == Decision.RERUN.value)
        rows = self.conn.execute(
            select(_t.id, _t.barcode, _t.priority, _t.capacity, _t.count.label("people"),
                   _t.received_at, runs.label("runs"), rerun.label("rerun"),
                   held.c.plate_id, held.c.status.label("plate_status"))
            .select_from(tubes.outerjoin(held, held.c.tube_id == _t.id))
            .where(waiting)
            .order_by(_t.priority.desc(), _t.received_at, _t.barcode).limit(limit)).all()
        items = [QueueTube(r.id, r.barcode, bool(r.priority), r.capacity, r.people,
                           r.received_at, int(r.runs), bool(r.rerun), r.plate_id,
                           None if r.plate_status is None else PlateStatus(r.plate_status))
                 for r in rows]
        return LabQueueCounts(int(total), int(priority), int(late)), items

    # -- release settings -------------------------------------------------------------------

    def release_setting(self, lab_id: str) -> ReleaseSetting | None:
        s = lab_settings.c
        r = self.conn.execute(select(s.lab_id, s.one_person_release, s.set_by, s.set_at)
                              .where(s.lab_id == lab_id)).first()
        return None if r is None else ReleaseSetting(r.lab_id, bool(r.one_person_release),
                                                     r.set_by, r.set_at)

    def set_release_setting(self, row: ReleaseSetting) -> None:
        values = {"one_person_release": row.one_person_release, "set_by": row.set_by,
                  "set_at": row.set_at}
        self.conn.execute(self._insert(lab_settings).values(lab_id=row.lab_id, **values)
                          .on_conflict_do_update(index_elements=["lab_id"], set_=values))

