"""Arrivals (落地检, 三天两检): when an arriving person's tests are due.

A person registered at an arrival checkpoint has their first test due within
``FIRST_TEST_WITHIN`` of arrival. A test taken in the first ``SECOND_TEST_IF_WITHIN`` after
arrival makes the second due at ``SECOND_TEST_DUE`` after arrival; any other test moves the due
time by the person's cadence interval, as for everyone.

Imports: standard library only.
"""

from __future__ import annotations

from datetime import datetime, timedelta

__all__ = [
    "ARRIVAL_RISKS",
    "FIRST_TEST_WITHIN",
    "SECOND_TEST_DUE",
    "SECOND_TEST_IF_WITHIN",
    "first_due",
    "next_due_after_sample",
]

#: The origin risks an arrival is registered with; medium and high hold the status until a
#: negative test after arrival (``domain.status``).
ARRIVAL_RISKS = ("low", "medium", "high")
#: The first test is due this long after arrival.
FIRST_TEST_WITHIN = timedelta(hours=24)
#: A test this soon after arrival (the end excluded) is one of the two...
SECOND_TEST_IF_WITHIN = timedelta(hours=48)
#: ... and makes the second due this long after arrival.
SECOND_TEST_DUE = timedelta(hours=72)


def first_due(arrived_at: datetime) -> datetime:
    """The due time an arrival starts with."""
    return arrived_at + FIRST_TEST_WITHIN


def next_due_after_sample(sampled_at: datetime, arrival_at: datetime | None,
                          interval: timedelta | None, due: datetime | None) -> datetime | None:
    """The due time after a sample taken at ``sampled_at``: the second arrival test's for a
    test early after arrival, otherwise one cadence ``interval`` later (unchanged without
    one)."""
    if arrival_at is not None and arrival_at <= sampled_at < arrival_at + SECOND_TEST_IF_WITHIN:
        return arrival_at + SECOND_TEST_DUE
    return due if interval is None else sampled_at + interval
