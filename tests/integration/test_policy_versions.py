"""A policy's new version (docs/STATUS.md "Versioned"), on both backends: it does not restart
the clock of people never sampled (a change of the reminder lead alone turned someone overdue
green: their first due time moved to the new version's start + interval); a policy that ended
and is opened again starts now."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.domain.cadence import ScopeKind
from hesuan.services.status import PolicyInput
from hesuan.sim.example import seed_example_city

ADMIN = Principal("u-admin", "admin", Role.ADMIN)


def test_a_new_version_keeps_the_clock_of_people_never_sampled(platform: Platform,
                                                               clock: FixedClock) -> None:
    seed_example_city(platform, people=24)
    with platform.deps.uow(readonly=True) as uow:
        pid = uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT id FROM people WHERE groups = '' AND grid_code LIKE '140105%' "
            "ORDER BY id")).scalars().first()
    (policy,) = [p for p in platform.status.policies(ADMIN) if p.scope == "140105"]
    clock.advance(policy.interval + policy.grace + timedelta(hours=4))  # never sampled
    platform.status.sweep(ADMIN)

    def status() -> tuple[str, tuple[str, ...]]:
        s = platform.status.status_of(ADMIN, pid).status
        return s.colour.value, tuple(s.reasons)

    assert status() == ("yellow", ("overdue",))
    edited = platform.status.set_policy(ADMIN, PolicyInput(
        ScopeKind.REGION, "140105", policy.interval,
        reminder_lead=policy.reminder_lead + timedelta(hours=1), id=policy.id))
    assert edited.version == policy.version + 1
    assert (edited.valid_from, edited.name) == (policy.valid_from, policy.name)
    assert status() == ("yellow", ("overdue",))
    # ended, then opened again: it starts now
    now = clock.now()
    platform.status.set_policy(ADMIN, PolicyInput(
        ScopeKind.REGION, "140105", policy.interval, id=policy.id,
        valid_from=policy.valid_from, valid_to=now))
    clock.advance(timedelta(hours=1))
    reopened = platform.status.set_policy(ADMIN, PolicyInput(
        ScopeKind.REGION, "140105", policy.interval, id=policy.id))
    assert reopened.valid_from == clock.now()
    assert status()[0] == "green"
