"""Station event ids (``hesuan.domain.event_ids``): UUIDv7, time-ordered, carrying the time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hesuan.domain.event_ids import RANDOM_BITS, time_ordered_id

_TIMES = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                      timezones=st.just(UTC))
_RANDOM = st.integers(min_value=0, max_value=(1 << RANDOM_BITS) - 1)


@given(_TIMES, _RANDOM)
def test_an_id_is_a_uuid7_that_carries_its_time_and_random_bits(at: datetime, r: int) -> None:
    eid = time_ordered_id(at, r)
    u = uuid.UUID(eid)
    assert str(u) == eid  # canonical form
    assert u.version == 7 and u.variant == uuid.RFC_4122
    assert u.int >> 80 == (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    assert ((u.int >> 64) & 0xFFF) << 62 | (u.int & ((1 << 62) - 1)) == r


@given(_TIMES, st.integers(min_value=1, max_value=10**9), _RANDOM, _RANDOM)
def test_ids_of_later_events_sort_after(at: datetime, later_ms: int, r1: int, r2: int) -> None:
    first = time_ordered_id(at, r1)
    second = time_ordered_id(at + timedelta(milliseconds=later_ms), r2)
    assert first < second  # as text, as the database's index compares them


def test_ids_refuse_a_naive_time_and_too_many_random_bits() -> None:
    with pytest.raises(ValueError, match="aware"):
        time_ordered_id(datetime(2026, 11, 29), 0)
    with pytest.raises(ValueError, match="random_bits"):
        time_ordered_id(datetime(2026, 11, 29, tzinfo=UTC), 1 << RANDOM_BITS)
    with pytest.raises(ValueError, match="random_bits"):
        time_ordered_id(datetime(2026, 11, 29, tzinfo=UTC), -1)
