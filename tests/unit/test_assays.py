"""Assays: the default kit, validation, versions, and the interpretation table (examples and
Hypothesis properties over Ct values and cut-offs)."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hesuan.domain.assays import (
    DEFAULT_ASSAY,
    Assay,
    AssayRef,
    Call,
    Reason,
    Signal,
    Step,
    Target,
    TargetRole,
    check_readings,
    define_assay,
    interpret,
)
from hesuan.domain.errors import InvalidFields, InvalidInput

IC = TargetRole.INTERNAL_CONTROL


def _cts(orf1ab: float | None, n: float | None, ic: float | None) -> dict[str, float | None]:
    return {"ORF1ab": orf1ab, "N": n, "IC": ic}


def _three_targets(**kw: object) -> Assay:
    return define_assay("orf1ab-n-e", 1, "three targets",
                        (Target("ORF1ab", "FAM"), Target("N", "VIC"), Target("E", "ROX"),
                         Target("RNaseP", "CY5", cutoff=35.0, role=IC)),
                        grey_from=37.0, **kw)  # type: ignore[arg-type]


# --- the default ------------------------------------------------------------------------------

def test_the_default_is_orf1ab_and_n_with_an_internal_control_cut_off_40_grey_zone_37() -> None:
    a = DEFAULT_ASSAY
    assert str(a.ref) == "orf1ab-n@1"
    assert [(t.name, t.dye, t.cutoff, t.grey_from) for t in a.viral_targets] == [
        ("ORF1ab", "FAM", 40.0, 37.0), ("N", "VIC", 40.0, 37.0)]
    assert (a.internal_control.name, a.internal_control.dye) == ("IC", "CY5")
    assert a.internal_control.cutoff == 40.0 and a.internal_control.grey_from is None
    assert a.targets_for_positive == 2
    assert a.reruns == 1 and a.cycles == 45 and not a.no_template_control


def test_an_assay_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_ASSAY.version = 2  # type: ignore[misc]


@pytest.mark.parametrize(("ct", "signal"), [
    (None, Signal.NOT_DETECTED), (45.0, Signal.NOT_DETECTED), (40.0, Signal.NOT_DETECTED),
    (39.99, Signal.GREY_ZONE), (37.0, Signal.GREY_ZONE), (36.99, Signal.DETECTED),
    (12.0, Signal.DETECTED),
])
def test_the_cut_off_and_the_grey_zone_bounds(ct: float | None, signal: Signal) -> None:
    assert DEFAULT_ASSAY.target("N").signal(ct) is signal


# --- the interpretation table, by example -----------------------------------------------------

@pytest.mark.parametrize(("cts", "attempt", "call", "reason", "step"), [
    (_cts(30, 31, 28), 1, Call.POSITIVE, Reason.TARGETS_DETECTED, Step.RELEASE),
    (_cts(30, 31, 28), 2, Call.POSITIVE, Reason.TARGETS_DETECTED, Step.RELEASE),
    # a high target load can suppress the internal control: the targets make the call
    (_cts(15, 16, None), 1, Call.POSITIVE, Reason.TARGETS_DETECTED, Step.RELEASE),
    (_cts(30, None, 28), 1, Call.RETEST, Reason.SINGLE_TARGET, Step.RERUN),
    (_cts(30, 40, 28), 1, Call.RETEST, Reason.SINGLE_TARGET, Step.RERUN),
    (_cts(None, 38, 28), 1, Call.RETEST, Reason.SINGLE_TARGET, Step.RERUN),
    (_cts(30, None, 28), 2, Call.RECALL_SINGLE_TARGET, Reason.SINGLE_TARGET, Step.RECALL),
    (_cts(30, 37, 28), 1, Call.RETEST, Reason.GREY_ZONE, Step.RERUN),
    (_cts(38, 39, 28), 1, Call.RETEST, Reason.GREY_ZONE, Step.RERUN),
    (_cts(38, 39, 28), 2, Call.RECALL_GREY_ZONE, Reason.GREY_ZONE, Step.RECALL),
    (_cts(None, None, 28), 1, Call.NEGATIVE, Reason.NO_TARGET_DETECTED, Step.RELEASE),
    (_cts(40, 42.5, 28), 1, Call.NEGATIVE, Reason.NO_TARGET_DETECTED, Step.RELEASE),
    (_cts(None, None, 28), 2, Call.NEGATIVE, Reason.NO_TARGET_DETECTED, Step.RELEASE),
    (_cts(None, None, None), 1, Call.INVALID, Reason.INTERNAL_CONTROL_FAILED, Step.RERUN),
    (_cts(None, None, 40), 1, Call.INVALID, Reason.INTERNAL_CONTROL_FAILED, Step.RERUN),
    (_cts(None, None, None), 2, Call.INVALID, Reason.INTERNAL_CONTROL_FAILED, Step.RECALL),
    (_cts(None, None, None), 5, Call.INVALID, Reason.INTERNAL_CONTROL_FAILED, Step.RECALL),
])
def test_interpretation_examples(cts: dict[str, float | None], attempt: int, call: Call,
                                 reason: Reason, step: Step) -> None:
    found = interpret(DEFAULT_ASSAY, cts, attempt=attempt)
    assert (found.call, found.reason, found.step) == (call, reason, step)
    assert found.attempt == attempt


def test_an_interpretation_carries_its_evidence_and_its_assay_version() -> None:
    found = interpret(DEFAULT_ASSAY, {"orf1ab": 36.2, "n": None, "ic": 28})
    assert found.assay == AssayRef("orf1ab-n", 1)
    assert found.detected == ("ORF1ab",) and found.grey == ()
    assert [(r.target, r.dye, r.ct, r.signal) for r in found.readings] == [
        ("ORF1ab", "FAM", 36.2, Signal.DETECTED), ("N", "VIC", None, Signal.NOT_DETECTED)]
    assert found.internal_control.ct == 28.0
    assert found.evidence() == "ORF1ab 36.2, N undetermined, IC 28"


def test_two_of_three_targets() -> None:
    a = _three_targets(positive_needs=2)
    assert interpret(a, {"ORF1ab": 30, "N": 31, "E": None, "RNaseP": 30}).call is Call.POSITIVE
    assert interpret(a, {"ORF1ab": 30, "N": 38, "E": 31, "RNaseP": 30}).call is Call.POSITIVE
    single = interpret(a, {"ORF1ab": 30, "N": None, "E": None, "RNaseP": 30})
    assert (single.call, single.reason) == (Call.RETEST, Reason.SINGLE_TARGET)
    grey = interpret(a, {"ORF1ab": 30, "N": 38, "E": None, "RNaseP": 30})
    assert (grey.call, grey.reason) == (Call.RETEST, Reason.GREY_ZONE)
    # the internal control's own cut-off (35) decides a well with no target
    failed = interpret(a, {"ORF1ab": None, "N": None, "E": None, "RNaseP": 35.0})
    assert failed.call is Call.INVALID


def test_every_target_by_default_of_three() -> None:
    a = _three_targets()
    found = interpret(a, {"ORF1ab": 30, "N": 31, "E": None, "RNaseP": 30})
    assert (found.call, found.reason) == (Call.RETEST, Reason.SINGLE_TARGET)


def test_no_rerun_allowed_recalls_at_once() -> None:
    a = DEFAULT_ASSAY.revise(reruns=0)
    assert interpret(a, _cts(30, None, 28)).call is Call.RECALL_SINGLE_TARGET
    assert interpret(a, _cts(None, None, None)).step is Step.RECALL
    assert interpret(a, _cts(30, 31, 28)).call is Call.POSITIVE


def test_two_reruns_retest_twice() -> None:
    a = DEFAULT_ASSAY.revise(reruns=2)
    assert [interpret(a, _cts(30, None, 28), attempt=n).call for n in (1, 2, 3)] == [
        Call.RETEST, Call.RETEST, Call.RECALL_SINGLE_TARGET]


@pytest.mark.parametrize("attempt", [0, -1, True, 1.0])
def test_a_bad_attempt_is_refused(attempt: object) -> None:
    with pytest.raises(InvalidInput) as e:
        interpret(DEFAULT_ASSAY, _cts(30, 31, 28), attempt=attempt)  # type: ignore[arg-type]
    assert e.value.code == "bad_attempt"


# --- readings ---------------------------------------------------------------------------------

def test_readings_match_names_case_insensitively() -> None:
    assert check_readings(DEFAULT_ASSAY, {"orf1AB": 30, "n": None, "ic": 28}) == {
        "ORF1ab": 30.0, "N": None, "IC": 28.0}


@pytest.mark.parametrize(("cts", "code", "field"), [
    ({"ORF1ab": 30, "N": 31}, "bad_ct", "ct.IC"),
    ({"ORF1ab": 30, "N": 31, "IC": 28, "E": 30}, "unknown_target", "ct"),
    ({"ORF1ab": math.nan, "N": 31, "IC": 28}, "bad_ct", "ct.ORF1ab"),
    ({"ORF1ab": math.inf, "N": 31, "IC": 28}, "bad_ct", "ct.ORF1ab"),
    ({"ORF1ab": 0, "N": 31, "IC": 28}, "bad_ct", "ct.ORF1ab"),
    ({"ORF1ab": -3, "N": 31, "IC": 28}, "bad_ct", "ct.ORF1ab"),
    ({"ORF1ab": 45.5, "N": 31, "IC": 28}, "bad_ct", "ct.ORF1ab"),
    ({"ORF1ab": True, "N": 31, "IC": 28}, "bad_ct", "ct.ORF1ab"),
    ({"ORF1ab": "30", "N": 31, "IC": 28}, "bad_ct", "ct.ORF1ab"),
    ({"ORF1ab": 30, "orf1ab": 30, "N": 31, "IC": 28}, "bad_ct", "ct.ORF1ab"),
])
def test_bad_readings_are_refused(cts: dict[str, object], code: str, field: str) -> None:
    with pytest.raises(InvalidInput) as e:
        check_readings(DEFAULT_ASSAY, cts)  # type: ignore[arg-type]
    assert (e.value.code, e.value.field) == (code, field)


def test_every_bad_reading_is_reported_together() -> None:
    with pytest.raises(InvalidFields) as e:
        interpret(DEFAULT_ASSAY, {"ORF1ab": -1, "E": 30})
    assert [err.field for err in e.value.errors] == ["ct.ORF1ab", "ct", "ct.N", "ct.IC"]


# --- validation -------------------------------------------------------------------------------

def _assay(*targets: Target, **kw: object) -> Assay:
    return Assay("kit", 1, "a kit", targets, **kw)  # type: ignore[arg-type]


_OK = (Target("ORF1ab", "FAM", 40, 37), Target("IC", "CY5", 40, role=IC))


@pytest.mark.parametrize(("build", "field"), [
    (lambda: _assay(Target("ORF1ab", "FAM", 40, 40), _OK[1]), "targets"),
    (lambda: _assay(Target("ORF1ab", "FAM", 40, 41), _OK[1]), "targets"),
    (lambda: _assay(Target("ORF1ab", "FAM", 40, 0), _OK[1]), "targets"),
    (lambda: _assay(Target("ORF1ab", "FAM", 40, math.nan), _OK[1]), "targets"),
    (lambda: _assay(Target("ORF1ab", "FAM", 0), _OK[1]), "targets"),
    (lambda: _assay(Target("ORF1ab", "FAM", 46), _OK[1]), "targets"),
    (lambda: _assay(Target("ORF1ab", "FAM", 50), _OK[1], cycles=45), "targets"),
    (lambda: _assay(Target("ORF1ab", "FAM"), Target("orf1ab", "VIC"), _OK[1]), "targets"),
    (lambda: _assay(Target("ORF1ab", "FAM"), Target("N", "fam"), _OK[1]), "targets"),
    (lambda: _assay(Target("ORF1ab", "FAM")), "targets"),
    (lambda: _assay(*_OK, Target("RNaseP", "ROX", role=IC)), "targets"),
    (lambda: _assay(_OK[1]), "targets"),
    (lambda: _assay(_OK[0], Target("IC", "CY5", 40, 37, role=IC)), "targets"),
    (lambda: _assay(Target(" N", "FAM"), _OK[1]), "targets"),
    (lambda: _assay(Target("N", ""), _OK[1]), "targets"),
    (lambda: _assay(*_OK, positive_needs=0), "positive_needs"),
    (lambda: _assay(*_OK, positive_needs=2), "positive_needs"),
    (lambda: _assay(*_OK, reruns=4), "reruns"),
    (lambda: _assay(*_OK, reruns=-1), "reruns"),
    (lambda: _assay(*_OK, cycles=0), "cycles"),
    (lambda: Assay("Kit One", 1, "x", _OK), "id"),
    (lambda: Assay("kit", 0, "x", _OK), "version"),
    (lambda: Assay("kit", 1, "  ", _OK), "name"),
])
def test_an_assay_that_breaks_a_rule_is_refused(build: object, field: str) -> None:
    with pytest.raises(InvalidInput) as e:
        build()  # type: ignore[operator]
    assert (e.value.code, e.value.field) == ("bad_assay", field)


def test_an_assay_wide_grey_zone_fills_targets_without_their_own() -> None:
    a = define_assay("kit", 1, "x", (Target("ORF1ab", "FAM", 40), Target("N", "VIC", 38, 33),
                                     Target("IC", "CY5", 36, role=IC)), grey_from=35)
    assert [t.grey_from for t in a.targets] == [35, 33, None]
    assert a.target("N").cutoff == 38 and a.internal_control.cutoff == 36


def test_an_assay_wide_grey_zone_must_start_below_each_cut_off() -> None:
    with pytest.raises(InvalidInput):
        define_assay("kit", 1, "x", (Target("ORF1ab", "FAM", 36), _OK[1]), grey_from=37)


# --- versions ---------------------------------------------------------------------------------

def test_a_revision_is_a_new_version_and_the_old_one_stays() -> None:
    new = DEFAULT_ASSAY.revise(targets=(Target("ORF1ab", "FAM", 38, 35), Target("N", "VIC", 38, 35),
                                        Target("IC", "CY5", role=IC)))
    assert new.ref == AssayRef("orf1ab-n", 2)
    assert DEFAULT_ASSAY.version == 1 and DEFAULT_ASSAY.target("N").cutoff == 40
    cts = _cts(36, 36, 28)
    assert interpret(DEFAULT_ASSAY, cts).call is Call.POSITIVE
    revised = interpret(new, cts)
    assert (revised.call, revised.assay) == (Call.RETEST, AssayRef("orf1ab-n", 2))


def test_a_revision_is_validated_and_keeps_its_id() -> None:
    with pytest.raises(InvalidInput):
        DEFAULT_ASSAY.revise(reruns=9)
    with pytest.raises(InvalidInput):
        DEFAULT_ASSAY.revise(id="other")
    with pytest.raises(InvalidInput):
        DEFAULT_ASSAY.revise(version=7)
    with pytest.raises(InvalidInput) as e:
        DEFAULT_ASSAY.revise(cutoff=38)
    assert e.value.field == "cutoff"


def test_assay_ref_text() -> None:
    assert AssayRef.parse(" orf1ab-n@12 ") == AssayRef("orf1ab-n", 12)
    assert str(AssayRef("orf1ab-n", 12)) == "orf1ab-n@12"
    for bad in ("orf1ab-n", "orf1ab-n@0", "@1", "Kit@1", "kit@x"):
        with pytest.raises(InvalidInput):
            AssayRef.parse(bad)


def test_the_table_names_the_numbers() -> None:
    rows = {r.reason: r for r in DEFAULT_ASSAY.table()}
    assert set(rows) == set(Reason)
    assert "ORF1ab cut-off 40, grey zone 37–40" in rows[Reason.TARGETS_DETECTED].when
    assert rows[Reason.SINGLE_TARGET].last_run_call is Call.RECALL_SINGLE_TARGET
    assert "IC undetermined or at or above 40" in rows[Reason.INTERNAL_CONTROL_FAILED].when


# --- Hypothesis: the table's properties over Ct values and cut-offs ---------------------------

_LEVEL = {Call.NEGATIVE: 0, Call.INVALID: 0, Call.RETEST: 1, Call.RECALL_SINGLE_TARGET: 1,
          Call.RECALL_GREY_ZONE: 1, Call.POSITIVE: 2}


@st.composite
def assays(draw: st.DrawFn) -> Assay:
    n = draw(st.integers(1, 3))
    targets = []
    for i, dye in zip(range(n), ("FAM", "VIC", "ROX"), strict=False):
        cutoff = draw(st.floats(20, 45))
        grey = draw(st.none() | st.floats(5, cutoff, exclude_max=True))
        targets.append(Target(f"T{i}", dye, cutoff, grey))
    targets.append(Target("IC", "CY5", draw(st.floats(20, 45)), role=IC))
    return Assay("kit", 1, "drawn", tuple(targets),
                 positive_needs=draw(st.none() | st.integers(1, n)),
                 reruns=draw(st.integers(0, 2)))


def _ct_for(draw: st.DrawFn, t: Target) -> float | None:
    edges = [t.cutoff, math.nextafter(t.cutoff, 0), 45.0]
    if t.grey_from is not None:
        edges += [t.grey_from, math.nextafter(t.grey_from, 0)]
    return draw(st.none() | st.floats(0.5, 45) | st.sampled_from(edges))


@st.composite
def cases(draw: st.DrawFn) -> tuple[Assay, dict[str, float | None], int]:
    a = draw(assays())
    return a, {t.name: _ct_for(draw, t) for t in a.targets}, draw(st.integers(1, 4))


@settings(max_examples=400, deadline=None)
@given(case=cases(), data=st.data())
def test_lowering_a_ct_never_lowers_the_call(
        case: tuple[Assay, dict[str, float | None], int], data: st.DataObject) -> None:
    a, cts, attempt = case
    t = data.draw(st.sampled_from(a.viral_targets))
    old = cts[t.name]
    lower = data.draw(st.floats(0.5, 45) if old is None else st.floats(0.5, old))
    before = interpret(a, cts, attempt=attempt).call
    after = interpret(a, {**cts, t.name: lower}, attempt=attempt).call
    assert _LEVEL[after] >= _LEVEL[before]
    assert not (before is Call.POSITIVE and after is Call.NEGATIVE)


@settings(max_examples=400, deadline=None)
@given(case=cases())
def test_the_table_holds(case: tuple[Assay, dict[str, float | None], int]) -> None:
    a, cts, attempt = case
    found = interpret(a, cts, attempt=attempt)
    below_cutoff = [t for t in a.viral_targets if cts[t.name] is not None
                    and cts[t.name] < t.cutoff]  # type: ignore[operator]
    clear = [t for t in below_cutoff if t.grey_from is None or cts[t.name] < t.grey_from]  # type: ignore[operator]
    ic = cts["IC"]
    ic_failed = ic is None or ic >= a.internal_control.cutoff
    # negative only if no target is below its cut-off, and the internal control is valid
    if found.call is Call.NEGATIVE:
        assert not below_cutoff and not ic_failed
    # a failed internal control with no target is always invalid
    if not below_cutoff and ic_failed:
        assert found.call is Call.INVALID
    # positive needs enough targets clearly below the grey zone; with every target needed, a
    # grey-zone value never gives positive
    if found.call is Call.POSITIVE:
        assert len(clear) >= a.targets_for_positive
    if a.positive_needs is None and len(clear) < len(below_cutoff):
        assert found.call is not Call.POSITIVE
    # a single target is never released: re-test, or recall on the last run
    if 0 < len(below_cutoff) < a.targets_for_positive:
        assert found.call in {Call.RETEST, Call.RECALL_SINGLE_TARGET}
    # the call is the table's row for its reason, on a run with a re-run left or the last
    row = next(r for r in a.table() if r.reason is found.reason)
    last_run = attempt > a.reruns
    assert found.call is (row.last_run_call if last_run else row.call)
    assert found.step is (row.last_run_step if last_run else row.step)
    assert [r.ct for r in found.readings] == [
        None if cts[t.name] is None else float(cts[t.name]) for t in a.viral_targets]  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(case=cases(), ic=st.none() | st.floats(0.5, 45))
def test_the_internal_control_matters_only_without_a_target(
        case: tuple[Assay, dict[str, float | None], int], ic: float | None) -> None:
    a, cts, attempt = case
    before = interpret(a, cts, attempt=attempt)
    after = interpret(a, {**cts, "IC": ic}, attempt=attempt)
    if before.detected:
        assert after.call is before.call
    else:
        assert {before.call, after.call} <= {Call.NEGATIVE, Call.INVALID}
