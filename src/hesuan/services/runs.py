"""Runs (检测): a plate's instrument export file imported and decided, then reviewed and released.

**Import.** The lab uploads the instrument's export file (QuantStudio ``.txt`` / ``.xlsx``, CFX
Maestro ``.csv``) for a plate marked ready. The file is read (``InstrumentReader``) and must
match the plate map (``hesuan.domain.plates.check_file_wells``) and the plate's assay (each
well one reading per assay target, matched by the target's name, or by its dye where the file
names a target only by its dye or names the internal control otherwise). Then plate QC
and each tube well's interpretation and decision (``decide_plate``), with each tube's run of
its sample counted from its earlier runs. The file (its bytes and SHA-256), every well's result
and the plate's QC are stored in one transaction, as *preliminary*: nothing reaches a person.
The same file twice (by its hash, per lab) is refused, and so is anything that does not match:
nothing of it is written. A tube decided *re-run* is back in the lab queue at once (the same
sample; a run on a plate whose controls failed is not counted); its plate no longer holds it.
A well the analyst omitted in the instrument software is not read: a tube's is re-run, a
control's fails the plate.

**Release.** A second lab user — neither the plate's builder nor its importer, unless an
administrator allowed the lab one-person release (``hesuan.domain.runs.check_release``) —
releases the plate: its *release* decisions (positive, negative) and *recall* decisions (given
as ``invalid``: every member of the tube is recalled for a new sample, as an invalid tube's
are) reach people through the results fan-out (``LabService.fan_out``: statuses, recalls, SMS,
passes, pool investigations). Each released well names the result-log entry it wrote, which
with the plate's run file, its controls and the two people traces every released result. A
tube resulted meanwhile by the direct results path is left as it is and reported. The review
queue (``awaiting_release``) lists a lab's imported plates, the longest waiting first, with who
built and imported each and what bars the reader from releasing it
(``hesuan.domain.runs.release_bar``).

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace

from hesuan.domain.access import Action, Principal, Target, authorize
from hesuan.domain.assays import Assay, Call, Interpretation, Reading
from hesuan.domain.errors import InvalidInput, RuleViolation
from hesuan.domain.json import Json
from hesuan.domain.plates import (
    ControlCheck,
    Decision,
    PlateMap,
    PlateOutcome,
    PlateReason,
    WellDecision,
    WellKind,
    check_file_block,
    check_file_wells,
    decide_plate,
)
from hesuan.domain.results import Result
from hesuan.domain.runs import PlateStatus, ReleaseBar, check_release, check_status, release_bar
from hesuan.services.assays import AssayService
from hesuan.services.context import Deps, write_retrying
from hesuan.services.lab import FanOutCounts, LabService
from hesuan.services.lab_ports import (
    InstrumentReader,
    InstrumentRun,
    PlateRow,
    RunFileRow,
    WellReading,
    WellResultRow,
)
from hesuan.services.plates import plate_for, plate_map
from hesuan.services.ports import UnitOfWork
from hesuan.services.sampling_ports import TubeResult

__all__ = ["MAX_RUN_FILE", "PlateForReview", "ReviewQueue", "RunImport", "RunRelease",
           "RunService"]

#: The largest export file taken (a 384-well workbook with its amplification data is a few MB).
MAX_RUN_FILE = 32 * 1024 * 1024
#: Problems of a file against the assay listed in one error.
_LISTED = 12
#: What a control well showed, and why, when it passed or was omitted.
PASSED, FAILED, OMITTED = "passed", "failed", "omitted"
CONTROL_PASSED, WELL_OMITTED, CONTROL_OMITTED = "control_passed", "well_omitted", "control_omitted"
#: A tube's outcome on a plate that failed QC: not interpreted.
VOID = "void"


@dataclass(frozen=True, slots=True)
class RunImport:
    """What an import stored (or a preview would store): the plate (imported; for a preview,
    as it is), its run file, whether its controls passed, each decision's count, and every
    well's result."""

    plate: PlateRow
    run_file: RunFileRow
    qc_passed: bool
    decisions: Mapping[Decision, int]
    wells: list[WellResultRow]


