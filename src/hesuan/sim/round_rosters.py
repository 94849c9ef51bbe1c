"""The grid workers' rosters in a simulated round (F11 应检尽检、不漏一人).

Every day of the round at 18:00 local time, each grid's worker opens the list of their grid's
outstanding people (``RosterService.people``: not sampled in the last 96 h, not exempt) and
calls the first :data:`CALLS_A_DAY` of them, recording one outcome each
(``RosterService.record_outcome``, the one tap of the roster page) as the round knows them: a
traveller on the way home from landing is ``away``; someone a sealed zone holds at home
``needs_door_to_door`` (the zone's team samples them there); someone who means to come to
their site later in the round ``reached``; of those who never come (about 2.5%), one in three
is out of town (``away``) and the others ``refused``. Someone out of town is then exempted by
the health officer (免检, reason ``away``, for :data:`AWAY_DAYS` days: ``StatusService.exempt``),
so they leave the outstanding list for the exempt one. The calls change no one's visit, so the
rest of the round is the same with or without them; the draws come from a random generator of
their own.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``, ``hesuan.sim``.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np

from hesuan.domain.access import Principal, Role
from hesuan.domain.rosters import Outcome, RosterClass
from hesuan.sim.round_state import OFFICER, RoundState

__all__ = ["CALLS_A_DAY", "CALL_HOUR", "RosterCalls", "Rosters"]

#: The local hour at which the grid workers work their lists.
CALL_HOUR = 18
#: People a grid worker calls a day, from the top of their list.
CALLS_A_DAY = 20
#: Of those who never come, the share who are out of town (the rest refuse).
AWAY_SHARE = 1 / 3
#: Days an officer exempts someone out of town for.
AWAY_DAYS = 7


@dataclass(slots=True)
class RosterCalls:
    """What the grid workers did with their rosters in the round."""

    lists: int = 0  # lists of outstanding people opened (a grid a day)
    outcomes: Counter[str] = field(default_factory=Counter)  # outcome -> people
    exempted: int = 0  # people out of town an officer exempted

    def as_dict(self) -> dict[str, object]:
        return {"lists": self.lists, "calls": self.outcomes.total(),
                "outcomes": dict(sorted(self.outcomes.items())), "exempted": self.exempted}


class Rosters(RoundState):
    """The grid workers' daily calls to the outstanding people of their grids."""

    roster_calls: RosterCalls
    will_come: np.ndarray  # person -> comes to their site in the round (``schedule_arrivals``)
    grids: list[str]
    _roster_rng: random.Random

    def rosters_open(self, seed: int) -> None:
        self.roster_calls = RosterCalls()
        self._roster_rng = random.Random(f"rosters:{seed}")

    def roster_hour(self, t: float) -> None:
        """At :data:`CALL_HOUR` local time while the round runs, each grid's worker works
        their list."""
        if t >= self.end_s or int(self.local_s(t) // 3600) != CALL_HOUR:
            return
        for grid in self.grids:
            worker = Principal(f"sim-grid-{grid}", "sim-grid", Role.GRID_WORKER, grid)
            page = self.p.rosters.people(worker, which=RosterClass.OUTSTANDING.value,
                                         limit=CALLS_A_DAY)
            self.calls += 1
            self.roster_calls.lists += 1
            for entry in page.people:
                person = self.index_of(entry.person_id)
                outcome = self._outcome(person, t)
                self.p.rosters.record_outcome(worker, entry.person_id, outcome)
                self.calls += 1
                self.roster_calls.outcomes[outcome.value] += 1
                if outcome is Outcome.AWAY and not self.away(person, t):  # out of town
                    self.p.status.exempt(OFFICER, entry.person_id, "away",
                                         self.at(t) + timedelta(days=AWAY_DAYS),
                                         "外出：网格员电话确认")
                    self.calls += 1
                    self.roster_calls.exempted += 1

    def _outcome(self, person: int, t: float) -> Outcome:
        if self.away(person, t):
            return Outcome.AWAY
        if self.held(person, t):
            return Outcome.NEEDS_DOOR_TO_DOOR
        if self.will_come[person]:
            return Outcome.REACHED
        return Outcome.AWAY if self._roster_rng.random() < AWAY_SHARE else Outcome.REFUSED
