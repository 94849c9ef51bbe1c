"""An instrument's export file → ``InstrumentRun``: which format it is, and its results table
typed.

The format is told by the content, never by the name alone: a workbook (a zip) with a
``Results`` sheet is QuantStudio Design & Analysis; text with ``* Key = Value`` header lines or
a ``[Results]`` section is a QuantStudio text export; a CSV with the columns ``Well``, ``Fluor``,
``Content`` and ``Cq`` is a CFX Maestro Cq results export. Anything else is
``unknown_instrument_file``; a file of a known format that cannot be read through (cut short,
damaged, a column missing, a Ct that is not a number) is ``unreadable_instrument_file``.

Columns read (the first of each list the file has):

=========  ======================================  ==================
reading    QuantStudio (.txt, .xlsx)               CFX Maestro (.csv)
=========  ======================================  ==================
well       Well Position, Well                     Well
sample     Sample Name, Sample                     Sample
target     Target Name, Target (else the dye)      Target (else Fluor)
role       Task                                    Content
dye        Reporter                                Fluor
Ct         CT, Ct, Cт, Cq, Crt                     Cq
call       Call (.xlsx: the Target Call sheet)     Call
omitted    Omit                                    —
=========  ======================================  ==================

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PureWindowsPath

from hesuan.adapters.instruments.quantstudio_workbook import read_quantstudio_workbook
from hesuan.adapters.instruments.tables import (
    Cell,
    ExportRow,
    ExportTable,
    cell_text,
    unknown_file,
    unreadable_file,
    where,
)
from hesuan.adapters.instruments.text_exports import (
    cfx_header_row,
    is_quantstudio_text,
    read_cfx_csv,
    read_quantstudio_text,
)
from hesuan.adapters.text_encodings import decode_text
from hesuan.domain.digits import is_digits
from hesuan.domain.errors import InvalidInput
from hesuan.domain.plates import PlateSize
from hesuan.services.lab_ports import (
    InstrumentRun,
    RunFileFormat,
    TargetReading,
    WellReading,
    WellRole,
)

__all__ = ["InstrumentFileReader", "detect_format", "read_run_file", "role_of"]

VENDORS = {
    RunFileFormat.QUANTSTUDIO_TXT: "Applied Biosystems",
    RunFileFormat.QUANTSTUDIO_XLSX: "Applied Biosystems",
    RunFileFormat.CFX_CSV: "Bio-Rad",
}
#: Cells that mean "no Ct": the instrument found no amplification.
NO_CT = frozenset({"undetermined", "nan", "n/a", "na", "no ct", "no cq", "-", "none"})
#: Header values that mean "not set".
NOT_SET = frozenset({"na", "n/a", "none", "-"})

_PLATE_SIZE = re.compile(r"(?<![0-9])(96|384)(?![0-9])")
_REPLICATE_SUFFIX = re.compile(r"-\d+$")
_SHEET_NAME = re.compile(rb"<sheet\b[^>]*\bname=\"([^\"]*)\"")


@dataclass(frozen=True, slots=True)
class _Columns:
    well: tuple[str, ...]
    sample: tuple[str, ...]
    target: tuple[str, ...]
    role: tuple[str, ...]
    dye: tuple[str, ...]
    ct: tuple[str, ...]
    call: tuple[str, ...]
    omit: tuple[str, ...]


_QUANTSTUDIO = _Columns(
    well=("Well Position", "Well"), sample=("Sample Name", "Sample"),
    target=("Target Name", "Target"), role=("Task",), dye=("Reporter",),
    ct=("CT", "Ct", "Cт", "CТ", "Cq", "CQ", "Crt", "CRT"), call=("Call",), omit=("Omit",))
_CFX = _Columns(
    well=("Well",), sample=("Sample",), target=("Target",), role=("Content",), dye=("Fluor",),
    ct=("Cq",), call=("Call",), omit=())
_COLUMNS = {RunFileFormat.QUANTSTUDIO_TXT: _QUANTSTUDIO,
            RunFileFormat.QUANTSTUDIO_XLSX: _QUANTSTUDIO,
            RunFileFormat.CFX_CSV: _CFX}

#: The instruments' words for a role (upper case, letters and digits only) → the role.
_ROLES = {
    "UNKNOWN": WellRole.SAMPLE, "UNKN": WellRole.SAMPLE, "SAMPLE": WellRole.SAMPLE,
    "NTC": WellRole.NTC, "NOTEMPLATECONTROL": WellRole.NTC,
    "POSITIVECONTROL": WellRole.POSITIVE_CONTROL, "POSCTRL": WellRole.POSITIVE_CONTROL,
    "POS": WellRole.POSITIVE_CONTROL, "PC": WellRole.POSITIVE_CONTROL,
    "NEGATIVECONTROL": WellRole.NEGATIVE_CONTROL, "NEGCTRL": WellRole.NEGATIVE_CONTROL,
    "NEG": WellRole.NEGATIVE_CONTROL, "NRT": WellRole.NEGATIVE_CONTROL,
    "IPC": WellRole.INTERNAL_CONTROL, "INTERNALCONTROL": WellRole.INTERNAL_CONTROL,
    "BLOCKEDIPC": WellRole.BLOCKED_INTERNAL_CONTROL,
    "STANDARD": WellRole.STANDARD, "STD": WellRole.STANDARD,
}
#: Which of its targets' roles names the well, in this order: a control before a sample.
_WELL_ROLE_ORDER = (WellRole.NTC, WellRole.POSITIVE_CONTROL, WellRole.NEGATIVE_CONTROL,
                    WellRole.STANDARD, WellRole.OTHER, WellRole.SAMPLE)


# -- the format ------------------------------------------------------------------------------

def _sheet_names(data: bytes) -> list[str] | None:
    """The workbook's sheet names; None when the zip is not a workbook."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            if "xl/workbook.xml" not in z.namelist():
                return None
            xml = z.read("xl/workbook.xml")
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, KeyError) as e:
        raise unreadable_file("the workbook is damaged or cut short (it is not a whole .xlsx "
                              "file)") from e
    return [m.decode("utf-8", "replace") for m in _SHEET_NAME.findall(xml)]


