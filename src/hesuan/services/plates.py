"""Plates (板) at the bench: a lab builds a plate map by scanning tubes into wells and placing
its controls, marks the plate ready, and reads its queue of tubes to run.

A plate is made for a lab with the current assay version (``AssayService.current_in``) and a
size (96 or 384 wells). A tube is placed by scanning its barcode (a rack reader scans a rack
of them at once); it must exist, be received by this lab and not resulted, not be held by
another plate, and not be on this one already (``hesuan.domain.plates.PlateMap``: one thing
per well, a tube once per plate). A plate is
marked ready once it holds its controls and a tube (``PlateMap.check_runnable``); its map is
then locked. Running it (importing its instrument file) and releasing it are
``hesuan.services.runs``.

The lab queue is the tubes the lab has received and not released — priority tubes (first
landing and key groups, single tubes) first, then the longest waiting — each with where it
stands (waiting, back for a re-run, on a plate, awaiting release) and its wait against the
lab's receipt-to-release target (``Limits.lab``, 6 h by default).

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from hesuan.domain.access import Action, Principal, Target, authorize
from hesuan.domain.assays import Assay
from hesuan.domain.errors import InvalidInput, NotFound, RuleViolation
from hesuan.domain.plates import Placement, PlateMap, PlateSize, WellKind
from hesuan.domain.runs import PlateStatus, check_status
from hesuan.domain.sampling import barcode_key, check_tube_barcode
from hesuan.domain.specimens import check_testable
from hesuan.services.assays import AssayService
from hesuan.services.context import Deps, write_retrying
from hesuan.services.lab_ports import (
    BenchTube,
    PlacedWell,
    PlateRow,
    QueueTube,
    ReleaseSetting,
    RunFileRow,
    WellResultRow,
)
from hesuan.services.ports import UnitOfWork

__all__ = ["LabQueue", "PlateService", "PlateView", "QueueItem", "QueueState", "plate_for",
           "plate_map"]

#: Plates listed at most by one read.
MAX_PLATES = 500


class QueueState(enum.StrEnum):
    WAITING = "waiting"  # received, never on a plate
    RERUN = "rerun"  # back in the queue: its run is to be repeated from the same sample
    ON_PLATE = "on_plate"  # on a plate being built or ready
    AWAITING_RELEASE = "awaiting_release"  # on an imported plate, its result preliminary


@dataclass(frozen=True, slots=True)
class QueueItem:
    tube: QueueTube
    state: QueueState
    waiting_min: int  # since receipt
    late: bool  # waiting longer than the lab's target


@dataclass(frozen=True, slots=True)
class LabQueue:
    total: int
    priority: int
    late: int
    target_min: int  # the receipt-to-release target
    items: list[QueueItem]


@dataclass(frozen=True, slots=True)
class PlateView:
    """A plate with its map, the run file imported onto it and its wells' results; ``names``:
    the username of each user id of a step of the plate (built, ready, imported, released)."""

    plate: PlateRow
    assay: Assay
    wells: list[PlacedWell]
    run_file: RunFileRow | None
    results: list[WellResultRow]
    names: Mapping[str, str] = field(default_factory=dict)


def plate_map(plate: PlateRow, wells: Sequence[PlacedWell]) -> PlateMap:
    """The domain's plate map of a stored plate, made at once (a map grown one well at a time
    checks every well again at each step: a full plate's map took milliseconds)."""
    return PlateMap(plate.size, plate.assay, tuple(
        Placement(w.well, w.kind, barcode_key(w.barcode or "") if w.kind is WellKind.TUBE
                  else None) for w in wells))


def plate_for(uow: UnitOfWork, actor: Principal, action: Action, plate_id: str, *,
              for_update: bool = False) -> PlateRow:
    """The plate ``actor`` may do ``action`` to (its lab's), within ``uow``."""
    plate = uow.plates.plate(plate_id, for_update=for_update)
    if plate is None:
        raise NotFound("plate_id: no such plate", code="unknown_plate", field="plate_id")
    authorize(actor, action, Target(lab=plate.lab_id), field="plate_id")
    return plate


