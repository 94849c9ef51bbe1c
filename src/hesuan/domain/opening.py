"""Opening hours: whether a site is open at an instant, its last opening and its next one.

A site's hours are one local span a day, ``HH:MM-HH:MM`` (``07:00-21:00``); ``00:00-24:00`` is
always open, and a span whose end is before its start runs past midnight (``22:00-06:00``). A
site whose status is not ``open`` (closed, suspended by an administrator) is closed whatever
the hour.

Imports: standard library, ``hesuan.domain``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hesuan.domain.local_time import local_midnight

__all__ = ["Opening", "SiteState", "last_opening", "next_opening", "open_at", "site_state"]

_DAY = 24 * 60


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def _span(hours: str) -> tuple[int, int]:
    """(start, length) in minutes of the daily span."""
    start, end = (_minutes(x) for x in hours.split("-"))
    length = (end - start) % _DAY or _DAY
    return start, length


@dataclass(frozen=True, slots=True)
class Opening:
    """One opening of a site: from ``start`` to ``end`` (aware instants)."""

    start: datetime
    end: datetime


def _openings(hours: str, t: datetime) -> list[Opening]:
    """The openings that start on the local day of ``t``, the day before and the day after."""
    start, length = _span(hours)
    day = local_midnight(t)
    return [Opening(s, s + timedelta(minutes=length))
            for s in (day + timedelta(days=d, minutes=start) for d in (-1, 0, 1))]


def last_opening(hours: str, t: datetime) -> Opening:
    """The most recent opening that began at or before ``t`` (it may still be going on)."""
    return max((o for o in _openings(hours, t) if o.start <= t), key=lambda o: o.start)


def next_opening(hours: str, t: datetime) -> Opening:
    """The first opening that begins after ``t``."""
    return min((o for o in _openings(hours, t) if o.start > t), key=lambda o: o.start)


def open_at(hours: str, t: datetime) -> bool:
    """Whether the hours are open at the instant ``t``."""
    return t < last_opening(hours, t).end


@dataclass(frozen=True, slots=True)
class SiteState:
    """Whether a site is open at an instant, and the openings around it: ``current`` is the
    opening going on when it is open, else the last one; ``next_opens`` when it opens again
    (None while its status keeps it closed)."""

    open: bool
    current: Opening
    next_opens: datetime | None


def site_state(hours: str, status: str, t: datetime) -> SiteState:
    """A site's true state at ``t``: its status must be ``open`` and the hour within its
    hours."""
    last = last_opening(hours, t)
    if status != "open":
        return SiteState(False, last, None)
    is_open = t < last.end
    return SiteState(is_open, last, None if is_open else next_opening(hours, t).start)
