"""The tables people upload and the files the platform writes for spreadsheets: the columns a
kind of table has, and each row's number as a spreadsheet shows it; and text that a spreadsheet
program would run as a formula (CSV and formula injection).

A table's header must name every column its kind requires and no column it does not know: a
misspelt ``mobile`` for ``phone`` would otherwise import everyone without a phone, silently.

Excel, LibreOffice and Google Sheets read a cell that starts with ``=``, ``+``, ``-`` or ``@``
(or a tab or carriage return before one) as a formula, also in a CSV file, where a formula can
open links or run commands. A file the platform writes with text that came from people —
names, addresses, barcodes from a lab's file, error messages that quote them — writes such a
cell with a leading single quote, as the OWASP guidance on CSV injection says: the program shows
the text and computes nothing. (Excel workbooks type their cells instead: ``services.rosters``.)

Imports: standard library, ``hesuan.domain``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hesuan.domain.errors import InvalidInput

__all__ = ["FORMULA_LEADS", "ROW_NUMBER", "Columns", "as_text_cell", "as_text_row"]

#: The key under which a reader gives a row its number as a spreadsheet shows it (the header
#: is row 1; blank rows count).
ROW_NUMBER = "#row"


@dataclass(frozen=True, slots=True)
class Columns:
    """The columns of a kind of table: those it must have and those it may have."""

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()

    def check(self, header: Sequence[str]) -> None:
        """Refuse (``bad_header``, field ``file``) a header that lacks a required column or
        names one this kind of table does not have; blank header cells are no column."""
        named = [h for h in header if h]
        missing = [c for c in self.required if c not in named]
        unknown = [h for h in named if h not in self.required + self.optional]
        if not missing and not unknown:
            return
        said = ([f"it lacks {', '.join(missing)}"] if missing else []) + (
            [f"it has no column {', '.join(unknown)} here"] if unknown else [])
        raise InvalidInput(
            f"file: the header is not this table's: {'; '.join(said)} (the columns: "
            f"{', '.join(self.required)}, optionally {', '.join(self.optional)})",
            code="bad_header", field="file")

#: First characters that make a spreadsheet cell a formula.
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def as_text_cell(value: object) -> object:
    """``value``, with a leading ``'`` when it is text a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_LEADS):
        return "'" + value
    return value


def as_text_row(values: Iterable[object]) -> list[object]:
    return [as_text_cell(v) for v in values]
