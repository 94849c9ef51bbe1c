"""The results table of an export as a format's reader hands it on, before it is typed: the
file's header (``key → value``), the results rows (column → cell, the file's own column names),
and the calls an export keeps on another sheet. Also the two errors every reader raises.

Imports: standard library, ``hesuan.domain``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hesuan.domain.errors import InvalidInput

__all__ = [
    "Cell",
    "ExportRow",
    "ExportTable",
    "cell_text",
    "unknown_file",
    "unreadable_file",
    "where",
]

#: A cell as a reader hands it on: text from a text export; text, a number or a truth value
#: from a workbook.
Cell = str | float | int | bool | None


@dataclass(frozen=True, slots=True)
class ExportRow:
    line: int
    """The row's line in a text file, or its row in the sheet (1-based)."""
    cells: dict[str, Cell]
    complete: bool = True
    """The row has a field for every column (a row cut short is a file cut short)."""


@dataclass(slots=True)
class ExportTable:
    header: dict[str, str]
    """The file's header lines or cells (``Instrument Type``, ``Block Type``, …)."""
    columns: list[str]
    """The results table's column names, in the file's order."""
    rows: list[ExportRow]
    section: str
    """Where the rows are, in the words of the file (``the [Results] section``)."""
    row_at: str = "line {line} of the file"
    """How a row is named in a message: ``{line}`` is its ``line``."""
    calls: dict[tuple[str, str], str] = field(default_factory=dict)
    """Calls kept apart from the results rows, by (well as written, target)."""


def where(table: ExportTable, row: ExportRow) -> str:
    """The row, named for a person who opens the file."""
    return table.row_at.format(line=row.line)


def cell_text(value: object) -> str | None:
    """The cell as text, stripped; None when empty. A whole number a workbook stores as a float
    (a barcode typed as a number) is written without ``.0``."""
    if value is None:
        return None
    if type(value).__module__ == "numpy":  # a workbook reader's numpy scalar
        value = value.item()  # type: ignore[attr-defined]
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    text = str(value).strip()
    return text or None


def unknown_file(detail: str) -> InvalidInput:
    return InvalidInput(
        f"this is not an instrument export the platform reads: {detail}. Export the run from "
        "QuantStudio (the results .txt, or the Design & Analysis .xlsx) or from Bio-Rad CFX "
        "Maestro (Cq Results .csv)",
        code="unknown_instrument_file", field="file")


def unreadable_file(detail: str) -> InvalidInput:
    return InvalidInput(f"the instrument file cannot be read: {detail}",
                        code="unreadable_instrument_file", field="file")
