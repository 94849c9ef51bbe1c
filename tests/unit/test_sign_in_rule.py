"""The failed sign-in rule (``hesuan.domain.sign_in``): free tries, doubling waits, the lock and
its end, per the numbers in docs/SECURITY.md §2."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hesuan.domain.sign_in import ACCOUNT, ADDRESS, Throttle, locks, next_allowed, retry_after

T0 = datetime(2022, 8, 29, tzinfo=UTC)
S = timedelta(seconds=1)


def _at(n: int, step: timedelta = S) -> list[datetime]:
    return [T0 + i * step for i in range(n)]


def test_the_first_failures_are_free() -> None:
    assert next_allowed(_at(4), T0 + 4 * S, ACCOUNT) is None
    assert not locks(_at(4), T0 + 4 * S, ACCOUNT)


def test_the_wait_doubles_from_one_second() -> None:
    waits = []
    for n in range(5, 10):
        failures = _at(n)
        until = next_allowed(failures, failures[-1], ACCOUNT)
        assert until is not None
        waits.append(until - failures[-1])
    assert waits == [S, 2 * S, 4 * S, 8 * S, 16 * S]
    assert next_allowed(_at(5), T0 + 5 * S, ACCOUNT) is None  # the second has passed


def test_the_tenth_failure_locks_for_fifteen_minutes_then_all_is_forgotten() -> None:
    failures = _at(9)
    assert locks(failures, T0 + 9 * S, ACCOUNT)
    failures.append(T0 + 9 * S)
    until = next_allowed(failures, T0 + 10 * S, ACCOUNT)
    assert until == T0 + 9 * S + timedelta(minutes=15)
    assert retry_after(until, T0 + 10 * S) == 15 * 60 - 1
    assert next_allowed(failures, until, ACCOUNT) is None
    assert not locks(failures, until, ACCOUNT)  # the count starts again


def test_old_failures_leave_the_window() -> None:
    spread = _at(9, timedelta(minutes=2))  # 9 failures over 16 min: at most 8 in any 15
    now = spread[-1]
    assert not locks(spread, now, ACCOUNT)
    assert next_allowed(spread, now, ACCOUNT) == now + 8 * S  # 8 recent: the 4th wait


def test_an_address_has_a_higher_threshold() -> None:
    assert next_allowed(_at(19), T0 + 19 * S, ADDRESS) is None
    assert next_allowed(_at(20), T0 + 19 * S, ADDRESS) == T0 + 20 * S
    assert locks(_at(29), T0 + 29 * S, ADDRESS)
    # the doubling is capped at the lock's length
    capped = Throttle(free=1, lock_after=30)
    assert next_allowed(_at(25), T0 + 24 * S, capped) == T0 + 24 * S + capped.lock_for


def test_a_throttle_must_make_sense() -> None:
    with pytest.raises(ValueError):
        Throttle(free=5, lock_after=5)
    with pytest.raises(ValueError):
        Throttle(free=1, lock_after=2, window=timedelta(minutes=1))
