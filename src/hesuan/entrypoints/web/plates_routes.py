"""The laboratory's plates (检): the plate builder, a run's import with its preview, the review
queue with release, and the plate map coloured by call (docs/LAB.md, docs/WEB.md).

- ``/web/lab/plates``: the lab's plates by status, and a new plate (96 or 384 wells) with the
  current assay version (``PlateService.create``).
- ``/web/lab/plates/{plate_id}``: while the plate is being built, a hand scanner types a tube's
  barcode and Enter into the well the page suggests — the next free one, column by column as
  labs fill plates (``PlateMap.next_free``) — or a control's label (``PC``, ``NC``, ``NTC``…:
  the domain's ``CONTROL_NAMES``); the assay's controls are listed and the missing ones marked; a
  well is emptied; the plate is marked ready. Once ready, the instrument's export file is
  uploaded and previewed (``RunService.preview``: the same checks as the import, each well's
  call, Ct per target and decision, plate QC) and only then imported (``RunService.import_run``);
  the file's bytes travel back with the import form (base64), so nothing is kept between the
  two requests and the service checks everything again. Once imported, a second lab user
  releases it (``RunService.release``); the page says what bars the reader
  (``RunService.review``).
- ``/web/lab/review``: the plates waiting for release, with who built and who imported each
  (``RunService.awaiting_release``).
- A tube is rejected at the bench from the plate page (``RejectionService.reject``): on a plate
  being built its well empties; on a plate past building it stays in its well, never released.

Imports: FastAPI/Starlette, ``hesuan.domain``, ``hesuan.services``, the web package.
"""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from hesuan.domain.access import Action, Principal, Role
from hesuan.domain.errors import HesuanError, InvalidInput, NotFound
from hesuan.domain.plates import CONTROL_NAMES, PlateFileMismatch, PlateSize, WellKind
from hesuan.domain.runs import PlateStatus
from hesuan.domain.specimens import RejectionCode
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.web import messages as m
from hesuan.entrypoints.web.forms import SignedForm, WebMe, text, upload, whole_number
from hesuan.entrypoints.web.render import (
    FORM_ERRORS,
    WebRoute,
    error_text,
    gettext_for,
    redirect,
    render,
)
from hesuan.entrypoints.web.session import check_csrf, platform_of
from hesuan.services.lab_ports import PlacedWell, PlateRow, WellResultRow
from hesuan.services.plates import PlateView, plate_map
from hesuan.services.rejections import RejectionInput
from hesuan.services.runs import MAX_RUN_FILE, RunImport, RunRelease

__all__ = ["router"]

router = APIRouter(route_class=WebRoute, include_in_schema=False)

#: The export file travels back with the import form as base64: 4 characters per 3 bytes.
_MAX_B64 = (MAX_RUN_FILE + 2) // 3 * 4
#: Errors whose service message says more than their plain words (which wells, which targets).
_DETAILED = {"file_assay_mismatch", "unreadable_instrument_file", "duplicate_run_file",
             "controls_missing"}
#: The controls a plate may hold, in the order the page lists them.
_CONTROLS = (WellKind.POSITIVE_CONTROL, WellKind.NEGATIVE_CONTROL, WellKind.NO_TEMPLATE_CONTROL)
#: The short mark a control's well shows on the map (the labels labs write on them).
_CONTROL_MARKS = {WellKind.POSITIVE_CONTROL: "PC", WellKind.NEGATIVE_CONTROL: "NC",
                  WellKind.NO_TEMPLATE_CONTROL: "NTC"}
#: A tube's call after the run: the colour (CSS class) and mark of its well on the map.
_CALL_STYLE = {"positive": ("pos", "+"), "negative": ("neg", "−"), "retest": ("retest", "R"),
               "recall_single_target": ("recall", "R"), "recall_grey_zone": ("recall", "R"),
               "invalid": ("invalid", "!"), "void": ("void", "×"), "omitted": ("void", "○")}

Gettext = Callable[[str], str]


