"""Ports of what changes a tube's course at the lab besides a run: requests to correct or cancel
a released result (``uow.corrections``) and rejected specimens (``uow.rejections``), and the
rows they exchange (``adapters/db/corrections_store.py``, ``rejections_store.py``).

Imports: standard library, ``hesuan.domain``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from hesuan.domain.corrections import CorrectionKind, CorrectionStatus
from hesuan.domain.results import Result
from hesuan.domain.specimens import RejectionCode, RejectionStage

__all__ = ["CorrectionDecision", "CorrectionRepository", "CorrectionRow", "RejectionRepository",
           "RejectionRow", "ReleasedResult"]


@dataclass(frozen=True, slots=True)
class CorrectionRow:
    """A request to correct (``result``) or cancel (``result`` None) a tube's released result
    (``previous``), and what became of it."""

    id: str
    lab_id: str
    tube_id: str
    kind: CorrectionKind
    previous: Result
    result: Result | None
    ct: dict[str, float] | None
    reason: str
    status: CorrectionStatus
    requested_by: str
    requested_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_note: str | None = None
    result_log_id: str | None = None  # the result-log entry its application wrote
    barcode: str | None = None  # the tube's, as read back (not written)


@dataclass(frozen=True, slots=True)
class CorrectionDecision:
    """A pending request approved (``applied``, with the result-log entry it wrote) or
    declined."""

    status: CorrectionStatus
    decided_by: str
    decided_at: datetime
    note: str | None
    result_log_id: str | None


@dataclass(frozen=True, slots=True)
class ReleasedResult:
    """A tube whose result a lab released: what a correction or cancellation starts from.
    ``result`` None: the result was cancelled (``status`` ``cancelled``)."""

    tube_id: str
    barcode: str
    status: str  # resulted | cancelled
    result: Result | None
    ct: dict[str, float] | None
    resulted_at: datetime | None
    people: int  # samples in the tube
    capacity: int  # the people it pools
    pending_id: str | None  # the request waiting for a decision, if one is


class CorrectionRepository(Protocol):
    """Requests to correct or cancel released results."""

    def add(self, row: CorrectionRow) -> None:
        """Store a pending request; a second pending one for the tube is a ``WriteRace``."""

    def correction(self, correction_id: str, *,
                   for_update: bool = False) -> CorrectionRow | None:
        """``for_update``: held until the unit of work ends (a second approval waits, then
        reads it decided)."""

    def pending_for_tube(self, tube_id: str) -> CorrectionRow | None: ...

    def lab_corrections(self, lab_id: str, status: CorrectionStatus | None,
                        limit: int) -> list[CorrectionRow]:
        """A lab's requests (with ``status``, or all), newest first."""

    def decide(self, correction_id: str, decision: CorrectionDecision) -> None: ...

    def released_results(self, lab_id: str, barcode_prefix: str | None,
                         limit: int) -> list[ReleasedResult]:
        """The lab's tubes whose results it released, cancelled ones among them (those whose
        barcode starts with ``barcode_prefix``, or all), the latest released first."""


@dataclass(frozen=True, slots=True)
class RejectionRow:
    """A specimen a lab rejected: where (``stage``, the plate it was on), why, who, when."""

    tube_id: str
    lab_id: str
    code: RejectionCode
    stage: RejectionStage
    note: str | None
    plate_id: str | None
    rejected_by: str
    rejected_at: datetime
    barcode: str | None = None  # the tube's, as read back (not written)


class RejectionRepository(Protocol):
    """Rejected specimens."""

    def add(self, rows: Sequence[RejectionRow]) -> None:
        """Keep the rejections, and their tubes ``rejected``: out of the lab queue, answered
        (``resulted_at``, ``notified_at``: the time of the rejection, when their people are
        told)."""

    def rejection(self, tube_id: str) -> RejectionRow | None: ...

    def lab_rejections(self, lab_id: str, limit: int) -> list[RejectionRow]:
        """A lab's rejections, newest first."""