@dataclass(frozen=True, slots=True)
class PlateForReview:
    """A plate as a reviewer sees it: who built it and who imported its run (usernames), what
    bars the reader from releasing it (None: they may, once it is imported), and whether its
    lab may release by one person."""

    plate: PlateRow
    built_by: str
    imported_by: str | None
    bar: ReleaseBar | None
    one_person_release: bool


@dataclass(frozen=True, slots=True)
class ReviewQueue:
    """A lab's imported plates waiting for their release, the longest waiting first, and
    whether the lab may release by one person."""

    one_person_release: bool
    plates: list[PlateForReview]


@dataclass(frozen=True, slots=True)
class RunRelease:
    """What a release reached: the results released by kind, the tubes left because they were
    resulted meanwhile, and the fan-out's counts (None when nothing was released)."""

    plate: PlateRow
    released: Mapping[Result, int]
    already_resulted: list[str]
    fan_out: FanOutCounts | None


def _reading(r: Reading) -> dict[str, Json]:
    return {"target": r.target, "dye": r.dye, "ct": r.ct, "signal": r.signal.value}


def _interpretation(i: Interpretation) -> dict[str, Json]:
    return {"assay": str(i.assay), "attempt": i.attempt, "call": i.call.value,
            "reason": i.reason.value, "step": i.step.value,
            "readings": [_reading(r) for r in i.readings],
            "internal_control": _reading(i.internal_control), "text": i.evidence()}


def _control(c: ControlCheck) -> dict[str, Json]:
    return {"kind": c.kind.value, "readings": [_reading(r) for r in c.readings],
            "failure": None if c.failure is None else c.failure.value}


def _match_readings(assay: Assay, well: WellReading) -> tuple[dict[str, float | None], list[str]]:
    """The well's Ct per assay target — each reading matched by the target's name; one the
    file names only by its dye (CFX without target names), or an internal control under another
    name (QuantStudio's ``Blocked IPC``), by its dye — and what does not match."""
    names = {t.name.casefold(): t for t in assay.targets}
    dyes = {t.dye.casefold(): t for t in assay.targets}
    cts: dict[str, float | None] = {}
    problems: list[str] = []
    for r in well.targets:
        target = names.get(r.target.casefold())
        if target is None and r.dye and (r.target == r.dye or r.role.is_internal_control):
            target = dyes.get(r.dye.casefold())
        if target is None:
            problems.append(f"well {well.well}: {r.target}"
                            + (f" ({r.dye})" if r.dye and r.dye != r.target else "")
                            + f" is not a target of assay {assay.ref}")
        elif target.name in cts:
            problems.append(f"well {well.well}: two readings of {target.name}")
        elif r.ct is not None and not assay.takes_ct(r.ct):
            problems.append(f"well {well.well}"
                            + (f" ({well.sample})" if well.sample else "")
                            + f": {target.name} Ct {r.ct:g} is outside (0, {assay.cycles}], "
                            f"the assay's cycles")
            cts[target.name] = None
        else:
            cts[target.name] = r.ct
    problems += [f"well {well.well}: no reading of {t.name} ({t.dye})"
                 for t in assay.targets if t.name not in cts]
    return cts, problems


def _cts_by_well(assay: Assay, run: InstrumentRun) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    problems: list[str] = []
    for w in run.wells:
        out[w.well], found = _match_readings(assay, w)
        problems += found
    if problems:
        more = len(problems) - _LISTED
        raise RuleViolation("the instrument file does not match the plate's assay ("
                            + ", ".join(f"{t.name} {t.dye}" for t in assay.targets) + "): "
                            + "; ".join(problems[:_LISTED])
                            + (f"; and {more} more" if more > 0 else ""),
                            code="file_assay_mismatch", field="file")
    return out


def _cut(text: str | None, n: int) -> str | None:
    return None if text is None else text[:n]