def _lab_id(me: Principal) -> str:
    if me.role is not Role.LAB or not me.scope:
        raise NotFound("the laboratory pages are for laboratory accounts", code="wrong_role")
    return me.scope


# -- the plate map ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cell:
    """One well on the map: its colour (CSS class), its mark and what it holds and showed."""

    well: str
    css: str
    mark: str
    title: str
    outcome: str = ""


def _cell(well: str, placed: PlacedWell | None, result: WellResultRow | None,
          _: Gettext) -> Cell:
    if placed is None:
        return Cell(well, "empty", "", well)
    holds = placed.barcode or "" if placed.kind is WellKind.TUBE else _(m.WELL_KINDS[placed.kind])
    if placed.kind is not WellKind.TUBE:
        css, mark = "ctl", _CONTROL_MARKS[placed.kind]
        if result is not None:
            css = "ctl-pass" if result.outcome == "passed" else "ctl-fail"
    elif result is None:
        css, mark = "tube", "•"
    else:
        css, mark = _CALL_STYLE.get(result.outcome, ("void", "?"))
    title = f"{well} · {holds}"
    if result is not None:
        title += f" · {_(m.WELL_OUTCOMES.get(result.outcome, result.outcome))}"
    return Cell(well, css, mark, title, "" if result is None else result.outcome)


def _map(size: PlateSize, wells: Iterable[PlacedWell], results: Iterable[WellResultRow],
         _: Gettext) -> list[tuple[str, list[Cell]]]:
    """The plate's rows, each with its wells' cells, coloured by what the run showed."""
    placed = {w.well: w for w in wells}
    shown = {r.well: r for r in results}
    return [(row, [_cell(f"{row}{c}", placed.get(f"{row}{c}"), shown.get(f"{row}{c}"), _)
                   for c in range(1, size.columns + 1)]) for row in size.rows]


# -- the plate page --------------------------------------------------------------------------


def _plate_page(request: Request, me: Principal, plate_id: str, *,
                preview: RunImport | None = None, **extra: Any) -> Response:
    platform = platform_of(request)
    view = platform.plates.plate(me, plate_id)
    plate, assay = view.plate, view.assay
    pmap = plate_map(plate, view.wells)
    results = preview.wells if preview is not None else view.results
    controls = [(kind, kind in _required(view), [w.well for w in view.wells if w.kind is kind])
                for kind in _CONTROLS]
    review = (platform.runs.review(me, plate_id)
              if plate.status is PlateStatus.IMPORTED else None)
    decisions = Counter(r.decision.value for r in results if r.decision is not None)
    return render(
        request, "plate.html", me, view=view, plate=plate, assay=assay,
        rows=_map(plate.size, view.wells, results, gettext_for(request)),
        next_well=pmap.next_free(), controls=controls,
        missing=pmap.missing_controls(assay), tubes=len(pmap.tubes()),
        results=results, decisions=decisions, preview=preview, review=review,
        qc_failures=[r for r in results if r.kind is not WellKind.TUBE
                     and r.outcome != "passed"],
        targets=[t.name for t in assay.targets], name=lambda u: view.names.get(u, u),
        barcodes={w.well: w.barcode for w in view.wells if w.barcode},
        rejection_codes=list(RejectionCode), **extra)


def _required(view: PlateView) -> set[WellKind]:
    return set(plate_map(view.plate, []).missing_controls(view.assay))


def _failed(request: Request, me: Principal, plate_id: str, exc: HesuanError,
            **extra: Any) -> Response:
    """The plate page with the error in plain words, in place of the form that caused it."""
    detail = exc.message if exc.code in _DETAILED else None
    mismatch = exc if isinstance(exc, PlateFileMismatch) else None
    return _plate_page(request, me, plate_id, error=error_text(request, exc),
                       error_detail=detail, mismatch=mismatch, **extra)


