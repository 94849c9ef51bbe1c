"""The rules of corrections and cancellations of released results
(``hesuan.domain.corrections``): a reason, a released result, a different result, a second
person."""

from __future__ import annotations

import pytest

from hesuan.domain.corrections import (
    MAX_REASON,
    CorrectionKind,
    check_decider,
    check_reason,
    check_request,
)
from hesuan.domain.errors import HesuanError, InvalidInput, RuleViolation
from hesuan.domain.results import Result

C, X = CorrectionKind.CORRECTION, CorrectionKind.CANCELLATION
NEG, POS, INV = Result.NEGATIVE, Result.POSITIVE, Result.INVALID


def test_a_request_gives_its_reason() -> None:
    assert check_reason("  plate swap ") == "plate swap"
    for reason, code in ((None, "reason_required"), ("   ", "reason_required"),
                         ("x" * (MAX_REASON + 1), "reason_too_long")):
        with pytest.raises(InvalidInput) as caught:
            check_reason(reason)
        assert caught.value.code == code


@pytest.mark.parametrize(("kind", "status", "current", "new", "error"), [
    (C, "resulted", NEG, POS, None),
    (C, "resulted", POS, NEG, None),
    (C, "resulted", POS, INV, None),
    (X, "resulted", NEG, None, None),
    (C, "received", None, POS, (RuleViolation, "not_released")),
    (X, "rejected", None, None, (RuleViolation, "not_released")),
    (X, "cancelled", None, None, (RuleViolation, "not_released")),
    (C, "resulted", NEG, NEG, (RuleViolation, "correction_unchanged")),
    (C, "resulted", NEG, None, (InvalidInput, "bad_result")),
    (X, "resulted", NEG, POS, (InvalidInput, "bad_result")),
])
def test_only_a_released_result_is_corrected_to_another_or_cancelled(
        kind: CorrectionKind, status: str, current: Result | None, new: Result | None,
        error: tuple[type[HesuanError], str] | None) -> None:
    if error is None:
        check_request(kind, status, current, new)
        return
    with pytest.raises(error[0]) as caught:
        check_request(kind, status, current, new)
    assert caught.value.code == error[1]


def test_the_requester_does_not_approve_their_own_request() -> None:
    check_decider("u1", "u2", approving=True)
    check_decider("u1", "u1", approving=False)  # withdrawing one's own request
    with pytest.raises(RuleViolation) as caught:
        check_decider("u1", "u1", approving=True)
    assert caught.value.code == "second_person_required"