def _scanned_tube(plate: PlateRow, barcode: str, tube: BenchTube | None,
                  field: str) -> BenchTube:
    """The tube ``barcode`` names (``tube``, as read), if it may go on ``plate``: it exists,
    this lab received it, it is not resulted, no other plate holds it. ``field`` names the
    scan in an error."""
    if tube is None:
        check_tube_barcode(barcode)  # a barcode that cannot be one says so first
        raise NotFound(f"{field}: no tube with this barcode exists", code="unknown_tube",
                       field=field)
    if tube.lab_id == plate.lab_id:
        check_testable(tube.status)  # rejected, or its result cancelled: never tested
    if tube.lab_id != plate.lab_id or tube.status not in ("received", "resulted"):
        raise RuleViolation(f"{field}: this lab has not received the tube",
                            code="not_received", field=field)
    if tube.status == "resulted":
        raise RuleViolation(f"{field}: the tube's result is released already",
                            code="tube_resulted", field=field)
    if tube.plate_id is not None and tube.plate_id != plate.id:
        raise RuleViolation(f"{field}: the tube is on another plate ({tube.plate_id})",
                            code="tube_on_other_plate", field=field)
    return tube


def _state(t: QueueTube) -> QueueState:
    if t.plate_status is PlateStatus.IMPORTED:
        return QueueState.AWAITING_RELEASE
    if t.plate_status is not None:
        return QueueState.ON_PLATE
    return QueueState.RERUN if t.rerun else QueueState.WAITING


