"""Delivery and testing (送, 检): the courier's page and the laboratory's page.

- Courier: scan a sealed box out of its site (``DeliveryService.hand_over``); the boxes waiting
  to be collected and the boxes the courier carries, with their age and lateness.
- Laboratory: receive a box with a count check (missing and extra tubes shown); upload a results
  CSV, see the validation report (``WorklistService.preview_results``) and only then commit it
  (``LabService.import_rows``); enter a result by hand; correct a result with a reason; the queue
  of tubes received and not released (``PlateService.queue``), priority first, then the longest
  waiting, against the receipt-to-release target. A tube the lab cannot test is rejected with a
  code from the domain's list, shown in plain words: when its box is received (in the receipt's
  transaction) or at the bench (``RejectionService.reject``). The lab's report and integrity
  list (``LabReportService``).

Imports: FastAPI/Starlette, ``hesuan.domain``, ``hesuan.services``, the web package.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from hesuan.domain.access import Action, Principal, Role
from hesuan.domain.errors import HesuanError, InvalidInput, NotFound
from hesuan.domain.results import CT_TARGETS
from hesuan.domain.specimens import RejectionCode
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.tables import read_csv_text
from hesuan.entrypoints.web.forms import SignedForm, WebMe, text, upload, whole_number
from hesuan.entrypoints.web.render import FORM_ERRORS, WebRoute, error_text, render
from hesuan.entrypoints.web.session import platform_of
from hesuan.services.lab import RESULT_COLUMNS, ResultInput
from hesuan.services.rejections import RejectionInput

__all__ = ["router"]

router = APIRouter(route_class=WebRoute, include_in_schema=False)

_MAX_CSV = 10_000_000
#: Rows of the receipt form for tubes of the box the lab rejects (more at the bench).
RECEIPT_REJECTIONS = 3
#: Boxes on a page of the lab's list of received boxes.
BOXES_PER_PAGE = 50


# -- courier -------------------------------------------------------------------------------


def _courier_page(request: Request, me: Principal, **extra: Any) -> Response:
    boxes = platform_of(request).worklists.courier_boxes(me)
    return render(request, "courier.html", me, boxes=boxes, event_id=str(uuid.uuid4()),
                  **extra)


@router.get("/web/courier", openapi_extra=acts(Action.READ_BOXES_TO_COLLECT))
def courier_page(request: Request, me: WebMe) -> Response:
    return _courier_page(request, me)


@router.post("/web/courier/handover", openapi_extra=acts(Action.HAND_OVER_BOX))
def courier_handover(request: Request, me: WebMe, form: SignedForm) -> Response:
    platform = platform_of(request)
    code = text(form, "box_code", max_len=40).upper()
    counted_text = text(form, "counted", max_len=6)
    try:
        if counted_text and whole_number(counted_text) is None:
            raise InvalidInput("counted must be a whole number", code="missing_count",
                               field="counted")
        fresh = platform.delivery.hand_over(me, text(form, "event_id", max_len=36)
                                            or str(uuid.uuid4()), code,
                                            platform.deps.clock.now(),
                                            counted=whole_number(counted_text))
        return _courier_page(request, me, done={"box": code, "fresh": fresh})
    except FORM_ERRORS as exc:
        return _courier_page(request, me, error=error_text(request, exc), box_code=code)


# -- laboratory ----------------------------------------------------------------------------


def _lab_id(me: Principal) -> str:
    if me.role is not Role.LAB or not me.scope:
        raise NotFound("the laboratory page is for laboratory accounts", code="wrong_role")
    return me.scope


def _lab_page(request: Request, me: Principal, box_page: int = 1, box: str = "",
              **extra: Any) -> Response:
    platform = platform_of(request)
    lab_id = _lab_id(me)
    boxes = platform.worklists.lab_boxes(me, lab_id, limit=BOXES_PER_PAGE + 1,
                                         offset=(box_page - 1) * BOXES_PER_PAGE, code=box or None)
    lab = next((x for x in platform.places.labs(me) if x.id == lab_id), None)
    report = platform.lab_reports.report(me, lab_id, limit=20)
    return render(request, "lab.html", me, lab=lab, queue=platform.plates.queue(me, lab_id),
                  boxes=boxes[:BOXES_PER_PAGE], box_page=box_page,
                  more_boxes=len(boxes) > BOXES_PER_PAGE, box=box, ct_targets=CT_TARGETS,
                  event_id=str(uuid.uuid4()), rejection_codes=list(RejectionCode),
                  receipt_rows=RECEIPT_REJECTIONS, report=report,
                  report_names=platform.lab_reports.usernames(me, report),
                  rejections=platform.rejections.rejections(me, lab_id, limit=10), **extra)


@router.get("/web/lab", openapi_extra=acts(Action.READ_LAB_QUEUE))
def lab_page(request: Request, me: WebMe, box_page: int = 1, box: str = "") -> Response:
    return _lab_page(request, me, max(1, min(box_page, 10_000)), box.strip()[:12])


@router.post("/web/lab/receive", openapi_extra=acts(Action.RECEIVE_BOX))
def lab_receive(request: Request, me: WebMe, form: SignedForm) -> Response:
    platform = platform_of(request)
    lab_id = _lab_id(me)
    code = text(form, "box_code", max_len=40).upper()
    tubes_text = text(form, "tubes", max_len=100_000)
    scanned = [x.strip() for x in tubes_text.split() if x.strip()]
    counted_text = text(form, "counted", max_len=6)
    try:
        rejected = receipt_rejections(form)
        if counted_text and whole_number(counted_text) is None:
            raise InvalidInput("counted must be a whole number", code="missing_count",
                               field="counted")
        # a tube rejected was found in the box: scanned tubes count it
        scanned += [r.barcode for r in rejected if scanned and r.barcode not in scanned]
        receipt = platform.delivery.receive(
            me, text(form, "event_id", max_len=36) or str(uuid.uuid4()), lab_id, code,
            platform.deps.clock.now(), scanned or None,
            whole_number(counted_text) if not scanned else None, rejected)
        return _lab_page(request, me, receipt=asdict(receipt))
    except FORM_ERRORS as exc:
        return _lab_page(request, me, receive_error=error_text(request, exc), box_code=code,
                         tubes_text=tubes_text)


def receipt_rejections(form: Any) -> list[RejectionInput]:
    """The receipt form's rows of tubes to reject: a barcode, a code and a note each (a row
    without a barcode is left out)."""
    barcodes, codes = form.getlist("reject_barcode"), form.getlist("reject_code")
    notes = form.getlist("reject_note")
    out = []
    for i, barcode in enumerate(barcodes[:RECEIPT_REJECTIONS]):
        if isinstance(barcode, str) and barcode.strip():
            code = codes[i] if i < len(codes) and isinstance(codes[i], str) else ""
            note = notes[i] if i < len(notes) and isinstance(notes[i], str) else ""
            out.append(RejectionInput(barcode.strip()[:40], code.strip()[:40],
                                      note.strip()[:1000] or None))
    return out


@router.post("/web/lab/reject", openapi_extra=acts(Action.REJECT_SPECIMEN))
def lab_reject(request: Request, me: WebMe, form: SignedForm) -> Response:
    """A tube rejected at the bench: it leaves the queue, its people are recalled."""
    platform = platform_of(request)
    lab_id = _lab_id(me)
    barcode = text(form, "barcode", max_len=40)
    try:
        row = platform.rejections.reject(me, lab_id, RejectionInput(
            barcode, text(form, "code", max_len=40), text(form, "note", max_len=1000) or None))
    except FORM_ERRORS as exc:
        return _lab_page(request, me, reject_error=error_text(request, exc),
                         reject_barcode=barcode)
    return _lab_page(request, me, rejected=row)


async def _csv_text(form: Any) -> str:
    f = upload(form, "file")
    if f is not None:
        raw = await f.read(_MAX_CSV + 1)
        if len(raw) > _MAX_CSV:
            raise InvalidInput("the file is larger than 10 MB", code="too_long", field="file")
        return raw.decode("utf-8-sig", errors="replace")
    value = form.get("csv")
    return value if isinstance(value, str) else ""


@router.post("/web/lab/results/check", openapi_extra=acts(Action.RECORD_RESULTS))
async def lab_results_check(request: Request, me: WebMe, form: SignedForm) -> Response:
    """Step 1 of the upload: read the file and show what committing it would do."""
    data = await _csv_text(form)
    return await run_in_threadpool(_check, request, me, data)


def _check(request: Request, me: Principal, data: str) -> Response:
    platform = platform_of(request)
    lab_id = _lab_id(me)
    try:
        if not data.strip():
            raise InvalidInput("choose a results file", code="missing_field", field="file")
        preview = platform.worklists.preview_results(me, lab_id,
                                                     read_csv_text(data, RESULT_COLUMNS))
    except FORM_ERRORS as exc:
        return _lab_page(request, me, upload_error=error_text(request, exc))
    return _lab_page(request, me, preview=preview, csv_text=data)


@router.post("/web/lab/results/commit", openapi_extra=acts(Action.RECORD_RESULTS))
def lab_results_commit(request: Request, me: WebMe, form: SignedForm) -> Response:
    """Step 2: record the checked file (the service checks every row again)."""
    platform = platform_of(request)
    lab_id = _lab_id(me)
    data = text(form, "csv", max_len=_MAX_CSV)
    try:
        problems, total = platform.lab.import_rows(me, lab_id, read_csv_text(data, RESULT_COLUMNS))
    except FORM_ERRORS as exc:
        return _lab_page(request, me, upload_error=error_text(request, exc))
    rejected = sum(p.status == "rejected" for p in problems)
    # a duplicate naming a correction is the same request again: asked, not recorded
    asked = sum(p.status == "correction_requested"
                or (p.status == "duplicate" and p.correction_id is not None) for p in problems)
    unchanged = sum(p.status == "duplicate" and p.correction_id is None for p in problems)
    return _lab_page(request, me, committed={
        "rows": total, "recorded": total - rejected - unchanged - asked, "rejected": rejected,
        "unchanged": unchanged, "asked": asked, "problems": [asdict(p) for p in problems]})


@router.post("/web/lab/result", openapi_extra=acts(Action.RECORD_RESULTS))
def lab_manual_result(request: Request, me: WebMe, form: SignedForm) -> Response:
    """A result typed by hand, or a correction (a different result with a reason)."""
    platform = platform_of(request)
    lab_id = _lab_id(me)
    barcode = text(form, "barcode", max_len=40)
    reason = text(form, "correction_reason", max_len=500) or None
    ct: dict[str, float] = {}
    try:
        for target in CT_TARGETS:
            v = text(form, f"ct_{target}", max_len=10)
            if v:
                try:
                    ct[target] = float(v)
                except ValueError:
                    raise InvalidInput(f"ct_{target} must be a number", code="bad_ct",
                                       field=f"ct_{target}") from None
        out = platform.lab.record(me, lab_id, [ResultInput(
            barcode, text(form, "result", max_len=20), ct or None, reason)])[0]
    except FORM_ERRORS as exc:
        return _lab_page(request, me, manual_error=error_text(request, exc))
    if out.status == "rejected":
        msg = error_text(request, HesuanError(out.message or "", code=out.reason))
        return _lab_page(request, me, manual_error=msg)
    return _lab_page(request, me, manual=asdict(out))
