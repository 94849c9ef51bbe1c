"""Ports of the analytics reports: the rows the reports read and the ``AnalyticsQueries`` that
reads them (implemented set-based in ``adapters/db/analytics.py``; the coverage snapshot
answers the coverage ones in ``services/rosters.py``). Times are aware UTC datetimes.

Imports: standard library only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

__all__ = ["AnalyticsQueries", "CoverageCounts", "PoolRecall", "PositivePool",
           "RoutinePoolCount"]


@dataclass(frozen=True, slots=True)
class CoverageCounts:
    """A grid's people: due (everyone living there), sampled in the window, exempt (an
    exemption in force and not sampled)."""

    grid_code: str
    due: int
    sampled: int
    exempt: int


@dataclass(frozen=True, slots=True)
class PoolRecall:
    """A recall (召回复核) of a positive pool's member, with the masked name and, once resolved,
    the barcode of the tube that resolved it."""

    recall_id: str
    person_id: str
    name: str
    status: str
    outcome: str | None
    opened_at: datetime
    due_at: datetime
    resolved_at: datetime | None
    resolving_barcode: str | None


@dataclass(frozen=True, slots=True)
class PositivePool:
    """A positive pooled tube: where and when it was sampled and resulted, its investigation,
    and its recalls (the order of the fields is the report's)."""

    barcode: str
    site_id: str
    site: str
    district: str
    pool_size: int
    members: int
    first_sampled_at: datetime
    resulted_at: datetime | None
    lab_id: str | None
    investigation: str | None
    investigation_closed_at: datetime | None
    recalls: list[PoolRecall]


class RoutinePoolCount(NamedTuple):
    """Routine tubes of a district with the same number of people (partly filled tubes are
    smaller pools): tested and positive."""

    district: str
    size: int
    tested: int
    positive: int


class AnalyticsQueries(Protocol):
    """What the analytics reports read."""

    def latest_sample_at(self) -> datetime | None:
        """The latest sample recorded (None before the first)."""
        ...

    def coverage_by_grid(self, prefix: str, since: datetime,
                         as_of: datetime) -> list[CoverageCounts]:
        """Per grid under a region code prefix: due, sampled in (since, as_of], exempt."""
        ...

    def region_names(self, codes: Sequence[str]) -> dict[str, str]:
        """Region names by code (codes with no region left out)."""
        ...

    def positive_pools(self, prefix: str, since: datetime, as_of: datetime,
                       limit: int) -> list[PositivePool]:
        """Positive pooled tubes sampled in the window, newest result first, each with its
        recalls, oldest first."""
        ...

    def routine_pool_counts(self, prefix: str, since: datetime,
                            as_of: datetime) -> list[RoutinePoolCount]:
        """Routine tubes (no recall re-samples; not first-landing or hospital sites) tested
        and positive, by district and pool size."""
        ...
