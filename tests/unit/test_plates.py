"""Plates: well ids (96 and 384), the plate map's rules, controls required to run, plate QC,
each well's decision, and an instrument file checked against the plate map."""

from __future__ import annotations

import pytest

from hesuan.domain.assays import DEFAULT_ASSAY, AssayRef, Call, Reason
from hesuan.domain.errors import InvalidInput, RuleViolation
from hesuan.domain.plates import (
    ControlFailure,
    Decision,
    NameMismatch,
    Placement,
    PlateFileMismatch,
    PlateMap,
    PlateReason,
    PlateSize,
    WellKind,
    check_controls,
    check_file_wells,
    decide_plate,
)
from hesuan.domain.sampling import make_tube_barcode

P96, P384 = PlateSize.WELLS_96, PlateSize.WELLS_384
TUBES = [make_tube_barcode(n) for n in range(1, 5)]
NTC_ASSAY = DEFAULT_ASSAY.revise(no_template_control=True)

Cts = dict[str, float | None]


def _cts(orf1ab: float | None, n: float | None, ic: float | None = 28.0) -> Cts:
    return {"ORF1ab": orf1ab, "N": n, "IC": ic}


PASS_PC, PASS_NC = _cts(28, 29, 30), _cts(None, None, 30)


def _plate(assay: object = DEFAULT_ASSAY, tubes: list[str] = TUBES) -> PlateMap:
    plate = (PlateMap(P96, DEFAULT_ASSAY.ref if assay is DEFAULT_ASSAY else NTC_ASSAY.ref)
             .place_control("A1", WellKind.POSITIVE_CONTROL)
             .place_control("A2", WellKind.NEGATIVE_CONTROL))
    if assay is NTC_ASSAY:
        plate = plate.place_control("A3", WellKind.NO_TEMPLATE_CONTROL)
    for i, barcode in enumerate(tubes):
        plate = plate.place_tube(f"B{i + 1}", barcode)
    return plate


def _results(tubes: list[Cts], pc: Cts = PASS_PC, nc: Cts = PASS_NC,
             ntc: Cts | None = None) -> dict[str, Cts]:
    out = {"A1": pc, "A2": nc, **{f"B{i + 1}": c for i, c in enumerate(tubes)}}
    if ntc is not None:
        out["A3"] = ntc
    return out


# --- well ids ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("size", "text", "well"), [
    (P96, "A1", "A1"), (P96, "A01", "A1"), (P96, " a01 ", "A1"), (P96, "H12", "H12"),
    (P96, "h012", "H12"), (P384, "P24", "P24"), (P384, "p09", "P9"), (P384, "I13", "I13"),
])
def test_well_ids_are_normalised(size: PlateSize, text: str, well: str) -> None:
    assert size.well(text) == well


@pytest.mark.parametrize(("size", "text"), [
    (P96, "I1"), (P96, "A13"), (P96, "A0"), (P96, "A00"), (P96, "P24"), (P96, ""),
    (P96, "AA1"), (P96, "1A"), (P384, "Q1"), (P384, "A25"), (P384, "A100"), (P384, "B 2 3"),
])
def test_wells_outside_the_plate_are_refused(size: PlateSize, text: str) -> None:
    with pytest.raises(InvalidInput) as e:
        size.well(text)
    assert (e.value.code, e.value.field) == ("bad_well", "well")


def test_plate_sizes_and_well_numbers() -> None:
    assert len(P96.wells()) == 96 and len(set(P384.wells())) == 384
    assert P96.wells()[:3] == ("A1", "A2", "A3") and P384.wells()[-1] == "P24"
    assert [P96.well_at(n) for n in (1, 12, 13, 96)] == ["A1", "A12", "B1", "H12"]
    assert [P384.well_at(n) for n in (1, 24, 25, 384)] == ["A1", "A24", "B1", "P24"]
    for bad in (0, 97):
        with pytest.raises(InvalidInput):
            P96.well_at(bad)


