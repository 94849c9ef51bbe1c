"""The lab stage on both backends: a plate built by scanning received tubes and placing controls,
an instrument export file imported onto it (the three real exports among them), plate QC, each
well's preliminary decision, and the two-person release that reaches people through the results
fan-out. Every refusal — a plate without its controls, an unknown, unreceived or released tube,
a file that does not match the plate map or the assay, the same file twice, a failure half-way
through an import — leaves nothing written."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import timedelta

import pytest

from hesuan.adapters.clock import FixedClock
from hesuan.adapters.db.plates_store import SqlPlates
from hesuan.adapters.instruments import read_run_file
from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.domain.errors import HesuanError, NotFound, PermissionDenied, RuleViolation
from hesuan.domain.plates import Decision, PlateFileMismatch, WellKind
from hesuan.domain.results import Result
from hesuan.domain.runs import PlateStatus, ReleaseBar
from hesuan.domain.sampling import make_tube_barcode
from hesuan.services.assays import TargetInput
from hesuan.services.lab import ResultInput
from hesuan.services.plates import QueueState
from hesuan.sim.example import seed_example_city
from tests.integration.lab_bench import (
    ADMIN,
    CFX_CSV,
    NEG,
    NEGATIVE_CONTROL,
    NO_IC,
    NO_TEMPLATE_CONTROL,
    POS,
    POSITIVE_CONTROL,
    QS_TXT,
    QS_XLSX,
    SINGLE,
    Bench,
    fixture_bytes,
    plate_file,
    refused,
    renamed_cfx_csv,
    renamed_qs_txt,
    renamed_qs_xlsx,
)

CONTROLS = {"A1": POSITIVE_CONTROL, "A2": NEGATIVE_CONTROL}


@pytest.fixture
def bench(platform: Platform, clock: FixedClock) -> Iterator[Bench]:
    yield Bench(platform, clock, seed_example_city(platform, people=160))



def _written(b: Bench) -> tuple[int, int, int]:
    return (b.scalar("SELECT count(*) FROM run_files"),
            b.scalar("SELECT count(*) FROM well_results"),
            b.scalar("SELECT count(*) FROM result_log"))


# -- building a plate ----------------------------------------------------------------------------

def test_a_plate_is_built_from_received_tubes_and_controls(bench: Bench) -> None:
    b, u1 = bench, bench.lab_user(1)
    tubes = b.tubes(3)
    plate, wells = b.plate(u1, tubes, ready=False)
    assert plate.status is PlateStatus.BUILDING
    assert (plate.assay.id, plate.assay.version) == ("orf1ab-n", 1)  # the default, stored
    b.p.plates.remove(u1, plate.id, wells[tubes[2]])  # a wrong scan taken back
    ready = b.p.plates.mark_ready(u1, plate.id)
    assert ready.status is PlateStatus.READY and ready.ready_by == u1.user_id
    view = b.p.plates.plate(b.lab_user(2), plate.id)
    assert [(w.well, w.kind, w.barcode) for w in view.wells] == [
        ("A1", WellKind.POSITIVE_CONTROL, None), ("A2", WellKind.NEGATIVE_CONTROL, None),
        ("A3", WellKind.TUBE, tubes[0]), ("A4", WellKind.TUBE, tubes[1])]
    # the map is locked once ready
    refused(RuleViolation, "plate_not_building",
             lambda: b.p.plates.place_tube(u1, plate.id, "B1", tubes[2]))
    queue = b.p.plates.queue(u1, b.lab_id)
    assert {i.tube.barcode: i.state for i in queue.items} == {
        tubes[0]: QueueState.ON_PLATE, tubes[1]: QueueState.ON_PLATE,
        tubes[2]: QueueState.WAITING}
    # made, two controls and three tubes placed, one taken back, marked ready
    assert b.scalar("SELECT count(*) FROM audit_log WHERE action LIKE 'plate.%'") == 8


def test_a_plate_without_its_controls_cannot_run(bench: Bench) -> None:
    b, u1 = bench, bench.lab_user(1)
    tubes = b.tubes(1)
    plate, _ = b.plate(u1, tubes, controls={"A1": POSITIVE_CONTROL}, ready=False)
    error = refused(RuleViolation, "controls_missing", lambda: b.p.plates.mark_ready(
        u1, plate.id))
    assert "no negative control" in error.message
    # nor can its run be imported
    data = plate_file({"A1": POSITIVE_CONTROL}, {tubes[0]: "A2"}, {tubes[0]: NEG})
    refused(RuleViolation, "plate_not_ready",
             lambda: b.p.runs.import_run(u1, plate.id, "run.csv", data))
    empty = b.p.plates.create(u1, b.lab_id)
    for well, kind in CONTROLS.items():
        b.p.plates.place_control(u1, empty.id, well, kind)
    refused(RuleViolation, "plate_empty", lambda: b.p.plates.mark_ready(u1, empty.id))
    # an assay with a no-template control needs it on the plate
    b.p.assays.set_version(ADMIN, "orf1ab-n", "ORF1ab/N with NTC", [
        TargetInput("ORF1ab", "FAM", 40, 37), TargetInput("N", "VIC", 40, 37),
        TargetInput("IC", "CY5", 40, internal_control=True)], no_template_control=True)
    ntc, _ = b.plate(u1, b.tubes(1), ready=False)
    assert ntc.assay.version == 2
    error = refused(RuleViolation, "controls_missing", lambda: b.p.plates.mark_ready(
        u1, ntc.id))
    assert "no no template control" in error.message
    b.p.plates.place_control(u1, ntc.id, "H12", NO_TEMPLATE_CONTROL)
    assert b.p.plates.mark_ready(u1, ntc.id).status is PlateStatus.READY
    assert _written(b) == (0, 0, 0)


def test_unknown_unreceived_resulted_and_placed_tubes_arerefused(bench: Bench) -> None:
    b, u1 = bench, bench.lab_user(1)
    received = b.tubes(3)
    in_transit = b.tubes(1, lab=None)
    other_lab = b.tubes(1, lab="lab2")
    plate, _ = b.plate(u1, received[:1], ready=False)
    place = b.p.plates.place_tube
    refused(NotFound, "unknown_tube",
             lambda: place(u1, plate.id, "C1", make_tube_barcode(987_654)))
    refused(HesuanError, "bad_barcode", lambda: place(u1, plate.id, "C1", "1234"))
    refused(RuleViolation, "not_received", lambda: place(u1, plate.id, "C1", in_transit[0]))
    refused(RuleViolation, "not_received", lambda: place(u1, plate.id, "C1", other_lab[0]))
    refused(RuleViolation, "tube_on_plate", lambda: place(u1, plate.id, "C1", received[0]))
    refused(RuleViolation, "well_taken", lambda: place(u1, plate.id, "A1", received[1]))
    other, _ = b.plate(u1, [], ready=False)
    refused(RuleViolation, "tube_on_other_plate",
             lambda: place(u1, other.id, "C1", received[0]))
    # a tube resulted by the direct results path is released already
    assert b.p.lab.record(u1, b.lab_id, [ResultInput(received[2], "negative")])[0].status \
        == "accepted"
    refused(RuleViolation, "tube_resulted", lambda: place(u1, plate.id, "C1", received[2]))
    # another lab's user may not build this lab's plate
    refused(PermissionDenied, "wrong_scope",
             lambda: place(b.lab_user(1, "lab2"), plate.id, "C1", received[1]))
    assert b.scalar("SELECT count(*) FROM plate_wells WHERE plate_id = :p",
                    p=plate.id) == 3


# -- importing a run -----------------------------------------------------------------------------

def _set_assay(b: Bench, assay_id: str, viral: str, ic: str, *, ntc: bool) -> None:
    viral_dye = "FAM"
    ic_dye = "VIC"
    b.p.assays.set_version(ADMIN, assay_id, f"{viral} with {ic}", [
        TargetInput(viral, viral_dye, 40, 37), TargetInput(ic, ic_dye, 40, internal_control=True)],
        no_template_control=ntc)


#: Each real export: the assay its targets make (viral, internal control, NTC wells or not), its
#: control wells on the plate map, and what its other wells — tubes — hold by their sample name.
REAL = {
    QS_TXT: (("tgfb-ipc", "TGFb", "IPC", True), renamed_qs_txt,
             {"A1": NO_TEMPLATE_CONTROL, "B1": NO_TEMPLATE_CONTROL, "C1": NO_TEMPLATE_CONTROL,
              "D1": NO_TEMPLATE_CONTROL, "A2": NEGATIVE_CONTROL, "A7": POSITIVE_CONTROL}),
    QS_XLSX: (("xeno-ipc", "Xeno", "IPC", True), renamed_qs_xlsx,
              {"A1": NO_TEMPLATE_CONTROL, "B1": NO_TEMPLATE_CONTROL, "G1": NO_TEMPLATE_CONTROL,
               "H1": NO_TEMPLATE_CONTROL, "A2": NEGATIVE_CONTROL, "A7": POSITIVE_CONTROL}),
    CFX_CSV: (("fam-vic", "FAM", "VIC", False), renamed_cfx_csv,
              {"A1": POSITIVE_CONTROL, "A2": NEGATIVE_CONTROL}),
}


@pytest.mark.parametrize("name", list(REAL))
def test_each_real_instrument_file_maps_onto_a_plate(bench: Bench, name: str) -> None:
    """The real exports, their tube wells' sample names set to barcodes of tubes received
    here (every sample name in the files is on two to twenty-four wells — replicates — and a
    tube is on a plate once), imported onto a plate that maps them."""
    if name == QS_XLSX:
        pytest.importorskip("allotropy")
    b, u1, u2 = bench, bench.lab_user(1), bench.lab_user(2)
    (assay_id, viral, ic, ntc), renamed, controls = REAL[name]
    _set_assay(b, assay_id, viral, ic, ntc=ntc)
    original = read_run_file(name, fixture_bytes(name))
    tube_wells = [w.well for w in original.wells if w.well not in controls]
    barcodes = b.tubes(len(tube_wells))
    by_well = dict(zip(tube_wells, barcodes, strict=True))
    plate = b.p.plates.create(u1, b.lab_id)
    assert plate.assay.id == assay_id
    for well, kind in controls.items():
        b.p.plates.place_control(u1, plate.id, well, kind)
    for well, bc in by_well.items():
        b.p.plates.place_tube(u1, plate.id, well, bc)
    b.p.plates.mark_ready(u1, plate.id)

    imported = b.p.runs.import_run(u1, plate.id, name, renamed(by_well))
    assert imported.plate.status is PlateStatus.IMPORTED
    assert imported.run_file.format is original.format
    samples = {w.well: w.sample or "" for w in original.wells}
    tubes = {w.well: w for w in imported.wells if w.kind is WellKind.TUBE}
    assert set(tubes) == set(by_well)
    assert {w.well: w.sample_name for w in tubes.values()} == by_well
    if name == CFX_CSV:  # no control in the file: the negative control's well amplified
        assert not imported.qc_passed
        failed = [w for w in imported.wells if w.outcome == "failed"]
        assert [(w.well, w.reason) for w in failed] == [("A2", "negative_control_failed")]
        assert {(w.decision, w.reason, w.counted) for w in tubes.values()} == {
            (Decision.RERUN, "plate_control_failed", False)}
        return
    assert imported.qc_passed
    for well, w in tubes.items():
        want = Result.POSITIVE if "+" in samples[well] or "Positive" in samples[well] \
            else Result.NEGATIVE
        assert (w.decision, w.result, w.attempt, w.counted) == (
            Decision.RELEASE, want, 1, True), (well, samples[well], w)
    released = b.p.runs.release(u2, plate.id)
    positives = sum(1 for w in tubes.values() if w.result is Result.POSITIVE)
    assert released.released[Result.POSITIVE] == positives > 0
    assert released.released[Result.NEGATIVE] == len(tubes) - positives > 0
    some_positive = next(bc for well, bc in by_well.items()
                         if tubes[well].result is Result.POSITIVE)
    assert b.test_states(some_positive) == {"positive"}


def test_a_file_of_a_larger_block_than_the_plate_is_refused(bench: Bench) -> None:
    """A run the instrument states was of a 384-well block does not go onto a 96-well plate
    even when its wells are named A1 to H12 (it was imported: another plate's file, likely)."""
    b, u1 = bench, bench.lab_user(1)
    (assay_id, viral, ic, ntc), renamed, controls = REAL[QS_TXT]
    _set_assay(b, assay_id, viral, ic, ntc=ntc)
    original = read_run_file(QS_TXT, fixture_bytes(QS_TXT))
    tube_wells = [w.well for w in original.wells if w.well not in controls]
    by_well = dict(zip(tube_wells, b.tubes(len(tube_wells)), strict=True))
    plate = b.p.plates.create(u1, b.lab_id)
    for well, kind in controls.items():
        b.p.plates.place_control(u1, plate.id, well, kind)
    for well, bc in by_well.items():
        b.p.plates.place_tube(u1, plate.id, well, bc)
    b.p.plates.mark_ready(u1, plate.id)
    data = renamed(by_well)
    assert b"96-Well Block" in data
    with pytest.raises(RuleViolation) as e:
        b.p.runs.import_run(u1, plate.id, QS_TXT, data.replace(b"96-Well Block",
                                                               b"384-Well Block"))
    assert (e.value.code, e.value.field) == ("plate_size_mismatch", "file")
    assert "384" in e.value.message and "96" in e.value.message
    assert b.p.runs.import_run(u1, plate.id, QS_TXT, data).plate.status is PlateStatus.IMPORTED


def test_a_preview_decides_as_the_import_and_writes_nothing(bench: Bench) -> None:
    b, u1 = bench, bench.lab_user(1)
    tubes = b.tubes(2)
    plate, wells = b.plate(u1, tubes)
    data = plate_file(CONTROLS, wells, {tubes[0]: SINGLE, tubes[1]: POS})
    preview = b.p.runs.preview(u1, plate.id, "run.csv", data)
    assert preview.plate.status is PlateStatus.READY
    assert _written(b) == (0, 0, 0)
    imported = b.p.runs.import_run(u1, plate.id, "run.csv", data)
    assert [(w.well, w.outcome, w.decision, w.result) for w in preview.wells] == [
        (w.well, w.outcome, w.decision, w.result) for w in imported.wells]
    assert preview.decisions == imported.decisions
    refused(RuleViolation, "duplicate_run_file",
             lambda: b.p.runs.preview(u1, plate.id, "run.csv", data))


def test_plate_qc_failure_sends_every_tube_back_and_releases_nothing(bench: Bench) -> None:
    b, u1, u2 = bench, bench.lab_user(1), bench.lab_user(2)
    tubes = b.tubes(3)
    plate, wells = b.plate(u1, tubes)
    cts = {tubes[0]: POS, tubes[1]: NEG, tubes[2]: NEG}
    data = plate_file(CONTROLS, wells, cts, nc=POS)  # the negative control amplified
    imported = b.p.runs.import_run(u1, plate.id, "run.csv", data)
    assert not imported.qc_passed
    assert imported.decisions[Decision.RERUN] == 3
    queue = b.p.plates.queue(u1, b.lab_id)
    assert {(i.tube.barcode, i.state, i.tube.runs) for i in queue.items} == {
        (bc, QueueState.RERUN, 0) for bc in tubes}
    released = b.p.runs.release(u2, plate.id)
    assert released.fan_out is None and sum(released.released.values()) == 0
    assert b.scalar("SELECT count(*) FROM result_log") == 0
    assert {s for bc in tubes for s in b.test_states(bc)} == {"sampled"}
    # the same samples run again on a new plate, as their first counted run
    again, wells = b.plate(u1, tubes)
    imported = b.p.runs.import_run(u1, again.id, "run2.csv", plate_file(CONTROLS, wells, cts))
    assert imported.qc_passed
    assert {w.attempt for w in imported.wells if w.kind is WellKind.TUBE} == {1}


def test_a_retest_goes_back_to_the_queue_and_its_last_run_recalls(bench: Bench) -> None:
    b, u1, u2 = bench, bench.lab_user(1), bench.lab_user(2)
    single, invalid = b.tubes(1, mode=5)[0], b.tubes(1)[0]
    plate, wells = b.plate(u1, [single, invalid])
    data = plate_file(CONTROLS, wells, {single: SINGLE, invalid: NO_IC})
    first = b.p.runs.import_run(u1, plate.id, "run1.csv", data)
    assert [(w.outcome, w.reason, w.decision, w.attempt) for w in first.wells
            if w.kind is WellKind.TUBE] == [
        ("retest", "single_target", Decision.RERUN, 1),
        ("invalid", "internal_control_failed", Decision.RERUN, 1)]
    queue = b.p.plates.queue(u1, b.lab_id)
    assert {(i.tube.barcode, i.state, i.tube.runs) for i in queue.items} == {
        (single, QueueState.RERUN, 1), (invalid, QueueState.RERUN, 1)}
    b.p.runs.release(u2, plate.id)  # nothing to release yet
    second, wells = b.plate(u1, [single, invalid])
    data = plate_file(CONTROLS, wells, {single: {**SINGLE, "ORF1ab": 32.5}, invalid: NO_IC})
    last = b.p.runs.import_run(u1, second.id, "run2.csv", data)
    assert [(w.outcome, w.decision, w.result, w.attempt) for w in last.wells
            if w.kind is WellKind.TUBE] == [
        ("recall_single_target", Decision.RECALL, Result.INVALID, 2),
        ("invalid", Decision.RECALL, Result.INVALID, 2)]
    # a recall reaches people as an invalid tube does: each member recalled, told once
    assert b.test_states(single) == {"sampled"}
    out = b.p.runs.release(u2, second.id)
    assert out.released[Result.INVALID] == 2
    assert out.fan_out is not None and out.fan_out.recalls_opened == 6
    assert b.test_states(single) == b.test_states(invalid) == {"pending_retest"}
    assert b.scalar("SELECT count(*) FROM outbox WHERE template = 'invalid'") == 6


# -- release -------------------------------------------------------------------------------------

def test_two_person_release_reaches_people_through_the_fan_out(bench: Bench) -> None:
    b, u1, u2, u3 = bench, bench.lab_user(1), bench.lab_user(2), bench.lab_user(3)
    singles = b.tubes(2)
    pool = b.tubes(1, mode=5)[0]
    plate, wells = b.plate(u1, [*singles, pool])
    cts = {singles[0]: NEG, singles[1]: POS, pool: POS}
    b.p.runs.import_run(u2, plate.id, "run.csv", plate_file(CONTROLS, wells, cts))
    assert {s for bc in [*singles, pool] for s in b.test_states(bc)} == {"sampled"}
    assert b.scalar("SELECT count(*) FROM result_log") == 0  # preliminary: nobody reached
    for who in (u1, u2):  # neither the builder nor the importer
        refused(RuleViolation, "second_person_required",
                 functools.partial(b.p.runs.release, who, plate.id))
    refused(PermissionDenied, "wrong_scope",
             lambda: b.p.runs.release(b.lab_user(9, "lab2"), plate.id))
    out = b.p.runs.release(u3, plate.id)
    assert out.plate.status is PlateStatus.RELEASED and out.plate.released_by == u3.user_id
    assert out.released == {Result.NEGATIVE: 1, Result.POSITIVE: 2, Result.INVALID: 0}
    assert out.fan_out is not None and out.fan_out.people_notified == 7
    assert b.test_states(singles[0]) == {"negative"}
    assert b.test_states(singles[1]) == {"positive"}
    assert b.test_states(pool) == {"pending_retest"}
    assert b.scalar("SELECT count(*) FROM outbox WHERE template = 'positive'") == 1
    assert b.scalar("SELECT count(*) FROM outbox WHERE template = 'recall'") == 5
    # each released result names its well; its log entry is the releaser's
    rows = b.rows("SELECT w.well, l.result, l.actor, w.assay_id, w.assay_version FROM "
                  "well_results w JOIN result_log l ON l.id = w.result_log_id "
                  "ORDER BY w.well")
    assert rows == [(wells[singles[0]], "negative", u3.user_id, "orf1ab-n", 1),
                    (wells[singles[1]], "positive", u3.user_id, "orf1ab-n", 1),
                    (wells[pool], "positive", u3.user_id, "orf1ab-n", 1)]
    assert b.scalar("SELECT count(*) FROM tubes WHERE status = 'resulted'") == 3
    refused(RuleViolation, "plate_not_imported", lambda: b.p.runs.release(u3, plate.id))
    assert b.p.plates.queue(u1, b.lab_id).total == 0


def test_one_person_release_only_where_an_administrator_allowed_it(bench: Bench) -> None:
    b, u1 = bench, bench.lab_user(1)
    tubes = b.tubes(2)
    plate, wells = b.plate(u1, tubes)
    b.p.runs.import_run(u1, plate.id, "run.csv",
                        plate_file(CONTROLS, wells, {tubes[0]: NEG, tubes[1]: NEG}))
    refused(RuleViolation, "second_person_required", lambda: b.p.runs.release(u1, plate.id))
    refused(PermissionDenied, "wrong_role",
             lambda: b.p.plates.set_one_person_release(u1, b.lab_id, True))
    assert not b.p.plates.release_setting(u1, b.lab_id)
    b.p.plates.set_one_person_release(ADMIN, b.lab_id, True)
    assert b.p.plates.release_setting(u1, b.lab_id)
    out = b.p.runs.release(u1, plate.id)
    assert out.released[Result.NEGATIVE] == 2
    with b.p.deps.uow(readonly=True) as uow:
        entries = uow.audit_log.entries(0, 10_000)
    assert [e.detail["one_person"] for e in entries if e.action == "plate.release"] == [True]
    assert b.scalar("SELECT count(*) FROM audit_log WHERE action = "
                    "'lab.one_person_release'") == 1
    # another lab is not allowed it
    other = bench.lab_user(1, "lab2")
    assert not b.p.plates.release_setting(other, b.city.labs["lab2"])


def test_the_review_queue_names_who_built_and_imported_each_plate(bench: Bench) -> None:
    b = bench
    builder, importer, reviewer = (
        Principal(b.p.auth.create_user(ADMIN, name, "review-password-1", Role.LAB, b.lab_id),
                  name, Role.LAB, b.lab_id) for name in ("builder", "importer", "reviewer"))
    tubes = b.tubes(3)
    first, wells = b.plate(builder, tubes[:1])
    b.p.runs.import_run(importer, first.id, "a.csv",
                        plate_file(CONTROLS, wells, {tubes[0]: NEG}))
    b.clock.advance(timedelta(minutes=5))
    second, wells = b.plate(builder, tubes[1:2])
    b.p.runs.import_run(builder, second.id, "b.csv",
                        plate_file(CONTROLS, wells, {tubes[1]: NEG}))
    b.plate(builder, tubes[2:])  # ready, not imported: not waiting for release

    def seen(who: Principal) -> list[tuple[str, str, str | None, ReleaseBar | None]]:
        queue = b.p.runs.awaiting_release(who, b.lab_id)
        return [(r.plate.id, r.built_by, r.imported_by, r.bar) for r in queue.plates]

    assert seen(reviewer) == [(first.id, "builder", "importer", None),
                              (second.id, "builder", "builder", None)]
    assert [bar for *_, bar in seen(builder)] == [ReleaseBar.BUILT_THE_PLATE] * 2
    assert [bar for *_, bar in seen(importer)] == [ReleaseBar.IMPORTED_THE_RUN, None]
    assert b.p.runs.review(importer, first.id).bar is ReleaseBar.IMPORTED_THE_RUN
    assert b.p.plates.plate(reviewer, first.id).names == {builder.user_id: "builder",
                                                          importer.user_id: "importer"}
    b.p.plates.set_one_person_release(ADMIN, b.lab_id, True)
    queue = b.p.runs.awaiting_release(builder, b.lab_id)
    assert queue.one_person_release and {r.bar for r in queue.plates} == {None}
    refused(PermissionDenied, "wrong_scope",
             lambda: b.p.runs.awaiting_release(b.lab_user(1, "lab2"), b.lab_id))
    b.p.runs.release(reviewer, first.id)
    assert [r.plate.id for r in b.p.runs.awaiting_release(reviewer, b.lab_id).plates] == [
        second.id]


# -- refused imports leave nothing -----------------------------------------------------------------

def test_the_same_file_twice_isrefused(bench: Bench) -> None:
    b, u1 = bench, bench.lab_user(1)
    tubes = b.tubes(2)
    first, wells = b.plate(u1, tubes[:1])
    data = plate_file(CONTROLS, wells, {tubes[0]: NEG})
    b.p.runs.import_run(u1, first.id, "run.csv", data)
    before = _written(b)
    refused(RuleViolation, "duplicate_run_file",
             lambda: b.p.runs.import_run(u1, first.id, "run.csv", data))
    # the same bytes onto another plate (under another name) too
    second, _ = b.plate(u1, tubes[1:])
    refused(RuleViolation, "duplicate_run_file",
             lambda: b.p.runs.import_run(u1, second.id, "again.csv", data))
    assert _written(b) == before
    assert b.p.plates.plate(u1, second.id).plate.status is PlateStatus.READY


def test_a_file_whose_wells_do_not_match_the_map_isrefused(bench: Bench) -> None:
    b, u1 = bench, bench.lab_user(1)
    tubes = b.tubes(3)
    plate, wells = b.plate(u1, tubes[:2])
    swapped = {tubes[0]: wells[tubes[1]], tubes[1]: wells[tubes[0]]}
    data = plate_file(CONTROLS, swapped, {tubes[0]: NEG, tubes[1]: POS})
    error = refused(PlateFileMismatch, "file_plate_mismatch",
                     lambda: b.p.runs.import_run(u1, plate.id, "run.csv", data))
    assert isinstance(error, PlateFileMismatch) and len(error.names) == 2
    extra = plate_file(CONTROLS, {**wells, tubes[2]: "H12"},
                       {tubes[0]: NEG, tubes[1]: NEG, tubes[2]: NEG})
    error = refused(PlateFileMismatch, "file_plate_mismatch",
                     lambda: b.p.runs.import_run(u1, plate.id, "run.csv", extra))
    assert isinstance(error, PlateFileMismatch) and error.not_on_map == ("H12",)
    missing = plate_file(CONTROLS, {tubes[0]: wells[tubes[0]]}, {tubes[0]: NEG})
    error = refused(PlateFileMismatch, "file_plate_mismatch",
                     lambda: b.p.runs.import_run(u1, plate.id, "run.csv", missing))
    assert isinstance(error, PlateFileMismatch) and error.missing == (wells[tubes[1]],)
    assert _written(b) == (0, 0, 0)
    assert b.p.plates.plate(u1, plate.id).plate.status is PlateStatus.READY


def test_a_file_of_another_assay_or_not_an_export_isrefused(bench: Bench) -> None:
    b, u1 = bench, bench.lab_user(1)
    tubes = b.tubes(1)
    plate, wells = b.plate(u1, tubes)
    data = plate_file(CONTROLS, wells, {tubes[0]: NEG}).replace(b",N,", b",E,")
    error = refused(RuleViolation, "file_assay_mismatch",
                     lambda: b.p.runs.import_run(u1, plate.id, "run.csv", data))
    assert "E (VIC) is not a target" in error.message
    refused(HesuanError, "unknown_instrument_file",
             lambda: b.p.runs.import_run(u1, plate.id, "r.csv", b"barcode,result\n1,neg\n"))
    assert _written(b) == (0, 0, 0)


def test_a_ct_out_of_the_assays_range_names_its_well_and_tube(bench: Bench) -> None:
    """A Ct of 46 on a 45-cycle assay (or 0, which no run gives) refused the whole run with
    'ct.N must be a number in (0, 45]': which of 96 wells was not said."""
    b, u1 = bench, bench.lab_user(1)
    tubes = b.tubes(2)
    plate, wells = b.plate(u1, tubes)
    bad = {**NEG, "N": 46.0}
    data = plate_file(CONTROLS, wells, {tubes[0]: NEG, tubes[1]: bad})
    error = refused(RuleViolation, "file_assay_mismatch",
                     lambda: b.p.runs.import_run(u1, plate.id, "run.csv", data))
    assert f"well {wells[tubes[1]]}" in error.message and "N Ct 46" in error.message, \
        error.message
    assert "(0, 45]" in error.message
    zero = plate_file(CONTROLS, wells, {tubes[0]: {**NEG, "ORF1ab": 0.0}, tubes[1]: NEG})
    error = refused(RuleViolation, "file_assay_mismatch",
                     lambda: b.p.runs.import_run(u1, plate.id, "run.csv", zero))
    assert f"well {wells[tubes[0]]}" in error.message and "ORF1ab Ct 0" in error.message
    assert _written(b) == (0, 0, 0)


def test_a_failure_half_way_through_an_import_leaves_nothing(
        bench: Bench, monkeypatch: pytest.MonkeyPatch) -> None:
    b, u1 = bench, bench.lab_user(1)
    tubes = b.tubes(2)
    plate, wells = b.plate(u1, tubes)
    data = plate_file(CONTROLS, wells, {tubes[0]: NEG, tubes[1]: POS})

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the store failed half-way")

    with monkeypatch.context() as m:
        m.setattr(SqlPlates, "mark_imported", broken)  # after the file and the wells
        with pytest.raises(RuntimeError):
            b.p.runs.import_run(u1, plate.id, "run.csv", data)
    assert _written(b) == (0, 0, 0)
    assert b.p.plates.plate(u1, plate.id).plate.status is PlateStatus.READY
    imported = b.p.runs.import_run(u1, plate.id, "run.csv", data)  # nothing in the way
    assert imported.decisions[Decision.RELEASE] == 2


# -- the queue and its 6 h target ----------------------------------------------------------------

def test_the_queue_puts_priority_tubes_first_then_the_longest_waiting(bench: Bench) -> None:
    b, u1 = bench, bench.lab_user(1)
    early = b.tubes(1)[0]
    b.clock.advance(timedelta(hours=5))
    late_priority = b.tubes(1, site="first_landing")[0]
    b.clock.advance(timedelta(hours=2))
    queue = b.p.plates.queue(u1, b.lab_id)
    assert [i.tube.barcode for i in queue.items] == [late_priority, early]
    assert (queue.total, queue.priority, queue.late, queue.target_min) == (2, 1, 1, 360)
    assert [(i.late, i.waiting_min) for i in queue.items] == [(False, 120), (True, 450)]


def test_the_late_result_alert_counts_the_release(bench: Bench) -> None:
    b, u1, u2 = bench, bench.lab_user(1), bench.lab_user(2)
    released, preliminary = b.tubes(1), b.tubes(1)
    first, wells = b.plate(u1, released)
    b.p.runs.import_run(u1, first.id, "a.csv", plate_file(CONTROLS, wells, {released[0]: NEG}))
    second, wells = b.plate(u1, preliminary)
    b.p.runs.import_run(u1, second.id, "b.csv",
                        plate_file(CONTROLS, wells, {preliminary[0]: NEG}))
    b.clock.advance(timedelta(hours=2))
    b.p.runs.release(u2, first.id)
    b.clock.advance(timedelta(hours=5))
    assert b.p.alerts.check(ADMIN) == 1
    late = b.rows("SELECT t.barcode FROM alerts a JOIN tubes t ON t.id = a.subject_id "
                  "WHERE a.kind = 'late_result'")
    assert late == [(preliminary[0],)]
