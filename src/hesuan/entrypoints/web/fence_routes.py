"""The fence on the web: the alerts of my grid or region (``/web/alerts``: who, what rule, where,
when), acknowledged and closed with an outcome; and a checkpoint's device
(``/web/checkpoint``): its staff scan a sampling code or a status pass, the scan is recorded
for the fence rules, and the page says whether to stop the person and why, above the latest
scans (``FenceService``).

Imports: FastAPI/Starlette, ``hesuan.domain``, ``hesuan.services``, the web package.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hesuan.domain.access import Action, Principal, Role
from hesuan.domain.errors import Conflict, HesuanError, InvalidInput, NotFound, RuleViolation
from hesuan.domain.fence import AlertOutcome, PlaceKind
from hesuan.domain.passes import PASS_PREFIX
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.errors import status_for
from hesuan.entrypoints.web.forms import SignedForm, WebMe, text
from hesuan.entrypoints.web.messages import CHECKPOINT_DEVICE
from hesuan.entrypoints.web.render import FORM_ERRORS, WebRoute, error_text, redirect, render
from hesuan.entrypoints.web.session import platform_of
from hesuan.services.fence import ScanInput
from hesuan.services.fence_ports import CheckpointRow

__all__ = ["router"]

router = APIRouter(route_class=WebRoute, include_in_schema=False)


@router.get("/web/alerts", openapi_extra=acts(Action.READ_FENCE_ALERTS))
def alerts_page(request: Request, me: WebMe, closed: bool = False) -> Response:
    return _alerts_page(request, me, closed)


def _alerts_page(request: Request, me: Principal, closed: bool = False,
                 refused: HesuanError | None = None, failed_alert: str | None = None,
                 note: str = "") -> Response:
    """The alerts; an action refused: its words (and its status, as the API answers it), its
    alert and the note typed for it."""
    statuses = ("open", "acknowledged", "closed") if closed else ("open", "acknowledged")
    alerts = platform_of(request).fence.alerts(me, statuses=statuses)
    return render(request, "alerts.html", me,
                  status_code=200 if refused is None else status_for(refused), alerts=alerts,
                  closed=closed, outcomes=[o.value for o in AlertOutcome],
                  error=None if refused is None else error_text(request, refused),
                  failed_alert=failed_alert, note=note)


@router.post("/web/alerts/{alert_id}/{action}", openapi_extra=acts(Action.HANDLE_FENCE_ALERT))
def alert_action(request: Request, me: WebMe, form: SignedForm, alert_id: str,
                 action: str) -> Response:
    fence = platform_of(request).fence
    if action not in ("acknowledge", "close"):
        raise NotFound("no such action", code="not_found")
    try:
        note = text(form, "note", max_len=200) or None
        if action == "acknowledge":
            fence.acknowledge(me, alert_id, note)
        else:
            try:
                outcome = AlertOutcome(text(form, "outcome", max_len=20))
            except ValueError:
                raise InvalidInput("outcome: choose one", code="bad_reason",
                                   field="outcome") from None
            fence.close(me, alert_id, outcome, note)
    # refused: the page again, its words, the note kept (another's alert, or none, answers the
    # error status the access policy says)
    except (InvalidInput, RuleViolation, Conflict) as exc:
        return _alerts_page(request, me, refused=exc, failed_alert=alert_id,
                            note=str(form.get("note") or "")[:10_000])
    return redirect(f"/web/alerts#a-{alert_id}")


# -- a checkpoint's device -------------------------------------------------------------------


def own_checkpoint(request: Request, me: Principal) -> CheckpointRow | None:
    """The checkpoint whose device ``me`` is (a ``venue`` account scoped to a checkpoint)."""
    if me.role is not Role.VENUE or not me.scope:
        return None
    return next(iter(platform_of(request).fence.checkpoints(me)), None)


def _device_checkpoint(request: Request, me: Principal) -> CheckpointRow:
    """The caller's checkpoint; the page is none of anyone else's."""
    checkpoint = own_checkpoint(request, me)
    if checkpoint is None:
        raise NotFound("the checkpoint page is for a checkpoint's device", code="wrong_role")
    return checkpoint


def _checkpoint_page(request: Request, me: Principal, checkpoint: CheckpointRow,
                     **extra: Any) -> Response:
    platform = platform_of(request)
    return render(request, "checkpoint.html", me, checkpoint=checkpoint,
                  scans=platform.fence.checkpoint_scans(me, checkpoint.id),
                  role_label=CHECKPOINT_DEVICE,
                  retention_days=platform.settings.venue_retention.days,
                  text=extra.pop("text", ""), **extra)


@router.get("/web/checkpoint", openapi_extra=acts(Action.RECORD_PLACE_SCANS))
def checkpoint_page(request: Request, me: WebMe) -> Response:
    return _checkpoint_page(request, me, _device_checkpoint(request, me))


@router.post("/web/checkpoint", openapi_extra=acts(Action.RECORD_PLACE_SCANS))
def checkpoint_scan(request: Request, me: WebMe, form: SignedForm) -> Response:
    """A sampling code or a pass scanned at the checkpoint: recorded for the fence rules, and
    the rules it broke (stop the person) or none (let them through)."""
    checkpoint = _device_checkpoint(request, me)
    platform = platform_of(request)
    value = str(form.get("scanned") or "")[:10_000]  # shown again if refused
    try:
        value = text(form, "scanned", max_len=4096)
        is_pass = value.startswith(PASS_PREFIX)
        if not value:
            raise InvalidInput("scan or paste a sampling code or a pass", code="missing_field",
                               field="scanned")
        verdict = platform.passes.verify(me, value) if is_pass else None
        scan = platform.fence.scan(me, [ScanInput(
            str(uuid.uuid4()), PlaceKind.CHECKPOINT, checkpoint.id, platform.deps.clock.now(),
            code=None if is_pass else value, pass_text=value if is_pass else None)],
            checked=None if verdict is None else {value: verdict})[0]
        if scan.status != "accepted":
            raise InvalidInput(scan.message or "the scan was not recorded",
                               code=scan.reason or "rejected", field="scanned")
    except FORM_ERRORS as exc:
        return _checkpoint_page(request, me, checkpoint, text=value,
                                error=error_text(request, exc))
    return _checkpoint_page(request, me, checkpoint, scan=scan, verdict=verdict)
