"""Text that a spreadsheet program would run as a formula (CSV and formula injection).

Excel, LibreOffice and Google Sheets read a cell that starts with ``=``, ``+``, ``-`` or ``@``
(or a tab or carriage return before one) as a formula, also in a CSV file, where a formula can
open links or run commands. A file the platform writes with text that came from people —
names, addresses, barcodes from a lab's file, error messages that quote them — writes such a
cell with a leading single quote, as the OWASP guidance on CSV injection says: the program shows
the text and computes nothing. (Excel workbooks type their cells instead: ``services.rosters``.)

Imports: standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["FORMULA_LEADS", "as_text_cell", "as_text_row"]

#: First characters that make a spreadsheet cell a formula.
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def as_text_cell(value: object) -> object:
    """``value``, with a leading ``'`` when it is text a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_LEADS):
        return "'" + value
    return value


def as_text_row(values: Iterable[object]) -> list[object]:
    return [as_text_cell(v) for v in values]
