"""The sampling sites of a simulated round: windows serve the queue, a registrar binds people
to 10-in-1 tubes (a single tube for key groups, recalls and everyone at a first-landing site),
sealed tubes go into the site's box; station events go to ``SamplingService.submit`` in
batches, per site per tick; the courier's calls seal the partial tubes and the box and hand it
over (``DeliveryService``).

Imports: standard library, ``hesuan.services``, ``hesuan.domain``, ``hesuan.sim``.
"""

from __future__ import annotations

import heapq
from typing import Any

from hesuan.domain.sampling import make_box_code, make_tube_barcode
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

    def event(self, site: SiteState, kind: EventKind, t: float, **kw: Any) -> None:
        at = self.at(t)
        site.events.append(StationEvent(self._eid(at), kind, site.id, at, **kw))

    def new_tube(self, site: SiteState, t: float, mode: int, window: int) -> str:
        self.tube_serial += 1
        barcode = make_tube_barcode(self.tube_serial)
        self.event(site, EventKind.OPEN_TUBE, t, barcode=barcode, mode=mode, window=window + 1)
        self.tube_members[barcode] = []
        self.tube_capacity[barcode] = mode
        self.tubes[mode] += 1
        return barcode

    def serve(self, site: SiteState, until: float) -> None:
        """Serve the queue until ``until``: each free window takes the next person."""
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
            if self.held(person, done):
                continue  # held at home by a sealed zone: the team samples them at the door
            if kind == RECALL and self.recall_state[person] != 1:
                continue  # already re-tested on a routine visit
            if kind == ROUTINE and (self.isolated[person] or self.away(person, done)):
                continue  # confirmed positive: in isolation; or away: not at the site
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

    def submit(self, site: SiteState) -> None:
        if not site.events:
            return
        batch, site.events = site.events, []
        for i in range(0, len(batch), 1000):
            part = batch[i:i + 1000]
            outcomes = self.p.sampling.submit(site.principal, part)
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
        code = site.box_code
        tubes = site.box_tubes
        if code is not None and tubes:
            self.event(site, EventKind.SEAL_BOX, t - 30, box_code=code)
        self.submit(site)
        if code is not None and tubes:
            self.p.delivery.hand_over(self.courier, self._eid(self.at(t)), code, self.at(t))
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

