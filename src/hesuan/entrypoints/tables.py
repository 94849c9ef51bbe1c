"""Readers for the tables people upload, for every entry point (the CLI's files, the API's and
the web's uploads): CSV and Excel (.xlsx, read-only mode so a million-row sheet is never held
in memory); each row numbered as a spreadsheet shows it, the header checked against the
table's columns.

A CSV file may come in any encoding a district office's Excel saves, decided by
``adapters.text_encodings`` (UTF-8 with or without a byte-order mark, GB18030 and GBK, UTF-16
with a byte-order mark: Excel's "Unicode text", tab-separated; Big5 refused, as GB18030 would
read it into other characters) in one pass over the file before the first row is read; a file
that none of them decodes, or that holds NUL characters, is one file-level error
(``InvalidInput`` on the field ``file``), before anything is stored. The delimiter is a comma,
or a tab when the header has more tabs than commas.

A row whose shape is wrong is yielded with its problems under ``ROW_PROBLEMS``: a row with more
or fewer fields than the header, and a row that runs over several lines in a way no export
writes (a line break in any field but ``address``, or a continuation line that holds a whole
row's delimiters) — the sign of a quote that was opened and not closed, which swallows the lines
after it.

Imports: ``openpyxl`` (when a sheet is read), the standard library, ``hesuan.adapters``,
``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from hesuan.adapters.text_encodings import HEAD_BYTES, candidates, looks_like_big5
from hesuan.domain.errors import InvalidInput
from hesuan.domain.spreadsheets import ROW_NUMBER, Columns
from hesuan.services.people import ROW_PROBLEMS

__all__ = ["count_rows", "detect_encoding", "read_csv_text", "read_table"]

_CHUNK = 1 << 20
#: The one field where a line break is expected (Alt+Enter in an Excel cell).
_MULTILINE_FIELDS = frozenset({"address"})


def _undecodable(detail: str) -> InvalidInput:
    return InvalidInput(
        f"file cannot be read: {detail}. Save it as CSV in UTF-8 (with or without BOM), "
        "GB18030/GBK, or UTF-16 with a byte-order mark, or as .xlsx",
        code="bad_encoding", field="file")


def _big5_undecodable() -> InvalidInput:
    return InvalidInput(
        "file cannot be read: it is Big5 (Traditional Chinese, as Excel saves on a Taiwan or "
        "Hong Kong Windows), which read as GB18030 gives other characters. Save it as CSV "
        "UTF-8 (Excel: Save As, \"CSV UTF-8\"), or as .xlsx", code="bad_encoding", field="file")


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    with path.open("rb") as fh:
        try:
            while chunk := fh.read(_CHUNK):
                if "\x00" in decoder.decode(chunk):
                    return False
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def detect_encoding(path: Path) -> str:
    """The encoding the whole CSV file decodes in, or InvalidInput (``bad_encoding``; a Big5
    file among them, which GB18030 would decode into other characters)."""
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    tried = candidates(head)
    for encoding in tried:
        if _decodes(path, encoding):
            if encoding == "gb18030" and looks_like_big5(head):
                raise _big5_undecodable()
            return encoding
    if len(tried) == 1:
        raise _undecodable(f"it starts with a {tried[0]} byte-order mark but is not "
                           f"{tried[0]} throughout")
    raise _undecodable("it is neither UTF-8 nor GB18030 text (a UTF-16 file needs its "
                       "byte-order mark)")


def read_table(path: Path, columns: Columns | None = None) -> Iterator[dict[str, Any]]:
    """Yield each data row as a dict keyed by the header row's (stripped) names, its number as
    a spreadsheet shows it under ``ROW_NUMBER``. A CSV file's encoding, a workbook's being one,
    and (given ``columns``) the header are checked here, before the first row is asked for."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        rows = _read_excel(path)
    else:
        rows = _read_csv(path, detect_encoding(path))
    header = next(rows)  # the reader's first item is the header
    if columns is not None:
        columns.check(header)
    return (row for row in rows if isinstance(row, dict))


