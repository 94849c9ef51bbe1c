"""Opening hours: open at an instant, the last and the next opening, a site's true state."""

from __future__ import annotations

from datetime import datetime

from hesuan.domain.local_time import SHANGHAI
from hesuan.domain.opening import last_opening, next_opening, open_at, site_state


def at(day: int, hh: int, mm: int = 0) -> datetime:
    return datetime(2022, 8, day, hh, mm, tzinfo=SHANGHAI)


def test_a_day_span() -> None:
    assert open_at("07:00-21:00", at(29, 7))
    assert not open_at("07:00-21:00", at(29, 21))
    assert not open_at("07:00-21:00", at(29, 5))
    last = last_opening("07:00-21:00", at(29, 5))
    assert (last.start, last.end) == (at(28, 7), at(28, 21))
    assert next_opening("07:00-21:00", at(29, 5)).start == at(29, 7)
    assert next_opening("07:00-21:00", at(29, 22)).start == at(30, 7)


def test_always_open_and_past_midnight() -> None:
    assert all(open_at("00:00-24:00", at(29, h)) for h in range(24))
    assert open_at("22:00-06:00", at(29, 2)) and open_at("22:00-06:00", at(29, 23))
    assert not open_at("22:00-06:00", at(29, 12))
    assert last_opening("22:00-06:00", at(29, 2)).start == at(28, 22)


def test_a_sites_state_follows_its_status_and_hours() -> None:
    night = site_state("07:00-21:00", "open", at(29, 5))
    assert not night.open and night.next_opens == at(29, 7)
    assert site_state("07:00-21:00", "open", at(29, 8)).open
    suspended = site_state("07:00-21:00", "suspended", at(29, 8))
    assert not suspended.open and suspended.next_opens is None
