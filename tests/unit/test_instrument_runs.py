"""The simulator's instrument runs: what a well is drawn to show is what the assay calls it,
for the default assay and one with other cut-offs and a third target, and the QuantStudio text
export written of a plate reads back (through the platform's own reader) as the same wells,
sample names and Ct values."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hesuan.adapters.instruments import read_run_file
from hesuan.domain.assays import (
    DEFAULT_ASSAY,
    Assay,
    Call,
    Target,
    TargetRole,
    define_assay,
    interpret,
)
from hesuan.domain.plates import PlateMap, PlateSize, WellKind, check_controls
from hesuan.domain.sampling import make_tube_barcode
from hesuan.services.lab_ports import RunFileFormat
from hesuan.sim.instrument_runs import (
    CONTROL_SAMPLE_NAMES,
    CONTROL_SHOWS,
    ExportWell,
    Shows,
    draw_cts,
    quantstudio_export,
)

THREE_TARGETS = define_assay(
    "orf1ab-n-e", 1, "ORF1ab/N/E", (
        Target("ORF1ab", "FAM", 38.0), Target("N", "VIC", 38.0), Target("E", "ROX", 38.0),
        Target("IC", "CY5", 38.0, role=TargetRole.INTERNAL_CONTROL)), grey_from=35.0)

#: The call of a sample's first run, by what its well shows.
FIRST_RUN = {Shows.POSITIVE: Call.POSITIVE, Shows.SINGLE_TARGET: Call.RETEST,
             Shows.GREY_ZONE: Call.RETEST, Shows.NEGATIVE: Call.NEGATIVE,
             Shows.NO_INTERNAL_CONTROL: Call.INVALID}


@pytest.mark.parametrize("assay", [DEFAULT_ASSAY, THREE_TARGETS], ids=lambda a: a.id)
@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shows=st.sampled_from(list(FIRST_RUN)))
def test_a_well_is_called_what_it_was_drawn_to_show(assay: Assay, seed: int,
                                                    shows: Shows) -> None:
    cts = draw_cts(assay, shows, random.Random(seed))
    assert set(cts) == {t.name for t in assay.targets}
    assert all(ct is None or 0 < ct <= assay.cycles for ct in cts.values())
    assert interpret(assay, cts, attempt=1).call is FIRST_RUN[shows]
    last = interpret(assay, cts, attempt=1 + assay.reruns).call
    assert last is {Shows.SINGLE_TARGET: Call.RECALL_SINGLE_TARGET,
                    Shows.GREY_ZONE: Call.RECALL_GREY_ZONE}.get(shows, FIRST_RUN[shows])


def _plate(rng: random.Random, fail: bool) -> tuple[PlateMap, list[ExportWell]]:
    size = PlateSize.WELLS_96
    plate = PlateMap(size, DEFAULT_ASSAY.ref)
    wells = []
    for kind, well in ((WellKind.POSITIVE_CONTROL, "H12"), (WellKind.NEGATIVE_CONTROL, "H11")):
        plate = plate.place_control(well, kind)
        shows = (Shows.FAILED_POSITIVE_CONTROL if fail and kind is WellKind.POSITIVE_CONTROL
                 else CONTROL_SHOWS[kind])
        wells.append(ExportWell(well, kind, CONTROL_SAMPLE_NAMES[kind],
                                draw_cts(DEFAULT_ASSAY, shows, rng)))
    for i, well in enumerate(size.wells()[:94]):
        barcode = make_tube_barcode(5000 + i)
        plate = plate.place_tube(well, barcode)
        shows = list(FIRST_RUN)[i % len(FIRST_RUN)]
        wells.append(ExportWell(well, WellKind.TUBE, barcode,
                                draw_cts(DEFAULT_ASSAY, shows, rng)))
    return plate, wells


@pytest.mark.parametrize("fail", [False, True], ids=["controls pass", "positive control fails"])
def test_the_export_reads_back_as_written(fail: bool) -> None:
    plate, wells = _plate(random.Random(7), fail)
    at = datetime(2022, 8, 26, 2, 14, 51, tzinfo=UTC)
    data = quantstudio_export(DEFAULT_ASSAY, PlateSize.WELLS_96, wells, run_name="lab1-run0001",
                              barcode="P-1", serial="272510001", user="lab1", created=at,
                              ended=at)
    text = data.decode()
    assert text.startswith("* Block Type = 96-Well Block (0.2mL)\n")
    assert "* Experiment Run End Time = 2022-08-26 10:14:51 AM CST" in text  # the lab's clock
    run = read_run_file("lab1-run0001.txt", data)
    assert run.format is RunFileFormat.QUANTSTUDIO_TXT
    assert (run.instrument, run.instrument_serial, run.run_id, run.run_name) == (
        "QuantStudio(TM) 5 System", "272510001", "P-1", "lab1-run0001")
    assert run.plate_size is PlateSize.WELLS_96
    written = {w.well: w for w in wells}
    assert [w.well for w in run.wells] == sorted(
        written, key=PlateSize.WELLS_96.wells().index)
    for w in run.wells:
        assert w.sample == written[w.well].sample and not w.omitted
        assert {t.target: t.ct for t in w.targets} == written[w.well].cts
        assert [t.dye for t in w.targets] == ["FAM", "VIC", "CY5"]
    results = {w.well: {t.target: t.ct for t in w.targets} for w in run.wells}
    assert check_controls(DEFAULT_ASSAY, plate, results).passed is not fail
