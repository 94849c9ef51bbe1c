"""The city's traffic checkpoint in a simulated round (交通卡口; F13, F17): people scanned on
their way through, a team sent to support it, and a sealed building's resident turned back.

Every hour, day and night, a seeded few of the city's people (not those a zone holds at home,
in isolation or away) pass the city's first checkpoint
(``FenceService.checkpoints``): its device scans their sampling codes, one batch an hour
(``FenceService.scan``), and the fence rules raise an alert for anyone red, pending a re-test or
held in a zone. At the round's start the health officer forms the checkpoint's support team
(``TeamKind.CHECKPOINT``) of :data:`STAFF` people in the checkpoint's district (or takes up
the one an earlier round on the city left there or at the checkpoint); when a building
is sealed (``round_zones``) the officer moves the team to the checkpoint (支援保障交通卡口,
``TeamService.move_team``), where its people take :data:`STINT_S` stints in turn around the
clock (``start_shift``: each works 8 h of any 24), and in the next hour one of the building's
people tries to leave through it: a ``zone_exit`` alert. The stints end when the round has
drained.

Every hour the grid workers take up the fence alerts raised in their grids, the venue's and the
checkpoint's, once they are :data:`TAKEN_UP_AFTER_S` old: a ``zone_exit`` is closed as returned
home (劝返), any other acknowledged for their follow-up (a round stopped at now leaves the last
hours' alerts open). Nothing here changes what the reconciliation counts.

The draws come from a random generator of their own, so the rest of the round is the same
with or without them. A city without a checkpoint has no checkpoint scans and no team.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``, ``hesuan.sim``.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass, field

from hesuan.domain.access import Principal, Role
from hesuan.domain.fence import AlertOutcome, FenceRule, PlaceKind
from hesuan.domain.shifts import StaffRole, TeamKind
from hesuan.services.auth import SYSTEM
from hesuan.services.fence import ScanInput
from hesuan.sim.round_state import OFFICER, RoundState

__all__ = ["CheckpointWork", "Checkpoints"]

#: People through the checkpoint an hour: one per this many people, between one and
#: :data:`MOST_AN_HOUR`.
PEOPLE_PER_SCAN = 10_000
MOST_AN_HOUR = 20
#: The support team's people, and each one's stint: three in turn cover the day, each 8 h.
STAFF = 3
STINT_S = 4 * 3600.0
#: How long a fence alert waits before its grid worker takes it up.
TAKEN_UP_AFTER_S = 2 * 3600.0


@dataclass(slots=True)
class CheckpointWork:
    """What the checkpoint, its team and the grid workers did in the round."""

    checkpoints: int = 0
    scans: int = 0
    alerts: Counter[str] = field(default_factory=Counter)  # rule -> scans that raised it
    seal_breaches: int = 0  # people of a sealed zone turned back at the checkpoint
    team_moves: int = 0
    stints: int = 0
    handled: Counter[str] = field(default_factory=Counter)  # acknowledged | an outcome

    def as_dict(self) -> dict[str, object]:
        return {"checkpoints": self.checkpoints, "scans": self.scans,
                "alerts": dict(sorted(self.alerts.items())),
                "seal_breaches": self.seal_breaches, "team_moves": self.team_moves,
                "stints": self.stints, "fence_alerts_handled": dict(sorted(self.handled.items()))}


class Checkpoints(RoundState):
    """The round's checkpoint, its support team, and the grid workers' fence alerts."""

    checkpoint_work: CheckpointWork
    _checkpoint: tuple[str, Principal] | None
    _cp_rng: random.Random
    _cp_team: str | None
    _cp_there: bool  # the team is at the checkpoint already (an earlier round sent it)
    _cp_staff: list[str]
    _cp_moved_at: float | None
    _cp_on: str | None  # who of the team is on now

    def checkpoints_open(self, seed: int) -> None:
        """Find the city's checkpoint and form its support team in its district (none: no
        checkpoint in the round)."""
        self.checkpoint_work = CheckpointWork()
        self._cp_rng = random.Random(f"checkpoints:{seed}")
        self._checkpoint, self._cp_team, self._cp_staff, self._cp_there = None, None, [], False
        self._cp_moved_at, self._cp_on = None, None
        found = self.p.fence.checkpoints(SYSTEM)
        self.calls += 1
        if not found:
            return
        cp = found[0]
        self.checkpoint_work.checkpoints = len(found)
        self._checkpoint = (cp.id, Principal("sim-checkpoint", "sim-checkpoint", Role.VENUE,
                                             cp.id))
        self._cp_team, place, self._cp_staff = self.take_up_team(
            OFFICER, TeamKind.CHECKPOINT, [("region", cp.region_code[:6]), ("checkpoint", cp.id)],
            "卡口保障组", [(f"support-{j + 1}", StaffRole.SUPPORT) for j in range(STAFF)])
        self._cp_there = place[0] == "checkpoint"

    def checkpoint_hour(self, t: float) -> None:
        """This hour at the checkpoint: the team sent there once a building is sealed, its
        change of stint, the people passing, and the grid workers' new fence alerts."""
        if self._checkpoint is not None:
            if self._cp_moved_at is None and self.held_from:
                self._send_team(t)
            elif self._cp_moved_at is not None:
                self._stint(t)
            self._scans(t)
        self._handle_alerts(t)

    def checkpoints_close(self, t: float) -> None:
        """The round has drained: the team's person on duty goes off."""
        if self._cp_on is not None:
            self.p.teams.end_shift(OFFICER, self._cp_on, self.at(t))
            self.calls += 1
            self._cp_on = None

    # -- the hour's parts --------------------------------------------------------------------

    def _send_team(self, t: float) -> None:
        """The support team to the checkpoint (where an earlier round's sealing left it, it
        stays), and its first stint."""
        assert self._checkpoint is not None and self._cp_team is not None
        if not self._cp_there:
            self.p.teams.move_team(OFFICER, self._cp_team, "checkpoint", self._checkpoint[0],
                                   "building sealed: support the checkpoint")
            self.calls += 1
            self.checkpoint_work.team_moves += 1
        self._cp_moved_at = t
        self._stint(t)

    def _stint(self, t: float) -> None:
        """At each :data:`STINT_S` since the team came, the next of its people takes over."""
        assert self._checkpoint is not None and self._cp_moved_at is not None
        done, rest = divmod(t - self._cp_moved_at, STINT_S)
        if rest:
            return
        at = self.at(t)
        if self._cp_on is not None:
            self.p.teams.end_shift(OFFICER, self._cp_on, at)
            self.calls += 1
        assert self._cp_team is not None
        self._cp_on = self.next_free(self._cp_staff, int(done),
                                     self.free_staff(OFFICER, self._cp_team, at))
        if self._cp_on is None:
            return  # nobody may start now: the post waits for the next stint
        self.p.teams.start_shift(OFFICER, self._cp_on, "checkpoint", self._checkpoint[0],
                                 at=at)
        self.checkpoint_work.stints += 1
        self.calls += 1

    def _scans(self, t: float) -> None:
        """The hour's people through the checkpoint, one batch of their sampling codes; in
        the hour after the team came, one of the sealed building's people among them."""
        assert self._checkpoint is not None
        if not self.ids:
            return
        rng = self._cp_rng
        drawn = [rng.randrange(len(self.ids)) for _ in range(
            min(MOST_AN_HOUR, max(1, len(self.ids) // PEOPLE_PER_SCAN)))]
        people = [self.ids[i] for i in drawn if self.out_and_about(i, t)]
        if (self._cp_moved_at is not None and not self.checkpoint_work.seal_breaches
                and t > self._cp_moved_at):
            held = [i for i in self.held_from if self.held(i, t) and not self.isolated[i]]
            if held:
                self.checkpoint_work.seal_breaches += 1
                people.append(self.ids[max(held)])
        if not people:
            return
        cp_id, device = self._checkpoint
        at = self.at(t)
        out = self.p.fence.scan(device, [
            ScanInput(str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                      PlaceKind.CHECKPOINT, cp_id, at, code=self.p.deps.codes.sign(pid))
            for pid in people])
        self.calls += 1
        for o in out:
            self.checkpoint_work.scans += o.status == "accepted"
            self.checkpoint_work.alerts.update(o.alerts)

    def _handle_alerts(self, t: float) -> None:
        """The grid workers' open fence alerts raised :data:`TAKEN_UP_AFTER_S` ago or before:
        a person turned back from leaving their zone closed as returned home, any other
        acknowledged for their follow-up."""
        due = self.at(t - TAKEN_UP_AFTER_S)
        new = self.p.fence.alerts(OFFICER, statuses=["open"], limit=1000)
        self.calls += 1
        for a in new:
            if a.raised_at > due:
                continue
            worker = Principal("sim-grid", "sim-grid", Role.GRID_WORKER, a.grid_code)
            if a.rule == FenceRule.ZONE_EXIT:
                self.p.fence.close(worker, a.id, AlertOutcome.RETURNED_HOME, "劝返")
                self.checkpoint_work.handled[AlertOutcome.RETURNED_HOME.value] += 1
            else:
                self.p.fence.acknowledge(worker, a.id)
                self.checkpoint_work.handled["acknowledged"] += 1
            self.calls += 1
