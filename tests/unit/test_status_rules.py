"""The status engine and policy selection, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from hesuan.domain.cadence import OverdueAction, Policy, ScopeKind, choose_policy
from hesuan.domain.status import DEFAULT_RULES, Colour, Facts, Rule, decide, severity

NOW = datetime(2022, 8, 29, 4, tzinfo=UTC)
times = st.one_of(st.none(), st.integers(-200, 200).map(lambda h: NOW + timedelta(hours=h)))

facts_strategy = st.builds(
    Facts,
    test_state=st.sampled_from(["none", "sampled", "negative", "pending_retest", "positive"]),
    last_sampled_at=times, last_result=st.sampled_from([None, "negative", "positive"]),
    last_result_at=times, open_recall_due=times, next_due_at=times,
    open_recall_reason=st.sampled_from([None, "pool_positive", "tube_invalid", "tube_rejected",
                                        "result_cancelled"]),
    grace=st.integers(0, 48).map(lambda h: timedelta(hours=h)),
    overdue_action=st.sampled_from(["yellow", "popup"]), exempt_until=times,
    exempt_reason=st.sampled_from([None, "infant", "bedridden"]),
    override_colour=st.sampled_from([None, "green", "red"]), override_until=times,
    arrival_at=times, arrival_risk=st.sampled_from([None, "low", "medium", "high"]),
    zone_kind=st.sampled_from([None, "sealed", "controlled", "precaution"]),
)


@given(facts_strategy)
def test_status_is_a_function_of_the_facts_alone(f: Facts) -> None:
    a, b = decide(f, NOW), decide(f, NOW)
    assert a == b
    assert a.reasons and a.rule_id
    assert a.valid_until is None or a.valid_until > NOW


@given(facts_strategy)
def test_colour_is_the_most_severe_matched_rule_unless_overridden(f: Facts) -> None:
    s = decide(f, NOW)
    if s.rule_id == "R-OVERRIDE":
        assert s.colour == Colour(f.override_colour or "green")
        return
    if f.test_state == "positive":
        assert s.colour is Colour.RED
    if s.colour is Colour.GREEN:
        assert s.rule_id == "R-DEFAULT"


@given(facts_strategy, st.integers(1, 100))
def test_a_later_negative_never_leaves_a_cleared_reason(f: Facts, hours: int) -> None:
    """After a negative single-tube re-test (the recall resolved, overdue cleared by the sample),
    neither pending_retest nor overdue remains."""
    sampled = NOW - timedelta(minutes=30)
    after = Facts(
        test_state="negative", last_sampled_at=sampled, last_result="negative",
        last_result_at=NOW, open_recall_due=None,
        next_due_at=sampled + timedelta(hours=72), grace=f.grace,
        overdue_action=f.overdue_action, exempt_until=f.exempt_until,
        exempt_reason=f.exempt_reason, arrival_at=f.arrival_at, arrival_risk=f.arrival_risk,
    )
    s = decide(after, NOW)
    assert "pending_retest" not in s.reasons and "overdue" not in s.reasons
    if f.arrival_at is None or f.arrival_at <= sampled:
        assert s.colour is Colour.GREEN


def test_overdue_after_grace_uses_the_policy_action() -> None:
    f = Facts(test_state="negative", last_sampled_at=NOW - timedelta(hours=99),
              next_due_at=NOW - timedelta(hours=27), grace=timedelta(hours=24),
              overdue_action="popup")
    s = decide(f, NOW)
    assert (s.colour, s.reasons, s.rule_id) == (Colour.POPUP, ("overdue",), "R-OVERDUE")
    f2 = Facts(test_state="negative", next_due_at=NOW - timedelta(hours=23),
               last_sampled_at=NOW - timedelta(hours=95))
    s2 = decide(f2, NOW)
    assert s2.colour is Colour.GREEN and s2.valid_until == NOW + timedelta(hours=1)


def test_several_reasons_are_all_given_and_disabled_rules_are_skipped() -> None:
    f = Facts(test_state="pending_retest", open_recall_due=NOW + timedelta(hours=5),
              next_due_at=NOW - timedelta(hours=30))
    s = decide(f, NOW)
    assert s.reasons == ("pending_retest", "overdue") and s.colour is Colour.YELLOW
    rules = [r if r.id != "R-RECALL" else Rule(r.id, 2, r.predicate, r.reason, r.colour, False)
             for r in DEFAULT_RULES]
    assert decide(f, NOW, rules).reasons == ("overdue",)


def test_severity_order() -> None:
    assert [severity(c) for c in (Colour.GREEN, Colour.YELLOW, Colour.POPUP, Colour.RED)] == \
        [0, 1, 2, 3]


def _p(kind: ScopeKind, scope: str, hours: int) -> Policy:
    return Policy(f"{scope}", 1, kind, scope, timedelta(hours=hours), timedelta(hours=24),
                  timedelta(hours=12), OverdueAction.YELLOW, NOW - timedelta(days=1))


def test_policy_selection_most_specific_wins_and_is_explained() -> None:
    pols = [_p(ScopeKind.REGION, "140105", 72), _p(ScopeKind.REGION, "140105001", 48),
            _p(ScopeKind.GROUP, "courier", 24), _p(ScopeKind.GROUP, "medical", 12)]
    grid = "140105001002003"
    assert choose_policy(pols, grid, frozenset(), NOW).policy == pols[1]
    both = choose_policy(pols, grid, frozenset({"courier", "medical"}), NOW)
    assert both.policy == pols[3]
    assert "group policy takes precedence" in both.explanation
    assert choose_policy(pols, "140106001001001", frozenset(), NOW).policy is None
    expired = Policy("x", 1, ScopeKind.REGION, "1401", timedelta(hours=24), timedelta(0),
                     timedelta(0), OverdueAction.YELLOW, NOW - timedelta(days=3),
                     NOW - timedelta(days=1))
    assert choose_policy([expired], grid, frozenset(), NOW).policy is None


def test_a_negative_test_after_arrival_keeps_the_arrival_cleared_through_later_samples() -> None:
    """An arrival from a high-risk area is pop-up until a negative test taken after arrival;
    once that exists, a later sample awaiting its result does not make them pop-up again (it
    did: the rule read only the latest sample's state, so every later sample, weeks on,
    brought the arrival back until its result came)."""
    arrived = NOW - timedelta(days=20)
    cleared = Facts(test_state="sampled", last_sampled_at=NOW - timedelta(hours=2),
                    last_result="negative", last_result_at=arrived + timedelta(hours=8),
                    last_result_sampled_at=arrived + timedelta(hours=1),
                    arrival_at=arrived, arrival_risk="high")
    s = decide(cleared, NOW)
    assert (s.colour, s.reasons) == (Colour.GREEN, ("awaiting_result",))
    # a negative whose sample was taken before arrival does not clear it
    before = Facts(test_state="sampled", last_sampled_at=NOW - timedelta(hours=2),
                   last_result="negative", last_result_at=arrived + timedelta(hours=8),
                   last_result_sampled_at=arrived - timedelta(hours=1),
                   arrival_at=arrived, arrival_risk="high")
    assert decide(before, NOW).reasons == ("arrival_pending",)
    # nor does the first sample after arrival before its result
    first = Facts(test_state="sampled", last_sampled_at=arrived + timedelta(hours=1),
                  arrival_at=arrived, arrival_risk="medium")
    assert (decide(first, NOW).colour, decide(first, NOW).reasons) == (
        Colour.YELLOW, ("arrival_pending",))


def test_a_recalls_evidence_names_what_opened_it_not_the_last_result() -> None:
    """The recall's ``after`` was the person's last result: the positive a lab cancelled, the
    negative of an earlier tube when the lab rejected the next one, a later routine tube's
    negative beside a positive pool's recall. It is what the recall followed, by its reason."""
    due = NOW + timedelta(hours=24)
    for last, reason, after in (("positive", "result_cancelled", "cancelled"),
                                ("negative", "tube_rejected", "rejected"),
                                ("negative", "pool_positive", "positive"),
                                ("negative", "tube_invalid", "invalid"),
                                ("invalid", None, "invalid")):
        f = Facts(test_state="pending_retest", last_result=last, last_result_at=NOW,
                  open_recall_due=due, open_recall_reason=reason)
        assert decide(f, NOW).evidence["recall"] == {"due": due.isoformat(), "after": after}
