"""A status in plain words (F18), from the engine's decision: one instruction where reasons
meet (a red or sealed person is never sent out to a site), an invalid or rejected sample not
called a pooled test, an arrival's words true before and after the landing swab and the same in
both languages, and the grace after a due time saying the test is late."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hesuan.domain.status import DEFAULT_RULES, Facts, decide, turns_to
from hesuan.services.explain import explain
from hesuan.services.status import StatusRead
from hesuan.services.status_ports import StatusRow

NOW = datetime(2022, 9, 1, 10, 0, tzinfo=UTC)  # 18:00 in Beijing
H = timedelta(hours=1)


def _read(f: Facts, now: datetime = NOW) -> StatusRead:
    status = decide(f, now, DEFAULT_RULES)
    row = StatusRow(status.colour.value, ",".join(status.reasons), status.rule_id,
                    status.rule_version, status.evidence, now, status.valid_until,
                    f.next_due_at, None, None, f.exempt_until, f.exempt_reason, None, None,
                    None, f.test_state, f.last_sampled_at, None)
    return StatusRead(status, row, [], [], decided_at=now,
                      turns_to=turns_to(f, status, DEFAULT_RULES))


def _steps(f: Facts, lang: str = "en") -> list[str]:
    return explain(_read(f), lang).next_steps


def test_a_positive_person_overdue_is_told_to_stay_only() -> None:
    f = Facts(test_state="positive", last_result="positive", last_result_at=NOW - 97 * H,
              next_due_at=NOW - 30 * H)
    assert set(decide(f, NOW, DEFAULT_RULES).reasons) == {"positive_result", "overdue"}
    assert _steps(f) == ["Stay where you are; the health authority will contact you"]
    assert _steps(f, "zh") == ["请原地等待，疾控人员将与您联系"]


def test_a_sealed_zones_resident_overdue_is_not_sent_to_a_site() -> None:
    f = Facts(zone_kind="sealed", zone_id="z1", next_due_at=NOW - 30 * H)
    steps = _steps(f)
    assert steps == ["Follow your zone's rules and wait for door-to-door sampling"], steps


def test_an_invalid_sample_is_not_called_a_pooled_test() -> None:
    invalid = Facts(test_state="pending_retest", last_result="invalid",
                    open_recall_due=NOW + 8 * H, next_due_at=NOW + 40 * H)
    e = explain(_read(invalid), "en")
    assert [r.text for r in e.reasons] == ["The sample could not be tested: a new one is needed"]
    assert e.next_steps == ["Get a new sample taken at any site before 09-02 02:00"]
    pooled = Facts(test_state="pending_retest", last_result="positive",
                   open_recall_due=NOW + 8 * H, next_due_at=NOW + 40 * H)
    e = explain(_read(pooled), "en")
    assert [r.text for r in e.reasons] == ["Pooled test needs a re-test"]
    assert e.next_steps[0].startswith("Stay home and get a single-tube re-test")


def test_an_arrivals_words_hold_before_and_after_the_landing_swab() -> None:
    before = Facts(arrival_at=NOW - 2 * H, arrival_risk="high", next_due_at=NOW + 22 * H)
    after = Facts(arrival_at=NOW - 2 * H, arrival_risk="high", test_state="sampled",
                  last_sampled_at=NOW - H, next_due_at=NOW + 70 * H)
    for f, due in ((before, "09-02 16:00"), (after, "09-04 16:00")):
        e, z = explain(_read(f), "en"), explain(_read(f), "zh")
        assert "arrival_pending" in [r.code for r in e.reasons]
        (text,) = [r.text for r in e.reasons if r.code == "arrival_pending"]
        (zh,) = [r.text for r in z.reasons if r.code == "arrival_pending"]
        assert text == "Arrival: waiting for a negative test taken after arrival"
        assert zh == "外地来（返）人员，待落地后检测结果阴性"
        assert any(due in s for s in e.next_steps), e.next_steps


def test_in_the_grace_after_the_due_time_the_test_is_late() -> None:
    f = Facts(test_state="negative", last_result="negative", last_result_at=NOW - 80 * H,
              last_sampled_at=NOW - 82 * H, next_due_at=NOW - 10 * H)
    s = decide(f, NOW, DEFAULT_RULES)
    assert s.colour.value == "green" and s.valid_until == NOW + 14 * H
    assert _steps(f) == ["Your test was due at 09-01 08:00: get tested at any site before "
                         "09-02 08:00, when your status turns yellow"]
    assert _steps(f, "zh") == ["已过检测时限（09-01 08:00），请在09-02 08:00前到任意采样点检测，"
                               "否则将转为黄码"]



def test_the_late_words_name_the_colour_the_status_turns_to() -> None:
    """A policy whose overdue action is the pop-up told its people they would turn yellow."""
    f = Facts(test_state="negative", last_result="negative", last_result_at=NOW - 80 * H,
              last_sampled_at=NOW - 82 * H, next_due_at=NOW - 10 * H, overdue_action="popup")
    assert _steps(f) == ["Your test was due at 09-01 08:00: get tested at any site before "
                         "09-02 08:00, when your status turns to the pop-up"]
    assert _steps(f, "zh")[0].endswith("否则将转为弹窗")
