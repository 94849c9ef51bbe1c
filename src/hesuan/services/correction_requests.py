"""A request to correct or cancel a released result (docs/LAB.md "Corrections"): the one step
that records it, pending until a second lab user of the lab approves it
(``services/corrections.py``) — for a request made on the corrections desk and for a correction
sent on the direct results path (``LabService.record``) alike.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from hesuan.domain.access import Principal
from hesuan.domain.corrections import CorrectionKind, CorrectionStatus, check_request
from hesuan.domain.errors import RuleViolation
from hesuan.domain.json import JsonObject
from hesuan.domain.results import Result
from hesuan.services.corrections_ports import CorrectionRow
from hesuan.services.ports import UnitOfWork
from hesuan.services.sampling_ports import ResultTube

__all__ = ["ask_correction"]


def ask_correction(uow: UnitOfWork, new_id: Callable[[], str], actor: Principal, lab_id: str,
                   t: ResultTube, kind: CorrectionKind, new: Result | None,
                   cts: dict[str, float] | None, why: str, now: datetime,
                   about: JsonObject | None = None) -> CorrectionRow:
    """Record a pending request for tube ``t`` (held by the unit of work) and audit it (with
    ``about``: what asked for it, a lab system's message); refused when the request does not
    fit the tube's result (``check_request``) or another one is pending for it. A step of the
    caller's unit of work."""
    current = None if t.result is None else Result(t.result)
    check_request(kind, t.status, current, new)
    assert current is not None
    pending = uow.corrections.pending_for_tube(t.id)
    if pending is not None:
        raise RuleViolation(f"barcode: a request for this tube is pending already "
                            f"({pending.id}): decide it first", code="correction_pending",
                            field="barcode")
    row = CorrectionRow(new_id(), lab_id, t.id, kind, current, new, cts, why,
                        CorrectionStatus.PENDING, actor.user_id, now, barcode=t.barcode)
    uow.corrections.add(row)
    uow.audit_log.append(now, actor.username, "result.correction_request",
                         f"tube:{t.barcode}", {
                             "request_id": row.id, "kind": kind.value,
                             "previous": current.value,
                             "result": None if new is None else new.value, "reason": why,
                             **(about or {})})
    return row
