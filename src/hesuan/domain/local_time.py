"""Local time: Asia/Shanghai, where the people live, the sites open and the pages are read.

The platform stores and computes aware UTC instants; local time is for the rules that count in
local days (a fence alert per local day, a staff member's hours per local day, a birth date not
after today) and for what people read and type (opening hours, due times, a form's date). China
keeps UTC+8 all year (no daylight saving), so the zone is a fixed offset: exact, and cheaper
than a tz database lookup on the scan path.

Imports: standard library only.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

__all__ = ["SHANGHAI", "as_local", "hh_mm", "local", "local_date", "local_midnight",
           "midnight_of", "short"]

#: Asia/Shanghai: UTC+8, no daylight saving.
SHANGHAI = timezone(timedelta(hours=8))


def local(t: datetime) -> datetime:
    """The aware instant ``t`` on Shanghai's clock."""
    return t.astimezone(SHANGHAI)


def local_date(t: datetime) -> date:
    """The local date of the aware instant ``t`` (today, given the clock's now)."""
    return t.astimezone(SHANGHAI).date()


def midnight_of(day: date) -> datetime:
    """The instant local ``day`` begins, aware in local time."""
    return datetime.combine(day, time.min, tzinfo=SHANGHAI)


def local_midnight(t: datetime) -> datetime:
    """The instant the local day of ``t`` began, aware in local time."""
    return midnight_of(local_date(t))


def as_local(wall: datetime) -> datetime:
    """A naive wall-clock time (typed in a form, read from a file) as the local instant."""
    return wall.replace(tzinfo=SHANGHAI)


def hh_mm(t: datetime) -> str:
    """``HH:MM`` on the local clock (opening hours are compared in this form)."""
    return t.astimezone(SHANGHAI).strftime("%H:%M")


def short(t: datetime | None, fmt: str = "%m-%d %H:%M") -> str:
    """A time as residents and staff read it (month-day hour:minute, local); "—" for none."""
    return "—" if t is None else t.astimezone(SHANGHAI).strftime(fmt)
