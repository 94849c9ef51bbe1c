"""The labs of a simulated round, run as labs run them: boxes scanned in
(``DeliveryService.receive``); plates of 96 wells with the assay's controls; the instrument's
export file of each plate imported; a second lab user reviewing and releasing each plate; the
results fanning out, and the recalls they open bringing people back for a single-tube re-test.

* **Runs.** A lab starts a run every 30-60 min while tubes wait: up to its capacity's share,
  tubes back for a re-run first, then priority tubes (key groups, recalls), then the longest
  waiting. The run's tubes go onto plates of 96 wells — the positive control in H12, the
  negative control in H11 (and a no-template control in H10 when the assay has one), the tubes
  row by row from A1 — built with ``PlateService``: the plate made, its controls placed, its
  tubes scanned as a rack (``place_tubes``), the plate marked ready.
* **Results.** 90-150 min later each plate's QuantStudio export (``instrument_runs``) is
  imported (``RunService.import_run``) by the lab user who built it. The Ct values come from
  the round's truth: a tube with an infected member amplifies every viral target; a seeded
  share of them (``LabRates.single_target``) shows one target or a grey-zone value on its first
  run, and on the re-run shows it again (``stays_single``: its people are recalled) or
  amplifies clearly; an uninfected tube's internal control fails at ``invalid_rate`` a run (an
  invalid well: re-run, then recalled). A seeded share of plates (``control_failure``) has a
  positive control that does not amplify: the whole plate is void and its tubes go back for a
  re-run, uncounted.
* **Release.** 10-30 min after the import a second lab user of the lab (its reviewer) releases
  the plate (``RunService.release``, two-person release): its positives, negatives and recalls
  reach people through the results fan-out. Tubes decided re-run go back to the front of the
  lab's queue at the import and a run starts within 10-20 min.
* **Rejected specimens.** As a box is scanned in, a seeded share of its tubes
  (``LabRates.rejected_at_receipt``) is rejected in the receipt itself (leaked, label
  unreadable, wrong container, ...); as a run takes its tubes, a seeded share
  (``rejected_at_bench``) is rejected at the bench (insufficient volume, contaminated, ...)
  and stays off the plates (``RejectionService``). Every member of a rejected tube is
  recalled, and comes back for a single-tube re-test as recalled people do.
* **A correction.** Once per round, at the first release past a quarter of the round that
  releases a negative pool, one of its negative pools is picked; 1-3 h later the lab's
  reviewer requests its correction to positive with a reason, and 10-30 min after that the
  lab's other user approves it (``CorrectionService``): every member is recalled and told once,
  and the pool's investigation opens. Its members are not infected, so their re-tests are
  negative and the investigation closes for review (``corrected_to_positive``).
* Every seeded event happens at least once in a round whose rate is not 0: past a quarter of
  the round, the first chance of one the rates have not yet given takes it (the demo shows
  each).
* A re-run can take a tube past the lab's receipt-to-release target (6 h): the round counts
  those (``late_results``), which the reconciliation's late-results list and the alerts show.

The ``unknown_result`` fault goes through the direct results path (``LabService.record``), the
one a lab without an instrument file uses: no plate takes a barcode that does not exist.

Imports: standard library, ``hesuan.adapters``, ``hesuan.services``, ``hesuan.domain``,
``hesuan.sim``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from hesuan.adapters.db.schema import to_ms
from hesuan.domain.assays import Assay
from hesuan.domain.corrections import CorrectionKind
from hesuan.domain.plates import Decision, PlateSize, WellKind
from hesuan.domain.sampling import make_tube_barcode
from hesuan.domain.specimens import RejectionCode
from hesuan.services.lab import ResultInput
from hesuan.services.rejections import RejectionInput
from hesuan.sim.instrument_runs import (
    CONTROL_SAMPLE_NAMES,
    CONTROL_SHOWS,
    ExportWell,
    Shows,
    draw_cts,
    quantstudio_export,
)
from hesuan.sim.round_state import (
    LAB_CORRECTION,
    LAB_RELEASE,
    LAB_RESULT,
    LAB_RUN,
    LabState,
    RoundState,
)

__all__ = ["Labs", "SimPlate"]

#: Where a plate's controls go.
CONTROL_WELLS = {WellKind.POSITIVE_CONTROL: "H12", WellKind.NEGATIVE_CONTROL: "H11",
                 WellKind.NO_TEMPLATE_CONTROL: "H10"}
#: Past this share of the round, a seeded event the rates have not given yet happens.
SEEDED_AT_LEAST_ONCE = 0.25
#: What a tube's last counted run showed that a re-run may show again.
_AGAIN = (Shows.SINGLE_TARGET, Shows.GREY_ZONE)
#: Why a tube is rejected as its box is opened, and as a run takes it.
RECEIPT_CODES = (RejectionCode.LEAKED, RejectionCode.LABEL_UNREADABLE,
                 RejectionCode.WRONG_CONTAINER, RejectionCode.INSUFFICIENT_VOLUME,
                 RejectionCode.COLD_CHAIN_BROKEN)
BENCH_CODES = (RejectionCode.INSUFFICIENT_VOLUME, RejectionCode.CONTAMINATED,
               RejectionCode.NO_SWAB, RejectionCode.LEAKED)
#: Why the round's correction is made.
CORRECTION_REASON = ("re-review of the run's amplification curves: both targets amplified in "
                     "this pool's well and were misread as not detected")


@dataclass(frozen=True, slots=True)
class SimPlate:
    """A plate a lab built in the round: its tubes and controls by well."""

    id: str
    assay: Assay
    tubes: dict[str, str]  # well -> barcode
    controls: dict[str, WellKind]  # well -> control
    built_s: float


@dataclass(frozen=True, slots=True)
class Released:
    """A tube's outcome on an imported plate that its release sends to people."""

    barcode: str
    result: str  # positive | negative | invalid (a recall)
    recall_reason: str | None