def test_labs_fill_a_plate_column_by_column() -> None:
    assert P96.wells_by_column()[:10] == ("A1", "B1", "C1", "D1", "E1", "F1", "G1", "H1",
                                          "A2", "B2")
    assert P384.wells_by_column()[15:17] == ("P1", "A2")
    assert set(P96.wells_by_column()) == set(P96.wells())
    assert set(P384.wells_by_column()) == set(P384.wells())


# --- the plate map ----------------------------------------------------------------------------

def test_the_next_free_well_goes_down_each_column() -> None:
    empty = PlateMap(P96, DEFAULT_ASSAY.ref)
    assert empty.next_free() == "A1"
    plate = empty.place_control("A1", WellKind.POSITIVE_CONTROL).place_tube("C1", TUBES[0])
    assert plate.next_free() == "B1"
    plate = plate.place_control("B1", WellKind.NEGATIVE_CONTROL)
    assert plate.next_free() == "D1"
    assert plate.remove("A1").next_free() == "A1"
    full = PlateMap(P96, DEFAULT_ASSAY.ref, tuple(
        Placement(w, WellKind.NEGATIVE_CONTROL) for w in P96.wells()))
    assert full.next_free() is None
    assert PlateMap(P384, DEFAULT_ASSAY.ref, tuple(
        Placement(w, WellKind.NEGATIVE_CONTROL) for w in P384.wells_by_column()[:16]),
    ).next_free() == "A2"


def test_a_well_holds_one_thing() -> None:
    plate = _plate()
    with pytest.raises(RuleViolation) as e:
        plate.place_tube("b01", make_tube_barcode(99))
    assert e.value.code == "well_taken" and TUBES[0] in e.value.message
    with pytest.raises(RuleViolation) as e:
        plate.place_control("A1", WellKind.NEGATIVE_CONTROL)
    assert e.value.code == "well_taken" and "positive control" in e.value.message


def test_a_tube_appears_once_per_plate() -> None:
    with pytest.raises(RuleViolation) as e:
        _plate().place_tube("C1", f" {TUBES[1].lower()} ")
    assert e.value.code == "tube_on_plate" and "B2" in e.value.message


def test_placing_returns_a_new_map_and_a_wrong_scan_can_be_taken_back() -> None:
    plate = _plate()
    fixed = plate.remove("B01").place_tube("B1", make_tube_barcode(99))
    assert plate.at("B1") == Placement("B1", WellKind.TUBE, TUBES[0])
    assert fixed.at("B1") == Placement("B1", WellKind.TUBE, make_tube_barcode(99))
    assert fixed.at("C1") is None


def test_a_tube_well_needs_a_barcode_and_a_control_is_not_a_tube() -> None:
    with pytest.raises(InvalidInput):
        _plate().place_tube("C1", "  ")
    with pytest.raises(InvalidInput):
        _plate().place_control("C1", WellKind.TUBE)
    with pytest.raises(InvalidInput):
        PlateMap(P96, DEFAULT_ASSAY.ref, (Placement("C1", WellKind.TUBE),))
    with pytest.raises(InvalidInput):
        PlateMap(P96, DEFAULT_ASSAY.ref, (Placement("C01", WellKind.POSITIVE_CONTROL),))


def test_a_384_well_plate_takes_its_wells() -> None:
    plate = PlateMap(P384, DEFAULT_ASSAY.ref).place_tube("P24", TUBES[0]).place_tube(
        "i13", TUBES[1])
    assert [p.well for p in plate.tubes()] == ["P24", "I13"]
    with pytest.raises(InvalidInput):
        PlateMap(P96, DEFAULT_ASSAY.ref).place_tube("P24", TUBES[0])


def test_a_plate_without_its_controls_cannot_run_and_the_error_names_them() -> None:
    bare = PlateMap(P96, NTC_ASSAY.ref).place_tube("B1", TUBES[0])
    with pytest.raises(RuleViolation) as e:
        bare.check_runnable(NTC_ASSAY)
    assert e.value.code == "controls_missing"
    assert e.value.message.endswith(
        "no positive control, no negative control, no no template control")
    with pytest.raises(RuleViolation) as e:
        _plate().check_runnable(DEFAULT_ASSAY.revise(no_template_control=True))
    assert e.value.code == "wrong_assay"
    only_ntc_missing = PlateMap(P96, NTC_ASSAY.ref, _plate().placements)
    assert only_ntc_missing.missing_controls(NTC_ASSAY) == (WellKind.NO_TEMPLATE_CONTROL,)
    _plate(NTC_ASSAY).check_runnable(NTC_ASSAY)
    _plate().check_runnable(DEFAULT_ASSAY)


