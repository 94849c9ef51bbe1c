"""Fence alerts on the web (``/web/alerts``): the alerts of my grid or region (who, what rule,
where, when), acknowledged and closed with an outcome (``FenceService``).

Imports: FastAPI/Starlette, ``hesuan.domain``, ``hesuan.services``, the web package.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hesuan.domain.access import Action
from hesuan.domain.errors import InvalidInput, NotFound
from hesuan.domain.fence import AlertOutcome
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.web.forms import SignedForm, WebMe, text
from hesuan.entrypoints.web.render import WebRoute, redirect, render
from hesuan.entrypoints.web.session import platform_of

__all__ = ["router"]

router = APIRouter(route_class=WebRoute, include_in_schema=False)


@router.get("/web/alerts", openapi_extra=acts(Action.READ_FENCE_ALERTS))
def alerts_page(request: Request, me: WebMe, closed: bool = False) -> Response:
    statuses = ("open", "acknowledged", "closed") if closed else ("open", "acknowledged")
    alerts = platform_of(request).fence.alerts(me, statuses=statuses)
    return render(request, "alerts.html", me, alerts=alerts, closed=closed,
                  outcomes=[o.value for o in AlertOutcome])


@router.post("/web/alerts/{alert_id}/{action}", openapi_extra=acts(Action.HANDLE_FENCE_ALERT))
def alert_action(request: Request, me: WebMe, form: SignedForm, alert_id: str,
                 action: str) -> Response:
    fence = platform_of(request).fence
    note = text(form, "note", max_len=200) or None
    if action == "acknowledge":
        fence.acknowledge(me, alert_id, note)
    elif action == "close":
        try:
            outcome = AlertOutcome(text(form, "outcome", max_len=20))
        except ValueError:
            raise InvalidInput("outcome: choose one", code="bad_reason",
                               field="outcome") from None
        fence.close(me, alert_id, outcome, note)
    else:
        raise NotFound("no such action", code="not_found")
    return redirect(f"/web/alerts#a-{alert_id}")
