"""Corrections and cancellations of released results (结果更正与撤销): two people, then applied.

A lab user of the lab that released a result **requests** a correction (a different result) or
a cancellation (the result withdrawn, no result in its place), with a reason. A **second** lab
user of that lab — not the requester — approves it, and only then is it applied: the fan-out of
the first result is reversed or updated for every member of the tube, and each is told once. Or
either of them declines it, and nothing changes. A tube has at most one pending request; a
request applies only to the result it was made against (``result_changed`` once another has
replaced it). Approving an applied request again changes nothing.

What a cancellation leaves: the tube has no result (``cancelled``, out of the lab queue), and
every member is recalled for a new single-tube sample (``result_cancelled``), as for a tube
that could not be tested: the released result can no longer be trusted, and nor can the sample
it came from.

Imports: standard library, ``hesuan.domain``.
"""

from __future__ import annotations

import enum

from hesuan.domain.errors import InvalidInput, RuleViolation
from hesuan.domain.results import Result
from hesuan.domain.sampling import TubeStatus

__all__ = ["MAX_REASON", "CorrectionKind", "CorrectionStatus", "check_decider", "check_reason",
           "check_request"]

#: The longest reason a request may give.
MAX_REASON = 500


class CorrectionKind(enum.StrEnum):
    CORRECTION = "correction"  # a different result in place of the released one
    CANCELLATION = "cancellation"  # the released result withdrawn, none in its place


class CorrectionStatus(enum.StrEnum):
    PENDING = "pending"  # requested, waiting for a second person
    APPLIED = "applied"  # approved by a second person, and applied
    DECLINED = "declined"  # declined: nothing changed


def check_reason(reason: str | None) -> str:
    """The reason given, stripped: required, at most ``MAX_REASON`` characters."""
    text = (reason or "").strip()
    if not text:
        raise InvalidInput("reason: say why the result is corrected or cancelled",
                           code="reason_required", field="reason")
    if len(text) > MAX_REASON:
        raise InvalidInput(f"reason: at most {MAX_REASON} characters", code="reason_too_long",
                           field="reason")
    return text


def check_request(kind: CorrectionKind, status: str, current: Result | None,
                  new: Result | None) -> None:
    """Refuse a request on a tube whose result is not released, a correction without a new
    result or to the result the tube has, and a cancellation that names a result."""
    if status != TubeStatus.RESULTED or current is None:
        raise RuleViolation("barcode: only a released result can be corrected or cancelled",
                            code="not_released", field="barcode")
    if kind is CorrectionKind.CANCELLATION:
        if new is not None:
            raise InvalidInput("result: a cancellation withdraws the result and gives none",
                               code="bad_result", field="result")
        return
    if new is None:
        raise InvalidInput("result: a correction gives the corrected result", code="bad_result",
                           field="result")
    if new is current:
        raise RuleViolation(f"result: the released result is {current.value} already",
                            code="correction_unchanged", field="result")


def check_decider(requested_by: str, decided_by: str, *, approving: bool) -> None:
    """A request is approved by a second person, never by the one who made it (who may still
    withdraw it by declining)."""
    if approving and decided_by == requested_by:
        raise RuleViolation("a correction is approved by a second lab user, not the one who "
                            "requested it", code="second_person_required", field="request_id")
