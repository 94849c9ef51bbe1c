"""Ports of the lab report (``uow.lab_reports``, ``adapters/db/lab_report_store.py``): a lab's
counts over a window, and the integrity list — what breaks the rule that every released result
traces to a plate, a well, a run file, passing controls and two people.

Imports: standard library.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Protocol, TypeVar

__all__ = ["IntegrityList", "LabCounts", "LabIntegrity", "LabReportRepository",
           "OnePersonRelease", "OverfullTube", "UncontrolledRun", "UnfiledResult"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class LabCounts:
    """A lab's work: tubes now (``in_lab``, ``on_plates``, ``late``) and since the window's
    start (the rest)."""

    received: int  # tubes received
    in_lab: int  # received and not yet released, rejected or cancelled (now)
    on_plates: int  # of them, held by a plate being built, ready or imported (now)
    late: int  # of them, waiting past the receipt-to-release target (now)
    released: Mapping[str, int]  # results released (first results), by result
    rejected: Mapping[str, int]  # specimens rejected, by code
    plates_imported: int  # runs imported
    control_failures: int  # of them, plates whose controls failed
    tube_wells: int  # tube wells interpreted (on plates whose controls passed, not omitted)
    invalid: int  # of them, invalid: no target and a failed internal control
    single_target: int  # of them, one target only or a grey-zone value: re-tested
    reruns: int  # tube wells decided re-run (a failed plate's tubes among them)
    corrections: Mapping[str, int]  # requests: pending, corrected, cancelled, declined


@dataclass(frozen=True, slots=True)
class UnfiledResult:
    """A released result no well of a run names: posted by the direct results path (a file
    of final results, or by hand), not an instrument's run."""

    barcode: str
    result: str
    previous: str | None  # a correction's: the result it replaced
    actor: str
    at: datetime


@dataclass(frozen=True, slots=True)
class UncontrolledRun:
    """A released plate whose results reached people though its controls did not pass."""

    plate_id: str
    qc_passed: bool | None
    failed_controls: int  # control wells that did not pass
    released_results: int
    released_by: str | None
    released_at: datetime | None


@dataclass(frozen=True, slots=True)
class OverfullTube:
    """A tube holding more people's samples than it pools."""

    barcode: str
    capacity: int
    people: int


@dataclass(frozen=True, slots=True)
class OnePersonRelease:
    """A release by one person: a plate released by its builder or importer, or a correction
    approved by its requester."""

    kind: str  # plate | correction
    id: str
    by: str
    at: datetime | None


@dataclass(frozen=True, slots=True)
class IntegrityList(Generic[T]):
    count: int
    items: list[T] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LabIntegrity:
    """Every list is empty at a lab that keeps the rule."""

    results_without_run_file: IntegrityList[UnfiledResult]
    runs_without_passing_controls: IntegrityList[UncontrolledRun]
    tubes_above_pool_size: IntegrityList[OverfullTube]
    releases_by_one_person: IntegrityList[OnePersonRelease]


class LabReportRepository(Protocol):
    def lab_counts(self, lab_id: str, since: datetime, late_before: datetime) -> LabCounts:
        """The lab's counts since ``since``; late: received before ``late_before``."""

    def integrity(self, lab_id: str, limit: int) -> LabIntegrity:
        """The lab's integrity lists (each its count and first ``limit`` items, newest
        first)."""