def test_a_plate_with_controls_only_or_for_another_assay_cannot_run() -> None:
    with pytest.raises(RuleViolation) as e:
        _plate(tubes=[]).check_runnable(DEFAULT_ASSAY)
    assert e.value.code == "plate_empty"
    other = PlateMap(P96, AssayRef("other", 1), _plate().placements)
    with pytest.raises(RuleViolation) as e:
        other.check_runnable(DEFAULT_ASSAY)
    assert e.value.code == "wrong_assay"


def test_results_for_a_plate_without_controls_are_refused() -> None:
    bare = PlateMap(P96, DEFAULT_ASSAY.ref).place_tube("B1", TUBES[0])
    with pytest.raises(RuleViolation) as e:
        decide_plate(DEFAULT_ASSAY, bare, {"B1": _cts(None, None)})
    assert e.value.code == "controls_missing"


# --- plate QC and each well's decision --------------------------------------------------------

def test_a_passing_plate_decides_each_well() -> None:
    out = decide_plate(DEFAULT_ASSAY, _plate(), _results(
        [_cts(25, 26), _cts(None, None), _cts(30, None), _cts(None, None, None)]))
    assert out.qc.passed and len(out.qc.checks) == 2
    assert [(d.well, d.barcode, d.decision, d.reason) for d in out.decisions] == [
        ("B1", TUBES[0], Decision.RELEASE, Reason.TARGETS_DETECTED),
        ("B2", TUBES[1], Decision.RELEASE, Reason.NO_TARGET_DETECTED),
        ("B3", TUBES[2], Decision.RERUN, Reason.SINGLE_TARGET),
        ("B4", TUBES[3], Decision.RERUN, Reason.INTERNAL_CONTROL_FAILED),
    ]
    calls = [d.interpretation.call for d in out.decisions if d.interpretation]
    assert calls == [Call.POSITIVE, Call.NEGATIVE, Call.RETEST, Call.INVALID]
    assert [d.barcode for d in out.with_decision(Decision.RELEASE)] == TUBES[:2]


@pytest.mark.parametrize(("pc", "nc"), [
    (_cts(28, None, 30), PASS_NC),  # positive control: N not amplified
    (_cts(28, 40.0, 30), PASS_NC),  # positive control: N at the cut-off
    (_cts(None, None, None), PASS_NC),  # positive control: nothing
])
def test_a_failed_positive_control_sends_every_tube_back_to_the_queue(pc: Cts, nc: Cts) -> None:
    out = decide_plate(DEFAULT_ASSAY, _plate(), _results(
        [_cts(25, 26), _cts(None, None), _cts(30, None), _cts(None, None, None)], pc=pc, nc=nc))
    assert not out.qc.passed
    assert [(c.well, c.failure) for c in out.qc.failures] == [
        ("A1", ControlFailure.POSITIVE_CONTROL_FAILED)]
    assert {(d.decision, d.reason, d.interpretation) for d in out.decisions} == {
        (Decision.RERUN, PlateReason.CONTROL_FAILED, None)}


def test_a_failed_negative_control_voids_the_plate_even_a_positive_well() -> None:
    out = decide_plate(DEFAULT_ASSAY, _plate(), _results(
        [_cts(25, 26), _cts(None, None), _cts(30, 31), _cts(None, None)], nc=_cts(None, 38.5)))
    assert [(c.well, c.failure) for c in out.qc.failures] == [
        ("A2", ControlFailure.NEGATIVE_CONTROL_FAILED)]
    evidence = out.qc.failures[0].readings
    assert [(r.target, r.ct) for r in evidence] == [("ORF1ab", None), ("N", 38.5)]
    assert all(d.decision is Decision.RERUN for d in out.decisions)
    assert all(d.reason is PlateReason.CONTROL_FAILED for d in out.decisions)


