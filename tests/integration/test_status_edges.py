"""A person's status at the edges of its facts, on both backends: two exemptions at once (the
longest in force holds, whichever is added or revoked); a person registered after the policies
and zones exist (they take their cadence and their zone at once); reminders never tell a sealed
zone's residents to go out to a site."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.sim.example import ExampleCity, seed_example_city

ADMIN = Principal("u-admin", "admin", Role.ADMIN)
OFFICER = Principal("u-o", "officer", Role.HEALTH_OFFICER, "1401")


@pytest.fixture
def city(platform: Platform) -> ExampleCity:
    return seed_example_city(platform, people=24)


def _plain(p: Platform, n: int) -> list[str]:
    with p.deps.uow(readonly=True) as uow:
        return list(uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT id FROM people WHERE groups = '' AND grid_code LIKE '140105%' ORDER BY id "
            f"LIMIT {n}")).scalars().all())


def _status(p: Platform, pid: str) -> tuple[str, tuple[str, ...]]:
    s = p.status.status_of(ADMIN, pid).status
    return s.colour.value, tuple(s.reasons)


def test_the_longest_exemption_in_force_holds(platform: Platform, clock: FixedClock,
                                               city: ExampleCity) -> None:
    """A shorter exemption added after a longer one, or revoked beside it, left the person not
    exempt (one column held the last one written): overdue on day 10, on the grid's list."""
    a, b = _plain(platform, 2)
    now = clock.now()
    platform.status.exempt(OFFICER, a, "bedridden", now + timedelta(days=200))
    short = platform.status.exempt(OFFICER, a, "away", now + timedelta(days=5))
    platform.status.revoke_exemption(OFFICER, short)
    platform.status.exempt(OFFICER, b, "bedridden", now + timedelta(days=200))
    platform.status.exempt(OFFICER, b, "in_hospital", now + timedelta(days=5))
    clock.advance(timedelta(days=10))
    platform.status.sweep(ADMIN)
    for pid in (a, b):
        assert _status(platform, pid) == ("green", ("exempt",)), pid
        with platform.deps.uow(readonly=True) as uow:
            row = uow.statuses.status_row(pid)
        assert row is not None and row.colour == "green"
