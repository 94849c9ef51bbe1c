"""Results (domain.results): parsing, Ct values, what a tube's result means for each member, and
when a positive pool's investigation closes — then the fan-out invariant end to end.

The fan-out test drives the real services (``platform.sampling``, ``.delivery``, ``.lab``) on
both backends through several rounds of random tubes and random results, with recalls from one
round re-sampled in the next, and checks after every round that every sampled person ended with
exactly one outcome per tube: the outcome ``member_outcome`` prescribes, one recall opened when
(and only when) it prescribes one, one notification when the result is not negative, the recall
it answered resolved (or kept open by an invalid re-test), and the person's current-status row
saying so; and at the end that every positive pool's investigation is where its recalls put it.
"""

from __future__ import annotations

import math
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal
from hesuan.domain.errors import InvalidInput
from hesuan.domain.results import (
    CT_TARGETS,
    PoolInvestigation,
    RecallReason,
    Result,
    check_ct,
    member_outcome,
    pool_outcome,
)
from hesuan.domain.results import (
    TestState as State,
)
from hesuan.domain.sampling import POOL_SIZES, make_box_code, make_tube_barcode
from hesuan.services.lab import ResultInput
from hesuan.services.sampling import EventKind, StationEvent
from hesuan.sim.example import DEMO_PASSWORD, seed_example_city

# -- parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text_", "result"), [
    ("negative", Result.NEGATIVE), ("NEGATIVE", Result.NEGATIVE), (" neg ", Result.NEGATIVE),
    ("阴性", Result.NEGATIVE), ("positive", Result.POSITIVE), ("pos", Result.POSITIVE),
    ("阳性", Result.POSITIVE), ("Invalid", Result.INVALID), ("无效", Result.INVALID),
])
def test_results_parse_in_both_languages(text_: str, result: Result) -> None:
    assert Result.parse(text_) is result


@pytest.mark.parametrize("bad", ["", "maybe", "negativ", "阴", "1", "n/a", "positive!"])
def test_unknown_results_are_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(InvalidInput) as e:
        Result.parse(bad)
    assert (e.value.code, e.value.field) == ("bad_result", "result")
    assert "result" in e.value.message


def test_no_ct_is_none() -> None:
    assert check_ct(None) is None
    assert check_ct({}) is None


@given(st.dictionaries(st.sampled_from(CT_TARGETS),
                       st.floats(0, 45, exclude_min=True) | st.integers(1, 45), min_size=1))
def test_ct_values_in_range_are_kept_as_floats(ct: dict[str, float]) -> None:
    out = check_ct(ct)
    assert out == {k: float(v) for k, v in ct.items()}
    assert out is not None and all(type(v) is float for v in out.values())


@pytest.mark.parametrize("ct", [{"ORF1ab": 0}, {"N": -1.0}, {"E": 45.01}, {"N": math.nan},
                                {"N": math.inf}, {"S": 30.0}, {"orf1ab": 30.0}])
def test_bad_ct_values_are_refused_naming_the_field(ct: dict[str, float]) -> None:
    with pytest.raises(InvalidInput) as e:
        check_ct(ct)
    assert (e.value.code, e.value.field) == ("bad_ct", "ct")
    assert "ct" in e.value.message


# -- what a result means for each member --------------------------------------------------


@given(st.sampled_from(list(Result)), st.sampled_from(POOL_SIZES))
def test_member_outcome_table(result: Result, pool: int) -> None:
    o = member_outcome(result, pool)
    if result is Result.NEGATIVE:
        assert (o.state, o.recall, o.resolves_recall) == (State.NEGATIVE, None, True)
    elif result is Result.POSITIVE and pool > 1:  # 混采阳性: every member 待复核, recalled
        assert (o.state, o.recall, o.resolves_recall) == (
            State.PENDING_RETEST, RecallReason.POOL_POSITIVE, False)
    elif result is Result.POSITIVE:  # a single tube: the person is positive
        assert (o.state, o.recall, o.resolves_recall) == (State.POSITIVE, None, True)
    else:  # invalid: re-sample every member
        assert (o.state, o.recall, o.resolves_recall) == (
            State.PENDING_RETEST, RecallReason.TUBE_INVALID, False)
    # a recall is opened exactly when the person is left pending a re-test
    assert (o.recall is not None) == (o.state is State.PENDING_RETEST)


@given(st.lists(st.sampled_from([Result.NEGATIVE, Result.INVALID]), min_size=1),
       st.lists(st.sampled_from(list(Result))))
def test_a_pool_closes_on_any_positive_member_else_goes_to_review(
        others: list[Result], more: list[Result]) -> None:
    assert pool_outcome(others) is PoolInvestigation.REVIEW
    mixed = [*others, Result.POSITIVE, *more]
    random.Random(len(mixed)).shuffle(mixed)
    assert pool_outcome(mixed) is PoolInvestigation.CLOSED