class PlateService:
    def __init__(self, deps: Deps, assays: AssayService) -> None:
        self._d = deps
        self._assays = assays

    # -- building a plate --------------------------------------------------------------------

    def create(self, actor: Principal, lab_id: str, size: int = 96) -> PlateRow:
        """A new plate for ``lab_id`` with the current assay version, being built."""
        authorize(actor, Action.BUILD_PLATES, Target(lab=lab_id), field="lab_id")
        try:
            plate_size = PlateSize(size)
        except ValueError:
            raise InvalidInput("size must be 96 or 384 (wells)", code="bad_plate_size",
                               field="size") from None
        now = self._d.clock.now()

        def make(uow: UnitOfWork) -> PlateRow:
            if uow.places.lab(lab_id) is None:
                raise NotFound("lab_id: no such lab", code="unknown_lab", field="lab_id")
            assay = self._assays.current_in(uow)  # (the first plate stores the default)
            plate = PlateRow(self._d.new_id(), lab_id, assay.ref, plate_size,
                             PlateStatus.BUILDING, actor.user_id, now)
            uow.plates.add_plate(plate)
            uow.audit_log.append(now, actor.username, "plate.create", f"plate:{plate.id}",
                                 {"lab_id": lab_id, "assay": str(assay.ref),
                                  "size": int(plate_size)})
            return plate

        return write_retrying(self._d, make)

    def place_tube(self, actor: Principal, plate_id: str, well: str,
                   barcode: str) -> PlacedWell:
        """Scan a tube into a well. Refused: a tube that does not exist (``unknown_tube``),
        that this lab has not received (``not_received``), rejected (``tube_rejected``) or
        whose result was cancelled (``result_cancelled``), that is resulted
        (``tube_resulted``), that another plate holds (``tube_on_other_plate``), that is on
        this plate already (``tube_on_plate``), a well that holds something
        (``well_taken``)."""
        now = self._d.clock.now()
        with self._d.uow() as uow:
            plate = plate_for(uow, actor, Action.BUILD_PLATES, plate_id, for_update=True)
            check_status(plate.status, "place")
            key = barcode_key(barcode) if isinstance(barcode, str) else ""
            tube = _scanned_tube(plate, barcode, uow.plates.bench_tube(key, for_update=True)
                                 if key else None, "barcode")
            placed = plate_map(plate, uow.plates.wells(plate.id)).place_tube(
                well, tube.barcode).at(well)
            assert placed is not None
            row = PlacedWell(plate.id, placed.well, WellKind.TUBE, tube.id, tube.barcode,
                             actor.user_id, now)
            uow.plates.place(row)
            uow.audit_log.append(now, actor.username, "plate.place", f"plate:{plate.id}",
                                 {"well": row.well, "barcode": tube.barcode})
            uow.commit()
        return row

    def place_tubes(self, actor: Principal, plate_id: str,
                    scans: Sequence[tuple[str, str]]) -> list[PlacedWell]:
        """A rack of tubes scanned at once (a rack reader reads the barcode at each position):
        ``(well, barcode)`` pairs, each checked as ``place_tube`` checks one, placed in one
        transaction. The first refusal refuses the whole scan: nothing of it is placed."""
        now = self._d.clock.now()
        with self._d.uow() as uow:
            plate = plate_for(uow, actor, Action.BUILD_PLATES, plate_id, for_update=True)
            check_status(plate.status, "place")
            before = plate_map(plate, uow.plates.wells(plate.id))
            keys = [barcode_key(b) if isinstance(b, str) else "" for _, b in scans]
            found = uow.plates.bench_tubes([k for k in keys if k], for_update=True)
            rows: list[PlacedWell] = []
            for i, (well, barcode) in enumerate(scans):
                tube = _scanned_tube(plate, barcode, found.get(keys[i]), f"tubes[{i}]")
                rows.append(PlacedWell(plate.id, plate.size.well(well), WellKind.TUBE, tube.id,
                                       tube.barcode, actor.user_id, now))
            # one well holds one thing, a tube is once on a plate: the map checks them all
            PlateMap(plate.size, plate.assay, (*before.placements, *(
                Placement(r.well, WellKind.TUBE, r.barcode) for r in rows)))
            uow.plates.place_many(rows)
            uow.audit_log.append(now, actor.username, "plate.place", f"plate:{plate.id}",
                                 {"wells": {r.well: r.barcode for r in rows}})
            uow.commit()
        return rows

    def place_control(self, actor: Principal, plate_id: str, well: str,
                      kind: WellKind) -> PlacedWell:
        """Place a positive, negative or no-template control in a well."""
        now = self._d.clock.now()
        with self._d.uow() as uow:
            plate = plate_for(uow, actor, Action.BUILD_PLATES, plate_id, for_update=True)
            check_status(plate.status, "place")
            placed = plate_map(plate, uow.plates.wells(plate.id)).place_control(well, kind)
            at = placed.at(well)
            assert at is not None
            row = PlacedWell(plate.id, at.well, kind, None, None, actor.user_id, now)
            uow.plates.place(row)
            uow.audit_log.append(now, actor.username, "plate.place", f"plate:{plate.id}",
                                 {"well": row.well, "control": kind.value})
            uow.commit()
        return row

    def remove(self, actor: Principal, plate_id: str, well: str) -> None:
        """Empty a well of a plate being built (a wrong scan taken back)."""
        now = self._d.clock.now()
        with self._d.uow() as uow:
            plate = plate_for(uow, actor, Action.BUILD_PLATES, plate_id, for_update=True)
            check_status(plate.status, "place")
            w = plate.size.well(well)
            if not uow.plates.remove_well(plate.id, w):
                raise NotFound(f"well {w} holds nothing", code="empty_well", field="well")
            uow.audit_log.append(now, actor.username, "plate.remove", f"plate:{plate.id}",
                                 {"well": w})
            uow.commit()

    def mark_ready(self, actor: Principal, plate_id: str) -> PlateRow:
        """The plate map is complete — its assay's controls and at least one tube — and is
        locked: the plate goes on the instrument."""
        now = self._d.clock.now()
        with self._d.uow() as uow:
            plate = plate_for(uow, actor, Action.BUILD_PLATES, plate_id, for_update=True)
            check_status(plate.status, "ready")
            assay = self._assays.version(uow, plate.assay)
            m = plate_map(plate, uow.plates.wells(plate.id))
            m.check_runnable(assay)
            uow.plates.mark_ready(plate.id, actor.user_id, now)
            uow.audit_log.append(now, actor.username, "plate.ready", f"plate:{plate.id}",
                                 {"tubes": len(m.tubes()), "controls": len(m.controls())})
            uow.commit()
        return replace(plate, status=PlateStatus.READY, ready_by=actor.user_id, ready_at=now)

    # -- reading -------------------------------------------------------------------------------

    def plate(self, actor: Principal, plate_id: str) -> PlateView:
        with self._d.uow(readonly=True) as uow:
            plate = plate_for(uow, actor, Action.READ_PLATES, plate_id)
            run_file = (None if plate.run_file_id is None
                        else uow.plates.run_file(plate.run_file_id))
            people = {plate.created_by, plate.ready_by, plate.imported_by, plate.released_by}
            return PlateView(plate, self._assays.version(uow, plate.assay),
                             uow.plates.wells(plate.id), run_file,
                             uow.plates.well_results(plate.id),
                             uow.users.usernames(u for u in people if u is not None))

    def run_file_data(self, actor: Principal, plate_id: str) -> tuple[RunFileRow, bytes]:
        """The instrument file imported onto a plate, as it was uploaded."""
        with self._d.uow(readonly=True) as uow:
            plate = plate_for(uow, actor, Action.READ_PLATES, plate_id)
            row = None if plate.run_file_id is None else uow.plates.run_file(plate.run_file_id)
            data = None if row is None else uow.plates.run_file_data(row.id)
        if row is None or data is None:
            raise NotFound("the plate has no run file yet", code="no_run_file",
                           field="plate_id")
        return row, data

    def plates(self, actor: Principal, lab_id: str, status: PlateStatus | None = None,
               limit: int = 100) -> list[PlateRow]:
        """A lab's plates, newest first."""
        authorize(actor, Action.READ_PLATES, Target(lab=lab_id), field="lab_id")
        with self._d.uow(readonly=True) as uow:
            return uow.plates.lab_plates(lab_id, None if status is None else [status],
                                         max(1, min(limit, MAX_PLATES)))

    def queue(self, actor: Principal, lab_id: str, limit: int = 200) -> LabQueue:
        """The tubes the lab has received and not released, priority first, then by waiting
        time, each with its wait against the receipt-to-release target."""
        authorize(actor, Action.READ_LAB_QUEUE, Target(lab=lab_id), field="lab_id")
        now, target = self._d.clock.now(), self._d.limits.lab
        with self._d.uow(readonly=True) as uow:
            counts, tubes = uow.plates.queue(lab_id, now - target, max(1, min(limit, 5000)))
        items = []
        for t in tubes:
            waited = now - t.received_at
            items.append(QueueItem(t, _state(t), int(waited.total_seconds() // 60),
                                   waited > target))
        return LabQueue(counts.total, counts.priority, counts.late,
                        int(target.total_seconds() // 60), items)

    # -- the lab's release setting -------------------------------------------------------------

    def release_setting(self, actor: Principal, lab_id: str) -> bool:
        """Whether the lab may release a run by one person."""
        authorize(actor, Action.READ_PLATES, Target(lab=lab_id), field="lab_id")
        with self._d.uow(readonly=True) as uow:
            row = uow.plates.release_setting(lab_id)
        return row is not None and row.one_person_release

    def set_one_person_release(self, actor: Principal, lab_id: str,
                               allowed: bool) -> ReleaseSetting:
        """Allow (or stop) one-person release at a lab: an administrator's decision,
        audited."""
        authorize(actor, Action.SET_ONE_PERSON_RELEASE, Target(lab=lab_id), field="lab_id")
        now = self._d.clock.now()
        row = ReleaseSetting(lab_id, bool(allowed), actor.username, now)
        with self._d.uow() as uow:
            if uow.places.lab(lab_id) is None:
                raise NotFound("lab_id: no such lab", code="unknown_lab", field="lab_id")
            before = uow.plates.release_setting(lab_id)
            uow.plates.set_release_setting(row)
            uow.audit_log.append(now, actor.username, "lab.one_person_release", f"lab:{lab_id}",
                                 {"one_person_release": row.one_person_release,
                                  "was": before is not None and before.one_person_release})
            uow.commit()
        return row

