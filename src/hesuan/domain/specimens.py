"""Specimen rejection (不合格样本): a lab refuses a tube it cannot test, at receipt (the courier's
box is opened) or at the bench (before the tube is run), with a reason from a code list.

A rejected tube leaves the lab queue for good: it is never placed on a plate nor resulted, and
every member of the tube is recalled for a new single-tube sample, told why in plain words
(``words``). A tube can be rejected once, only by the lab that received it, and only before its
result is released (a released result is corrected or cancelled instead).

Imports: standard library, ``hesuan.domain``.
"""

from __future__ import annotations

import enum
from collections.abc import Collection

from hesuan.domain.errors import InvalidInput, RuleViolation
from hesuan.domain.sampling import AT_NO_LAB, TubeStatus

__all__ = ["MAX_NOTE", "RejectionCode", "RejectionStage", "check_declared_missing",
           "check_rejectable", "check_testable", "parse_rejection"]

#: The longest note a lab may add to a rejection.
MAX_NOTE = 500


class RejectionCode(enum.StrEnum):
    """Why a lab cannot test a tube (the specimen acceptance criteria of a testing lab)."""

    LEAKED = "leaked"
    INSUFFICIENT_VOLUME = "insufficient_volume"
    LABEL_UNREADABLE = "label_unreadable"
    WRONG_CONTAINER = "wrong_container"
    OVER_CAPACITY = "over_capacity"  # more people pooled in the tube than it may hold
    TRANSPORT_TIME_EXCEEDED = "transport_time_exceeded"
    COLD_CHAIN_BROKEN = "cold_chain_broken"
    CONTAMINATED = "contaminated"  # blood-stained, soiled, or otherwise unfit
    NO_SWAB = "no_swab"
    #: none of the sample is left for the re-run a failed plate or a re-test calls for: the
    #: lab marks the tube so, and its people are recalled (``domain.plates``' re-run rule)
    SAMPLE_EXHAUSTED = "sample_exhausted"
    #: in its box's record, not in the box the lab opened: declared at the box's receipt
    MISSING = "missing"
    OTHER = "other"  # the note says what

    def words(self, language: str) -> str:
        """The reason in plain words, as a person reads it (``zh`` or ``en``)."""
        zh, en = _WORDS[self]
        return en if language == "en" else zh


#: Each code in plain words: Simplified Chinese, English (the resident's page shows the same
#: words from the web catalogues; ``tests/unit/test_specimens.py`` holds the two together).
_WORDS: dict[RejectionCode, tuple[str, str]] = {
    RejectionCode.LEAKED: ("样本管渗漏", "the tube leaked"),
    RejectionCode.INSUFFICIENT_VOLUME: ("样本量不足", "there was too little sample in the tube"),
    RejectionCode.LABEL_UNREADABLE: ("样本管标签无法识别", "the tube's label could not be read"),
    RejectionCode.WRONG_CONTAINER: ("采样管不符合要求", "the sample was in the wrong kind of tube"),
    RejectionCode.OVER_CAPACITY: ("混采人数超过规定", "more people were pooled in the tube than "
                                                    "it may hold"),
    RejectionCode.TRANSPORT_TIME_EXCEEDED: ("样本送检超时", "the sample took too long to reach "
                                                          "the lab"),
    RejectionCode.COLD_CHAIN_BROKEN: ("样本运送温度不符合要求", "the sample was not kept cold "
                                                              "enough on its way"),
    RejectionCode.CONTAMINATED: ("样本被污染", "the sample was contaminated"),
    RejectionCode.NO_SWAB: ("样本管内无拭子", "there was no swab in the tube"),
    RejectionCode.SAMPLE_EXHAUSTED: ("样本已用尽，无法复检", "none of the sample was left to "
                                                          "test again"),
    RejectionCode.MISSING: ("样本管未随箱送达实验室", "the tube did not reach the lab in its box"),
    RejectionCode.OTHER: ("样本不符合检测要求", "the sample could not be used"),
}


class RejectionStage(enum.StrEnum):
    """Where the tube was rejected."""

    RECEIPT = "receipt"  # when the box was opened at the lab
    BENCH = "bench"  # at the bench, before (or once on) a plate


def parse_rejection(code: str, note: str | None) -> tuple[RejectionCode, str | None]:
    """A rejection's code and note, checked: a code of the list; a note of at most
    ``MAX_NOTE`` characters, required with ``other``."""
    try:
        reason = RejectionCode(str(code).strip().lower())
    except ValueError:
        raise InvalidInput("code must be one of " + ", ".join(c.value for c in RejectionCode),
                           code="bad_rejection_code", field="code") from None
    text = (note or "").strip() or None
    if text is not None and len(text) > MAX_NOTE:
        raise InvalidInput(f"note: at most {MAX_NOTE} characters", code="note_too_long",
                           field="note")
    if reason is RejectionCode.OTHER and text is None:
        raise InvalidInput("note: say what is wrong with the sample when the code is other",
                           code="note_required", field="note")
    return reason, text


def check_testable(status: str) -> None:
    """Refuse to run or result a tube that was rejected, or whose result was cancelled."""
    if status == TubeStatus.REJECTED:
        raise RuleViolation("barcode: the tube was rejected by the lab: it is not tested",
                            code="tube_rejected", field="barcode")
    if status == TubeStatus.CANCELLED:
        raise RuleViolation("barcode: the tube's result was cancelled: its people are "
                            "re-sampled", code="result_cancelled", field="barcode")


def check_rejectable(status: str, received_here: bool,
                     code: RejectionCode | None = None) -> None:
    """Refuse to reject a tube this lab has not received, one rejected or cancelled already,
    and one whose result is released (correct or cancel that result instead). A tube declared
    ``missing`` at its box's receipt is the exception: never received, it is still on its way
    to no lab (``AT_NO_LAB``)."""
    check_testable(status)
    if code is RejectionCode.MISSING and status in AT_NO_LAB:
        return
    if not received_here or status not in (TubeStatus.RECEIVED, TubeStatus.RESULTED):
        raise RuleViolation("barcode: this lab has not received the tube", code="not_received",
                            field="barcode")
    if status == TubeStatus.RESULTED:
        raise RuleViolation("barcode: the tube's result is released: correct or cancel it "
                            "instead", code="tube_resulted", field="barcode")


def check_declared_missing(code: RejectionCode, barcode: str, stage: RejectionStage,
                           missing: Collection[str]) -> None:
    """``missing`` is said of a tube at its box's receipt, and only of one the lab did not find
    in the box (``missing``: the record's tubes not scanned); a tube not found is rejected
    with no other code (its specimen is not there to judge)."""
    if code is RejectionCode.MISSING and (stage is not RejectionStage.RECEIPT
                                          or barcode not in missing):
        raise RuleViolation(f"rejected: tube {barcode} is not missing: a tube is declared "
                            "missing at its box's receipt when the box's record holds it and "
                            "it is not in the box", code="not_missing", field="rejected")
    if code is not RejectionCode.MISSING and barcode in missing:
        raise RuleViolation(f"rejected: tube {barcode} is not in the box: declare it missing",
                            code="not_received", field="rejected")