# -- the fan-out, end to end --------------------------------------------------------------

ROUNDS = 3
#: Results drawn for each tube: mostly negative, enough positives and invalids to matter.
WEIGHTS = {Result.NEGATIVE: 5, Result.POSITIVE: 2, Result.INVALID: 2}


@dataclass
class Chain:
    platform: Platform
    clock: FixedClock
    site: str
    lab: str
    sampler: Principal
    courier: Principal
    lab_user: Principal
    people: list[str]
    positive: set[str] = field(default_factory=set)  # never sampled again
    tube_no: int = 0
    box_no: int = 0
    expected_recalls: int = 0
    expected_notes: int = 0
    resamples: int = 0  # samples answering a recall
    resamples_kept_open: int = 0  # ... whose invalid result kept the recall open

    def ev(self, kind: EventKind, **kw: Any) -> StationEvent:
        return StationEvent(event_id=str(uuid.uuid4()), kind=kind, site_id=self.site,
                            at=self.clock.now(), **kw)

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.platform.engine.connect() as c:
            return list(c.execute(text(sql), params).all())


def principal(platform: Platform, user: str) -> Principal:
    return platform.auth.authenticate(platform.auth.login(user, DEMO_PASSWORD))


def run_round(ch: Chain, rng: random.Random) -> dict[str, tuple[str, int, Result]]:
    """Sample, box, deliver, receive and result one round; return tube id -> (barcode,
    capacity, result)."""
    recalled = {pid for pid, rid in ch.rows(
        "SELECT person_id, open_recall_id FROM person_status WHERE open_recall_id IS NOT NULL")}
    free = [p for p in ch.people if p not in ch.positive and p not in recalled]
    rng.shuffle(free)
    free = free[: int(len(free) * rng.uniform(0.5, 0.9))]
    tubes: list[tuple[str, int, list[str]]] = [(make_tube_barcode(0), 1, [p])
                                               for p in sorted(recalled)]  # 单管复核
    while free:
        mode = rng.choice(POOL_SIZES)
        n = rng.randint(1, mode)
        tubes.append((make_tube_barcode(0), mode, free[:n]))
        free = free[n:]
    events: list[StationEvent] = []
    ch.box_no += 1
    box = make_box_code(ch.box_no)
    barcodes = []
    for _, mode, members in tubes:
        ch.tube_no += 1
        bc = make_tube_barcode(ch.tube_no)
        barcodes.append(bc)
        events.append(ch.ev(EventKind.OPEN_TUBE, barcode=bc, mode=mode))
        events += [ch.ev(EventKind.SAMPLE, barcode=bc, code=ch.platform.deps.codes.sign(p))
                   for p in members]
        if len(members) < mode:
            events.append(ch.ev(EventKind.SEAL_TUBE, barcode=bc))
        events.append(ch.ev(EventKind.BOX_TUBE, box_code=box, barcode=bc))
    events.append(ch.ev(EventKind.SEAL_BOX, box_code=box))
    out = ch.platform.sampling.submit(ch.sampler, events)
    assert [o.status for o in out] == ["accepted"] * len(events), [
        o for o in out if o.status != "accepted"]

    ch.clock.advance(timedelta(hours=1))
    assert ch.platform.delivery.hand_over(ch.courier, str(uuid.uuid4()), box, ch.clock.now())
    ch.clock.advance(timedelta(hours=1))
    receipt = ch.platform.delivery.receive(ch.lab_user, str(uuid.uuid4()), ch.lab, box,
                                           ch.clock.now(), tube_barcodes=barcodes)
    assert not receipt.discrepancy

    ch.clock.advance(timedelta(hours=2))
    results = {bc: rng.choices(list(WEIGHTS), list(WEIGHTS.values()))[0] for bc in barcodes}
    items = [ResultInput(bc, r.value) for bc, r in results.items()]
    rng.shuffle(items)
    cut = rng.randint(0, len(items))
    first = ch.platform.lab.record(ch.lab_user, ch.lab, items[:cut])
    # the second file repeats one result of the first: a no-op
    again = items[:1] if cut else []
    second = ch.platform.lab.record(ch.lab_user, ch.lab, items[cut:] + again)
    assert [o.status for o in first + second] == ["accepted"] * len(items) + ["duplicate"] * len(
        again)
    ch.clock.advance(timedelta(hours=20))
    ids = dict(ch.rows("SELECT barcode, id FROM tubes"))
    return {ids[bc]: (bc, mode, results[bc]) for bc, (_, mode, _) in zip(barcodes, tubes,
                                                                         strict=True)}


