"""The two-lane site's staff on shifts in a simulated round (轮岗调休, F17).

At the start of the round the health officer makes the two-lane site a sampling team
(``TeamService.add_team``; an earlier round's on the city is taken up again) and its site lead
registers the staff it lacks (``add_staff``): for each
swab window, and for the registrar's lane, as many people as take the day's stints two each
(at least two). While the site is open the lead puts one of them on at each post
(``start_shift``, at the window for a swabber) and rotates them every 4 hours, the limit at a
window (``domain.shifts``): each person works at most two stints a day, with the others' in
between as rest; at closing, when the windows have served the queue, everyone goes off
(``end_shift``). After the round the rota goes on to the site's closing, or until the round
has drained. The site lead's board (``TeamService.board``) and the site's staffed windows show
them.

Imports: standard library, ``hesuan.domain``, ``hesuan.sim``.
"""

from __future__ import annotations

import math

from hesuan.domain.access import Principal, Role
from hesuan.domain.shifts import ShiftLimits, StaffRole, TeamKind
from hesuan.sim.round_state import CLOSING_GRACE, RoundState, SiteState
from hesuan.sim.round_zones import ZONE_HOUSEHOLD

__all__ = ["SHIFT", "Shifts"]

#: The action of the two-lane site's change of shift (after the zone's).
SHIFT = ZONE_HOUSEHOLD + 1
#: A stint at a post: the limit at a window.
STINT_S = ShiftLimits().at_window.total_seconds()


class Shifts(RoundState):
    """The two-lane site's rota: who is at each post, changed at each stint."""

    shift_counts: dict[str, int]
    _rota_site: SiteState | None
    _lead: Principal
    _rota_team: str
    _rota: dict[int | None, list[str]]  # post (a window; None: the registrar) -> its staff
    _on: dict[int | None, str | None]  # post -> who is on now
    _stints: int  # stints in a day of the site

    def shifts_open(self) -> None:
        """Make the two-lane site's team and staff, and plan its first change of shift (no
        such site: no rota)."""
        self.shift_counts = {"staff": 0, "stints": 0}
        self._rota_site = site = next((s for s in self.sites if s.lanes), None)
        self._rota, self._on = {}, {}
        if site is None:
            return
        self._lead = Principal(f"simlead{site.idx:06d}", f"simlead{site.idx:06d}",
                               Role.SITE_LEAD, site.id)
        self._stints = math.ceil((site.close_s + CLOSING_GRACE - site.open_s) / STINT_S)
        per_post = max(2, math.ceil(self._stints / 2))
        posts: list[tuple[int | None, StaffRole]] = [
            *((w + 1, StaffRole.SWABBER) for w in range(len(site.windows))),
            (None, StaffRole.REGISTRAR)]
        people = [(f"{role.value}-{post or 0}-{j + 1}", role)
                  for post, role in posts for j in range(per_post)]
        self._rota_team, _, staff = self.take_up_team(
            self._lead, TeamKind.SAMPLING, [("site", site.id)], "采样组", people)
        for k, (post, _) in enumerate(posts):
            self._rota[post] = staff[k * per_post:(k + 1) * per_post]
            self._on[post] = None
        self.shift_counts["staff"] = len(people)
        self.push(0.0, SHIFT, None)

    def shifts_close(self, t: float) -> None:
        """The round has drained: whoever is still on goes off."""
        for post, current in self._on.items():
            if current is not None:
                self.p.teams.end_shift(self._lead, current, self.at(t))
                self.calls += 1
                self._on[post] = None

    def shift_change(self, t: float) -> None:
        """At ``t``: the stint's people on at their posts (everyone off while the site is
        closed); the next change planned while the round runs, or until the site's last
        closing after it."""
        site = self._rota_site
        assert site is not None
        ls = self.local_s(t)
        day_end = site.close_s + CLOSING_GRACE
        # the changes fall on whole seconds of local time: a second's slack for the sum of
        # floating sim seconds
        on = site.open_s - 1 <= ls < day_end - 1
        stint = max(0, int((ls - site.open_s + 1) // STINT_S)) if on else None
        at = self.at(t)
        free: set[str] | None = None  # read once a change, when someone is to start
        for post, staff in self._rota.items():
            want = None if stint is None else staff[stint % len(staff)]
            current = self._on[post]
            if current == want:
                continue
            if current is not None:
                self.p.teams.end_shift(self._lead, current, at)
                self.calls += 1
            if stint is not None:  # the stint's person, or the next who may start
                if free is None:
                    free = self.free_staff(self._lead, self._rota_team, at)
                want = self.next_free(staff, stint, free)
                if want is not None:
                    free.discard(want)
            if want is not None:
                self.p.teams.start_shift(self._lead, want, "site", site.id, window=post, at=at)
                self.shift_counts["stints"] += 1
                self.calls += 1
            self._on[post] = want
        if on or t < self.end_s:
            midnight = t - ls
            opening = midnight + site.open_s
            marks = [opening + k * STINT_S for k in range(self._stints)]
            marks += [midnight + day_end, opening + 86400.0]
            self.push(min(m for m in marks if m > t + 1), SHIFT, None)
