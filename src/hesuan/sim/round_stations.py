"""The sampling sites of a simulated round: windows serve the queue, a registrar binds people
to 10-in-1 tubes (a single tube for key groups, recalls and everyone at a first-landing site),
sealed tubes go into the site's box; station events go to ``SamplingService.submit`` in
batches, per site per tick; the courier's calls seal the partial tubes and the box and hand it
over (``DeliveryService``; a box the courier counts otherwise than its record is reopened and
put right at the site). At a two-lane site (登记、采样双通道) the registrar binds everyone
who has come to the tube being filled, in the order they came, and the windows swab them from
it; its batches go to ``LaneService.submit``.

Imports: standard library, ``hesuan.services``, ``hesuan.domain``, ``hesuan.sim``.
"""

from __future__ import annotations

import heapq
from typing import Any

from hesuan.domain.errors import RuleViolation
from hesuan.domain.sampling import make_box_code, make_tube_barcode
from hesuan.services.lanes import LaneEvent
from hesuan.services.sampling import EventKind, StationEvent
from hesuan.sim.round_state import (
    CLOSING_GRACE,
    LANDING,
    RECALL,
    RECEIVE,
    ROUTINE,
    RoundState,
    SiteState,
)

__all__ = ["POOL", "Stations"]

POOL = 10


