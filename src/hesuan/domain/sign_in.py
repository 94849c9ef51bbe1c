"""Failed sign-ins: how many are answered at once, how the wait between tries grows, and when a
key is locked.

A key is either an account (the username tried, whether or not such a user exists, so the answer
says nothing about which usernames exist) or a client address. Each kind has its own
``Throttle``; a sign-in is refused while either of its keys must wait. Only failures that were
checked count; a refused try is not checked and does not count, so a lock ends on time however
often it is knocked on.

Imports: standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["ACCOUNT", "ADDRESS", "Throttle", "locks", "next_allowed", "retry_after"]


@dataclass(frozen=True, slots=True)
class Throttle:
    """The rule for one kind of key. Within ``window``, the first ``free`` failures are answered
    at once; the next ones each wait ``first_delay``, doubling with every failure (capped at
    ``lock_for``) after the last one; the ``lock_after``-th failure locks the key for
    ``lock_for`` after it."""

    free: int
    lock_after: int
    window: timedelta = timedelta(minutes=15)
    first_delay: timedelta = timedelta(seconds=1)
    lock_for: timedelta = timedelta(minutes=15)

    def __post_init__(self) -> None:
        if not 0 < self.free < self.lock_after:
            raise ValueError("a throttle needs 0 < free < lock_after")
        # a wait is measured from the last failure, which must still be in the window then
        if self.lock_for > self.window:
            raise ValueError("a throttle's lock may not outlast its window")


#: Per account: 5 failures at once, then waits of 1, 2, 4, 8, 16 s, the 10th in 15 min locks
#: the account for 15 min. At most 10 guesses per account per 15 min (960 a day).
ACCOUNT = Throttle(free=5, lock_after=10)
#: Per client address (many accounts tried from one place): 20 at once, then waits of 1 s
#: doubling to 512 s, the 30th in 15 min locks the address for 15 min. Higher than an account's
#: so that staff behind one shared address (a site, an office) are not held back by a colleague.
ADDRESS = Throttle(free=20, lock_after=30)


def _recent(failures: Iterable[datetime], now: datetime, throttle: Throttle) -> list[datetime]:
    return sorted(at for at in failures if at > now - throttle.window)


def next_allowed(failures: Iterable[datetime], now: datetime,
                 throttle: Throttle) -> datetime | None:
    """When a key with these failure times may try again; None if it may now."""
    recent = _recent(failures, now, throttle)
    if len(recent) < throttle.free:
        return None
    last = recent[-1]
    if len(recent) >= throttle.lock_after:
        until = last + throttle.lock_for
    else:
        until = last + min(throttle.first_delay * 2 ** (len(recent) - throttle.free),
                           throttle.lock_for)
    return until if until > now else None


def locks(failures: Iterable[datetime], now: datetime, throttle: Throttle) -> bool:
    """Whether one more failure at ``now`` locks the key (it is the ``lock_after``-th)."""
    return len(_recent(failures, now, throttle)) + 1 == throttle.lock_after


def retry_after(until: datetime, now: datetime) -> int:
    """Whole seconds from ``now`` until ``until``, rounded up (at least 1)."""
    return max(1, math.ceil((until - now).total_seconds()))