def check_round(ch: Chain, tubes: dict[str, tuple[str, int, Result]]) -> None:
    samples = [s for s in ch.rows("SELECT tube_id, person_id, recall_id, sampled_at FROM samples")
               if s[0] in tubes]
    assert samples, "a round samples someone"
    opened_ids: dict[tuple[str, str], list[str]] = {}
    for rid, pool, person in ch.rows("SELECT id, pool_tube_id, person_id FROM recalls"):
        opened_ids.setdefault((pool, person), []).append(rid)
    opened = Counter({k: len(v) for k, v in opened_ids.items()})
    notes = Counter((r[0], r[1]) for r in ch.rows("SELECT tube_id, person_id FROM outbox"))
    recalls = {r[0]: r for r in ch.rows(
        "SELECT id, person_id, status, outcome, resolving_tube_id, reason FROM recalls")}
    status = {r[0]: r for r in ch.rows(
        "SELECT person_id, test_state, last_result, last_result_sampled_at, open_recall_id "
        "FROM person_status")}
    per_person = Counter(s[1] for s in samples)
    assert max(per_person.values()) == 1, "one sample per person per round"
    for tube_id, pid, recall_id, sampled_at in samples:
        _, capacity, result = tubes[tube_id]
        expected = member_outcome(result, capacity)
        where = (tube_id, pid, result.value, capacity, recall_id)
        # exactly one outcome for this person from this tube
        new_recall = expected.recall is not None and recall_id is None
        assert opened[(tube_id, pid)] == int(new_recall), where
        assert notes[(tube_id, pid)] == int(result is not Result.NEGATIVE), where
        ch.expected_recalls += int(new_recall)
        ch.expected_notes += int(result is not Result.NEGATIVE)
        if recall_id is not None:  # a re-sample answers its recall
            _, rp, rstatus, routcome, resolving, _ = recalls[recall_id]
            assert rp == pid and capacity == 1, where
            if result is Result.INVALID:
                assert (rstatus, routcome) == ("open", None), where
            else:
                assert (rstatus, routcome, resolving) == ("resolved", result.value, tube_id), where
        # the current-status row says so
        _, state, last, last_sampled, open_recall = status[pid]
        assert (state, last, last_sampled) == (expected.state.value, result.value,
                                               sampled_at), where
        assert (open_recall is not None) == (expected.state is State.PENDING_RETEST), where
        if open_recall is not None:  # the recall this tube opened, or the one it left open
            assert expected.recall is not None
            if recall_id is None:
                [want] = opened_ids[(tube_id, pid)]
                assert recalls[want][5] == expected.recall.value, where
            else:
                want = recall_id
                ch.resamples_kept_open += 1
            assert open_recall == want and recalls[want][2] == "open", where
        if recall_id is not None:
            ch.resamples += 1
        if state == State.POSITIVE.value:
            ch.positive.add(pid)
    # nothing else was opened or sent, across all rounds
    assert len(recalls) == ch.expected_recalls
    assert sum(notes.values()) == ch.expected_notes
    # nobody has two open recalls, and every open recall is someone's current one
    open_by_person = Counter(r[1] for r in recalls.values() if r[2] == "open")
    assert all(n == 1 for n in open_by_person.values())
    assert {r[0] for r in recalls.values() if r[2] == "open"} == {
        s[4] for s in status.values() if s[4] is not None}


def check_pools(ch: Chain) -> None:
    pools = ch.rows("SELECT id, investigation FROM tubes WHERE result = 'positive' AND "
                    "capacity > 1")
    recalls = ch.rows("SELECT pool_tube_id, status, outcome FROM recalls "
                      "WHERE reason = 'pool_positive'")
    for tube_id, investigation in pools:
        mine = [(s, o) for p, s, o in recalls if p == tube_id]
        assert mine, "a positive pool recalls its members"
        if any(s == "open" for s, _ in mine):
            assert investigation == PoolInvestigation.OPEN.value
        else:
            assert investigation == pool_outcome([Result(o) for _, o in mine]).value


@pytest.mark.parametrize("seed", [1, 2])
def test_every_sampled_person_ends_with_exactly_one_outcome_per_tube(
        platform: Platform, clock: FixedClock, seed: int) -> None:
    city = seed_example_city(platform, people=120)
    with platform.engine.connect() as c:
        people = [r[0] for r in c.execute(text(
            "SELECT id FROM people WHERE groups = '' ORDER BY id"))]
    ch = Chain(platform, clock, city.sites["140105"], city.labs["lab1"],
               principal(platform, "sampler"), principal(platform, "courier"),
               principal(platform, "lab"), people)
    rng = random.Random(seed)
    seen: Counter[Result] = Counter()
    for _ in range(ROUNDS):
        tubes = run_round(ch, rng)
        seen.update(r for _, _, r in tubes.values())
        check_round(ch, tubes)
    check_pools(ch)
    assert all(seen[r] for r in Result), f"every kind of result occurred: {seen}"
    assert ch.expected_recalls and ch.resamples, "recalls were opened and answered"