def test_a_failed_no_template_control_voids_the_plate() -> None:
    plate = _plate(NTC_ASSAY)
    out = decide_plate(NTC_ASSAY, plate, _results(
        [_cts(None, None)] * 4, ntc=_cts(35, None, None)))
    assert [(c.well, c.failure) for c in out.qc.failures] == [
        ("A3", ControlFailure.NO_TEMPLATE_CONTROL_FAILED)]
    assert all(d.decision is Decision.RERUN for d in out.decisions)
    passing = decide_plate(NTC_ASSAY, plate, _results(
        [_cts(None, None)] * 4, ntc=_cts(None, 41, None)))
    assert passing.qc.passed and len(passing.qc.checks) == 3


def test_a_failed_plate_recalls_exhausted_samples_only() -> None:
    out = decide_plate(DEFAULT_ASSAY, _plate(), _results([_cts(None, None)] * 4,
                                                         pc=_cts(None, None)),
                       exhausted=[f" {TUBES[2]} "])
    assert [(d.decision, d.reason) for d in out.decisions] == [
        (Decision.RERUN, PlateReason.CONTROL_FAILED), (Decision.RERUN, PlateReason.CONTROL_FAILED),
        (Decision.RECALL, PlateReason.SAMPLE_EXHAUSTED),
        (Decision.RERUN, PlateReason.CONTROL_FAILED)]


def test_a_failed_internal_control_in_one_well_reruns_that_well_then_recalls() -> None:
    tubes = [_cts(None, None), _cts(None, None, None), _cts(None, None)]
    first = decide_plate(DEFAULT_ASSAY, _plate(tubes=TUBES[:3]), _results(tubes))
    assert first.qc.passed
    assert [d.decision for d in first.decisions] == [
        Decision.RELEASE, Decision.RERUN, Decision.RELEASE]
    assert first.decisions[1].reason is Reason.INTERNAL_CONTROL_FAILED
    second = decide_plate(DEFAULT_ASSAY, _plate(tubes=TUBES[:3]), _results(tubes),
                          attempts={TUBES[1]: 2})
    assert [d.decision for d in second.decisions] == [
        Decision.RELEASE, Decision.RECALL, Decision.RELEASE]
    assert second.decisions[1].interpretation is not None
    assert second.decisions[1].interpretation.call is Call.INVALID


def test_a_single_target_is_re_run_then_recalled_and_exhausted_means_recall_now() -> None:
    tubes = [_cts(30, None), _cts(None, 38)]
    plate = _plate(tubes=TUBES[:2])
    first = decide_plate(DEFAULT_ASSAY, plate, _results(tubes))
    assert [(d.decision, d.reason) for d in first.decisions] == [
        (Decision.RERUN, Reason.SINGLE_TARGET), (Decision.RERUN, Reason.SINGLE_TARGET)]
    second = decide_plate(DEFAULT_ASSAY, plate, _results(tubes), attempts={TUBES[0]: 2},
                          exhausted={TUBES[1]})
    assert [(d.decision, d.reason) for d in second.decisions] == [
        (Decision.RECALL, Reason.SINGLE_TARGET), (Decision.RECALL, PlateReason.SAMPLE_EXHAUSTED)]
    interpretation = second.decisions[0].interpretation
    assert interpretation is not None and interpretation.call is Call.RECALL_SINGLE_TARGET


def test_results_must_cover_the_map_exactly_and_be_valid_everywhere() -> None:
    plate = _plate(tubes=TUBES[:2])
    with pytest.raises(PlateFileMismatch) as e:
        decide_plate(DEFAULT_ASSAY, plate, _results([_cts(None, None)]))
    assert e.value.missing == ("B2",)
    with pytest.raises(PlateFileMismatch) as e:
        decide_plate(DEFAULT_ASSAY, plate, {**_results([_cts(None, None)] * 2),
                                            "H12": _cts(None, None)})
    assert e.value.not_on_map == ("H12",)
    with pytest.raises(InvalidInput) as e2:
        decide_plate(DEFAULT_ASSAY, plate, {**_results([_cts(None, None)] * 2),
                                            "B01": _cts(None, None)})
    assert e2.value.code == "bad_well"
    with pytest.raises(InvalidInput) as e2:
        decide_plate(DEFAULT_ASSAY, plate, _results([_cts(None, None), _cts(-1, None)]))
    assert e2.value.field == "ct.ORF1ab"


