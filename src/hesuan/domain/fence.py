"""Fence alerts (F13 电子围栏预警) — from checkpoint and venue scans, never from phone tracking.

A checkpoint (交通卡口: station, airport, highway exit, compound gate) or a venue (场所) scans a
person's sampling code or status pass. The rules below decide, from the person's facts and the
place, whether the scan raises an alert:

* ``zone_exit`` — the person must stay in a sealed or controlled zone (their home's zone) and is
  scanned at a place outside it;
* ``red_or_retest`` — the person is red for a reason other than their zone (a positive result, a
  red override) or is pending a re-test (待复核), and is scanned at a venue or checkpoint;
  judged as the status stood at the scan's time where the platform keeps the times of its
  facts (the positive result, the recalls, the overrides: a device offline uploads its scans
  late), and as it stands when the scan arrives for a colour no kept time explains;
* ``arrival_follow_up`` — an arrival who has missed a test of their 三天两检 follow-up, by the
  status's rule (``domain.arrivals``), is scanned at a venue.

An alert is de-duplicated to one per person per rule per local (Asia/Shanghai) day; it is routed
to the grid worker of the person's home grid and to the health officers over it.

Imports: standard library, ``hesuan.domain``.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from hesuan.domain.arrivals import FOLLOW_UP_WATCHED, missed_test
from hesuan.domain.instants import iso_utc
from hesuan.domain.local_time import local_date
from hesuan.domain.results import TestState
from hesuan.domain.status import DEFAULT_RULE_ID, DEFAULT_RULES, ZONE_RULE_ID, Colour

__all__ = [
    "ALERTING_COLOUR",
    "ALERTING_STATES",
    "ARRIVAL_FOLLOW_UP",
    "AlertOutcome",
    "AlertStatus",
    "FenceRule",
    "PlaceKind",
    "ScanPerson",
    "ScanPlace",
    "alert_day",
    "arrival_follow_up_missed",
    "evaluate",
]

#: How long after arrival the 三天两检 follow-up is watched at venues: the status's own.
ARRIVAL_FOLLOW_UP = FOLLOW_UP_WATCHED
#: The colour, and the test states, that raise ``red_or_retest`` (the colour unless it is the
#: zone's).
ALERTING_COLOUR = Colour.RED
ALERTING_STATES = (TestState.POSITIVE, TestState.PENDING_RETEST)
# the same as plain strings, as the scanned person's facts hold them (compared per scan)
_RED = ALERTING_COLOUR.value
_POSITIVE, _PENDING_RETEST = (s.value for s in ALERTING_STATES)
#: The status rules whose facts have kept times (a positive result, a recall, an override):
#: a colour one of them set is judged at the scan's time from those times, not as it is now.
_TIMED_RULES = frozenset(r.id for r in DEFAULT_RULES
                         if r.predicate in ("positive", "open_recall", "override_active"))


class FenceRule(enum.StrEnum):
    ZONE_EXIT = "zone_exit"
    RED_OR_RETEST = "red_or_retest"
    ARRIVAL_FOLLOW_UP = "arrival_follow_up"


class PlaceKind(enum.StrEnum):
    VENUE = "venue"  # 场所
    CHECKPOINT = "checkpoint"  # 交通卡口 / 小区卡口


class AlertStatus(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"


class AlertOutcome(enum.StrEnum):
    """How an alert was closed."""

    RETURNED_HOME = "returned_home"  # 已劝返
    ISOLATED = "isolated"  # 已转运隔离
    TESTED = "tested"  # 已补检
    FALSE_ALARM = "false_alarm"  # 误报 (e.g. someone else's code)
    NO_ACTION = "no_action"


@dataclass(frozen=True, slots=True)
class ScanPerson:
    """What the rules need to know of the scanned person (from their materialised status)."""

    zone_id: str | None = None
    zone_kind: str | None = None
    colour: str = Colour.GREEN.value
    rule_id: str = DEFAULT_RULE_ID
    test_state: str = TestState.NONE.value
    open_recall: bool = False
    arrival_at: datetime | None = None
    tests_since_arrival: Sequence[datetime] = ()
    #: When the zone holding them started (None: not known here): a scan made before it, and
    #: uploaded after, left no zone.
    zone_starts_at: datetime | None = None
    #: When the positive result they hold became known (None: not known here).
    positive_since: datetime | None = None
    #: Their recalls over the scans' times, (opened, closed; None while open). None: not read,
    #: and the re-test state as it is now stands for every scan.
    recalls: tuple[tuple[datetime, datetime | None], ...] | None = None
    #: Their approved overrides, (approved, expires, colour): each is theirs from its approval
    #: until it expires or a later one is approved. None: not read, the colour as it is now.
    overrides: tuple[tuple[datetime, datetime, str], ...] | None = None


@dataclass(frozen=True, slots=True)
class ScanPlace:
    kind: PlaceKind
    id: str
    zone_ids: frozenset[str] = frozenset()  # active zones the place lies in


def alert_day(at: datetime) -> date:
    return local_date(at)


def arrival_follow_up_missed(arrival_at: datetime | None, tests: Sequence[datetime],
                             at: datetime) -> str | None:
    """Which 三天两检 test the arrival has missed by ``at`` ("first"/"second"), or None: the
    status's rule (``domain.arrivals.missed_test``), watched for ``ARRIVAL_FOLLOW_UP``."""
    if arrival_at is None or not arrival_at <= at < arrival_at + ARRIVAL_FOLLOW_UP:
        return None
    return missed_test(arrival_at, tests, at)


