"""Zones (F16 整体封控、分区切割、划小单元): sealed, controlled and precaution areas.

* 封控区 ``sealed`` — stay home; sampled door to door, often one tube per household; status red
  (or pop-up, per the zone's rules) while the zone stands.
* 管控区 ``controlled`` — stay inside the compound; status yellow.
* 防范区 ``precaution`` — no gatherings; the status is not changed by the zone.

A zone is a list of *areas*: a region code (district 6 digits, street 9, community 12, grid 15)
and, for a grid, optionally a building (the start of the address, e.g. ``3号楼``). A zone drawn as
a GeoJSON polygon is resolved to the grids whose centre lies inside it when it is designated, so
membership is always "the person's home grid (and address) falls in one of the zone's areas".
A person inside several zones belongs to the strictest (sealed > controlled > precaution).

Zones split (分区切割: one zone becomes several, each with its own kind) and shrink (划小单元:
a zone becomes a smaller one); the old zone is kept with the status ``split`` or ``shrunk`` and
the new ones name it as their parent, so the history is never lost.

Imports: standard library only.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hesuan.domain.digits import is_digits
from hesuan.domain.errors import InvalidInput, RuleViolation

__all__ = [
    "KIND_RANK",
    "MAX_AREAS",
    "Area",
    "Movement",
    "SamplingMode",
    "ZoneKind",
    "ZoneRules",
    "ZoneStatus",
    "area_covers",
    "areas_overlap",
    "check_areas",
    "check_parts",
    "check_rules",
    "check_times",
    "default_rules",
    "rank",
    "within",
]

MAX_AREAS = 5000
MAX_ZONE_DAYS = 60
_CODE_LENGTHS = (6, 9, 12, 15)


class ZoneKind(enum.StrEnum):
    SEALED = "sealed"  # 封控区
    CONTROLLED = "controlled"  # 管控区
    PRECAUTION = "precaution"  # 防范区


KIND_RANK: dict[str, int] = {ZoneKind.PRECAUTION: 1, ZoneKind.CONTROLLED: 2, ZoneKind.SEALED: 3}


def rank(kind: str | None) -> int:
    """0 for no zone; higher is stricter."""
    return 0 if kind is None else KIND_RANK.get(kind, 0)


class ZoneStatus(enum.StrEnum):
    ACTIVE = "active"
    LIFTED = "lifted"  # 解封, by a health officer
    EXPIRED = "expired"  # its planned end passed
    SPLIT = "split"  # replaced by several zones (分区切割)
    SHRUNK = "shrunk"  # replaced by a smaller zone (划小单元)


class Movement(enum.StrEnum):
    STAY_HOME = "stay_home"  # 足不出户
    STAY_IN_COMPOUND = "stay_in_compound"  # 足不出区
    NO_GATHERING = "no_gathering"  # 严禁聚集


class SamplingMode(enum.StrEnum):
    DOOR_TO_DOOR = "door_to_door"  # 上门采样
    HOUSEHOLD_POOL = "household_pool"  # 上门, 一户一管
    SINGLE_TUBE = "single_tube"  # 单采
    AT_SITE = "at_site"  # 到采样点


@dataclass(frozen=True, slots=True)
class ZoneRules:
    """What the zone asks of the people in it. ``cadence_hours``: how often they are tested
    while the zone stands (None: their usual policy); ``colour``: the status colour the zone
    gives (None: red for sealed, yellow for controlled, unchanged for precaution)."""

    cadence_hours: float | None
    sampling_mode: SamplingMode
    movement: Movement
    colour: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"cadence_hours": self.cadence_hours, "sampling_mode": self.sampling_mode.value,
                "movement": self.movement.value, "colour": self.colour}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ZoneRules:
        return cls(d.get("cadence_hours"), SamplingMode(d["sampling_mode"]),
                   Movement(d["movement"]), d.get("colour"))


def default_rules(kind: ZoneKind) -> ZoneRules:
    if kind is ZoneKind.SEALED:
        return ZoneRules(24, SamplingMode.HOUSEHOLD_POOL, Movement.STAY_HOME)
    if kind is ZoneKind.CONTROLLED:
        return ZoneRules(24, SamplingMode.DOOR_TO_DOOR, Movement.STAY_IN_COMPOUND)
    return ZoneRules(None, SamplingMode.AT_SITE, Movement.NO_GATHERING)


def check_rules(kind: ZoneKind, rules: ZoneRules) -> None:
    if rules.cadence_hours is not None and not 4 <= rules.cadence_hours <= 168:
        raise InvalidInput("rules.cadence_hours must be 4-168 hours (or none)",
                           code="bad_cadence", field="rules.cadence_hours")
    if rules.colour is not None:
        allowed = ("red", "popup") if kind is ZoneKind.SEALED else ("yellow", "popup", "red")
        if kind is ZoneKind.PRECAUTION or rules.colour not in allowed:
            raise InvalidInput(
                f"rules.colour for a {kind} zone must be one of {', '.join(allowed)}"
                if kind is not ZoneKind.PRECAUTION else
                "rules.colour: a precaution zone does not change anyone's status",
                code="bad_colour", field="rules.colour")


@dataclass(frozen=True, slots=True, order=True)
class Area:
    """A region (any level from district to grid), or one building of a grid."""

    region_code: str
    building: str = ""

    def label(self) -> str:
        return self.region_code + (f"/{self.building}" if self.building else "")


def check_areas(areas: Sequence[Area], *, field: str = "areas") -> list[Area]:
    """Validate and de-duplicate; an area inside another area of the list is dropped."""
    if not areas:
        raise InvalidInput(f"{field}: a zone needs at least one area (or a polygon)",
                           code="no_areas", field=field)
    if len(areas) > MAX_AREAS:
        raise InvalidInput(f"{field}: at most {MAX_AREAS} areas", code="too_many_areas",
                           field=field)
    for a in areas:
        if not is_digits(a.region_code) or len(a.region_code) not in _CODE_LENGTHS:
            raise InvalidInput(f"{field}: {a.region_code!r} is not a district, street, "
                               "community or grid code (6, 9, 12 or 15 digits)",
                               code="bad_region_code", field=field)
        if a.building and len(a.region_code) != 15:
            raise InvalidInput(f"{field}: a building is given within a grid (15-digit code)",
                               code="bad_building", field=field)
        if len(a.building) > 40 or a.building != a.building.strip():
            raise InvalidInput(f"{field}: building must be at most 40 characters, trimmed",
                               code="bad_building", field=field)
    kept: list[Area] = []
    for a in sorted(set(areas), key=lambda a: (len(a.region_code), a.building != "", a)):
        if not any(_inside(a, k) for k in kept):
            kept.append(a)
    return sorted(kept)


def _inside(a: Area, outer: Area) -> bool:
    """Is area ``a`` wholly inside ``outer``?"""
    if not a.region_code.startswith(outer.region_code):
        return False
    if not outer.building:
        return True
    return a.region_code == outer.region_code and a.building.startswith(outer.building)


def area_covers(area: Area, grid_code: str, address: str | None) -> bool:
    """Does ``area`` hold a person (or place) of this grid and address?"""
    if not grid_code.startswith(area.region_code):
        return False
    return not area.building or (address or "").startswith(area.building)


def within(inner: Iterable[Area], outer: Iterable[Area]) -> bool:
    """Is every area of ``inner`` inside some area of ``outer``?"""
    outs = list(outer)
    return all(any(_inside(a, o) for o in outs) for a in inner)


def areas_overlap(a: Iterable[Area], b: Iterable[Area]) -> bool:
    bs = list(b)
    return any(_inside(x, y) or _inside(y, x) for x in a for y in bs)


def check_times(start: datetime, planned_end: datetime | None, now: datetime) -> None:
    if start.tzinfo is None or (planned_end is not None and planned_end.tzinfo is None):
        raise InvalidInput("times must carry a timezone", code="naive_time", field="starts_at")
    if start > now + timedelta(days=7):
        raise InvalidInput("starts_at must be within the next 7 days", code="bad_start",
                           field="starts_at")
    if planned_end is not None:
        if planned_end <= max(start, now):
            raise InvalidInput("planned_end must be after the start and in the future",
                               code="bad_planned_end", field="planned_end")
        if planned_end - start > timedelta(days=MAX_ZONE_DAYS):
            raise InvalidInput(f"planned_end: a zone stands at most {MAX_ZONE_DAYS} days at a "
                               "time (extend it later)", code="bad_planned_end",
                               field="planned_end")


def check_parts(parent: Sequence[Area], parts: Sequence[Sequence[Area]], *,
                shrink: bool) -> None:
    """A split's parts (or a shrink's one part) must lie inside the parent zone and not overlap
    each other; a shrink must be strictly smaller than its parent."""
    for i, part in enumerate(parts):
        if not within(part, parent):
            raise RuleViolation(f"parts[{i}]: every area must lie inside the zone being "
                                f"{'shrunk' if shrink else 'split'}", code="outside_parent",
                                field=f"parts[{i}].areas")
        for j in range(i):
            if areas_overlap(part, parts[j]):
                raise RuleViolation(f"parts[{i}] overlaps parts[{j}]", code="parts_overlap",
                                    field=f"parts[{i}].areas")
    if shrink and within(parent, parts[0]):
        raise RuleViolation("a shrunk zone must be smaller than the zone it replaces",
                            code="not_smaller", field="areas")