def test_check_controls_alone() -> None:
    qc = check_controls(DEFAULT_ASSAY, _plate(tubes=TUBES[:1]),
                        {"a01": PASS_PC, "A02": PASS_NC, "B1": _cts(30, 31)})
    assert qc.passed and [c.kind for c in qc.checks] == [
        WellKind.POSITIVE_CONTROL, WellKind.NEGATIVE_CONTROL]


# --- the instrument file against the plate map ------------------------------------------------

def test_a_file_that_matches_maps_each_well_text_to_its_id() -> None:
    plate = _plate(tubes=TUBES[:2])
    rows = [("A01", "PC"), ("A01", "pc"), ("A02", "阴性对照"), ("B01", TUBES[0]),
            ("B01", TUBES[0]), ("B02", None), ("B2", "")]
    assert check_file_wells(plate, rows) == {"A01": "A1", "A02": "A2", "B01": "B1",
                                             "B02": "B2", "B2": "B2"}


def test_control_wells_may_carry_the_labs_own_names() -> None:
    plate = _plate(tubes=TUBES[:1])
    check_file_wells(plate, [("A1", "Run 12 PC lot 7"), ("A2", "NAC"), ("B1", TUBES[0])])
    # labs often call a negative control "NTC": both must show no amplification
    check_file_wells(plate, [("A1", "(+)"), ("A2", "NTC"), ("B1", TUBES[0])])
    with pytest.raises(PlateFileMismatch):
        check_file_wells(plate, [("A1", "NTC"), ("A2", "NC"), ("B1", TUBES[0])])
    with pytest.raises(PlateFileMismatch):
        check_file_wells(plate, [("A1", "PC"), ("A2", "阳性对照"), ("B1", TUBES[0])])


def test_a_file_that_does_not_match_lists_every_difference() -> None:
    plate = _plate(tubes=TUBES[:3])
    rows = [("A1", "NC"), ("A2", TUBES[0]), ("B1", TUBES[1]), ("B2", TUBES[1]),
            ("B2", TUBES[2]), ("C7", "x"), ("Z9", "y"), ("H12", None)]
    with pytest.raises(PlateFileMismatch) as e:
        check_file_wells(plate, rows)
    err = e.value
    assert isinstance(err, RuleViolation)
    assert (err.code, err.field) == ("file_plate_mismatch", "file")
    assert err.bad_wells == ("Z9",)
    assert err.not_on_map == ("C7", "H12")
    assert err.missing == ("B3",)
    assert err.names == (
        NameMismatch("A1", "NC", "positive control"),
        NameMismatch("A2", TUBES[0], "negative control"),
        NameMismatch("B1", TUBES[1], TUBES[0]),
        NameMismatch("B2", f"{TUBES[1]} / {TUBES[2]}", TUBES[1]),
    )
    for part in ("'Z9'", "C7, H12", "missing from the file: B3",
                 f"B1 is '{TUBES[1]}' in the file, {TUBES[0]} on the map"):
        assert part in err.message


def test_a_384_well_file_is_checked_against_a_384_well_map() -> None:
    plate = (PlateMap(P384, DEFAULT_ASSAY.ref)
             .place_control("A1", WellKind.POSITIVE_CONTROL)
             .place_control("P24", WellKind.NEGATIVE_CONTROL)
             .place_tube("I13", TUBES[0]))
    assert check_file_wells(plate, [("A01", None), ("P24", "NC"), ("I13", TUBES[0])]) == {
        "A01": "A1", "P24": "P24", "I13": "I13"}
    out = decide_plate(DEFAULT_ASSAY, plate, {"A1": PASS_PC, "P24": PASS_NC,
                                              "I13": _cts(22, 23)})
    assert [(d.well, d.decision) for d in out.decisions] == [("I13", Decision.RELEASE)]
