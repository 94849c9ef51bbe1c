"""A rack of tubes scanned onto a plate at once (``PlateService.place_tubes``), on both backends:
every tube checked as a single scan checks it, the rack placed in one transaction with one audit
entry; one refused tube refuses the rack and nothing of it is placed. Then the simulator's
QuantStudio export of the plate is imported, decided as drawn and released by a second lab
user."""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator
from datetime import timedelta

import pytest

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.domain.errors import HesuanError, NotFound, PermissionDenied, RuleViolation
from hesuan.domain.plates import Decision, PlateSize, WellKind
from hesuan.domain.results import Result
from hesuan.domain.runs import PlateStatus
from hesuan.domain.sampling import make_tube_barcode
from hesuan.services.lab import ResultInput
from hesuan.services.outbox_ports import LabTally
from hesuan.sim.example import seed_example_city
from hesuan.sim.instrument_runs import (
    CONTROL_SAMPLE_NAMES,
    CONTROL_SHOWS,
    ExportWell,
    Shows,
    draw_cts,
    quantstudio_export,
)
from tests.integration.lab_bench import ADMIN, NEGATIVE_CONTROL, POSITIVE_CONTROL, Bench, refused

CONTROLS = {"H12": POSITIVE_CONTROL, "H11": NEGATIVE_CONTROL}


@pytest.fixture
def bench(platform: Platform, clock: FixedClock) -> Iterator[Bench]:
    yield Bench(platform, clock, seed_example_city(platform, people=160))



def _placed(b: Bench, plate_id: str) -> int:
    return int(b.scalar("SELECT count(*) FROM plate_wells WHERE plate_id = :p", p=plate_id))


def test_a_rack_is_placed_at_once(bench: Bench) -> None:
    b, u1 = bench, bench.lab_user(1)
    tubes = b.tubes(5)
    plate, _ = b.plate(u1, tubes[:1], controls=CONTROLS, ready=False)  # one scanned alone
    audited = b.scalar("SELECT count(*) FROM audit_log WHERE action = 'plate.place'")
    rack = list(zip(("A2", "a03", "A04", "B1"), tubes[1:], strict=True))
    placed = b.p.plates.place_tubes(u1, plate.id, rack)
    assert [(w.well, w.barcode, w.kind) for w in placed] == [
        ("A2", tubes[1], WellKind.TUBE), ("A3", tubes[2], WellKind.TUBE),
        ("A4", tubes[3], WellKind.TUBE), ("B1", tubes[4], WellKind.TUBE)]
    view = b.p.plates.plate(u1, plate.id)
    assert {w.well: w.barcode for w in view.wells if w.kind is WellKind.TUBE} == {
        "A1": tubes[0], "A2": tubes[1], "A3": tubes[2], "A4": tubes[3], "B1": tubes[4]}
    # one audit entry for the rack, naming every well
    assert b.scalar("SELECT count(*) FROM audit_log WHERE action = 'plate.place'") \
        == audited + 1
    assert b.p.plates.mark_ready(u1, plate.id).status is PlateStatus.READY


def test_one_refused_tube_refuses_the_rack(bench: Bench) -> None:
    b, u1 = bench, bench.lab_user(1)
    received = b.tubes(4)
    in_transit = b.tubes(1, lab=None)
    plate, _ = b.plate(u1, received[:1], controls=CONTROLS, ready=False)
    other, _ = b.plate(u1, received[1:2], controls=CONTROLS, ready=False)
    rack = b.p.plates.place_tubes
    free = [("A2", received[2]), ("A3", received[3])]
    cases: list[tuple[type[HesuanError], str, list[tuple[str, str]]]] = [
        (NotFound, "unknown_tube", [*free, ("A4", make_tube_barcode(987_654))]),
        (HesuanError, "bad_barcode", [*free, ("A4", "1234")]),
        (RuleViolation, "not_received", [*free, ("A4", in_transit[0])]),
        (RuleViolation, "tube_on_plate", [*free, ("A4", received[0])]),
        (RuleViolation, "tube_on_plate", [*free, ("A4", received[2])]),  # twice in the rack
        (RuleViolation, "well_taken", [("A1", received[2])]),
        (RuleViolation, "well_taken", [("A2", received[2]), ("A2", received[3])]),
        (RuleViolation, "tube_on_other_plate", [*free, ("A4", received[1])]),
        (HesuanError, "bad_well", [("A2", received[2]), ("Z9", received[3])]),
    ]
    for error, code, scans in cases:
        refused(error, code, functools.partial(rack, u1, plate.id, scans))
    refused(PermissionDenied, "wrong_scope",
             lambda: rack(b.lab_user(1, "lab2"), plate.id, free))
    assert _placed(b, plate.id) == 3  # its controls and its first tube: nothing of a rack
    # a tube resulted meanwhile by the direct results path
    assert b.p.lab.record(u1, b.lab_id, [ResultInput(received[3], "negative")])[0].status \
        == "accepted"
    refused(RuleViolation, "tube_resulted", lambda: rack(u1, plate.id, free))
    b.p.plates.mark_ready(u1, plate.id)
    refused(RuleViolation, "plate_not_building", lambda: rack(u1, plate.id, free[:1]))
    assert _placed(b, plate.id) == 3 and _placed(b, other.id) == 3