class RunService:
    def __init__(self, deps: Deps, lab: LabService, assays: AssayService,
                 reader: InstrumentReader) -> None:
        self._d = deps
        self._lab = lab
        self._assays = assays
        self._reader = reader

    # -- import ------------------------------------------------------------------------------

    def import_run(self, actor: Principal, plate_id: str, name: str, data: bytes) -> RunImport:
        """Import the instrument's export file ``name`` (contents ``data``) onto a plate marked
        ready, and decide each well (preliminary). One transaction: a file that is refused
        leaves nothing."""
        run = self._read(actor, plate_id, name, data)
        return write_retrying(self._d, lambda uow: self._import(uow, actor, plate_id, run,
                                                                data))

    def preview(self, actor: Principal, plate_id: str, name: str, data: bytes) -> RunImport:
        """What importing the file would store, stored nowhere: the same checks (a file refused
        here is refused by the import) and each well's decision; the plate as it is."""
        run = self._read(actor, plate_id, name, data)
        with self._d.uow(readonly=True) as uow:
            plate, file_row, rows = self._decide(uow, actor, plate_id, run, len(data),
                                                 for_update=False)
        return _imported(plate, file_row, rows)

    def _read(self, actor: Principal, plate_id: str, name: str, data: bytes) -> InstrumentRun:
        """The file read, once the plate may take it (checked before the file is read)."""
        if len(data) > MAX_RUN_FILE:
            raise InvalidInput(f"file: an export file is at most {MAX_RUN_FILE // 2**20} MiB",
                               code="file_too_large", field="file")
        sha256 = hashlib.sha256(data).hexdigest()
        with self._d.uow(readonly=True) as uow:
            plate = plate_for(uow, actor, Action.IMPORT_RUNS, plate_id)
            _check_new_file(uow, plate.lab_id, sha256)
            check_status(plate.status, "import")
        return self._reader.read_run_file(name, data)

    def _decide(self, uow: UnitOfWork, actor: Principal, plate_id: str, run: InstrumentRun,
                size: int, *, for_update: bool,
                ) -> tuple[PlateRow, RunFileRow, list[WellResultRow]]:
        """The plate, the run file's row and every well's result, checked and decided."""
        now = self._d.clock.now()
        plate = plate_for(uow, actor, Action.IMPORT_RUNS, plate_id, for_update=for_update)
        _check_new_file(uow, plate.lab_id, run.sha256)
        check_status(plate.status, "import")
        assay = self._assays.version(uow, plate.assay)
        wells = uow.plates.wells(plate.id)
        pmap = plate_map(plate, wells)
        pmap.check_runnable(assay)
        check_file_block(plate.size, run.plate_size)
        check_file_wells(pmap, [(w.well, w.sample) for w in run.wells])
        cts = _cts_by_well(assay, run)
        tube_ids = {w.barcode: w.tube_id for w in wells if w.tube_id and w.barcode}
        runs = uow.plates.counted_runs(tube_ids.values())
        attempts = {b: runs.get(t, 0) + 1 for b, t in tube_ids.items()}
        outcome = decide_plate(assay, pmap, cts, attempts=attempts)
        omitted = {w.well for w in run.wells if w.omitted}
        qc_passed = outcome.qc.passed and not omitted & {c.well for c in pmap.controls()}
        file_row = RunFileRow(
            self._d.new_id(), plate.lab_id, _cut(run.file_name, 200) or "run", run.format,
            run.sha256, size, _cut(run.instrument, 100), _cut(run.instrument_serial, 60),
            _cut(run.software, 100), _cut(run.run_name, 200), actor.user_id, now)
        samples = {w.well: w.sample for w in run.wells}
        rows = _control_rows(plate, assay, pmap, outcome, omitted, cts, samples)
        rows += _tube_rows(plate, assay, outcome, qc_passed, omitted, cts, samples, tube_ids,
                           attempts)
        return plate, file_row, rows

    def _import(self, uow: UnitOfWork, actor: Principal, plate_id: str, run: InstrumentRun,
                data: bytes) -> RunImport:
        plate, file_row, rows = self._decide(uow, actor, plate_id, run, len(data),
                                             for_update=True)
        now = file_row.uploaded_at
        qc_passed = all(r.outcome == PASSED for r in rows if r.kind is not WellKind.TUBE)
        uow.plates.add_run_file(file_row, data)
        uow.plates.add_well_results(rows)
        uow.plates.mark_imported(plate.id, file_row.id, actor.user_id, now, qc_passed)
        out = _imported(replace(plate, status=PlateStatus.IMPORTED, run_file_id=file_row.id,
                                imported_by=actor.user_id, imported_at=now,
                                qc_passed=qc_passed), file_row, rows)
        uow.audit_log.append(now, actor.username, "plate.import", f"plate:{plate.id}", {
            "file": file_row.name, "sha256": run.sha256, "format": run.format.value,
            "qc_passed": qc_passed, **{d.value: n for d, n in out.decisions.items()}})
        return out

    # -- review and release ------------------------------------------------------------------

    def awaiting_release(self, actor: Principal, lab_id: str,
                         limit: int = 100) -> ReviewQueue:
        """The lab's imported plates waiting for release, the longest waiting first, each with
        who built and imported it and whether ``actor`` may release it."""
        authorize(actor, Action.READ_PLATES, Target(lab=lab_id), field="lab_id")
        with self._d.uow(readonly=True) as uow:
            plates = uow.plates.lab_plates(lab_id, [PlateStatus.IMPORTED],
                                           max(1, min(limit, 500)))
            one_person = _one_person(uow, lab_id)
            names = _names(uow, plates)
        plates.sort(key=lambda p: (p.imported_at or p.created_at, p.id))
        return ReviewQueue(one_person, [_for_review(actor, p, names, one_person)
                                        for p in plates])

    def review(self, actor: Principal, plate_id: str) -> PlateForReview:
        """One plate as its reviewer sees it (any status: the bar is for its release)."""
        with self._d.uow(readonly=True) as uow:
            plate = plate_for(uow, actor, Action.READ_PLATES, plate_id)
            one_person = _one_person(uow, plate.lab_id)
            names = _names(uow, [plate])
        return _for_review(actor, plate, names, one_person)


    def release(self, actor: Principal, plate_id: str) -> RunRelease:
        """Release an imported plate's results to people: by a second lab user (or, where the
        lab is allowed it, by one)."""
        now = self._d.clock.now()
        with self._d.uow() as uow:
            plate = plate_for(uow, actor, Action.RELEASE_RUNS, plate_id, for_update=True)
            check_status(plate.status, "release")
            setting = uow.plates.release_setting(plate.lab_id)
            one_person = setting is not None and setting.one_person_release
            check_release(actor.user_id, plate.created_by, plate.imported_by,
                          one_person=one_person)
            going = [w for w in uow.plates.well_results(plate.id)
                     if w.tube_id is not None and w.barcode is not None
                     and w.result is not None
                     and w.decision in (Decision.RELEASE, Decision.RECALL)]
            tubes = uow.results.tubes_for_results([w.barcode or "" for w in going],
                                                  for_update=True)
            batch: list[TubeResult] = []
            log_ids: dict[str, str] = {}
            left: list[str] = []
            for w in going:
                t = tubes.get(w.barcode or "")
                if t is None or t.status != "received" or t.lab_id != plate.lab_id:
                    left.append(w.barcode or "")
                    continue
                assert w.tube_id is not None and w.result is not None
                log_ids[w.well] = self._d.new_id()
                ct = {k: v for k, v in w.cts.items() if v is not None}
                batch.append(TubeResult(w.tube_id, w.result, ct or None, log_ids[w.well]))
            counts = (self._lab.fan_out(uow, plate.lab_id, batch, actor.user_id, now)
                      if batch else None)
            uow.plates.mark_released(plate.id, actor.user_id, now, log_ids)
            released = Counter(r.result for r in batch)
            uow.audit_log.append(now, actor.username, "plate.release", f"plate:{plate.id}", {
                "one_person": one_person and actor.user_id in (plate.created_by,
                                                               plate.imported_by),
                **{r.value: released.get(r, 0) for r in Result},
                "already_resulted": len(left),
                **({} if counts is None else {
                    "people_notified": counts.people_notified,
                    "recalls_opened": counts.recalls_opened,
                    "recalls_resolved": counts.recalls_resolved,
                    "pools_closed": counts.pools_closed,
                    "statuses_decided": counts.statuses_decided})})
            uow.commit()
        done = replace(plate, status=PlateStatus.RELEASED, released_by=actor.user_id,
                       released_at=now)
        return RunRelease(done, {r: released.get(r, 0) for r in Result}, left, counts)


