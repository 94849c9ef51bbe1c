"""The labs of a simulated round: boxes scanned in (``DeliveryService.receive``), runs of up to
a share of the lab's capacity (priority tubes first), results recorded (``LabService.record``)
and what they set off: recalls that bring people back to their site for a single-tube re-test.

Imports: standard library, ``hesuan.services``, ``hesuan.domain``, ``hesuan.sim``.
"""

from __future__ import annotations

import heapq

from hesuan.domain.sampling import make_tube_barcode
from hesuan.services.lab import ResultInput
from hesuan.sim.round_state import LAB_RESULT, LAB_RUN, RECALL, LabState, RoundState

__all__ = ["Labs"]


class Labs(RoundState):
    """What happens after the courier: the lab, its results, the recalls they open."""

    def receive(self, t: float, lab_idx: int, code: str, tubes: list[str]) -> None:
        lab = self.labs[lab_idx]
        scanned = list(tubes)
        if ("box_missing_tube" in self.faults_wanted and not self.faults["box_missing_tube"]
                and t >= self.fault_times["box_missing_tube"] and len(scanned) >= 2):
            self.faults["box_missing_tube"] = 1
            scanned.pop()
        self.p.delivery.receive(lab.principal, self._eid(self.at(t)), lab.id, code, self.at(t),
                                tube_barcodes=scanned)
        self.calls += 1
        self.in_flight_boxes -= 1
        for bc in scanned:
            (lab.waiting_priority if bc in self.tube_priority else lab.waiting).append(bc)
        if not lab.run_scheduled:
            lab.run_scheduled = True
            self.push(t + self.rng.uniform(300, 1800), LAB_RUN, lab_idx)

    def lab_run(self, lab: LabState, t: float) -> None:
        batch: list[str] = []
        while len(batch) < lab.per_run and (lab.waiting_priority or lab.waiting):
            batch.append((lab.waiting_priority or lab.waiting).popleft())
        lab_idx = self.labs.index(lab)
        if batch:
            self.lab_batches += 1
            self.push(t + self.rng.uniform(90 * 60, 150 * 60), LAB_RESULT, (lab_idx, batch))
        if lab.waiting or lab.waiting_priority:
            self.push(t + self.rng.uniform(1800, 3600), LAB_RUN, lab_idx)
        else:
            lab.run_scheduled = False

    def lab_result(self, t: float, lab_idx: int, batch: list[str]) -> None:
        lab = self.labs[lab_idx]
        self.lab_batches -= 1
        items: list[ResultInput] = []
        outcomes: list[tuple[str, str]] = []
        for bc in batch:
            members = self.tube_members[bc]
            if any(self.infected[m] for m in members):
                res = "positive"
                ct = {"ORF1ab": round(self.rng.uniform(18, 35), 1),
                      "N": round(self.rng.uniform(18, 35), 1)}
            elif self.rng.random() < self.invalid_rate:
                res, ct = "invalid", None
            else:
                res, ct = "negative", None
            items.append(ResultInput(bc, res, ct))
            outcomes.append((bc, res))
        if ("unknown_result" in self.faults_wanted and not self.faults["unknown_result"]
                and t >= self.fault_times["unknown_result"]):
            self.faults["unknown_result"] = 1
            items.append(ResultInput(make_tube_barcode(999_999_000_000 + self.tube_serial % 1000),
                                     "negative"))
        for i in range(0, len(items), 5000):
            self.p.lab.record(lab.principal, lab.id, items[i:i + 5000])
            self.calls += 1
        for bc, res in outcomes:
            self.after_result(bc, res, t)

    def after_result(self, bc: str, res: str, t: float) -> None:
        members = self.tube_members[bc]
        cap = self.tube_capacity[bc]
        if bc not in self.tube_recall and res != "invalid":
            k = self.routine_pools[len(members)]
            k[0] += 1
            k[1] += res == "positive"
        if res == "invalid":
            self.invalid += 1
        elif res == "positive":
            if cap > 1:
                self.pooled_positive += 1
            else:
                self.single_positive += 1
        for m in members:
            if res == "positive" and (cap == 1 or self.recall_state[m] == 2):
                self.isolated[m] = True
            state = int(self.recall_state[m])
            if state == 2 and cap == 1 and res != "invalid":
                self.recall_state[m] = 0  # the re-test answered the recall
                self.recalls_resolved += 1
            elif (res == "positive" and cap > 1) or res == "invalid":
                if state == 0:
                    self.recalls_opened += 1
                self.recall_state[m] = 1
                self.recall_visit(m, t)

    def recall_visit(self, person: int, t: float) -> None:
        s = int(self.site_of[person])
        if s < 0:
            return
        site = self.sites[s]
        when = t + self.rng.uniform(3600, 6 * 3600)
        ls = self.local_s(when)
        if not site.open_s <= ls < site.close_s - 600:
            when = self.next_open(site, when) + self.rng.uniform(0, 3600)
        heapq.heappush(site.queue, (when, RECALL, person))
        # make sure the site flushes after the visit even once the ticks have run out
        self.flush_at(site, self.align(when + 60))