class Stations(RoundState):
    """What happens at the sites: sampling, boxing, the courier's calls."""

    def event(self, site: SiteState, kind: EventKind | str, t: float, eid: str | None = None,
              **kw: Any) -> None:
        """A station event of ``site`` at ``t``; at a two-lane site the batch is the lanes'
        (``register`` and ``swab`` among the spine's events, in order). ``eid``: its id, when
        not the next of the round's."""
        at = self.at(t)
        eid = eid or self._eid(at)
        if site.lanes:
            site.events.append(LaneEvent(eid, str(kind), site.id, at, **kw))
        else:
            assert isinstance(kind, EventKind)
            site.events.append(StationEvent(eid, kind, site.id, at, **kw))

    def new_tube(self, site: SiteState, t: float, mode: int, window: int | None) -> str:
        """Open a tube of ``mode`` at window ``window`` (0-based; None: the registrar's)."""
        self.tube_serial += 1
        barcode = make_tube_barcode(self.tube_serial)
        self.event(site, EventKind.OPEN_TUBE, t, barcode=barcode, mode=mode,
                   window=None if window is None else window + 1)
        self.tube_members[barcode] = []
        self.tube_capacity[barcode] = mode
        self.tubes[mode] += 1
        return barcode

    def comes(self, kind: int, person: int, t: float) -> bool:
        """Does ``person`` come for a visit of ``kind`` at ``t``? (A traveller is tested where
        they land.)"""
        if kind == LANDING:
            return True
        if self.held(person, t):
            return False  # held at home by a sealed zone: the team samples them at the door
        if kind == RECALL:
            return bool(self.recall_state[person] == 1)  # not already re-tested
        # confirmed positive: in isolation; or away
        return not (kind == ROUTINE and (self.isolated[person] or self.away(person, t)))

    def register(self, site: SiteState, until: float) -> None:
        """At a two-lane site, the registrar binds everyone who has come by ``until``, in
        the order they came, to the tube being filled (10 in 1), or to a tube of their own
        (key groups and recalls); they wait for a swab window."""
        for arrival, kind, person in sorted(x for x in site.queue if x[0] <= until):
            if person not in site.bound and self.comes(kind, person, arrival):
                self.bind(site, person, arrival)

    def bind(self, site: SiteState, person: int, t: float) -> None:
        """The registrar binds ``person`` at ``t`` (a ``register`` event)."""
        if bool(self.key[person]) or self.recall_state[person] != 0:
            barcode = self.new_tube(site, t - 5, 1, None)
        else:
            cur = site.registrar_tube
            if cur is None or cur[1] >= POOL:
                cur = (self.new_tube(site, t - 5, POOL, None), 0)
            barcode = cur[0]
            site.registrar_tube = (barcode, cur[1] + 1)
        self.event(site, "register", t, barcode=barcode,
                   code=self.p.deps.codes.sign(self.ids[person]))
        site.bound[person] = barcode
        self.lane_counts["registered"] += 1

    def serve(self, site: SiteState, until: float) -> None:
        """Serve the queue until ``until``: each free window takes the next person."""
        if site.lanes:
            self.register(site, until)
        q = site.queue
        while q:
            w = min(range(len(site.windows)), key=site.windows.__getitem__)
            arrival, kind, person = q[0]
            begin = max(arrival, site.windows[w])
            ls = self.local_s(begin)
            if ls >= site.close_s + CLOSING_GRACE or ls < site.open_s:
                begin = self.next_open(site, begin)
            done = begin + self.rng.uniform(30.0, 60.0)
            if done > until:
                return
            heapq.heappop(q)
            site.windows[w] = done
            if site.lanes and person in site.bound:
                self.swab(site, w, person, done, routine=kind != LANDING)
            elif not self.comes(kind, person, done):
                continue
            elif site.lanes:  # not registered at the pass (then bound for another visit)
                self.bind(site, person, begin)
                self.swab(site, w, person, done, routine=kind != LANDING)
            else:
                self.sample(site, w, person, done, routine=kind != LANDING)

    def sample(self, site: SiteState, w: int, person: int, t: float, *,
               routine: bool = True) -> None:
        """Sample ``person`` at window ``w``; ``routine``: a routine or recall visit, not a
        traveller's test on landing (which the prevalence estimate's routine samples leave
        out)."""
        code = self.p.deps.codes.sign(self.ids[person])
        single = site.single_only or bool(self.key[person]) or self.recall_state[person] != 0
        if single:
            barcode = self.new_tube(site, t - 20, 1, w)
            self.event(site, EventKind.SAMPLE, t, barcode=barcode, code=code, window=w + 1)
            self.tube_members[barcode].append(person)
            if self.recall_state[person] != 0:  # a re-test for the recall
                self.recall_state[person] = 2
                self.tube_recall.add(barcode)
            elif routine:
                self.routine_samples += 1
                self.infected_routine_samples += bool(self.infected[person])
            else:
                self.tube_landing.add(barcode)
            self.tube_priority.add(barcode)
            self.sealed(site, barcode, t)
        else:
            cur = site.pool[w]
            if cur is None:
                barcode = self.new_tube(site, t - 20, POOL, w)
                cur = site.pool[w] = (barcode, [])
            barcode, members = cur
            self.event(site, EventKind.SAMPLE, t, barcode=barcode, code=code, window=w + 1)
            members.append(person)
            self.tube_members[barcode].append(person)
            self.routine_samples += 1
            self.infected_routine_samples += bool(self.infected[person])
            if len(members) >= POOL:
                site.pool[w] = None
                self.sealed(site, barcode, t)
        self.sampled[person] = True

    def swab(self, site: SiteState, w: int, person: int, t: float, *, routine: bool) -> None:
        """At a two-lane site, window ``w`` swabs a registered person into the tube they are
        bound to; a tube whose last place is filled seals itself."""
        barcode = site.bound.pop(person)
        self.lane_counts["swabbed"] += 1
        self.event(site, "swab", t, code=self.p.deps.codes.sign(self.ids[person]),
                   window=w + 1)
        members = self.tube_members[barcode]
        members.append(person)
        capacity = self.tube_capacity[barcode]
        if capacity == 1 and self.recall_state[person] != 0:
            self.recall_state[person] = 2
            self.tube_recall.add(barcode)
        elif routine:
            self.routine_samples += 1
            self.infected_routine_samples += bool(self.infected[person])
        if capacity == 1:
            self.tube_priority.add(barcode)
        self.sampled[person] = True
        if len(members) == capacity:
            if site.registrar_tube is not None and site.registrar_tube[0] == barcode:
                site.registrar_tube = None
            self.sealed(site, barcode, t)

    def sealed(self, site: SiteState, barcode: str, t: float) -> None:
        """A tube was sealed at t: pack it into the site's box (or lose it, once)."""
        if ("lost_tube" in self.faults_wanted and not self.faults["lost_tube"]
                and t >= self.fault_times["lost_tube"] and self.tube_capacity[barcode] > 1):
            self.faults["lost_tube"] = 1
            self.lost.add(barcode)
            return
        if site.box_code is None:
            self.box_serial += 1
            site.box_code = make_box_code(self.box_serial)
        self.event(site, EventKind.BOX_TUBE, t + 5, barcode=barcode, box_code=site.box_code)
        site.box_tubes.append(barcode)
        if site.box_first_seal is None:
            site.box_first_seal = t

    def put_right(self, site: SiteState, code: str, tubes: list[str], t: float) -> None:
        """The ``miscounted_box`` fault: a tube scanned into the box was left on the table. The
        courier counts one tube fewer than the box's record and the hand-over is refused; the
        site reopens the box, puts the tube in and seals the box again."""
        try:
            self.p.delivery.hand_over(self.courier, self._fault_eid(self.at(t), f"{code} count"),
                                      code, self.at(t), counted=len(tubes) - 1)
        except RuleViolation as exc:
            if exc.code != "count_mismatch":
                raise
        else:
            raise AssertionError(f"box {code} was collected with a tube fewer than its record")
        self.p.delivery.reopen(site.principal, self._fault_eid(self.at(t), f"{code} reopen"),
                               code, self.at(t))
        self.event(site, EventKind.SEAL_BOX, t, self._fault_eid(self.at(t), f"{code} seal"),
                   box_code=code)
        self.submit(site)
        self.calls += 3

    def submit(self, site: SiteState) -> None:
        if not site.events:
            return
        batch, site.events = site.events, []
        for i in range(0, len(batch), 1000):
            part = batch[i:i + 1000]
            if site.lanes:
                outcomes = self.p.lanes.submit(
                    site.principal, [e for e in part if isinstance(e, LaneEvent)])
            else:
                outcomes = self.p.sampling.submit(
                    site.principal, [e for e in part if isinstance(e, StationEvent)])
            self.calls += 1
            self.events_sent += len(part)
            for o in outcomes:
                if o.status == "rejected":
                    self.rejected[o.reason or "unknown"] += 1

    def flush(self, site: SiteState, t: float) -> None:
        """End of a tick at a site: its batch of station events goes to the platform (with the
        courier's call, when the courier is due)."""
        if site.next_courier <= t:
            self.courier_call(site, t)
            return
        self.serve(site, t)
        self.submit(site)

    def courier_call(self, site: SiteState, t: float) -> None:
        """The courier calls: partial tubes and the box are sealed, the box handed over."""
        self.serve(site, t - 120)
        for w, cur in enumerate(site.pool):
            if cur is not None:
                barcode, _ = cur
                site.pool[w] = None
                self.event(site, EventKind.SEAL_TUBE, t - 90, barcode=barcode)
                self.sealed(site, barcode, t - 90)
        reg = site.registrar_tube
        if reg is not None and reg[0] not in site.bound.values():
            # the registrar's partial tube goes too once everyone bound to it is swabbed
            site.registrar_tube = None
            self.event(site, EventKind.SEAL_TUBE, t - 90, barcode=reg[0])
            self.sealed(site, reg[0], t - 90)
        code = site.box_code
        tubes = site.box_tubes
        if code is not None and tubes:
            self.event(site, EventKind.SEAL_BOX, t - 30, box_code=code)
        self.submit(site)
        if code is not None and tubes:
            if ("miscounted_box" in self.faults_wanted and not self.faults["miscounted_box"]
                    and t >= self.fault_times["miscounted_box"] and len(tubes) >= 2):
                self.faults["miscounted_box"] = 1
                self.put_right(site, code, tubes, t)
            # the courier checks the label's count of tubes as the box is handed over
            self.p.delivery.hand_over(self.courier, self._eid(self.at(t)), code, self.at(t),
                                      counted=len(tubes))
            self.calls += 1
            self.boxes += 1
            transit = self.rng.uniform(20 * 60, 90 * 60)
            if ("late_courier" in self.faults_wanted and not self.faults["late_courier"]
                    and t >= self.fault_times["late_courier"]):
                self.faults["late_courier"] = 1
                first = site.box_first_seal if site.box_first_seal is not None else t
                transit = max(transit, first + 4.5 * 3600 - t)
            self.in_flight_boxes += 1
            self.push(t + transit, RECEIVE, (site.lab, code, list(tubes)))
            site.box_code, site.box_tubes, site.box_first_seal = None, [], None
        # the next call: 30-60 min later while open; the last one when the queue at closing
        # time has been served (windows serve up to 30 min past closing); on tick boundaries
        ls = self.local_s(t)
        close_t = t + (site.close_s - ls)  # today's closing time (past once ls >= close)
        final_t = close_t + CLOSING_GRACE + 300
        nxt = t + self.rng.uniform(1800, 3600)
        if ls < site.open_s or t >= final_t - 1:
            nxt = self.next_open(site, t + 60) + self.rng.uniform(1800, 3600)
        elif nxt >= close_t:
            nxt = final_t
        site.next_courier = self.align(nxt)
        if site.next_courier < self.end_s + 48 * 3600:
            self.flush_at(site, site.next_courier)

