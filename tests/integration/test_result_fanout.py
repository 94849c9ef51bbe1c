"""The result fan-out decides the status of the plain members of a results batch itself, in the
same write as their result (not by marking them stale for the status refresh): right after every
results call of a simulated round — negatives, positive pools, recalls and their re-samples,
invalid tubes, people with exemptions and arrivals — every status that is not stale equals what
the engine decides from the facts, and the audit counts every status decided."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from hesuan.adapters.clock import FixedClock
from hesuan.adapters.db.schema import from_ms
from hesuan.adapters.db.status_store import _FACT_COLUMNS, _facts
from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.domain.results import Result
from hesuan.domain.status import decide
from hesuan.services.lab import ResultInput, ResultOutcome
from hesuan.services.runs import RunRelease
from hesuan.sim.city import generate_city
from hesuan.sim.city_plan import person_id
from hesuan.sim.simulate import CountingSender, simulate_round


def _check_statuses(p: Platform, clock: FixedClock) -> int:
    now = clock.now()
    checked = 0
    with p.deps.uow(readonly=True) as uow:
        rules = p.status.rules(uow)
        rows = uow.conn.execute(text(  # type: ignore[attr-defined]
            f"SELECT {_FACT_COLUMNS}, ps.colour, ps.reasons, ps.rule_id, ps.rule_version, "
            "ps.status_valid_until FROM person_status ps LEFT JOIN recalls r "
            "ON r.id = ps.open_recall_id AND r.status = 'open'")).all()
    for r in rows:
        valid_until = None if r[-1] is None else from_ms(r[-1])
        if valid_until is not None and valid_until <= now:
            continue  # stale: the sweep decides it
        facts = _facts(r)
        want = decide(facts, now, rules)
        got = (r[-5], tuple(r[-4].split(",")), r[-3], r[-2], valid_until)
        assert got == (want.colour.value, want.reasons, want.rule_id, want.rule_version,
                       want.valid_until), (r[0], facts)
        checked += 1
    return checked


def test_fanout_statuses_equal_the_engine_after_every_results_call(
        sim: tuple[Platform, CountingSender], clock: FixedClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    p, sender = sim
    start = clock.now()
    generate_city(p, 600, seed=7, workers=0)
    officer = Principal("o", "officer", Role.HEALTH_OFFICER, "1401")
    p.status.exempt(officer, person_id(7, 3), "away", start + timedelta(days=30))
    p.status.exempt(officer, person_id(7, 4), "infant", start + timedelta(hours=6))
    calls: list[dict[str, Any]] = []
    checks: list[int] = []
    record, release = p.lab.record, p.runs.release

    def checked(action: str) -> None:
        with p.deps.uow(readonly=True) as uow:
            last = uow.audit_log.entries(0, 1_000_000)[-1]
        assert last.action == action
        calls.append(dict(last.detail))
        checks.append(_check_statuses(p, clock))

    def checked_record(actor: Principal, lab_id: str,
                       items: Sequence[ResultInput]) -> list[ResultOutcome]:
        out = record(actor, lab_id, items)
        checked("results.record")
        return out

    def checked_release(actor: Principal, plate_id: str) -> RunRelease:
        out = release(actor, plate_id)
        checked("plate.release")
        return out

    # results reach people both ways: a lab's results file, and a plate's release
    monkeypatch.setattr(p.lab, "record", checked_record)
    monkeypatch.setattr(p.runs, "release", checked_release)
    s = simulate_round(p, clock, sender, start, hours=30, prevalence=0.03, faults=(), seed=7)
    assert s.pooled_positive > 0 and s.recalls_opened > 0 and s.recalls_resolved > 0
    assert calls and min(checks) > 0
    accepted = sum(c.get("accepted", 0) + c.get("corrected", 0)
                   + sum(c.get(r.value, 0) for r in Result) for c in calls)
    assert accepted > 0
    # every member reached by a result is counted, and each of them was decided
    assert sum(c.get("people_notified", 0) for c in calls) >= s.sampled > 0
    assert sum(c.get("statuses_decided", 0) for c in calls) >= s.sampled
    assert sum(c.get("recalls_resolved", 0) for c in calls) > 0