class Labs(RoundState):
    """What happens after the courier: the lab's plates, their release, the recalls."""

    def receive(self, t: float, lab_idx: int, code: str, tubes: list[str]) -> None:
        lab = self.labs[lab_idx]
        scanned = list(tubes)
        if ("box_missing_tube" in self.faults_wanted and not self.faults["box_missing_tube"]
                and t >= self.fault_times["box_missing_tube"] and len(scanned) >= 2):
            # the tube missing from a box is a routine one: a recall's re-test or a
            # traveller's tube missing would leave its person's recall or arrival open besides
            # (lists of their own), and the fault is one discrepancy of the chain of custody
            routine = next((bc for bc in reversed(scanned) if bc not in self.tube_recall
                            and bc not in self.tube_landing), None)
            if routine is not None:
                self.faults["box_missing_tube"] = 1
                scanned.remove(routine)
        rejected = self.rejected_at_receipt(lab, scanned, t)
        # a tube the box's record holds and the lab did not find is declared missing: its
        # people are recalled, as for a tube rejected
        missing = [RejectionInput(bc, RejectionCode.MISSING.value) for bc in tubes
                   if bc not in scanned]
        self.p.delivery.receive(lab.principal, self._eid(self.at(t)), lab.id, code, self.at(t),
                                tube_barcodes=scanned,
                                rejected=[*rejected.values(), *missing])
        for lost in missing:
            self.receipt_rejections[RejectionCode.MISSING.value] += 1
            self.after_rejection(lost.barcode, t)
        self.calls += 1
        self.in_flight_boxes -= 1
        received = to_ms(self.at(t))
        by_lis = self.lis_takes(lab_idx)
        for bc in scanned:
            self.received_ms[bc] = received
            if bc in rejected:
                self.after_rejection(bc, t)
            elif not by_lis:
                (lab.waiting_priority if bc in self.tube_priority else lab.waiting).append(bc)
        if by_lis:
            self.lis_received(t, lab_idx, [bc for bc in scanned if bc not in rejected])
        elif lab.next_run is None:
            self.run_at(lab_idx, t + self.rng.uniform(300, 1800))

    def lis_takes(self, lab_idx: int) -> bool:
        """Whether the lab's own system (LIS) reports the box scanned in now instead of
        plates (``round_lis``)."""
        return False

    def lis_received(self, t: float, lab_idx: int, tubes: list[str]) -> None:
        """The LIS has the box's received tubes (``round_lis``)."""
        raise NotImplementedError

    def rejected_at_receipt(self, lab: LabState, tubes: list[str],
                            t: float) -> dict[str, RejectionInput]:
        """The tubes the lab rejects as it scans a box in, a seeded share, each with its code:
        rejected in the receipt's own call, they never reach a plate."""
        out: dict[str, RejectionInput] = {}
        for bc in tubes:
            if self._seeded("rejected_at_receipt", self.lab_rates.rejected_at_receipt):
                code = self.rng.choice(RECEIPT_CODES)
                out[bc] = RejectionInput(bc, code.value)
                self.receipt_rejections[code.value] += 1
        return out

    def rejected_at_bench(self, lab: LabState, batch: list[str], t: float) -> list[str]:
        """The run's tubes less those the lab rejects as it takes them (a seeded share): each
        rejected through the rejection service, its people recalled."""
        kept: list[str] = []
        late_after = self._late_after(t)
        for bc in batch:
            if not self._seeded("rejected_at_bench", self.lab_rates.rejected_at_bench):
                kept.append(bc)
                continue
            code = self.rng.choice(BENCH_CODES)
            self.p.rejections.reject(lab.principal, lab.id, RejectionInput(bc, code.value))
            self.calls += 1
            self.bench_rejections[code.value] += 1
            # the rejection is the tube's answer: past the lab's target it is a late one
            self.late_results += self.received_ms[bc] < late_after
            self.after_rejection(bc, t)
        return kept

    def _late_after(self, t: float) -> int:
        """A tube received before this instant (epoch ms) is answered late at ``t``."""
        return to_ms(self.at(t)) - int(self.p.deps.limits.lab / timedelta(milliseconds=1))

    def run_at(self, lab_idx: int, when: float) -> None:
        """Make the lab's next run start at ``when`` unless one starts sooner."""
        lab = self.labs[lab_idx]
        if lab.next_run is None or when < lab.next_run:
            lab.next_run = when
            self.push(when, LAB_RUN, lab_idx)

    # -- runs ------------------------------------------------------------------------------

    def lab_run(self, lab: LabState, t: float) -> None:
        if lab.next_run != t:
            return  # a sooner run (for re-runs) took this one's place
        lab.next_run = None
        batch: list[str] = []
        for queue in (lab.reruns, lab.waiting_priority, lab.waiting):
            while queue and len(batch) < lab.per_run:
                batch.append(queue.popleft())
        batch = self.rejected_at_bench(lab, batch, t)
        lab_idx = self.labs.index(lab)
        if batch:
            lab.runs += 1
            self.lab_batches += 1
            self.push(t + self.rng.uniform(90 * 60, 150 * 60), LAB_RESULT,
                      (lab_idx, self.build_plates(lab, batch, t)))
        if lab.reruns or lab.waiting or lab.waiting_priority:
            self.run_at(lab_idx, t + self.rng.uniform(1800, 3600))

    def build_plates(self, lab: LabState, batch: list[str], t: float) -> list[SimPlate]:
        """The run's tubes on plates of 96 wells with the assay's controls, marked ready."""
        plates: list[SimPlate] = []
        size = PlateSize.WELLS_96
        while batch:
            row = self.p.plates.create(lab.principal, lab.id, int(size))
            assay = self.assays.get(row.assay)
            if assay is None:
                assay = self.assays[row.assay] = self.p.plates.plate(lab.principal,
                                                                     row.id).assay
                self.calls += 1
            controls = {w: k for k, w in CONTROL_WELLS.items()
                        if k is not WellKind.NO_TEMPLATE_CONTROL or assay.no_template_control}
            free = [w for w in size.wells() if w not in controls]
            tubes = dict(zip(free, batch, strict=False))
            batch = batch[len(tubes):]
            for well, kind in controls.items():
                self.p.plates.place_control(lab.principal, row.id, well, kind)
            self.p.plates.place_tubes(lab.principal, row.id, list(tubes.items()))
            self.p.plates.mark_ready(lab.principal, row.id)
            self.calls += 3 + len(controls)
            self.plates += 1
            plates.append(SimPlate(row.id, assay, tubes, controls, t))
        return plates

    def _seeded(self, kind: str, rate: float) -> bool:
        """Whether a seeded event at ``rate`` happens now (see the module: at least once)."""
        hit = rate > 0 and (self.rng.random() < rate or (
            not self.seeded_events[kind] and self.now_s >= self.end_s * SEEDED_AT_LEAST_ONCE))
        if hit:
            self.seeded_events[kind] += 1
        return hit

    def _plain(self, bc: str) -> Shows:
        """What the tube holds: a positive sample when a member is infected."""
        return (Shows.POSITIVE if any(self.infected[m] for m in self.tube_members[bc])
                else Shows.NEGATIVE)

    def _tube_shows(self, bc: str) -> Shows:
        """What the tube amplifies on this run, from the round's truth."""
        rates = self.lab_rates
        if self._plain(bc) is Shows.POSITIVE:
            last = self.tube_last.get(bc)
            if last in _AGAIN:
                return last if self._seeded("stays_single", rates.stays_single) \
                    else Shows.POSITIVE
            if bc not in self.tube_last and self._seeded("single_target", rates.single_target):
                return self.rng.choice(_AGAIN)
            return Shows.POSITIVE
        if self._seeded("internal_control_failed", self.invalid_rate):
            return Shows.NO_INTERNAL_CONTROL
        return Shows.NEGATIVE

    def lab_result(self, t: float, lab_idx: int, plates: list[SimPlate]) -> None:
        """The run is over: each plate's export file imported, its re-runs back in the
        queue; the release follows once the reviewer has looked at it."""
        lab = self.labs[lab_idx]
        going: list[tuple[str, list[Released]]] = []
        reruns = False
        for k, plate in enumerate(plates, start=1):
            pc_fails = self._seeded("control_failure", self.lab_rates.control_failure)
            # a void plate's tubes show what they hold, and take none of the seeded events
            shows = {bc: self._plain(bc) if pc_fails else self._tube_shows(bc)
                     for bc in plate.tubes.values()}
            wells = [ExportWell(w, kind, CONTROL_SAMPLE_NAMES[kind], draw_cts(
                plate.assay, Shows.FAILED_POSITIVE_CONTROL
                if pc_fails and kind is WellKind.POSITIVE_CONTROL else CONTROL_SHOWS[kind],
                self.rng)) for w, kind in plate.controls.items()]
            wells += [ExportWell(w, WellKind.TUBE, bc, draw_cts(plate.assay, shows[bc],
                                                                self.rng))
                      for w, bc in plate.tubes.items()]
            name = f"{self.at(t):%Y%m%d}-{lab.principal.username}-run{lab.runs:04d}-{k}"
            data = quantstudio_export(
                plate.assay, PlateSize.WELLS_96, wells, run_name=name, barcode=plate.id,
                serial=f"2725{lab_idx + 10001:05d}", user=lab.principal.username,
                created=self.at(plate.built_s), ended=self.at(t))
            imported = self.p.runs.import_run(lab.principal, plate.id, f"{name}.txt", data)
            self.calls += 1
            self.control_failures += not imported.qc_passed
            out: list[Released] = []
            for w in imported.wells:
                if w.kind is not WellKind.TUBE:
                    continue
                bc = plate.tubes[w.well]
                if w.counted:
                    self.tube_runs[bc] += 1
                    self.tube_last[bc] = shows[bc]
                if w.decision is Decision.RERUN:
                    self.reruns[w.reason] += 1
                    lab.reruns.append(bc)
                    reruns = True
                elif w.result is not None:
                    out.append(Released(bc, w.result.value, w.reason
                                        if w.decision is Decision.RECALL else None))
            going.append((plate.id, out))
        self.direct_unknown_result(lab, t)
        if reruns:
            self.run_at(lab_idx, t + self.rng.uniform(600, 1200))
        self.push(t + self.rng.uniform(600, 1800), LAB_RELEASE, (lab_idx, going))

    def direct_unknown_result(self, lab: LabState, t: float) -> None:
        """The ``unknown_result`` fault, once: a result for a barcode that does not exist, sent
        through the direct results path."""
        if ("unknown_result" in self.faults_wanted and not self.faults["unknown_result"]
                and t >= self.fault_times["unknown_result"]):
            self.faults["unknown_result"] = 1
            self.p.lab.record(lab.principal, lab.id, [ResultInput(
                make_tube_barcode(999_999_000_000 + self.tube_serial % 1000), "negative")])
            self.calls += 1

    def lab_release(self, t: float, lab_idx: int,
                    plates: list[tuple[str, list[Released]]]) -> None:
        """The reviewer releases each plate of the run: its results reach people."""
        lab = self.labs[lab_idx]
        self.lab_batches -= 1
        late_after = self._late_after(t)
        for plate_id, outcomes in plates:
            release = self.p.runs.release(lab.reviewer, plate_id)
            self.calls += 1
            assert not release.already_resulted, release.already_resulted
            for r in outcomes:
                self.released[r.result] += 1
                if r.recall_reason is not None:
                    self.recalled[r.recall_reason] += 1
                self.late_results += self.received_ms[r.barcode] < late_after
                self.after_result(r.barcode, r.result, t)
        self.correct_once(lab, plates, t)

    def correct_once(self, lab: LabState, plates: list[tuple[str, list[Released]]],
                     t: float) -> None:
        """The round's one correction: at the first release past a quarter of the round that
        releases a negative pool, one of them is picked, to be corrected 1-3 h later."""
        if (self.corrections or self.corrections_due
                or self.now_s < self.end_s * SEEDED_AT_LEAST_ONCE):
            return
        pools = [r.barcode for _, outcomes in plates for r in outcomes
                 if r.result == "negative" and self.tube_capacity[r.barcode] > 1
                 and len(self.tube_members[r.barcode]) > 1]
        if pools:
            self.corrections_due += 1
            when = t + self.rng.uniform(3600, 3 * 3600)
            bc = self.rng.choice(pools)
            self.correction_released_s[bc] = t
            self.push(when, LAB_CORRECTION, (self.labs.index(lab), bc, None))

    def lab_correction(self, t: float, lab_idx: int, bc: str, request_id: str | None) -> None:
        """The lab's reviewer requests the pool's correction to positive, with its reason and
        Ct values; 10-30 min later the lab's other user approves it, and it is applied."""
        lab = self.labs[lab_idx]
        if request_id is None:
            ct = {"ORF1ab": round(self.rng.uniform(30, 35), 1),
                  "N": round(self.rng.uniform(30, 35), 1)}
            row = self.p.corrections.request(lab.reviewer, lab.id, bc,
                                             CorrectionKind.CORRECTION, CORRECTION_REASON,
                                             "positive", ct)
            self.calls += 1
            self.push(t + self.rng.uniform(600, 1800), LAB_CORRECTION, (lab_idx, bc, row.id))
            return
        outcome = self.p.corrections.approve(lab.principal, request_id)
        self.calls += 1
        assert outcome.applied, outcome
        self.corrections_due -= 1
        self.corrections["negative_to_positive"] += 1
        # the corrected result is the tube's answer now: a pool answered in time and corrected
        # past the lab's target is a late result from then on
        received = self.received_ms[bc]
        self.late_results += (received < self._late_after(t)
                              and received >= self._late_after(self.correction_released_s[bc]))
        self.corrected_to_positive.append(bc)
        # a positive pool now: its tally, and every member recalled for a single-tube re-test
        self.routine_pools[len(self.tube_members[bc])][1] += 1
        self.pooled_positive += 1
        for m in self.tube_members[bc]:
            self.recall_member(m, t)

    # -- what results set off ----------------------------------------------------------------

    def after_result(self, bc: str, res: str, t: float) -> None:
        members = self.tube_members[bc]
        cap = self.tube_capacity[bc]
        if bc not in self.tube_recall and bc not in self.tube_landing and res != "invalid":
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
                self.recall_member(m, t)

    def after_rejection(self, bc: str, t: float) -> None:
        """A rejected tube: each member recalled (a re-sample's own recall stays the open one)."""
        for m in self.tube_members[bc]:
            self.recall_member(m, t)

    def recall_member(self, person: int, t: float) -> None:
        """The person is recalled for a single-tube re-test (a new recall unless one is open
        for them) and comes back for it."""
        if self.recall_state[person] == 0:
            self.recalls_opened += 1
        self.recall_state[person] = 1
        self.recall_visit(person, t)