def detect_format(name: str, data: bytes) -> RunFileFormat:
    """The export's format, from its content; the name's extension only shapes the message."""
    extension = PureWindowsPath(name).suffix.lower()
    if not data.strip():
        raise unknown_file("the file is empty")
    if data.startswith(b"PK\x03\x04"):
        sheets = _sheet_names(data)
        if sheets is None:
            raise unknown_file("a zip archive that is not an Excel workbook")
        if "Results" in sheets or "Primary_result" in sheets:
            return RunFileFormat.QUANTSTUDIO_XLSX
        raise unknown_file("a workbook without the Results sheet of a QuantStudio export")
    if extension in (".xlsx", ".xlsm"):
        raise unreadable_file("the name says .xlsx but the content is not a workbook")
    text = decode_text(data)
    if text is None:
        raise unknown_file("neither a workbook nor text in UTF-8, UTF-16 or GB18030 (Big5 is "
                           "not read: save the export as UTF-8)")
    lines = text.splitlines()
    if is_quantstudio_text(lines):
        return RunFileFormat.QUANTSTUDIO_TXT
    try:
        if cfx_header_row(csv.reader(lines[:20])) is not None:
            return RunFileFormat.CFX_CSV
    except csv.Error:  # a line longer than any CSV field: not a CFX export
        pass
    if extension == ".csv":
        raise unknown_file("a CSV file without the columns Well, Fluor, Content and Cq of a "
                           "CFX Maestro Cq results export")
    raise unknown_file("text that is neither a QuantStudio results export nor a CFX Maestro "
                       "Cq results CSV")


def _table(fmt: RunFileFormat, data: bytes) -> ExportTable:
    if fmt is RunFileFormat.QUANTSTUDIO_XLSX:
        return read_quantstudio_workbook(data)
    text = decode_text(data) or ""
    if fmt is RunFileFormat.QUANTSTUDIO_TXT:
        return read_quantstudio_text(text)
    return read_cfx_csv(text)


# -- cells ------------------------------------------------------------------------------------

def _column(table: ExportTable, names: Sequence[str], required: str | None = None) -> str | None:
    """The first of ``names`` the table has (also with other capitals and spaces)."""
    for name in names:
        if name in table.columns:
            return name
    folded = {_fold(c): c for c in table.columns}
    for name in names:
        if (found := folded.get(_fold(name))) is not None:
            return found
    if required is not None:
        raise unreadable_file(f"{table.section} has no {required} column "
                              f"({' or '.join(repr(n) for n in names)})")
    return None