def _one_person(uow: UnitOfWork, lab_id: str) -> bool:
    setting = uow.plates.release_setting(lab_id)
    return setting is not None and setting.one_person_release


def _names(uow: UnitOfWork, plates: list[PlateRow]) -> dict[str, str]:
    return uow.users.usernames({u for p in plates for u in (p.created_by, p.imported_by)
                                if u is not None})


def _for_review(actor: Principal, plate: PlateRow, names: Mapping[str, str],
                one_person: bool) -> PlateForReview:
    importer = plate.imported_by
    return PlateForReview(
        plate, names.get(plate.created_by, plate.created_by),
        None if importer is None else names.get(importer, importer),
        release_bar(actor.user_id, plate.created_by, importer, one_person=one_person),
        one_person)


def _imported(plate: PlateRow, file_row: RunFileRow, rows: list[WellResultRow]) -> RunImport:
    decisions = Counter(r.decision for r in rows if r.decision is not None)
    return RunImport(plate, file_row,
                     all(r.outcome == PASSED for r in rows if r.kind is not WellKind.TUBE),
                     {d: decisions.get(d, 0) for d in Decision}, rows)


def _check_new_file(uow: UnitOfWork, lab_id: str, sha256: str) -> None:
    seen = uow.plates.run_file_by_hash(lab_id, sha256)
    if seen is not None:
        raise RuleViolation(f"file: this file ({seen.name}, SHA-256 {sha256[:12]}…) was "
                            f"imported already, at {seen.uploaded_at.isoformat()}",
                            code="duplicate_run_file", field="file")


