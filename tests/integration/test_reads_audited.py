"""Every read of people's data on an area's lists is audited, on both backends: the open
recalls and exemptions of an officer's or grid worker's area (/web/area) and the fence alerts
(who was stopped where, when) — each read an entry with what it read, counts, no names."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.services.lab import ResultInput
from hesuan.sim.example import seed_example_city
from tests.integration.lab_bench import Bench

OFFICER = Principal("u-o", "officer", Role.HEALTH_OFFICER, "1401")


@pytest.fixture
def bench(platform: Platform, clock: FixedClock) -> Bench:
    return Bench(platform, clock, seed_example_city(platform, people=40))


def _entries(b: Bench, action: str) -> list[tuple[str, str, str]]:
    with b.p.deps.uow(readonly=True) as uow:
        return [(r[0], r[1], str(r[2])) for r in uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT actor, subject, detail FROM audit_log WHERE action = :a ORDER BY seq"),
            {"a": action}).all()]


def test_an_areas_recalls_and_exemptions_read_are_audited(bench: Bench) -> None:
    b = bench
    person = b.person()
    (pool,) = b.tubes(1, mode=10, members=[[person, b.person()]])
    b.p.lab.record(b.lab_user(1), b.lab_id, [ResultInput(pool, "positive")])
    b.p.status.exempt(OFFICER, b.person(), "in_hospital", b.clock.now() + timedelta(days=3))
    assert len(b.p.worklists.recalls(OFFICER)) == 2
    assert len(b.p.worklists.exemptions(OFFICER)) == 1
    ((who, where, what),) = _entries(b, "recalls.read")
    assert (who, where) == ("officer", "region:1401") and "'people': 2" in what.replace('"', "'")
    ((who, where, what),) = _entries(b, "exemptions.read")
    assert (who, where) == ("officer", "region:1401") and "'people': 1" in what.replace('"', "'")


def test_the_fence_alerts_read_are_audited(bench: Bench) -> None:
    b = bench
    b.p.fence.alerts(OFFICER)
    ((who, where, what),) = _entries(b, "fence_alerts.read")
    assert (who, where) == ("officer", "region:1401") and "'alerts': 0" in what.replace('"', "'")
