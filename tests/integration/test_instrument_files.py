"""Real qPCR instrument exports read into ``InstrumentRun``: a QuantStudio 6 Flex text export, a
QuantStudio 7 Pro Design & Analysis workbook and a Bio-Rad CFX Maestro Cq results CSV (allotropy's
test data, ``tests/fixtures/interop/allotropy/``). The values checked were read off the files by
eye. Variants of the real files (controls on a CFX plate, a barcode of digits, a 384-well plate)
and files cut short, damaged or of another kind are each read, or refused in words."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from hesuan.adapters.instruments import detect_format, read_run_file
from hesuan.domain.errors import InvalidInput
from hesuan.services.lab_ports import (
    InstrumentRun,
    RunFileFormat,
    TargetReading,
    WellReading,
    WellRole,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "interop" / "allotropy"
QS_TXT = "appbio_quantstudio_example02.txt"
QS_XLSX = "appbio_quantstudio_designandanalysis_QS7Pro_Presence_and_Absence_example10.xlsx"
CFX_CSV = "example01.csv"


def _bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture(scope="module")
def quantstudio_txt() -> InstrumentRun:
    return read_run_file(QS_TXT, _bytes(QS_TXT))


@pytest.fixture(scope="module")
def quantstudio_xlsx() -> InstrumentRun:
    pytest.importorskip("allotropy")
    return read_run_file(QS_XLSX, _bytes(QS_XLSX))


@pytest.fixture(scope="module")
def cfx_csv() -> InstrumentRun:
    return read_run_file(CFX_CSV, _bytes(CFX_CSV))


def _well(run: InstrumentRun, well: str) -> WellReading:
    found = run.well(well)
    assert found is not None, well
    return found


def _target(well: WellReading, name: str) -> TargetReading:
    found = well.target(name)
    assert found is not None, (well.well, name)
    return found


def _refused(name: str, data: bytes) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        read_run_file(name, data)
    assert caught.value.field == "file"
    return caught.value


# -- the three real files ------------------------------------------------------------------

def test_quantstudio_text_export(quantstudio_txt: InstrumentRun) -> None:
    run = quantstudio_txt
    assert run.format is RunFileFormat.QUANTSTUDIO_TXT
    assert (run.vendor, run.instrument, run.instrument_serial) == (
        "Applied Biosystems", "QuantStudio(TM) 6 Flex System", "278880034")
    assert run.run_name == "QuantStudio 96-Well Presence-Absence Example"
    assert run.run_id is None  # "Experiment Barcode = NA"
    assert run.plate_size == 96  # "Block Type = 96-Well Block (0.2mL)"
    assert len(run.wells) == 48  # A1 … D12
    assert [w.well for w in run.wells[:3]] == ["A1", "A2", "A3"]
    assert run.wells[-1].well == "D12"
    assert run.file_name == QS_TXT

    nac = _well(run, "A1")  # no-amplification control: TGFb as NTC, the IPC blocked
    assert (nac.sample, nac.role, nac.omitted) == ("NAC", WellRole.NTC, False)
    tgfb, ipc = _target(nac, "TGFb"), _target(nac, "IPC")
    assert (tgfb.dye, tgfb.ct, tgfb.call, tgfb.role, tgfb.stated_role) == (
        "FAM", None, "Negative Control", WellRole.NTC, "NTC")
    assert (ipc.dye, ipc.ct, ipc.role, ipc.stated_role) == (
        "VIC", None, WellRole.BLOCKED_INTERNAL_CONTROL, "BlockedIPC")
    assert {w.well for w in run.wells if w.role is WellRole.NTC} == {"A1", "B1", "C1", "D1"}

    negative = _well(run, "A2")  # "(-)": TGFb undetermined, the IPC amplified at 32.874
    assert (negative.sample, negative.role) == ("(-)", WellRole.SAMPLE)
    tgfb = _target(negative, "TGFb")
    assert (tgfb.ct, tgfb.call) == (None, "Unconfirmed")  # CT "Undetermined"
    ipc = _target(negative, "VIC")  # a target is found by its dye too
    assert (ipc.target, ipc.ct, ipc.call, ipc.role) == (
        "IPC", 32.874, "IPC Failed", WellRole.INTERNAL_CONTROL)

    positive = _well(run, "D12")
    assert positive.sample == "(+)"
    assert [(t.target, t.ct, t.call) for t in positive.targets] == [
        ("IPC", 38.474, "IPC Failed"), ("TGFb", 27.989, "Presence")]


def test_quantstudio_design_and_analysis_workbook(quantstudio_xlsx: InstrumentRun) -> None:
    run = quantstudio_xlsx
    assert run.format is RunFileFormat.QUANTSTUDIO_XLSX
    assert (run.vendor, run.instrument, run.instrument_serial, run.software) == (
        "Applied Biosystems", "QuantStudio™ 7 Pro System", "2778719020015",
        "Design & Analysis Software v2.7.0")
    assert run.run_name == "QS7Pro_Presence_and_Absence"  # the .eds file it was exported from
    assert run.plate_size == 96
    assert len(run.wells) == 84  # column 6 and C1 … F1 are empty
    assert run.well("A6") is None and run.well("C1") is None

    nac = _well(run, "A1")
    assert (nac.sample, nac.role) == ("NAC", WellRole.NTC)
    assert [(t.target, t.dye, t.ct, t.call, t.stated_role) for t in nac.targets] == [
        ("Xeno", "FAM", None, "Absence", "NTC"),
        ("Blocked IPC", "VIC", None, "Absence", "BLOCKED_IPC")]
    ntc = _well(run, "G1")  # an NTC whose internal control amplified
    assert (ntc.sample, ntc.role) == ("NTC", WellRole.NTC)
    ipc = _target(ntc, "IPC")
    assert (ipc.ct, ipc.call, ipc.role) == (
        28.31056730653707, "Presence", WellRole.INTERNAL_CONTROL)
    assert {w.well for w in run.wells if w.role is WellRole.NTC} == {"A1", "B1", "G1", "H1"}

    negative = _well(run, "A2")
    assert (negative.sample, negative.role) == ("Negative 1", WellRole.SAMPLE)
    xeno = _target(negative, "Xeno")
    assert (xeno.ct, xeno.call) == (None, "Absence")  # Cq "UNDETERMINED"
    positive = _well(run, "H12")
    assert positive.sample == "Positive 16"
    xeno = _target(positive, "Xeno")
    assert (xeno.ct, xeno.call, xeno.role) == (
        30.167251766963822, "Presence", WellRole.SAMPLE)


def test_cfx_maestro_cq_results(cfx_csv: InstrumentRun) -> None:
    run = cfx_csv
    assert run.format is RunFileFormat.CFX_CSV
    assert (run.vendor, run.instrument, run.software, run.run_name) == (
        "Bio-Rad", None, None, None)
    assert run.plate_size == 96  # not stated: the smallest plate that holds A01 … D06
    assert [w.well for w in run.wells] == [f"{r}{c}" for r in "ABCD" for c in range(1, 7)]

    first = _well(run, "A1")  # "A01" in the file
    assert (first.sample, first.role) == ("M3905 R Ctx", WellRole.SAMPLE)
    assert [(t.target, t.dye, t.ct, t.call, t.stated_role) for t in first.targets] == [
        ("FAM", "FAM", 21.1877528266099, None, "Unkn"),
        ("VIC", "VIC", 21.1590717001335, None, "Unkn")]
    last = _well(run, "D6")
    assert last.sample == "M4354 R Ctx"
    assert _target(last, "FAM").ct == 27.0307721035204


@pytest.mark.parametrize("name", [QS_TXT, QS_XLSX, CFX_CSV])
def test_the_run_carries_the_hash_of_the_file(name: str, quantstudio_txt: InstrumentRun,
                                              quantstudio_xlsx: InstrumentRun,
                                              cfx_csv: InstrumentRun) -> None:
    run = {QS_TXT: quantstudio_txt, QS_XLSX: quantstudio_xlsx, CFX_CSV: cfx_csv}[name]
    assert run.sha256 == hashlib.sha256(_bytes(name)).hexdigest()
    assert len({quantstudio_txt.sha256, quantstudio_xlsx.sha256, cfx_csv.sha256}) == 3


def test_the_format_is_told_by_the_content_not_the_name() -> None:
    assert detect_format("plate.csv", _bytes(QS_TXT)) is RunFileFormat.QUANTSTUDIO_TXT
    assert detect_format("plate.txt", _bytes(CFX_CSV)) is RunFileFormat.CFX_CSV
    assert detect_format("plate", _bytes(QS_XLSX)) is RunFileFormat.QUANTSTUDIO_XLSX


# -- what a lab's own plates add to the real layouts ------------------------------------------

def _cfx_lines() -> list[str]:
    return _bytes(CFX_CSV).decode().splitlines()


def test_cfx_controls_and_a_barcode_of_digits() -> None:
    """A CFX plate as a COVID lab runs it: a tube barcode of digits in A01, an NTC without a
    sample name or a Cq in D05, controls by Content; the barcode comes back as written."""
    lines = _cfx_lines()
    out = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        if cells[1] in ("A01", "A02"):
            cells[5] = "0000001000"  # the Sample column
        if cells[1] == "D05":
            cells[4], cells[5], cells[7] = "NTC", "", "NaN"
        if cells[1] == "D06":
            cells[4] = "Pos Ctrl"
        if cells[1] == "C06":
            cells[4] = "Neg Ctrl"
        if cells[1] == "C05":
            cells[4] = "Unkn-01"  # a replicate number after the content
        out.append(",".join(cells))
    run = read_run_file("cq.csv", "\n".join(out).encode())
    assert _well(run, "A1").sample == _well(run, "A2").sample == "0000001000"
    ntc = _well(run, "D5")
    assert (ntc.sample, ntc.role) == (None, WellRole.NTC)
    assert [t.ct for t in ntc.targets] == [None, None]
    assert _well(run, "D6").role is WellRole.POSITIVE_CONTROL
    assert _well(run, "C6").role is WellRole.NEGATIVE_CONTROL
    assert _well(run, "C5").role is WellRole.SAMPLE
    assert len(run.wells) == 24


def test_a_well_past_h12_makes_the_plate_384() -> None:
    lines = _cfx_lines()
    lines[1] = lines[1].replace(",A01,", ",P24,", 1)
    run = read_run_file("cq.csv", "\n".join(lines).encode())
    assert run.plate_size == 384
    assert run.wells[-1].well == "P24" and len(run.wells[-1].targets) == 1


def test_a_gb18030_quantstudio_export_keeps_chinese_sample_names() -> None:
    text = _bytes(QS_TXT).decode().replace("\t(-)\t", "\t阴性对照\t")
    run = read_run_file("run.txt", text.encode("gb18030"))
    assert _well(run, "A2").sample == "阴性对照"


def test_a_big5_quantstudio_export_is_refused_not_read_as_gb18030() -> None:
    """A lab's Windows in Hong Kong saves its export in Big5: read as GB18030 (which decodes it
    without an error) its Traditional sample names came out as other characters. Refused, as
    the people tables refuse Big5 (``adapters.text_encodings``), saying to save it as UTF-8."""
    text = _bytes(QS_TXT).decode().replace("\t(-)\t", "\t陰性對照\t")
    error = _refused("run.txt", text.encode("cp950"))
    assert "Big5" in error.message, error


# -- files that are refused --------------------------------------------------------------------

def test_a_quantstudio_export_cut_short_is_unreadable() -> None:
    data = _bytes(QS_TXT)
    cut = data[: data.rindex(b"\tPresence\t")]  # the last row stops before its CT
    error = _refused(QS_TXT, cut)
    assert error.code == "unreadable_instrument_file"
    assert "cut short" in error.message

    setup_only = data[: data.index(b"[Raw Data]")]
    assert _refused(QS_TXT, setup_only).code == "unreadable_instrument_file"


@pytest.mark.parametrize("name", [QS_TXT, CFX_CSV])
def test_a_text_export_cut_anywhere_is_read_or_refused_never_a_crash(name: str) -> None:
    data = _bytes(name)
    whole = read_run_file(name, data)
    for cut in range(1, len(data), len(data) // 40):
        try:
            run = read_run_file(name, data[:cut])
        except InvalidInput as e:
            assert e.code in ("unknown_instrument_file", "unreadable_instrument_file")
        else:  # cut at a line's end: every reading is the whole file's, unchanged
            for well in run.wells:
                assert set(well.targets) <= set(_well(whole, well.well).targets)


def test_a_workbook_cut_short_is_unreadable() -> None:
    data = _bytes(QS_XLSX)
    error = _refused(QS_XLSX, data[: len(data) // 2])
    assert error.code == "unreadable_instrument_file"
    assert _refused("run.xlsx", b"not a workbook at all").code == "unreadable_instrument_file"


def test_a_ct_that_is_not_a_number_is_unreadable() -> None:
    lines = _cfx_lines()
    lines[3] = lines[3].replace("22.5194977976743", "22.5x", 1)
    error = _refused("cq.csv", "\n".join(lines).encode())
    assert error.code == "unreadable_instrument_file"
    assert "line 4" in error.message and "'22.5x'" in error.message


def test_a_well_that_names_two_samples_is_unreadable() -> None:
    lines = _cfx_lines()
    lines[25] = lines[25].replace("M3905 R Ctx", "M9999", 1)  # A01's VIC row
    error = _refused("cq.csv", "\n".join(lines).encode())
    assert error.code == "unreadable_instrument_file"
    assert "M9999" in error.message and "A1" in error.message


@pytest.mark.parametrize("name, data", [
    ("results.csv", b"barcode,result,ct\nT0001,negative,\nT0002,positive,31.2\n"),
    ("plate.csv", b"Well,Sample,Ct\nA1,T0001,31.2\n"),
    ("run.txt", b"just some notes\nabout a run\n"),
    ("run.bin", bytes(range(256)) * 4),
    ("empty.csv", b""),
    ("archive.zip", b"PK\x03\x04" + b"\x00" * 40),
])
def test_other_files_are_unknown(name: str, data: bytes) -> None:
    error = _refused(name, data)
    assert error.code in ("unknown_instrument_file", "unreadable_instrument_file")
    if name.endswith(".csv"):
        assert error.code == "unknown_instrument_file"
        assert "CFX" in error.message


def test_a_workbook_without_the_lab_extra_is_refused_in_words(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for module in [m for m in sys.modules if m == "allotropy" or m.startswith("allotropy.")]:
        monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.setitem(sys.modules, "allotropy", None)
    error = _refused(QS_XLSX, _bytes(QS_XLSX))
    assert error.code == "lab_extra_missing"
    assert "lab extra" in error.message
    # the text exports do not need it
    assert len(read_run_file(QS_TXT, _bytes(QS_TXT)).wells) == 48
