"""Readers of the two text exports, from their documented layouts, every cell kept as text.

* QuantStudio Real-Time PCR Software "Export → Results" text file: header lines
  ``* Key = Value``, then sections, each a ``[Title]`` line, a tab-separated table with a header
  row, and a blank line (``[Sample Setup]``, ``[Amplification Data]``, ``[Results]``, …).
* Bio-Rad CFX Maestro "Cq Results" CSV: comma-separated, one row per well and fluor, columns
  ``Well``, ``Fluor``, ``Target``, ``Content``, ``Sample``, ``Cq`` among others.

They are read here rather than by allotropy's readers because those type the cells as pandas
infers them, and a sample name of digits (a tube's barcode) comes back as a number:
``0000001000`` becomes ``1000.0``. The sample name is what maps a well to its tube, so it is kept
exactly as written.

Imports: standard library, ``hesuan.domain``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable

from hesuan.adapters.instruments.tables import (
    Cell,
    ExportRow,
    ExportTable,
    unknown_file,
    unreadable_file,
)

__all__ = [
    "cfx_header_row",
    "is_quantstudio_text",
    "read_cfx_csv",
    "read_quantstudio_text",
]

#: The columns that make a CSV a CFX Maestro Cq results export.
CFX_COLUMNS = ("Well", "Fluor", "Content", "Cq")
#: How many lines a CFX export may have above its table's header row.
_CFX_HEADER_SEARCH = 20
_SECTION = re.compile(r"^\[([^\]]+)\]\s*$")
_HEADER_LINE = re.compile(r"^\*\s*([^=]+?)\s*=\s*(.*?)\s*$")


# -- QuantStudio text export ----------------------------------------------------------------

def is_quantstudio_text(lines: list[str]) -> bool:
    """Header lines ``* Key = Value`` at the top, or one of the export's section titles."""
    head = [line for line in lines[:60] if line.strip()]
    starred = sum(1 for line in head[:10] if _HEADER_LINE.match(line))
    sections = {m.group(1) for line in lines if (m := _SECTION.match(line))}
    return starred >= 3 or bool(sections & {"Results", "Sample Setup", "Amplification Data"})


Section = tuple[list[str], list[ExportRow]]


def _quantstudio_sections(lines: list[str]) -> tuple[dict[str, str], dict[str, Section]]:
    """The header lines before the first section, and each section's table."""
    header: dict[str, str] = {}
    sections: dict[str, Section] = {}
    title: str | None = None
    table: list[tuple[int, str]] = []

    def close() -> None:
        if title is not None and title not in sections:
            sections[title] = _tab_table(table, f"the [{title}] section")

    for number, line in enumerate(lines, start=1):
        if m := _SECTION.match(line):
            close()
            title, table = m.group(1).strip(), []
        elif title is None:
            if not sections and (h := _HEADER_LINE.match(line)):
                header[h.group(1)] = h.group(2)
        elif not line.strip():
            # A table ends at its first blank line; the lines after it up to the next section
            # (the results' analysis settings) are not table rows.
            if table:
                close()
                title = None
        else:
            table.append((number, line))
    close()
    return header, sections


def _tab_table(lines: list[tuple[int, str]], where: str) -> Section:
    """A tab-separated table whose first line names the columns, every cell as text."""
    if not lines:
        return [], []
    parsed = list(csv.reader((text for _, text in lines), delimiter="\t"))
    if len(parsed) != len(lines):  # a quote that is opened and never closed joins lines
        raise unreadable_file(f"{where} has a quote that is never closed")
    columns = [c.strip() for c in parsed[0]]
    numbered = zip((n for n, _ in lines[1:]), parsed[1:], strict=True)
    return columns, [_row(number, columns, values, where) for number, values in numbered]


def _row(number: int, columns: list[str], values: list[str], where: str) -> ExportRow:
    if len(values) > len(columns) and any(v.strip() for v in values[len(columns):]):
        raise unreadable_file(f"line {number} of {where} has more fields than its header")
    cells: dict[str, Cell] = dict.fromkeys((c for c in columns if c), None)
    for column, value in zip(columns, values, strict=False):
        if column:
            cells[column] = value.strip() or None
    return ExportRow(number, cells, complete=len(values) >= len(columns))


def read_quantstudio_text(text: str) -> ExportTable:
    header, sections = _quantstudio_sections(text.splitlines())
    columns, rows = sections.get("Results", ([], []))
    if not rows:
        raise unreadable_file(
            "it has no [Results] table: export the run's results (analysed) from QuantStudio, "
            "not only its setup")
    columns = [c for c in columns if c]
    setup_columns, setup = sections.get("Sample Setup", ([], []))
    if "Task" not in columns and "Task" in setup_columns:
        # An export that keeps the task only in the sample setup: take it from there.
        tasks = {_setup_key(r): r.cells.get("Task") for r in setup}
        columns.append("Task")
        for r in rows:
            r.cells["Task"] = tasks.get(_setup_key(r))
    return ExportTable(header, columns, rows, "the [Results] section",
                       row_at="line {line} of the file (in its [Results] section)")


def _setup_key(row: ExportRow) -> tuple[Cell, Cell]:
    return row.cells.get("Well Position") or row.cells.get("Well"), row.cells.get("Target Name")


# -- CFX Maestro Cq results CSV ------------------------------------------------------------

def cfx_header_row(rows: Iterable[list[str]]) -> int | None:
    """The index of the CFX table's header row among the first rows, or None."""
    for index, row in enumerate(rows):
        if index >= _CFX_HEADER_SEARCH:
            break
        names = {c.strip() for c in row}
        if all(c in names for c in CFX_COLUMNS):
            return index
    return None


def read_cfx_csv(text: str) -> ExportTable:
    lines = text.splitlines()
    parsed = list(csv.reader(lines))
    if len(parsed) != len(lines):  # a quote that is opened and never closed joins lines
        raise unreadable_file("the file has a quote that is never closed")
    start = cfx_header_row(parsed)
    if start is None:
        raise unknown_file("a CSV file without the columns " + ", ".join(CFX_COLUMNS))
    columns = [c.strip() for c in parsed[start]]
    rows = [_row(number, columns, values, "the file")
            for number, values in enumerate(parsed[start + 1:], start=start + 2)
            if any(v.strip() for v in values)]
    return ExportTable({}, [c for c in columns if c], rows, "the file")
