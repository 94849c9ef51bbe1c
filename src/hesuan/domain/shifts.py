"""Staff, teams and shifts (F17 轮岗调休, 支援保障): rotation so no one works too long.

A shift is one person's stint at a site's window (or with a door-to-door or checkpoint team).
Limits (defaults, configurable): at most 4 h in a row at a window, at most 8 h in a local
(Asia/Shanghai) day, and at least 30 min of rest between stints. A site lead sees who is on and
who is due to rotate (their stint reaches 4 h, or their day 8 h, within ``ROTATE_LEAD``), and
when each of the others may next start (``may_start``).

Imports: standard library only.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from hesuan.domain.errors import RuleViolation
from hesuan.domain.local_time import local_midnight

__all__ = [
    "ROTATE_LEAD",
    "ShiftLimits",
    "Span",
    "StaffRole",
    "TeamKind",
    "check_start",
    "may_start",
    "rotation",
    "worked_on_day",
]

ROTATE_LEAD = timedelta(minutes=15)


class StaffRole(enum.StrEnum):
    SWABBER = "swabber"  # 采样
    REGISTRAR = "registrar"  # 登记
    TEAM_LEAD = "team_lead"
    SUPPORT = "support"  # 秩序维护, 消杀


class TeamKind(enum.StrEnum):
    SAMPLING = "sampling"  # a fixed or temporary site's team
    DOOR_TO_DOOR = "door_to_door"  # 上门采样队
    CHECKPOINT = "checkpoint"  # 交通卡口 support


@dataclass(frozen=True, slots=True)
class ShiftLimits:
    at_window: timedelta = timedelta(hours=4)
    per_day: timedelta = timedelta(hours=8)
    rest: timedelta = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class Span:
    start: datetime
    end: datetime | None  # None: still on


def _local_day_bounds(t: datetime) -> tuple[datetime, datetime]:
    start = local_midnight(t)
    return start, start + timedelta(days=1)


def worked_on_day(spans: Sequence[Span], at: datetime) -> timedelta:
    """Time worked on ``at``'s local day (an open span counts up to ``at``)."""
    lo, hi = _local_day_bounds(at)
    total = timedelta(0)
    for s in spans:
        end = s.end or at
        a, b = max(s.start, lo), min(end, hi)
        if b > a:
            total += b - a
    return total


def check_start(spans: Sequence[Span], at: datetime, limits: ShiftLimits) -> None:
    """May this person start a stint at ``at``? Raise RuleViolation naming the limit if not."""
    if any(s.end is None for s in spans):
        raise RuleViolation("the person is already on a shift; end it first",
                            code="already_on_shift", field="staff_id")
    if worked_on_day(spans, at) >= limits.per_day:
        raise RuleViolation(f"the person has worked {limits.per_day} today (daily limit)",
                            code="daily_limit", field="staff_id")
    ends = [s.end for s in spans if s.end is not None and s.end <= at]
    if ends and at - max(ends) < limits.rest:
        raise RuleViolation(f"the person needs {int(limits.rest.total_seconds() // 60)} min of "
                            "rest between stints", code="needs_rest", field="staff_id")


def may_start(spans: Sequence[Span], at: datetime, limits: ShiftLimits) -> datetime | None:
    """The first instant from ``at`` at which this person may start a stint (``check_start``
    allows it): after their rest, or on the next local day once this one's hours are worked;
    None while they are on one."""
    if any(s.end is None for s in spans):
        return None
    ends = [s.end for s in spans if s.end is not None and s.end <= at]
    first = max(at, max(ends) + limits.rest) if ends else at
    if worked_on_day(spans, first) >= limits.per_day:
        first = local_midnight(first) + timedelta(days=1)
    return first


def rotation(spans: Sequence[Span], current: Span, now: datetime,
             limits: ShiftLimits) -> tuple[datetime, str]:
    """When the current stint must end, and which limit ends it (``at_window``/``per_day``)."""
    by_window = current.start + limits.at_window
    left_today = limits.per_day - worked_on_day(spans, now)
    by_day = now + left_today
    return (by_window, "at_window") if by_window <= by_day else (by_day, "per_day")
