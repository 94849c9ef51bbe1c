"""Corrections and cancellations of released results (结果更正与撤销), by two people (docs/LAB.md).

- ``/web/lab/corrections``: the lab's released results by tube, the latest first, searched by
  barcode (or its first digits); a form to request a correction (another result, its Ct values
  if any) or a cancellation, with a reason (``CorrectionService.request``); the requests waiting
  for a second lab user, who approves (and so applies) or declines each
  (``CorrectionService.approve``, ``decline``) — the requester reads why they cannot approve
  their own, and may withdraw it; the latest decided requests. Who requested and decided is
  shown by username (``CorrectionService.desk``).

Imports: FastAPI/Starlette, ``hesuan.domain``, ``hesuan.services``, the web package.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hesuan.domain.access import Action, Principal, Role
from hesuan.domain.corrections import CorrectionKind
from hesuan.domain.errors import HesuanError, InvalidInput, NotFound
from hesuan.domain.results import CT_TARGETS, Result
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.web import messages as m
from hesuan.entrypoints.web.forms import SignedForm, WebMe, text
from hesuan.entrypoints.web.render import FORM_ERRORS, WebRoute, error_text, gettext_for, render
from hesuan.entrypoints.web.session import platform_of

__all__ = ["router"]

router = APIRouter(route_class=WebRoute, include_in_schema=False)

#: The form's choice that withdraws the result (the others name the corrected result).
CANCEL = "cancel"


def _lab_id(me: Principal) -> str:
    if me.role is not Role.LAB or not me.scope:
        raise NotFound("the laboratory pages are for laboratory accounts", code="wrong_role")
    return me.scope


def _error(request: Request, exc: HesuanError) -> str:
    """An error in plain words; a correction's own words where a code means more here."""
    own = m.CORRECTION_ERRORS.get(exc.code)
    return gettext_for(request)(own) if own else error_text(request, exc)


def _page(request: Request, me: Principal, barcode: str = "", **extra: Any) -> Response:
    corrections = platform_of(request).corrections
    lab_id = _lab_id(me)
    try:
        desk = corrections.desk(me, lab_id, barcode)
    except FORM_ERRORS as exc:
        desk = corrections.desk(me, lab_id)
        extra.setdefault("search_error", error_text(request, exc))
    one = desk.released[0] if desk.searched and len(desk.released) == 1 else None
    return render(request, "corrections.html", me, desk=desk, searched=barcode,
                  name=lambda u: desk.names.get(u, "—") if u else "—",
                  ct_targets=CT_TARGETS, results=[r.value for r in Result],
                  request_barcode=extra.pop("request_barcode", None) or (
                      one.barcode if one is not None and one.result is not None else ""),
                  **extra)


@router.get("/web/lab/corrections", openapi_extra=acts(Action.READ_CORRECTIONS))
def corrections_page(request: Request, me: WebMe, barcode: str = "") -> Response:
    return _page(request, me, barcode[:40])


def _cts(form: Any) -> dict[str, float] | None:
    ct: dict[str, float] = {}
    for target in CT_TARGETS:
        v = text(form, f"ct_{target}", max_len=10)
        if v:
            try:
                ct[target] = float(v)
            except ValueError:
                raise InvalidInput(f"ct_{target} must be a number", code="bad_ct",
                                   field=f"ct_{target}") from None
    return ct or None


@router.post("/web/lab/corrections", openapi_extra=acts(Action.REQUEST_CORRECTION))
def correction_request(request: Request, me: WebMe, form: SignedForm) -> Response:
    """A correction (``change``: the corrected result) or a cancellation (``cancel``) of a
    tube's released result, with a reason: pending until a second lab user approves it."""
    platform = platform_of(request)
    lab_id = _lab_id(me)
    barcode = text(form, "barcode", max_len=40)
    change = text(form, "change", max_len=20)
    reason = text(form, "reason", max_len=1000)
    try:
        if change == CANCEL:
            row = platform.corrections.request(me, lab_id, barcode,
                                               CorrectionKind.CANCELLATION, reason)
        else:
            row = platform.corrections.request(me, lab_id, barcode, CorrectionKind.CORRECTION,
                                               reason, change, _cts(form))
    except FORM_ERRORS as exc:
        return _page(request, me, request_error=_error(request, exc), request_barcode=barcode,
                     change=change, reason=reason)
    return _page(request, me, requested=row)


@router.post("/web/lab/corrections/{request_id}/{decision}",
             openapi_extra=acts(Action.DECIDE_CORRECTION))
def correction_decide(request: Request, me: WebMe, request_id: str, decision: str,
                      form: SignedForm) -> Response:
    """Approve (a second lab user; the request is applied) or decline a pending request."""
    corrections = platform_of(request).corrections
    try:
        if decision == "approve":
            outcome = corrections.approve(me, request_id)
            return _page(request, me, approved=outcome)
        if decision == "decline":
            row = corrections.decline(me, request_id, text(form, "note", max_len=1000) or None)
            return _page(request, me, declined=row)
    except FORM_ERRORS as exc:
        return _page(request, me, decide_error=_error(request, exc), decided_id=request_id)
    raise NotFound("no such decision", code="not_found")
