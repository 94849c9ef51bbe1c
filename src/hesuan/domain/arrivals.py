"""Arrivals (落地检, 三天两检): when an arriving person's tests are due.

A person registered at an arrival checkpoint owes two tests: the first within
``FIRST_TEST_WITHIN`` of arrival, the second at least ``SECOND_TEST_AFTER`` after the test before
it and by ``SECOND_TEST_DUE`` after arrival (or ``SECOND_TEST_AFTER`` after a first taken late).
A test sooner than that is not the second. Once both are taken the person's cadence interval
moves the due time, as for everyone; where no cadence covers them nothing more is due. Until
then, and for ``FOLLOW_UP_WATCHED`` after arrival, a change of the person's policy leaves a due
time the follow-up set alone.

Imports: standard library only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import pairwise

from hesuan.domain.errors import InvalidInput
from hesuan.domain.sampling import MAX_CLOCK_AHEAD

__all__ = [
    "ARRIVAL_RISKS",
    "FIRST_TEST_WITHIN",
    "FOLLOW_UP_WATCHED",
    "SECOND_TEST_AFTER",
    "SECOND_TEST_DUE",
    "check_arrival_time",
    "first_due",
    "follow_up_open",
    "missed_test",
    "next_due_after_sample",
]

#: The origin risks an arrival is registered with; medium and high hold the status until a
#: negative test after arrival (``domain.status``).
ARRIVAL_RISKS = ("low", "medium", "high")
#: The first test is due this long after arrival.
FIRST_TEST_WITHIN = timedelta(hours=24)
#: The second test counts this long after the test before it at the earliest...
SECOND_TEST_AFTER = timedelta(hours=24)
#: ... and is due this long after arrival (for a first test taken in time).
SECOND_TEST_DUE = timedelta(hours=72)
#: The follow-up is watched this long after arrival: a test too soon after the one before is
#: not the second, a policy's change leaves a due time the follow-up set, and venues' fence
#: rule looks for a missed test.
FOLLOW_UP_WATCHED = timedelta(days=7)


def first_due(arrived_at: datetime, sampled_at: datetime | None = None) -> datetime:
    """The due time an arrival starts with: the first test's, or the second's when the
    person's latest sample (``sampled_at``) was taken at or after arrival (registered after
    the landing swab, which is then the first test)."""
    if sampled_at is not None and sampled_at >= arrived_at:
        return _second_due(arrived_at, sampled_at)
    return arrived_at + FIRST_TEST_WITHIN


def _second_due(arrived_at: datetime, first: datetime) -> datetime:
    return max(arrived_at + SECOND_TEST_DUE, first + SECOND_TEST_AFTER)


def follow_up_open(arrival_at: datetime | None, next_due_at: datetime | None,
                   now: datetime) -> bool:
    """Whether a policy's change at ``now`` keeps the due time the follow-up set: arrived, still
    watched, and a due time set (none set, the policy's cadence gives one)."""
    return (arrival_at is not None and next_due_at is not None
            and now < arrival_at + FOLLOW_UP_WATCHED)


def next_due_after_sample(sampled_at: datetime, arrival_at: datetime | None,
                          interval: timedelta | None, due: datetime | None,
                          previous: datetime | None = None) -> datetime | None:
    """The due time after a sample taken at ``sampled_at``, the person's sample before it
    taken at ``previous``: an arrival's second test's after their first test since arrival;
    unchanged after a test too soon to be the second; otherwise one cadence ``interval``
    later — none without one once an arrival's tests are taken, unchanged for anyone else."""
    if arrival_at is None or sampled_at < arrival_at:
        return due if interval is None else sampled_at + interval
    if previous is None or previous < arrival_at:
        return _second_due(arrival_at, sampled_at)
    if previous < arrival_at + FOLLOW_UP_WATCHED and sampled_at - previous < SECOND_TEST_AFTER:
        return due
    return None if interval is None else sampled_at + interval


def missed_test(arrival_at: datetime, tests: Sequence[datetime], at: datetime) -> str | None:
    """Which of an arrival's two tests is missed by ``at`` (``first`` or ``second``), or None,
    by the rules above; ``tests``: the person's samples (those before arrival do not count)."""
    taken = sorted(t for t in tests if t >= arrival_at)
    if not taken:
        return "first" if at >= first_due(arrival_at) else None
    second = any(b - a >= SECOND_TEST_AFTER for a, b in pairwise(taken))
    if not second and at >= _second_due(arrival_at, taken[0]):
        return "second"
    return None


def check_arrival_time(arrived_at: datetime, now: datetime) -> None:
    """An arrival's time: not ahead of ``now`` by more than a station's clock may be
    (``sampling.MAX_CLOCK_AHEAD``: one in the future keeps its follow-up open for good, no
    test taken before it counting), and within the week it is watched (an older one sets no
    follow-up)."""
    if arrived_at > now + MAX_CLOCK_AHEAD:
        raise InvalidInput("arrived_at is in the future: check the device's clock",
                           code="future_time", field="arrived_at")
    if arrived_at < now - FOLLOW_UP_WATCHED:
        raise InvalidInput("arrived_at is more than a week ago: an arrival that old has no "
                           "follow-up to set", code="stale_time", field="arrived_at")
