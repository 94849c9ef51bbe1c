"""The QuantStudio Design & Analysis Software workbook (.xlsx), read by allotropy's reader.

Benchling's allotropy (the ``lab`` extra) reads the workbook's sheets as its QuantStudio Design &
Analysis parser does: each sheet's header cells (``Instrument Type``, ``Block Type``, …) and its
table. The ``Results`` sheet (``Primary_result`` in some versions) holds a row per well and
target; the ``Target Call`` sheet, when there is one, the software's call per well and target.
Workbook cells keep their type, so a sample name typed as text stays the text it was.

allotropy's own output (the Allotrope Simple Model) is not used: it states an NTC, a positive
control and an internal control all as one "control sample role".

Imports: ``allotropy`` (when a workbook is read), standard library, ``hesuan.domain``.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from hesuan.adapters.instruments.tables import (
    Cell,
    ExportRow,
    ExportTable,
    cell_text,
    unreadable_file,
)
from hesuan.domain.errors import InvalidInput

__all__ = ["read_quantstudio_workbook"]

RESULTS_SHEET = "Results"
CALLS_SHEET = "Target Call"


def _reader(data: bytes) -> Any:
    try:
        from allotropy.named_file_contents import NamedFileContents
        from allotropy.parsers.appbio_quantstudio_designandanalysis import (
            appbio_quantstudio_designandanalysis_reader as design,
        )
    except ImportError as e:
        raise InvalidInput(
            "instrument files need the lab extra: QuantStudio Design & Analysis workbooks are "
            "read with allotropy, which this server does not have (install hesuan[lab])",
            code="lab_extra_missing", field="file") from e
    try:
        return design.DesignQuantstudioReader.create(
            NamedFileContents(BytesIO(data), "run.xlsx"))
    except Exception as e:  # the parser's own errors, and pandas' and the zip reader's
        raise unreadable_file(
            "its Results sheet is not laid out as QuantStudio Design & Analysis writes it "
            "(the run's details, a blank row, then the table), or the workbook is damaged") from e


def _rows(frame: Any) -> tuple[list[str], list[ExportRow]]:
    columns = [str(c) for c in frame.columns]
    rows = []
    for index, values in zip(frame.index, frame.itertuples(index=False, name=None), strict=True):
        cells: dict[str, Cell] = {}
        for column, value in zip(columns, values, strict=True):
            if column and column not in ("None", "nan"):
                cells[column] = _cell(value)
        line = int(index) + 1 if isinstance(index, int) or hasattr(index, "item") else 0
        rows.append(ExportRow(line, cells))
    return [c for c in columns if c and c not in ("None", "nan")], rows


def _cell(value: object) -> Cell:
    if isinstance(value, str | bool | int | float) or value is None:
        return value
    return cell_text(value)


def read_quantstudio_workbook(data: bytes) -> ExportTable:
    reader = _reader(data)
    header = {str(k).strip(): text for k, v in reader.header.series.items()
              if (text := cell_text(v)) is not None}
    results = reader.get_non_empty_sheet_or_none(RESULTS_SHEET)
    if results is None:
        raise unreadable_file("the workbook's Results sheet is empty")
    columns, rows = _rows(results)
    table = ExportTable(header, columns, rows, "the Results sheet",
                        row_at="row {line} of the Results sheet")
    calls = reader.get_non_empty_sheet_or_none(CALLS_SHEET)
    if calls is not None and "Call" not in columns:
        _, call_rows = _rows(calls)
        for r in call_rows:
            well, target, call = (cell_text(r.cells.get(k)) for k in ("Well", "Target", "Call"))
            if well and target and call:
                table.calls[(well, target)] = call
    return table
