"""Small helpers the store mixins share: reading a nullable epoch-milliseconds column, splitting
a long list into chunks for an IN list, the named bind marks of an IN list, and the index range
of the grid codes under a region.

Imports: the standard library, ``hesuan.adapters.db.schema``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from hesuan.adapters.db.schema import from_ms

__all__ = ["CHUNK", "chunks", "from_ms_or_none", "grid_range", "in_marks"]

#: Values per IN list: far below either backend's limit on bound parameters.
CHUNK = 5000


def from_ms_or_none(ms: int | None) -> datetime | None:
    return None if ms is None else from_ms(ms)


def chunks(values: Sequence[Any], n: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), n):
        yield values[i:i + n]


def in_marks(values: Sequence[Any], prefix: str = "v") -> tuple[str, dict[str, Any]]:
    """``":v0, :v1, ..."`` and its parameters, for ``IN (...)`` in a text statement."""
    return (", ".join(f":{prefix}{i}" for i in range(len(values))),
            {f"{prefix}{i}": v for i, v in enumerate(values)})


def grid_range(region_code: str) -> tuple[str, str]:
    """The 15-digit grid codes under a region: an index range, on both backends."""
    pad = 15 - len(region_code)
    return region_code + "0" * pad, region_code + "9" * pad