def _fold(name: str) -> str:
    return re.sub(r"\s+", " ", name).strip().lower().replace("т", "t")


def _normalised_well(text: str) -> str | None:
    """``A01`` / ``a1`` → ``A1`` (any well up to P24); None when it is not a well's name."""
    try:
        return PlateSize.WELLS_384.well(text)
    except InvalidInput:
        return None


def _well(value: Cell, plate_size: PlateSize | None, at: str) -> str:
    text = cell_text(value)
    if text is None:
        raise unreadable_file(f"{at} has no well")
    if (well := _normalised_well(text)) is not None:
        return well
    if is_digits(text) and plate_size is not None and 1 <= int(text) <= plate_size:
        return plate_size.well_at(int(text))  # a well's number, counted along rows
    raise unreadable_file(f"{at} names the well {text!r}, which is not a plate well")


def _ct(value: Cell, at: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise unreadable_file(f"{at} has a truth value where its Ct should be")
    if isinstance(value, int | float):
        ct = float(value)
    else:
        text = value.strip()
        if text.lower() in NO_CT or not text:
            return None
        try:
            ct = float(text)
        except ValueError:
            raise unreadable_file(f"{at} has the Ct {text!r}, which is not a number") from None
    if math.isnan(ct):
        return None
    if not math.isfinite(ct) or ct < 0:
        raise unreadable_file(f"{at} has the Ct {ct!r}, which no instrument writes")
    return ct


def role_of(stated: str | None) -> WellRole:
    """The role an instrument's task or content names; a target with none stated is a sample
    (the instruments' default task)."""
    if stated is None:
        return WellRole.SAMPLE
    key = re.sub(r"[^A-Z0-9]", "", _REPLICATE_SUFFIX.sub("", stated.strip()).upper())
    if key in _ROLES:
        return _ROLES[key]
    if key.startswith(("POSITIVE", "PCALLELE")):
        return WellRole.POSITIVE_CONTROL
    if key.startswith("NEGATIVE"):
        return WellRole.NEGATIVE_CONTROL
    return WellRole.OTHER


def _well_role(targets: Sequence[TargetReading]) -> WellRole:
    roles = {t.role for t in targets}
    for role in _WELL_ROLE_ORDER:
        if role in roles:
            return role
    if WellRole.BLOCKED_INTERNAL_CONTROL in roles:
        return WellRole.BLOCKED_INTERNAL_CONTROL
    return WellRole.INTERNAL_CONTROL


def _truth(value: Cell) -> bool:
    return cell_text(value) in ("TRUE", "True", "true", "YES", "Yes", "yes", "Y", "1")


# -- the run -------------------------------------------------------------------------------

def _stated(header: dict[str, str], *keys: str) -> str | None:
    for key in keys:
        value = header.get(key)
        if value is not None and value.strip() and value.strip().lower() not in NOT_SET:
            return value.strip()
    return None


def _stated_plate_size(header: dict[str, str]) -> PlateSize | None:
    block = _stated(header, "Block Type", "Plate Type")
    m = _PLATE_SIZE.search(block or "")
    return PlateSize(int(m.group(1))) if m else None


def _plate_size(stated: PlateSize | None, wells: Sequence[str]) -> PlateSize:
    def fits(size: PlateSize, well: str) -> bool:
        return well[0] in size.rows and int(well[1:]) <= size.columns

    if stated is not None:
        outside = [w for w in wells if not fits(stated, w)]
        if outside:
            raise unreadable_file(f"the file states a {int(stated)}-well block but has the "
                                  f"well {outside[0]}")
        return stated
    if all(fits(PlateSize.WELLS_96, w) for w in wells):
        return PlateSize.WELLS_96
    return PlateSize.WELLS_384


@dataclass(slots=True)
class _Well:
    sample: str | None
    omitted: bool
    targets: list[TargetReading]


def _wells(fmt: RunFileFormat, table: ExportTable,
           plate_size: PlateSize | None) -> dict[str, _Well]:
    cols = _COLUMNS[fmt]
    well_col = _column(table, cols.well, required="well")
    sample_col = _column(table, cols.sample)
    target_col = _column(table, cols.target)
    role_col = _column(table, cols.role)
    dye_col = _column(table, cols.dye)
    ct_col = _column(table, cols.ct, required="Ct")
    call_col = _column(table, cols.call)
    omit_col = _column(table, cols.omit)
    calls = {(_normalised_well(w) or w, t): c for (w, t), c in table.calls.items()}

    def get(row: ExportRow, column: str | None) -> Cell:
        return row.cells.get(column) if column is not None else None

    wells: dict[str, _Well] = {}
    for row in table.rows:
        at = where(table, row)
        if not row.complete:
            raise unreadable_file(f"{at} is cut short: it has fewer fields than the table's "
                                  "header (the file may not have been copied whole)")
        sample, target, stated_role, dye = (
            cell_text(get(row, c)) for c in (sample_col, target_col, role_col, dye_col))
        ct_cell = get(row, ct_col)
        if all(v is None for v in (sample, target, stated_role, dye, cell_text(ct_cell))):
            continue  # an empty well (or row): the file lists it with nothing in it
        well = _well(get(row, well_col), plate_size, at)
        name = target or dye
        if name is None:
            raise unreadable_file(f"{at} names neither a target nor a dye")
        call = cell_text(get(row, call_col)) or calls.get((well, name))
        reading = TargetReading(target=name, dye=dye, ct=_ct(ct_cell, at), call=call,
                                role=role_of(stated_role), stated_role=stated_role)
        entry = wells.setdefault(well, _Well(sample, False, []))
        if sample is not None and entry.sample not in (None, sample):
            raise unreadable_file(f"{at} names the sample {sample!r} in well {well}, which "
                                  f"holds {entry.sample!r}")
        entry.sample = entry.sample or sample
        entry.omitted = entry.omitted or _truth(get(row, omit_col))
        if any(t.target == name for t in entry.targets):
            raise unreadable_file(f"{at} gives well {well} the target {name} a second time")
        entry.targets.append(reading)
    if not wells:
        raise unreadable_file(f"{table.section} has no wells")
    return wells


def _plate_order(well: str) -> tuple[int, int]:
    return ord(well[0]), int(well[1:])


def _run_name(header: dict[str, str]) -> str | None:
    """The experiment's name, or else the stem of its run file (``….eds``)."""
    if (name := _stated(header, "Experiment Name")) is not None:
        return name
    path = _stated(header, "Experiment File Name", "File Name")
    return (PureWindowsPath(path).stem or None) if path is not None else None


def read_run_file(name: str, data: bytes) -> InstrumentRun:
    """The run in an instrument's export file. ``InvalidInput``: ``unknown_instrument_file``
    (not an export this reads), ``unreadable_instrument_file`` (an export that cannot be read
    through), ``lab_extra_missing`` (a workbook, on a server without allotropy)."""
    fmt = detect_format(name, data)
    try:
        table = _table(fmt, data)
        stated_size = _stated_plate_size(table.header)
        wells = _wells(fmt, table, stated_size)
        plate_size = _plate_size(stated_size, list(wells))
    except InvalidInput:
        raise
    except Exception as e:  # a file no rule above foresaw answers as unreadable, not a crash
        raise unreadable_file("its content does not follow the export's layout") from e
    header = table.header
    return InstrumentRun(
        format=fmt,
        vendor=VENDORS[fmt],
        instrument=_stated(header, "Instrument Type"),
        instrument_serial=_stated(header, "Instrument Serial Number"),
        software=_stated(header, "Software Name and Version", "Software Version"),
        run_id=_stated(header, "Experiment Barcode", "Barcode"),
        run_name=_run_name(header),
        plate_size=plate_size,
        file_name=PureWindowsPath(name).name,
        sha256=hashlib.sha256(data).hexdigest(),
        wells=tuple(WellReading(well=w, sample=e.sample, role=_well_role(e.targets),
                                omitted=e.omitted, targets=tuple(e.targets))
                    for w, e in sorted(wells.items(), key=lambda item: _plate_order(item[0]))),
    )


class InstrumentFileReader:
    """The ``InstrumentReader`` port."""

    def read_run_file(self, name: str, data: bytes) -> InstrumentRun:
        return read_run_file(name, data)