def _control_rows(plate: PlateRow, assay: Assay, pmap: PlateMap, outcome: PlateOutcome,
                  omitted: set[str], cts: Mapping[str, Mapping[str, float | None]],
                  samples: Mapping[str, str | None]) -> list[WellResultRow]:
    rows = []
    for c in outcome.qc.checks:
        if c.well in omitted:
            shown, reason = OMITTED, CONTROL_OMITTED
        elif c.failure is not None:
            shown, reason = FAILED, c.failure.value
        else:
            shown, reason = PASSED, CONTROL_PASSED
        rows.append(WellResultRow(plate.id, c.well, c.kind, None, samples.get(c.well),
                                  dict(cts[c.well]), shown, reason, _control(c), assay.ref,
                                  None, False, None, None))
    return rows


_RESULT = {Call.POSITIVE: Result.POSITIVE, Call.NEGATIVE: Result.NEGATIVE}


def _tube_rows(plate: PlateRow, assay: Assay, outcome: PlateOutcome, qc_passed: bool,
               omitted: set[str], cts: Mapping[str, Mapping[str, float | None]],
               samples: Mapping[str, str | None], tube_ids: Mapping[str, str],
               attempts: Mapping[str, int]) -> list[WellResultRow]:
    """Each tube well's row: its interpretation and decision; a well the analyst omitted is
    re-run, and every tube of a plate whose controls failed (or one was omitted) is re-run
    uncounted, as the domain decides for a failed plate."""
    failures: list[Json] = [_control(c) | {"well": c.well} for c in outcome.qc.failures]
    rows = []
    for d in outcome.decisions:
        decision: WellDecision = d
        if not qc_passed and d.interpretation is not None:  # an omitted control
            decision = WellDecision(d.well, d.barcode, Decision.RERUN,
                                    PlateReason.CONTROL_FAILED, None)
        elif d.well in omitted:
            decision = WellDecision(d.well, d.barcode, Decision.RERUN, d.reason, None)
        i = decision.interpretation
        if i is not None:
            shown, reason, evidence = i.call.value, decision.reason.value, _interpretation(i)
        elif d.well in omitted:
            shown, reason, evidence = OMITTED, WELL_OMITTED, {"omitted": True}
        else:
            shown, reason, evidence = VOID, decision.reason.value, {"plate_qc": failures}
        result = None
        if decision.decision is Decision.RECALL:
            result = Result.INVALID  # reaches people as an invalid tube: each is recalled
        elif decision.decision is Decision.RELEASE and i is not None:
            result = _RESULT[i.call]
        rows.append(WellResultRow(
            plate.id, d.well, WellKind.TUBE, tube_ids[d.barcode], samples.get(d.well),
            dict(cts[d.well]), shown, reason, evidence, assay.ref, attempts[d.barcode],
            qc_passed and i is not None, decision.decision, result))
    return rows