@router.get("/web/lab/plates/{plate_id}", openapi_extra=acts(Action.READ_PLATES))
def plate_page(request: Request, me: WebMe, plate_id: str) -> Response:
    return _plate_page(request, me, plate_id)


def _control_named(scan: str) -> WellKind | None:
    """The control whose label a scan is (``PC``, ``NC``, ``NTC``, ``阳性对照``…), if any."""
    key = scan.strip().casefold()
    return next((kind for kind, names in CONTROL_NAMES.items() if key in names), None)


@router.post("/web/lab/plates/{plate_id}/wells", openapi_extra=acts(Action.BUILD_PLATES))
def plate_place(request: Request, me: WebMe, plate_id: str, form: SignedForm) -> Response:
    """A scan into a well: a tube's barcode or a control's label; or a control's button."""
    plates = platform_of(request).plates
    well = text(form, "well", max_len=5)
    scan = text(form, "scan", max_len=40)
    control = text(form, "control", max_len=30)
    try:
        if not well:
            raise InvalidInput("well is required", code="bad_well", field="well")
        kind = _control_named(scan) if scan else None
        if control:
            if control not in {k.value for k in _CONTROLS}:
                raise InvalidInput("control: not a control", code="bad_placement",
                                   field="control")
            kind = WellKind(control)
        if kind is not None:
            placed = plates.place_control(me, plate_id, well, kind)
        elif scan:
            placed = plates.place_tube(me, plate_id, well, scan)
        else:
            raise InvalidInput("scan a tube or choose a control", code="bad_placement",
                               field="scan")
    except FORM_ERRORS as exc:
        return _failed(request, me, plate_id, exc, well=well)
    return _plate_page(request, me, plate_id, placed=placed)


@router.post("/web/lab/plates/{plate_id}/remove", openapi_extra=acts(Action.BUILD_PLATES))
def plate_remove(request: Request, me: WebMe, plate_id: str, form: SignedForm) -> Response:
    well = text(form, "well", max_len=5)
    try:
        platform_of(request).plates.remove(me, plate_id, well)
    except FORM_ERRORS as exc:
        return _failed(request, me, plate_id, exc)
    return _plate_page(request, me, plate_id, removed=well.upper())


@router.post("/web/lab/plates/{plate_id}/ready", openapi_extra=acts(Action.BUILD_PLATES))
def plate_ready(request: Request, me: WebMe, plate_id: str, form: SignedForm) -> Response:
    try:
        platform_of(request).plates.mark_ready(me, plate_id)
    except FORM_ERRORS as exc:
        return _failed(request, me, plate_id, exc)
    return _plate_page(request, me, plate_id, made_ready=True)


@router.post("/web/lab/plates/{plate_id}/reject", openapi_extra=acts(Action.REJECT_SPECIMEN))
def plate_reject(request: Request, me: WebMe, plate_id: str, form: SignedForm) -> Response:
    """A tube of the plate's lab rejected at the bench, from the plate page."""
    platform = platform_of(request)
    lab_id = platform.plates.plate(me, plate_id).plate.lab_id
    barcode = text(form, "barcode", max_len=40)
    try:
        row = platform.rejections.reject(me, lab_id, RejectionInput(
            barcode, text(form, "code", max_len=40), text(form, "note", max_len=1000) or None))
    except FORM_ERRORS as exc:
        return _plate_page(request, me, plate_id, reject_error=error_text(request, exc),
                           reject_barcode=barcode)
    return _plate_page(request, me, plate_id, rejected=row)


# -- the run: preview, then import -----------------------------------------------------------


@router.post("/web/lab/plates/{plate_id}/run/preview", openapi_extra=acts(Action.IMPORT_RUNS))
async def run_preview(request: Request, me: WebMe, plate_id: str,
                      form: SignedForm) -> Response:
    """Step 1: read the export file and show what importing it would store."""
    f = upload(form, "file")
    data = b"" if f is None else await f.read(MAX_RUN_FILE + 1)
    name = (f.filename if f is not None else None) or "run"
    return await run_in_threadpool(_preview, request, me, plate_id, name, data)


