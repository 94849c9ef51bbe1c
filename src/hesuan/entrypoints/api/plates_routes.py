"""HTTP routes of the lab stage (检): assays, plates built by scanning tubes and placing controls,
a run's instrument file imported onto its plate, its release, the lab queue, and a lab's
one-person release setting (docs/LAB.md).

Imports: FastAPI, pydantic, ``hesuan.entrypoints.api``, ``hesuan.services``, ``hesuan.domain``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Path, Query, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from hesuan.domain.access import Action
from hesuan.domain.assays import Assay
from hesuan.domain.errors import InvalidInput
from hesuan.domain.plates import WellKind
from hesuan.domain.runs import PlateStatus
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.api import schemas as s
from hesuan.entrypoints.api.deps import Me, PlatformDep
from hesuan.services.assays import TargetInput
from hesuan.services.lab_ports import PlacedWell, PlateRow, RunFileRow, WellResultRow
from hesuan.services.runs import MAX_RUN_FILE, RunImport

__all__ = ["router"]

router = APIRouter(tags=["testing"])

PlateId = Annotated[str, Path(min_length=1, max_length=40)]
LabId = Annotated[str, Path(min_length=1, max_length=40)]
Well = Annotated[str, Path(min_length=1, max_length=5)]


# -- bodies -------------------------------------------------------------------------------------

class TargetIn(s.Strict):
    name: str = Field(min_length=1, max_length=40)
    dye: str = Field(min_length=1, max_length=32)
    cutoff: float = Field(gt=0, le=60, allow_inf_nan=False)
    grey_from: float | None = Field(default=None, gt=0, le=60, allow_inf_nan=False)
    internal_control: bool = False


class AssayIn(s.Strict):
    """A new version of an assay (its next version number is given to it)."""

    id: str = Field(min_length=1, max_length=64, description="e.g. orf1ab-n")
    name: str = Field(min_length=1, max_length=100)
    targets: list[TargetIn] = Field(min_length=2, max_length=8)
    no_template_control: bool = False
    positive_needs: int | None = Field(default=None, ge=1, le=8)
    reruns: int | None = Field(default=None, ge=0, le=3)
    cycles: int | None = Field(default=None, ge=1, le=60)


class PlateIn(s.Strict):
    size: Literal[96, 384] = 96


class WellIn(s.Strict):
    """A tube scanned into a well (``barcode``), or a control placed in it (``control``)."""

    well: str = Field(min_length=1, max_length=5, description="A1 … H12 (P24)")
    barcode: str | None = Field(default=None, min_length=1, max_length=40)
    control: Literal["positive_control", "negative_control", "no_template_control"] | None = None


class ReleaseSettingIn(s.Strict):
    one_person_release: bool


# -- answers ------------------------------------------------------------------------------------

class TargetOut(BaseModel):
    name: str
    dye: str
    cutoff: float
    grey_from: float | None
    role: str


class TableRowOut(BaseModel):
    reason: str
    when: str
    call: str
    last_run_call: str
    step: str
    last_run_step: str


class AssayOut(BaseModel):
    id: str
    version: int
    ref: str
    name: str
    targets: list[TargetOut]
    no_template_control: bool
    positive_needs: int
    reruns: int
    cycles: int
    table: list[TableRowOut]
    current: bool | None = None
    created_by: str | None = None
    created_at: datetime | None = None


class PlateOut(BaseModel):
    id: str
    lab_id: str
    assay: str
    size: int
    status: PlateStatus
    created_by: str
    created_at: datetime
    ready_at: datetime | None
    run_file_id: str | None
    imported_by: str | None
    imported_at: datetime | None
    qc_passed: bool | None
    released_by: str | None
    released_at: datetime | None


class WellOut(BaseModel):
    well: str
    kind: WellKind
    barcode: str | None
    placed_by: str
    placed_at: datetime


class RunFileOut(BaseModel):
    id: str
    name: str
    format: str
    sha256: str
    size: int
    instrument: str | None
    instrument_serial: str | None
    software: str | None
    run_name: str | None
    uploaded_by: str
    uploaded_at: datetime


class WellResultOut(BaseModel):
    well: str
    kind: WellKind
    barcode: str | None
    sample_name: str | None
    cts: dict[str, float | None]
    outcome: str
    reason: str
    evidence: dict[str, Any]
    assay: str
    attempt: int | None
    counted: bool
    decision: str | None
    result: str | None
    result_log_id: str | None


class PlateDetailOut(BaseModel):
    plate: PlateOut
    assay: AssayOut
    wells: list[WellOut]
    run_file: RunFileOut | None
    results: list[WellResultOut]


class RunImportOut(BaseModel):
    plate: PlateOut
    run_file: RunFileOut
    qc_passed: bool
    decisions: dict[str, int]
    wells: list[WellResultOut]


class RunReleaseOut(BaseModel):
    plate: PlateOut
    released: dict[str, int]
    already_resulted: list[str]
    people_notified: int
    recalls_opened: int
    recalls_resolved: int
    pools_closed: int
    statuses_decided: int


class QueueItemOut(BaseModel):
    barcode: str
    priority: bool
    pool_size: int
    people: int
    received_at: datetime
    waiting_min: int
    late: bool
    state: str
    runs: int
    plate_id: str | None


class QueueOut(BaseModel):
    total: int
    priority: int
    late: int
    target_min: int
    items: list[QueueItemOut]


class ReleaseSettingOut(BaseModel):
    lab_id: str
    one_person_release: bool


def _assay(a: Assay, **extra: Any) -> AssayOut:
    return AssayOut(
        id=a.id, version=a.version, ref=str(a.ref), name=a.name,
        targets=[TargetOut(name=t.name, dye=t.dye, cutoff=t.cutoff, grey_from=t.grey_from,
                           role=t.role.value) for t in a.targets],
        no_template_control=a.no_template_control, positive_needs=a.targets_for_positive,
        reruns=a.reruns, cycles=a.cycles,
        table=[TableRowOut(reason=r.reason.value, when=r.when, call=r.call.value,
                           last_run_call=r.last_run_call.value, step=r.step.value,
                           last_run_step=r.last_run_step.value) for r in a.table()],
        **extra)


def _plate(p: PlateRow) -> PlateOut:
    return PlateOut(id=p.id, lab_id=p.lab_id, assay=str(p.assay), size=int(p.size),
                    status=p.status, created_by=p.created_by, created_at=p.created_at,
                    ready_at=p.ready_at, run_file_id=p.run_file_id, imported_by=p.imported_by,
                    imported_at=p.imported_at, qc_passed=p.qc_passed,
                    released_by=p.released_by, released_at=p.released_at)


def _well(w: PlacedWell) -> WellOut:
    return WellOut(well=w.well, kind=w.kind, barcode=w.barcode, placed_by=w.placed_by,
                   placed_at=w.placed_at)


def _file(f: RunFileRow) -> RunFileOut:
    return RunFileOut(id=f.id, name=f.name, format=f.format.value, sha256=f.sha256,
                      size=f.size, instrument=f.instrument,
                      instrument_serial=f.instrument_serial, software=f.software,
                      run_name=f.run_name, uploaded_by=f.uploaded_by,
                      uploaded_at=f.uploaded_at)


def _result(w: WellResultRow) -> WellResultOut:
    return WellResultOut(
        well=w.well, kind=w.kind, barcode=w.barcode, sample_name=w.sample_name,
        cts=dict(w.cts), outcome=w.outcome, reason=w.reason, evidence=dict(w.evidence),
        assay=str(w.assay), attempt=w.attempt, counted=w.counted,
        decision=None if w.decision is None else w.decision.value,
        result=None if w.result is None else w.result.value, result_log_id=w.result_log_id)


# -- assays -------------------------------------------------------------------------------------

@router.get("/assays", openapi_extra=acts(Action.READ_ASSAYS))
def assays(me: Me, platform: PlatformDep) -> list[AssayOut]:
    return [_assay(v.assay, current=v.current, created_by=v.created_by,
                   created_at=v.created_at) for v in platform.assays.versions(me)]


@router.get("/assays/current", openapi_extra=acts(Action.READ_ASSAYS))
def current_assay(me: Me, platform: PlatformDep) -> AssayOut:
    return _assay(platform.assays.current(me), current=True)


@router.post("/assays", status_code=201, openapi_extra=acts(Action.SET_ASSAY))
def set_assay(me: Me, platform: PlatformDep, body: AssayIn) -> AssayOut:
    assay = platform.assays.set_version(
        me, body.id, body.name,
        [TargetInput(t.name, t.dye, t.cutoff, t.grey_from, t.internal_control)
         for t in body.targets],
        no_template_control=body.no_template_control, positive_needs=body.positive_needs,
        reruns=body.reruns, cycles=body.cycles)
    return _assay(assay, current=True)


# -- plates -------------------------------------------------------------------------------------

@router.post("/labs/{lab_id}/plates", status_code=201, openapi_extra=acts(Action.BUILD_PLATES))
def create_plate(me: Me, platform: PlatformDep, lab_id: LabId, body: PlateIn) -> PlateOut:
    return _plate(platform.plates.create(me, lab_id, body.size))


@router.get("/labs/{lab_id}/plates", openapi_extra=acts(Action.READ_PLATES))
def lab_plates(me: Me, platform: PlatformDep, lab_id: LabId,
               status: PlateStatus | None = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[PlateOut]:
    return [_plate(p) for p in platform.plates.plates(me, lab_id, status, limit)]


@router.get("/plates/{plate_id}", openapi_extra=acts(Action.READ_PLATES))
def plate(me: Me, platform: PlatformDep, plate_id: PlateId) -> PlateDetailOut:
    v = platform.plates.plate(me, plate_id)
    return PlateDetailOut(plate=_plate(v.plate), assay=_assay(v.assay),
                          wells=[_well(w) for w in v.wells],
                          run_file=None if v.run_file is None else _file(v.run_file),
                          results=[_result(w) for w in v.results])


@router.get("/plates/{plate_id}/run-file", openapi_extra=acts(Action.READ_PLATES),
            response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}}})
def run_file(me: Me, platform: PlatformDep, plate_id: PlateId) -> Response:
    """The instrument's export file as it was imported onto the plate."""
    row, data = platform.plates.run_file_data(me, plate_id)
    name = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in row.name)
    return Response(data, media_type="application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "X-Content-SHA256": row.sha256})


@router.post("/plates/{plate_id}/wells", status_code=201,
             openapi_extra=acts(Action.BUILD_PLATES))
def place(me: Me, platform: PlatformDep, plate_id: PlateId, body: WellIn) -> WellOut:
    if (body.barcode is None) == (body.control is None):
        raise InvalidInput("give a tube's barcode or a control, one of them",
                           code="bad_placement", field="barcode")
    if body.barcode is not None:
        return _well(platform.plates.place_tube(me, plate_id, body.well, body.barcode))
    assert body.control is not None
    return _well(platform.plates.place_control(me, plate_id, body.well,
                                               WellKind(body.control)))


@router.delete("/plates/{plate_id}/wells/{well}", status_code=204,
               openapi_extra=acts(Action.BUILD_PLATES))
def remove_well(me: Me, platform: PlatformDep, plate_id: PlateId, well: Well) -> Response:
    platform.plates.remove(me, plate_id, well)
    return Response(status_code=204)


@router.post("/plates/{plate_id}/ready", openapi_extra=acts(Action.BUILD_PLATES))
def mark_ready(me: Me, platform: PlatformDep, plate_id: PlateId) -> PlateOut:
    return _plate(platform.plates.mark_ready(me, plate_id))


# -- runs ---------------------------------------------------------------------------------------

@router.post("/plates/{plate_id}/run", openapi_extra=acts(Action.IMPORT_RUNS))
def import_run(me: Me, platform: PlatformDep, plate_id: PlateId,
               file: Annotated[UploadFile, File(description="the instrument's export: "
                                                "QuantStudio .txt or .xlsx, CFX Maestro .csv")],
               ) -> RunImportOut:
    data = file.file.read(MAX_RUN_FILE + 1)
    return _run(platform.runs.import_run(me, plate_id, file.filename or "run", data))


@router.post("/plates/{plate_id}/run/preview", openapi_extra=acts(Action.IMPORT_RUNS))
def preview_run(me: Me, platform: PlatformDep, plate_id: PlateId,
                file: Annotated[UploadFile, File(description="the instrument's export")],
                ) -> RunImportOut:
    """What importing the file would store — the same checks, each well's decision — with
    nothing stored."""
    data = file.file.read(MAX_RUN_FILE + 1)
    return _run(platform.runs.preview(me, plate_id, file.filename or "run", data))


def _run(out: RunImport) -> RunImportOut:
    return RunImportOut(plate=_plate(out.plate), run_file=_file(out.run_file),
                        qc_passed=out.qc_passed,
                        decisions={d.value: n for d, n in out.decisions.items()},
                        wells=[_result(w) for w in out.wells])


@router.post("/plates/{plate_id}/release", openapi_extra=acts(Action.RELEASE_RUNS))
def release(me: Me, platform: PlatformDep, plate_id: PlateId) -> RunReleaseOut:
    out = platform.runs.release(me, plate_id)
    c = out.fan_out
    return RunReleaseOut(
        plate=_plate(out.plate), released={r.value: n for r, n in out.released.items()},
        already_resulted=out.already_resulted,
        people_notified=0 if c is None else c.people_notified,
        recalls_opened=0 if c is None else c.recalls_opened,
        recalls_resolved=0 if c is None else c.recalls_resolved,
        pools_closed=0 if c is None else c.pools_closed,
        statuses_decided=0 if c is None else c.statuses_decided)


# -- the lab queue and the lab's release setting ------------------------------------------------

@router.get("/labs/{lab_id}/queue", openapi_extra=acts(Action.READ_LAB_QUEUE))
def lab_queue(me: Me, platform: PlatformDep, lab_id: LabId,
              limit: Annotated[int, Query(ge=1, le=5000)] = 200) -> QueueOut:
    q = platform.plates.queue(me, lab_id, limit)
    return QueueOut(total=q.total, priority=q.priority, late=q.late, target_min=q.target_min,
                    items=[QueueItemOut(
                        barcode=i.tube.barcode, priority=i.tube.priority,
                        pool_size=i.tube.pool_size, people=i.tube.people,
                        received_at=i.tube.received_at, waiting_min=i.waiting_min,
                        late=i.late, state=i.state.value, runs=i.tube.runs,
                        plate_id=i.tube.plate_id) for i in q.items])


@router.get("/labs/{lab_id}/release-setting", openapi_extra=acts(Action.READ_PLATES))
def release_setting(me: Me, platform: PlatformDep, lab_id: LabId) -> ReleaseSettingOut:
    return ReleaseSettingOut(lab_id=lab_id,
                             one_person_release=platform.plates.release_setting(me, lab_id))


@router.put("/labs/{lab_id}/release-setting",
            openapi_extra=acts(Action.SET_ONE_PERSON_RELEASE))
def set_release_setting(me: Me, platform: PlatformDep, lab_id: LabId,
                        body: ReleaseSettingIn) -> ReleaseSettingOut:
    row = platform.plates.set_one_person_release(me, lab_id, body.one_person_release)
    return ReleaseSettingOut(lab_id=row.lab_id, one_person_release=row.one_person_release)
