"""Streaming readers for the tables people upload: CSV (UTF-8, with or without BOM) and Excel
(.xlsx, read-only mode so a million-row sheet is never held in memory).

Imports: ``openpyxl``, the standard library.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["count_rows", "read_table"]


def read_table(path: Path) -> Iterator[dict[str, Any]]:
    """Yield each data row as a dict keyed by the header row's (stripped) names."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True, data_only=True)
        try:
            rows = wb.worksheets[0].iter_rows(values_only=True)
            header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
            for values in rows:
                if values is None or all(v is None for v in values):
                    continue
                yield {h: v for h, v in zip(header, values, strict=False) if h}
        finally:
            wb.close()
        return
    with path.open(newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            yield {(k or "").strip(): v for k, v in row.items() if k}


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
