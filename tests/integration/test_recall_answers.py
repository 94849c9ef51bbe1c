"""A single-tube re-test answers every recall of its person opened before it was taken, on both
backends: someone in two pools that both came back positive or invalid has two recalls open
(each pool's investigation counts its own), and one re-test answers both. A recall opened after
the re-test was taken is not answered by it: its pool was tested after the person was."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform
from hesuan.services.auth import SYSTEM
from hesuan.services.lab import ResultInput
from hesuan.sim.example import seed_example_city
from tests.integration.lab_bench import Bench


@pytest.fixture
def bench(platform: Platform, clock: FixedClock) -> Iterator[Bench]:
    yield Bench(platform, clock, seed_example_city(platform, people=120))


def _recalls(b: Bench, person: str) -> list[tuple[str, str | None, str | None]]:
    """(status, outcome, resolving tube's barcode) of each of the person's recalls, oldest
    first."""
    return [(r[0], r[1], r[2]) for r in b.rows(
        "SELECT r.status, r.outcome, t.barcode FROM recalls r LEFT JOIN tubes t "
        "ON t.id = r.resolving_tube_id WHERE r.person_id = :p ORDER BY r.opened_at, r.id",
        p=person)]


def _pool_with(b: Bench, person: str) -> str:
    (barcode,) = b.tubes(1, mode=5, members=[[person] + [b.person() for _ in range(4)]])
    return barcode


@pytest.mark.parametrize("retest", ["negative", "positive"])
def test_a_re_test_answers_both_recalls_of_two_pools(bench: Bench, retest: str) -> None:
    b, lab = bench, bench.lab_user(1)
    person = b.person()
    first = _pool_with(b, person)
    b.clock.advance(timedelta(hours=1))
    second = _pool_with(b, person)
    b.clock.advance(timedelta(hours=1))
    b.p.lab.record(lab, b.lab_id, [ResultInput(first, "invalid")])
    b.p.lab.record(lab, b.lab_id, [ResultInput(second, "positive")])
    assert _recalls(b, person) == [("open", None, None), ("open", None, None)]
    b.clock.advance(timedelta(hours=1))
    (single,) = b.tubes(1, members=[[person]])
    b.p.lab.record(lab, b.lab_id, [ResultInput(single, retest)])
    assert _recalls(b, person) == [("resolved", retest, single)] * 2
    open_recalls = b.p.reports.reconcile(SYSTEM, limit=100).recalls_open
    assert person not in {r.person_id for r in open_recalls.items}


def test_a_recall_opened_after_the_re_test_was_taken_stays_open(bench: Bench) -> None:
    b, lab = bench, bench.lab_user(1)
    person = b.person()
    first = _pool_with(b, person)
    b.clock.advance(timedelta(hours=1))
    second = _pool_with(b, person)
    b.p.lab.record(lab, b.lab_id, [ResultInput(second, "positive")])
    b.clock.advance(timedelta(hours=1))
    (single,) = b.tubes(1, members=[[person]])
    b.clock.advance(timedelta(hours=1))
    b.p.lab.record(lab, b.lab_id, [ResultInput(first, "invalid")])  # after the re-test
    b.p.lab.record(lab, b.lab_id, [ResultInput(single, "negative")])
    assert _recalls(b, person) == [("resolved", "negative", single), ("open", None, None)]