def _read_excel(path: Path) -> Iterator[Any]:
    from zipfile import BadZipFile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (BadZipFile, InvalidFileException, KeyError, OSError):
        raise InvalidInput("file cannot be read: it is not an Excel workbook (.xlsx); save it "
                           "again as .xlsx or as CSV", code="bad_encoding", field="file") from None
    try:
        rows = wb.worksheets[0].iter_rows(values_only=True)
        header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
        yield header
        for number, values in enumerate(rows, start=2):
            if values is None or all(v is None for v in values):
                continue
            row: dict[str, Any] = {h: v for h, v in zip(header, values, strict=False) if h}
            row[ROW_NUMBER] = number
            yield row
    finally:
        wb.close()


def read_csv_text(text: str, columns: Columns) -> list[dict[str, Any]]:
    """The rows of a CSV file already decoded (an upload), as :func:`read_table` gives them,
    read whole before anything is recorded; NUL characters or a file the CSV reader cannot
    read refused (``bad_csv``)."""
    if "\x00" in text:
        raise InvalidInput("NUL (\\x00) character in the file", code="bad_csv", field="file")
    try:
        rows = _csv_rows(io.StringIO(text, newline=""))
        columns.check(next(rows))
        return [row for row in rows if isinstance(row, dict)]
    except csv.Error as exc:
        raise InvalidInput(f"file is not a readable CSV file: {exc}", code="bad_csv",
                           field="file") from None


def _read_csv(path: Path, encoding: str) -> Iterator[Any]:
    with path.open(newline="", encoding=encoding) as fh:
        yield from _csv_rows(fh)


def _csv_rows(fh: TextIO) -> Iterator[Any]:
    """The header, then each row that is not blank (a file's text, seekable)."""
    first = fh.readline()
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    fh.seek(0)
    reader = csv.reader(fh, delimiter=delimiter)
    header = [h.strip() for h in next(reader, [])]
    yield header
    end = reader.line_num
    # a record is a spreadsheet's row, a blank line one too, an address over lines one
    for number, values in enumerate(reader, start=2):
        start, end = end + 1, reader.line_num
        if not any(v.strip() for v in values):
            continue
        row: dict[str, Any] = {h: v for h, v in zip(header, values, strict=False) if h}
        row[ROW_NUMBER] = number
        problems = _shape_problems(header, values, start, end, delimiter)
        if problems:
            row[ROW_PROBLEMS] = problems
        yield row


def _lines(start: int, end: int) -> str:
    return f"line {start}" if start == end else f"lines {start}-{end}"


def _shape_problems(header: list[str], values: list[str], start: int, end: int,
                    delimiter: str) -> list[InvalidInput]:
    if end > start:
        whole_row = max(len(header) - 1, 1)
        for name, value in zip(header, values, strict=False):
            if "\n" not in value and "\r" not in value:
                continue
            swallowed = any(line.count(delimiter) >= whole_row
                            for line in value.splitlines()[1:])
            if name not in _MULTILINE_FIELDS or swallowed:
                return [InvalidInput(
                    f"{_lines(start, end)} of the file were read as one row: a quote opened in "
                    f"{name or 'a field'} on line {start} is not closed where the field ends, "
                    f"so the line break and the lines after it became part of the field; close "
                    f"the quote (or double a quote inside the field) and import again",
                    code="broken_row", field=name or "row")]
    if len(values) != len(header):
        if len(values) < len(header):
            field = header[len(values)] or "row"
            rule = f"fields from {field!r} on are missing"
        else:
            field, rule = "row", "the extra fields have no column"
        return [InvalidInput(
            f"{_lines(start, end)} has {len(values)} fields but the header has {len(header)}: "
            f"{rule}; a delimiter or a quote is missing or one too many",
            code="bad_field_count", field=field)]
    return []


def count_rows(path: Path) -> int | None:
    """Data rows in the file, for a progress bar (None if unknown)."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True)
        try:
            n = wb.worksheets[0].max_row
            return None if n is None else max(n - 1, 0)
        finally:
            wb.close()
    with path.open("rb") as fh:
        return max(sum(1 for _ in fh) - 1, 0)
