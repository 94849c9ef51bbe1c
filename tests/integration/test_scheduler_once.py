"""The scheduler runs once however many server processes there are: each process's scheduler
ticks only while it holds the database's scheduler lease (a session advisory lock on
PostgreSQL, a ``flock`` beside the file on SQLite); when its holder stops or dies, another
process's scheduler takes the lease over at its next tick."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator

import pytest

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform, bootstrap
from hesuan.config import Settings
from hesuan.entrypoints.scheduler import Scheduler


@pytest.fixture
def two(settings: Settings, clock: FixedClock) -> Iterator[tuple[Platform, Platform]]:
    a = bootstrap(settings, clock=clock, migrate=False)
    b = bootstrap(settings, clock=clock, migrate=False)
    yield a, b
    a.close()
    b.close()


def test_one_process_holds_the_lease_until_it_lets_go(two: tuple[Platform, Platform]) -> None:
    a, b = two
    assert a.scheduler_lease.held() is True
    assert b.scheduler_lease.held() is False
    assert a.scheduler_lease.held() is True  # asked again, still its own
    a.scheduler_lease.release()
    assert b.scheduler_lease.held() is True
    assert a.scheduler_lease.held() is False


def test_a_closed_platform_lets_the_lease_go(settings: Settings, clock: FixedClock) -> None:
    a = bootstrap(settings, clock=clock, migrate=False)
    b = bootstrap(settings, clock=clock, migrate=False)
    try:
        assert a.scheduler_lease.held() and not b.scheduler_lease.held()
        a.close()  # a process that ends: its connection (or file) closes, the lock with it
        assert b.scheduler_lease.held()
    finally:
        b.close()


def test_two_schedulers_tick_as_one(two: tuple[Platform, Platform]) -> None:
    ticks: list[str] = []
    schedulers = []
    for name, p in zip("ab", two, strict=True):
        s = Scheduler(p, 0.05)
        s.tick = functools.partial(ticks.append, name)  # type: ignore[method-assign]
        schedulers.append(s)
    for s in schedulers:
        s.start()
    time.sleep(0.6)
    first = set(ticks)
    schedulers[0].stop()  # lets the lease go
    time.sleep(0.6)
    schedulers[1].stop()
    assert len(first) == 1, ticks  # one scheduler ticked while both ran
    assert len(ticks) >= 4
    assert ticks[-1] == "b"  # the other took over once the first stopped


def test_a_checkpoint_that_cannot_be_written_stops_neither_tick_nor_stop(
        two: tuple[Platform, Platform], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """The audit checkpoint's folder cannot be written (a full or read-only disk): the tick's
    other steps are done and logged, and a stopping scheduler still lets the lease go, so
    another process takes the scheduler over."""
    a, b = two

    def unwritable(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(a.audit, "checkpoint", unwritable)
    s = Scheduler(a, 3600)
    assert a.scheduler_lease.held()
    with caplog.at_level("INFO", logger="hesuan.scheduler"):
        s.tick()
    assert "audit checkpoint refused" in caplog.text and "retention" in caplog.text
    s.start()
    s.stop()
    assert b.scheduler_lease.held()