def test_the_simulators_export_is_imported_and_released(bench: Bench) -> None:
    """The plate the simulator builds — a rack of tubes, the controls in H11 and H12 — and the
    QuantStudio export it writes: each tube decided as what it was drawn to show, released
    by a second lab user."""
    b, u1, u2 = bench, bench.lab_user(1), bench.lab_user(2)
    shows = [Shows.POSITIVE, Shows.NEGATIVE, Shows.NEGATIVE, Shows.SINGLE_TARGET,
             Shows.GREY_ZONE, Shows.NO_INTERNAL_CONTROL]
    tubes = b.tubes(len(shows))
    plate = b.p.plates.create(u1, b.lab_id)
    for well, kind in CONTROLS.items():
        b.p.plates.place_control(u1, plate.id, well, kind)
    wells = dict(zip(PlateSize.WELLS_96.wells(), tubes, strict=False))
    b.p.plates.place_tubes(u1, plate.id, list(wells.items()))
    b.p.plates.mark_ready(u1, plate.id)
    assay = b.p.plates.plate(u1, plate.id).assay
    rng = random.Random(3)
    drawn = [ExportWell(w, k, CONTROL_SAMPLE_NAMES[k], draw_cts(assay, CONTROL_SHOWS[k], rng))
             for w, k in CONTROLS.items()]
    drawn += [ExportWell(w, WellKind.TUBE, bc, draw_cts(assay, s, rng))
              for (w, bc), s in zip(wells.items(), shows, strict=True)]
    b.clock.advance(timedelta(hours=2))
    data = quantstudio_export(assay, PlateSize.WELLS_96, drawn, run_name="lab1-run0001",
                              barcode=plate.id, serial="272510001", user=u1.username,
                              created=b.clock.now() - timedelta(hours=2), ended=b.clock.now())
    imported = b.p.runs.import_run(u1, plate.id, "lab1-run0001.txt", data)
    assert imported.qc_passed
    assert {w.well: (w.decision, w.result) for w in imported.wells
            if w.kind is WellKind.TUBE} == {
        "A1": (Decision.RELEASE, Result.POSITIVE), "A2": (Decision.RELEASE, Result.NEGATIVE),
        "A3": (Decision.RELEASE, Result.NEGATIVE), "A4": (Decision.RERUN, None),
        "A5": (Decision.RERUN, None), "A6": (Decision.RERUN, None)}
    assert imported.run_file.instrument == "QuantStudio(TM) 5 System"
    refused(RuleViolation, "second_person_required", lambda: b.p.runs.release(u1, plate.id))
    # the reconciliation: the plate awaits its release; the lab tally counts it, an area
    # without the lab sees none of it
    rec = b.p.reports.reconcile(ADMIN)
    assert [p.id for p in rec.plates_not_released.items] == [plate.id]
    assert rec.lab == LabTally(1, 0, 0, 3, {})
    released = b.p.runs.release(u2, plate.id)
    assert released.released[Result.POSITIVE] == 1 and released.released[Result.NEGATIVE] == 2
    rec = b.p.reports.reconcile(Principal("u-o", "officer", Role.HEALTH_OFFICER, "1401"))
    assert rec.plates_not_released.count == 0
    assert rec.lab == LabTally(1, 1, 0, 3, {"negative": 2, "positive": 1})
    elsewhere = b.p.reports.reconcile(Principal("u-o2", "officer", Role.HEALTH_OFFICER, "6501"))
    assert elsewhere.lab == LabTally(0, 0, 0, 0, {})