def _preview(request: Request, me: Principal, plate_id: str, name: str,
             data: bytes) -> Response:
    platform = platform_of(request)
    try:
        if not data:
            raise InvalidInput("choose the instrument's export file", code="missing_file",
                               field="file")
        preview = platform.runs.preview(me, plate_id, name, data)
    except FORM_ERRORS as exc:
        return _failed(request, me, plate_id, exc)
    return _plate_page(request, me, plate_id, preview=preview, run_name=name[:200],
                       run_data=base64.b64encode(data).decode("ascii"))


async def _run_form(request: Request) -> FormData:
    """The import form, which carries the previewed file back (larger than other fields)."""
    form = await request.form(max_part_size=_MAX_B64 + 1024)
    csrf = form.get("csrf")
    check_csrf(request, csrf if isinstance(csrf, str) else None)
    return form


@router.post("/web/lab/plates/{plate_id}/run", openapi_extra=acts(Action.IMPORT_RUNS))
def run_import(request: Request, me: WebMe, plate_id: str,
               form: Annotated[FormData, Depends(_run_form)]) -> Response:
    """Step 2: import the previewed file (the service checks everything again)."""
    platform = platform_of(request)
    name = text(form, "name", max_len=200) or "run"
    try:
        try:
            data = base64.b64decode(text(form, "data", max_len=_MAX_B64), validate=True)
        except binascii.Error:
            raise InvalidInput("file: the previewed file did not come back whole",
                               code="unreadable_instrument_file", field="file") from None
        if not data:
            raise InvalidInput("choose the instrument's export file", code="missing_file",
                               field="file")
        imported = platform.runs.import_run(me, plate_id, name, data)
    except FORM_ERRORS as exc:
        return _failed(request, me, plate_id, exc)
    return _plate_page(request, me, plate_id, imported=imported)


# -- release and the review queue ------------------------------------------------------------


@router.post("/web/lab/plates/{plate_id}/release", openapi_extra=acts(Action.RELEASE_RUNS))
def run_release(request: Request, me: WebMe, plate_id: str, form: SignedForm) -> Response:
    try:
        released: RunRelease = platform_of(request).runs.release(me, plate_id)
    except FORM_ERRORS as exc:
        return _failed(request, me, plate_id, exc)
    return _plate_page(request, me, plate_id, released=released,
                       released_counts={r.value: n for r, n in released.released.items()})


@router.get("/web/lab/review", openapi_extra=acts(Action.READ_PLATES))
def review_page(request: Request, me: WebMe) -> Response:
    queue = platform_of(request).runs.awaiting_release(me, _lab_id(me))
    return render(request, "review.html", me, queue=queue)


# -- the lab's plates ------------------------------------------------------------------------


def _plates_page(request: Request, me: Principal, **extra: Any) -> Response:
    platform = platform_of(request)
    lab_id = _lab_id(me)
    plates = platform.plates.plates(me, lab_id, limit=200)
    by_status: Mapping[PlateStatus, list[PlateRow]] = {
        s: [p for p in plates if p.status is s] for s in PlateStatus}
    return render(request, "plates.html", me, by_status=by_status,
                  assay=platform.assays.current(me), **extra)


@router.get("/web/lab/plates", openapi_extra=acts(Action.READ_PLATES))
def plates_page(request: Request, me: WebMe) -> Response:
    return _plates_page(request, me)


@router.post("/web/lab/plates", openapi_extra=acts(Action.BUILD_PLATES))
def plate_create(request: Request, me: WebMe, form: SignedForm) -> Response:
    lab_id = _lab_id(me)
    size = text(form, "size", max_len=4)
    try:
        plate = platform_of(request).plates.create(me, lab_id,
                                                   whole_number(size) or 0)
    except FORM_ERRORS as exc:
        return _plates_page(request, me, error=error_text(request, exc))
    return redirect(f"/web/lab/plates/{plate.id}")
