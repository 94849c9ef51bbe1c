"""A lab's message inbox (docs/INTEROP.md): what the lab's own system sent that cannot be applied.

- ``/web/lab/messages``: the messages waiting in the lab's inbox (``unclear``), each with every
  specimen's state and reason, and the latest messages; a message is applied again (after a
  mapping is added or its tube received: ``LabMessageService.apply_again``) or discarded with a
  reason (``discard``); one refused as a whole (a training message, another type) says so and
  is only discarded. A health officer reads the inboxes of the labs of their region
  (``?lab=`` one of them), without the forms.

Imports: FastAPI/Starlette, ``hesuan.domain``, ``hesuan.services``, the web package.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hesuan.domain.access import Action, Principal, Role, Target, allows
from hesuan.domain.errors import NotFound
from hesuan.domain.interop import MESSAGE_REFUSALS
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.web.forms import SignedForm, WebMe, text
from hesuan.entrypoints.web.render import FORM_ERRORS, WebRoute, error_text, render
from hesuan.entrypoints.web.session import platform_of
from hesuan.services.lab_messages_ports import MessageState

__all__ = ["router"]

router = APIRouter(route_class=WebRoute, include_in_schema=False)

#: The latest messages shown below the inbox.
LATEST = 30


def _page(request: Request, me: Principal, lab_id: str | None = None, **extra: Any) -> Response:
    """The inbox of ``lab_id``, by default the user's own lab (an officer without one: every
    lab of their region)."""
    service = platform_of(request).lab_messages
    if lab_id is None and me.role is Role.LAB:
        lab_id = me.scope
    inbox = service.messages(me, lab_id, MessageState.UNCLEAR, 200)
    latest = service.messages(me, lab_id, None, LATEST)
    return render(request, "lab_messages.html", me, inbox=inbox, latest=latest,
                  decides=allows(me, Action.DECIDE_LAB_MESSAGES, Target(lab=lab_id))
                  if lab_id else me.role is Role.ADMIN,
                  refusals=[r.value for r in MESSAGE_REFUSALS], **extra)


@router.get("/web/lab/messages", openapi_extra=acts(Action.READ_LAB_MESSAGES))
def messages_page(request: Request, me: WebMe, lab: str = "") -> Response:
    return _page(request, me, lab[:40] or None)


@router.post("/web/lab/messages/{message_id}/{decision}",
             openapi_extra=acts(Action.DECIDE_LAB_MESSAGES))
def message_decide(request: Request, me: WebMe, message_id: str, decision: str,
                   form: SignedForm) -> Response:
    """Apply a message again, or discard it with a reason."""
    service = platform_of(request).lab_messages
    message_id = message_id[:40]
    try:
        if decision == "apply":
            row = service.apply_again(me, message_id)
            return _page(request, me, row.lab_id, applied=row)
        if decision == "discard":
            row = service.discard(me, message_id, text(form, "reason", max_len=1000))
            return _page(request, me, row.lab_id, discarded=row)
    except FORM_ERRORS as exc:
        lab_id = service.message(me, message_id).lab_id
        return _page(request, me, lab_id, decide_error=error_text(request, exc),
                     decided_id=message_id)
    raise NotFound("no such decision", code="not_found")