def evaluate(person: ScanPerson, place: ScanPlace,
             at: datetime) -> list[tuple[FenceRule, dict[str, Any]]]:
    """The rules this scan breaks, each with what the alert should say. Pure."""
    fired: list[tuple[FenceRule, dict[str, Any]]] = []
    if (person.zone_kind in ("sealed", "controlled") and person.zone_id is not None
            and person.zone_id not in place.zone_ids
            and (person.zone_starts_at is None or at >= person.zone_starts_at)):
        fired.append((FenceRule.ZONE_EXIT, {"zone_id": person.zone_id,
                                            "zone_kind": person.zone_kind}))
    positive = person.test_state == _POSITIVE and (person.positive_since is None
                                                   or person.positive_since <= at)
    if person.recalls is None:  # the re-test state as it is now
        retest = person.test_state == _PENDING_RETEST or person.open_recall
    else:
        retest = bool(person.recalls) and any(
            opened <= at and (closed is None or at < closed) for opened, closed in person.recalls)
    # red for a reason other than the zone: as it is now, or, the overrides read, as at the
    # scan's time (neither red now nor ever overridden: nothing to judge again)
    red = person.colour == _RED and person.rule_id != ZONE_RULE_ID
    if person.overrides is not None and (red or person.overrides):
        red = _red_at(person, at)
    if red or positive or retest:
        fired.append((FenceRule.RED_OR_RETEST, {
            "colour": person.colour, "pending_retest": retest,
            "test_state": person.test_state}))
    if place.kind is PlaceKind.VENUE:
        missed = arrival_follow_up_missed(person.arrival_at, person.tests_since_arrival, at)
        if missed is not None:
            fired.append((FenceRule.ARRIVAL_FOLLOW_UP, {
                "missed": missed, "arrival_at": iso_utc(person.arrival_at)
                if person.arrival_at else None}))
    return fired


def _red_at(person: ScanPerson, at: datetime) -> bool:
    """Red at ``at`` for a reason other than the zone, from the overrides read: by the override
    in force then (the last approved by then, until it expires); with none, by the colour
    now, unless a rule with kept times set it (the positive and the recall are judged at
    ``at`` themselves) or the zone did."""
    approved = [o for o in person.overrides or () if o[0] <= at]
    if approved:
        _, until, colour = max(approved)
        if at < until:
            return colour == _RED
    return (person.colour == _RED and person.rule_id != ZONE_RULE_ID
            and person.rule_id not in _TIMED_RULES)
