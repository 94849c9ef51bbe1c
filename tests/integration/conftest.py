"""Fixtures of the integration tier: a platform wired for simulated rounds."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform, bootstrap
from hesuan.config import Settings
from hesuan.sim.simulate import CountingSender, simulation_settings


@pytest.fixture
def sim(settings: Settings, clock: FixedClock) -> Iterator[tuple[Platform, CountingSender]]:
    """A platform with the simulator's settings and a sender that counts what it sends."""
    sender = CountingSender()
    p = bootstrap(simulation_settings(settings), clock=clock, sender=sender, migrate=False)
    yield p, sender
    p.close()
