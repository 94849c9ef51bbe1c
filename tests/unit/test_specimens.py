"""Specimen rejection's rules (``hesuan.domain.specimens``): the code list and its plain words
(the same on the resident's page as in the SMS), the note, and which tubes may be rejected,
run or resulted."""

from __future__ import annotations

import pytest
from babel.messages.pofile import read_po

from hesuan.domain.errors import InvalidInput, RuleViolation
from hesuan.domain.sampling import TubeStatus
from hesuan.domain.specimens import (
    MAX_NOTE,
    RejectionCode,
    RejectionStage,
    check_declared_missing,
    check_rejectable,
    check_testable,
    parse_rejection,
)
from hesuan.entrypoints.web.i18n import locale_dir
from hesuan.entrypoints.web.messages import REJECTION_REASONS
from hesuan.services.notify import render


def test_the_code_list_reads_with_a_note_where_it_needs_one() -> None:
    assert parse_rejection(" Leaked ", None) == (RejectionCode.LEAKED, None)
    assert parse_rejection("insufficient_volume", "  2 ml ") == (
        RejectionCode.INSUFFICIENT_VOLUME, "2 ml")
    for code, note, error in [("broken", None, "bad_rejection_code"),
                              ("other", "  ", "note_required"),
                              ("leaked", "x" * (MAX_NOTE + 1), "note_too_long")]:
        with pytest.raises(InvalidInput) as caught:
            parse_rejection(code, note)
        assert caught.value.code == error
    assert parse_rejection("other", "cap missing") == (RejectionCode.OTHER, "cap missing")


def test_each_code_has_the_same_plain_words_on_the_page_and_in_the_sms() -> None:
    with (locale_dir() / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        zh = {m.id: m.string for m in read_po(f) if m.id}
    assert set(REJECTION_REASONS) == {c.value for c in RejectionCode}
    for code in RejectionCode:
        english = code.words("en")
        assert REJECTION_REASONS[code.value] == english[0].upper() + english[1:]
        assert zh[REJECTION_REASONS[code.value]] == code.words("zh")
        sms = {lang: render("rejected", lang, {"due": "8/29 20:00", "why_zh": code.words("zh"),
                                                "why_en": code.words("en")})
               for lang in ("zh", "en")}
        assert code.words("zh") in sms["zh"] and english in sms["en"]
        assert "8/29 20:00" in sms["zh"] and "8/29 20:00" in sms["en"]


@pytest.mark.parametrize(("status", "here", "code", "error"), [
    (TubeStatus.RECEIVED, True, None, None),
    (TubeStatus.RECEIVED, False, None, "not_received"),
    (TubeStatus.SEALED, True, None, "not_received"),
    (TubeStatus.RESULTED, True, None, "tube_resulted"),
    (TubeStatus.REJECTED, True, None, "tube_rejected"),
    (TubeStatus.CANCELLED, True, None, "result_cancelled"),
    # declared missing at its box's receipt: never received, on its way to no lab
    (TubeStatus.SEALED, True, RejectionCode.MISSING, None),
    (TubeStatus.BOXED, True, RejectionCode.MISSING, None),
    (TubeStatus.SEALED, True, RejectionCode.LEAKED, "not_received"),
    (TubeStatus.REJECTED, True, RejectionCode.MISSING, "tube_rejected"),
])
def test_a_tube_is_rejected_once_by_the_lab_that_received_it_before_release(
        status: TubeStatus, here: bool, code: RejectionCode | None, error: str | None) -> None:
    if error is None:
        check_rejectable(status.value, here, code)
        return
    with pytest.raises(RuleViolation) as caught:
        check_rejectable(status.value, here, code)
    assert caught.value.code == error


def test_a_rejected_or_cancelled_tube_is_never_tested() -> None:
    for status in (TubeStatus.RECEIVED, TubeStatus.RESULTED):
        check_testable(status.value)
    for status, error in ((TubeStatus.REJECTED, "tube_rejected"),
                          (TubeStatus.CANCELLED, "result_cancelled")):
        with pytest.raises(RuleViolation) as caught:
            check_testable(status.value)
        assert caught.value.code == error


def test_a_tube_is_declared_missing_at_its_boxs_receipt_and_only_if_not_found() -> None:
    missing = ["HS0000000001"]
    check_declared_missing(RejectionCode.MISSING, "HS0000000001", RejectionStage.RECEIPT,
                           missing)
    for barcode, stage in (("HS0000000002", RejectionStage.RECEIPT),
                           ("HS0000000001", RejectionStage.BENCH)):
        with pytest.raises(RuleViolation) as e:
            check_declared_missing(RejectionCode.MISSING, barcode, stage,
                                   missing if stage is RejectionStage.RECEIPT else ())
        assert e.value.code == "not_missing"
    with pytest.raises(RuleViolation) as e:  # not there to be judged leaked
        check_declared_missing(RejectionCode.LEAKED, "HS0000000001", RejectionStage.RECEIPT,
                               missing)
    assert e.value.code == "not_received"
