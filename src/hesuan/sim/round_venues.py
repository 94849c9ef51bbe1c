"""The venues of a simulated round: residents showing their status pass at a venue's door.

Every hour the venues are open (08:00–21:00 local time), a seeded few of the city's people —
anyone out in the city, sampled in the round or not (not those a zone holds at home, in
isolation or away) — ask for their status pass (``PassService.issue``, as the
resident's page does) and show it at the city's venue, whose staff record the four checks
(``VenueService.check``: the pass verified, temperature, mask, certificate). A pass that is not
green is refused; one person in 50 has a fever and one in 40 no mask. The check is also a scan
for the fence rules (电子围栏), which raise an alert for the grid worker of a person whose
status or zone forbids the visit. Once a round, in the first hour the venues are open after a
building was sealed (``round_zones``), one of its people goes out to the venue: a red pass,
refused, and a ``zone_exit`` alert for their grid worker. Nothing here changes what the
reconciliation counts.

The draws come from a random generator of their own, so the rest of the round is the same
with or without them. A city without a venue has no door checks.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``, ``hesuan.sim``.
"""

from __future__ import annotations

import random
from collections import Counter

from hesuan.domain.access import Principal, Role
from hesuan.domain.local_time import local
from hesuan.services.auth import SYSTEM
from hesuan.sim.round_state import RoundState

__all__ = ["DoorChecks", "Venues"]

#: Local hours in which the venues admit people: [open, close).
OPEN_HOURS = (8, 21)
#: Door checks an hour: one per this many people, between one and :data:`MOST_AN_HOUR`.
PEOPLE_PER_CHECK = 10_000
MOST_AN_HOUR = 20
FEVER_SHARE = 1 / 50
NO_MASK_SHARE = 1 / 40
#: A body temperature, and one with a fever (the venue refuses from its own threshold up)
BODY_C, FEVERISH_C = 36.6, 37.8


class DoorChecks:
    """What the venue's door saw in the round."""

    def __init__(self) -> None:
        self.admitted = 0
        self.refused = 0
        self.colours: Counter[str] = Counter()
        self.seal_breaches = 0  # people of a sealed zone who went out to the venue

    def as_dict(self) -> dict[str, object]:
        # each pass issued is shown at the door once
        checked = self.admitted + self.refused
        return {"passes_issued": checked, "checked": checked,
                "admitted": self.admitted, "refused": self.refused,
                "colours": dict(sorted(self.colours.items())),
                "seal_breaches": self.seal_breaches}


class Venues(RoundState):
    """The round's venue and its door checks."""

    doors: DoorChecks
    _venue: tuple[str, Principal] | None
    _door_rng: random.Random

    def venues_open(self, seed: int) -> None:
        """Find the city's venue and its door staff (none: no door checks)."""
        self.doors = DoorChecks()
        self._door_rng = random.Random(f"venues:{seed}")
        venues = self.p.venues.venues(SYSTEM)
        self._venue = None if not venues else (
            venues[0].id, Principal("sim-venue", "sim-venue", Role.VENUE, venues[0].id))

    def door_checks(self) -> None:
        """This hour's door checks, when the venues are open."""
        if self._venue is None or not self.ids:
            return
        hour = local(self.clock.now()).hour
        if not OPEN_HOURS[0] <= hour < OPEN_HOURS[1]:
            return
        rng = self._door_rng
        for _ in range(min(MOST_AN_HOUR, max(1, len(self.ids) // PEOPLE_PER_CHECK))):
            person = rng.randrange(len(self.ids))
            temperature = FEVERISH_C if rng.random() < FEVER_SHARE else BODY_C
            mask_ok = rng.random() >= NO_MASK_SHARE
            if self.out_and_about(person, self.now_s):
                self._show_pass(self.ids[person], temperature, mask_ok)
        if self.doors.seal_breaches:
            return
        held = [i for i in self.held_from if self.held(i, self.now_s) and not self.isolated[i]]
        if held:  # someone of the sealed building goes out: the fence rules' zone_exit
            self.doors.seal_breaches += 1
            self._show_pass(self.ids[min(held)], BODY_C, True)

    def _show_pass(self, person: str, temperature: float, mask_ok: bool) -> None:
        """``person`` asks for their pass and shows it at the venue's door."""
        assert self._venue is not None
        venue_id, staff = self._venue
        resident = Principal("sim-resident", "sim-resident", Role.RESIDENT, person)
        text = self.p.passes.issue(resident, person)
        # the door's staff see the pass is the bearer's (the certificate, 查证)
        check = self.p.venues.check(staff, venue_id, text, temperature, mask_ok=mask_ok,
                                    certificate_ok=True)
        self.calls += 2
        self.doors.colours[check.colour or "none"] += 1
        if check.admitted:
            self.doors.admitted += 1
        else:
            self.doors.refused += 1
