"""Grid rosters (F11 应检尽检、不漏一人): who must test this round, who did, who is exempt, who is
outstanding — and the roll-up from grid to community, street, district and city.

A *round* is a window of time ``(start, end]`` (by default the last 96 h: the urban cadence of
72 h plus the 24 h grace before a status changes, as the analytics coverage report counts it).
Every registered person of an area is *due* (应检); each falls in exactly one of

* ``sampled`` — sampled within the round (已检);
* ``exempt`` — not sampled, but exempt at the end of the round (免检: infant, bedridden, away …);
* ``outstanding`` — neither (未检): the grid worker's to-do list.

so ``due = sampled + exempt + outstanding`` in every area, and an area's numbers are the sums of
its grids'. Coverage (应检尽检率) counts people, not tubes: ``sampled / (due − exempt)``.

Imports: standard library, ``hesuan.domain``.
"""

from __future__ import annotations

import contextlib
import enum
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from hesuan.domain.errors import InvalidInput
from hesuan.domain.people import IdKind, normalise_id_number, normalise_phone

__all__ = [
    "LEVELS",
    "NAME_SEARCH_LIMIT",
    "PAGE_SIZE",
    "ROSTER_LISTS",
    "Counts",
    "Outcome",
    "RosterClass",
    "RosterQuery",
    "classify",
    "coverage_pct",
    "name_key",
    "roll_up",
    "roster_query",
]

#: Roll-up levels and the length of their region codes (the city is the first four digits).
LEVELS: tuple[tuple[str, int], ...] = (
    ("grid", 15), ("community", 12), ("street", 9), ("district", 6), ("city", 4),
)


class RosterClass(enum.StrEnum):
    SAMPLED = "sampled"
    EXEMPT = "exempt"
    OUTSTANDING = "outstanding"


#: The lists a roster shows: each class's people, and everyone due.
ROSTER_LISTS: tuple[str, ...] = (RosterClass.OUTSTANDING.value, RosterClass.SAMPLED.value,
                                 RosterClass.EXEMPT.value, "due")


class Outcome(enum.StrEnum):
    """What a grid worker records after trying to reach an outstanding person (one tap)."""

    REACHED = "reached"  # 已联系, will test
    REFUSED = "refused"  # 拒检
    AWAY = "away"  # 外出 / not at home
    NEEDS_DOOR_TO_DOOR = "needs_door_to_door"  # 需上门采样


@dataclass(frozen=True, slots=True)
class Counts:
    due: int = 0
    sampled: int = 0
    exempt: int = 0
    outstanding: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.due + other.due, self.sampled + other.sampled,
                      self.exempt + other.exempt, self.outstanding + other.outstanding)

    @property
    def coverage_pct(self) -> float | None:
        return coverage_pct(self)

    def as_dict(self) -> dict[str, int | float | None]:
        return {"due": self.due, "sampled": self.sampled, "exempt": self.exempt,
                "outstanding": self.outstanding, "coverage_pct": self.coverage_pct}

    @classmethod
    def of(cls, due: int, sampled: int, exempt: int) -> Counts:
        """From the three numbers a store counts; outstanding is the rest."""
        return cls(due, sampled, exempt, due - sampled - exempt)


def coverage_pct(c: Counts) -> float | None:
    """应检尽检率: sampled people over people who must test (due minus exempt), in percent."""
    must = c.due - c.exempt
    return None if must <= 0 else round(100.0 * c.sampled / must, 2)


def classify(last_sampled_at: datetime | None, exempt_until: datetime | None,
             start: datetime, end: datetime) -> RosterClass:
    """The class of one person in the round ``(start, end]``: sampled wins over exempt."""
    if last_sampled_at is not None and start < last_sampled_at <= end:
        return RosterClass.SAMPLED
    if exempt_until is not None and exempt_until > end:
        return RosterClass.EXEMPT
    return RosterClass.OUTSTANDING


def roll_up(grids: Mapping[str, Counts],
            levels: Iterable[tuple[str, int]] = LEVELS) -> dict[str, dict[str, Counts]]:
    """Sum grid counts into every level: ``{level: {code: counts}}``; codes are prefixes."""
    out: dict[str, dict[str, Counts]] = {}
    for level, n in levels:
        acc: dict[str, Counts] = {}
        for code, c in grids.items():
            key = code[:n]
            acc[key] = acc[key] + c if key in acc else c
        out[level] = dict(sorted(acc.items()))
    return out


#: People on one page of a roster, and at most this many found by a search.
PAGE_SIZE = 50
#: A name is looked for in an area of at most this many people (a community or a grid: its
#: names are decrypted to compare, there being no index of names).
NAME_SEARCH_LIMIT = 20_000


@dataclass(frozen=True, slots=True)
class RosterQuery:
    """What a search of a roster looks for: the keyed-hash inputs of the ID numbers and phone
    the text can be (``resident:…``, ``passport:…``, ``phone:…``: the keys people are stored
    under), and the name to match when the text is no number."""

    keys: tuple[str, ...]
    name: str | None


def roster_query(text: str) -> RosterQuery:
    """Read a search's text as an ID number of any kind, a phone number, or else a name."""
    raw = unicodedata.normalize("NFKC", text).strip()
    if not raw:
        raise InvalidInput("q: type an ID number, a phone number or a name",
                           code="missing_query", field="q")
    keys = []
    for kind in IdKind:
        with contextlib.suppress(InvalidInput):
            keys.append(f"{kind.value}:{normalise_id_number(kind, raw, today=date.max)}")
    with contextlib.suppress(InvalidInput):
        keys.append(f"phone:{normalise_phone(raw)}")
    if keys:
        return RosterQuery(tuple(keys), None)
    return RosterQuery((), name_key(raw))


def name_key(name: str) -> str:
    """A name as it is compared: NFKC, without spaces or the middle dot, case folded."""
    return "".join(unicodedata.normalize("NFKC", name).replace("·", "").split()).casefold()
