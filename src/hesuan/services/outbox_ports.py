"""Ports of what leaves the platform and what watches it: outbox messages and the repositories
of the outbox, alerts and reports (parts of the ``UnitOfWork``, implemented by
``adapters/db``).

Imports: standard library and ``hesuan.domain`` only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, NamedTuple, Protocol, TypeVar

from hesuan.domain.json import JsonObject
from hesuan.domain.notices import Standing

__all__ = ["AlertRepository", "AlertRow", "BoxDiscrepancy", "InDoubtMessage", "LabTally",
           "LateBox", "LateResult", "MissingTube", "NewMessage", "OpenPlate", "OpenRecall",
           "OutboxMessage", "OutboxRepository", "PoolForReview", "Reconciliation",
           "ReconciliationList",
           "ReportRepository", "TurnaroundRow", "UnboxedTube", "UnknownTubeResult",
           "UnreceivedBox", "UnresultedTube"]

_Item = TypeVar("_Item")


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: str
    person_id: str
    template: str
    params: JsonObject
    phone_enc: bytes | None
    language: str
    attempts: int
    standing: Standing | None = None  # its person's facts as the message is read to be sent


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to queue: once per ``dedup_key``, about ``tube_id`` when it reports on one."""

    id: str
    dedup_key: str
    person_id: str
    tube_id: str | None
    template: str
    params: JsonObject


@dataclass(frozen=True, slots=True)
class InDoubtMessage:
    """A message claimed for sending and never confirmed (no personal data)."""

    id: str
    person_id: str
    template: str
    claimed_at: datetime
    attempts: int
    last_error: str | None


class OutboxRepository(Protocol):
    """The notification outbox (docs/SMS.md)."""

    def enqueue(self, messages: Sequence[NewMessage], now: datetime) -> None:
        """Queue messages to be sent from ``now`` (a ``dedup_key`` already queued: skipped)."""

    def pending(self, now: datetime, limit: int) -> list[OutboxMessage]: ...

    def claim(self, message_id: str, now: datetime) -> bool:
        """Claim a pending message for sending (False: another process has it, or it is sent
        or not yet due). Committed before the message is handed over."""

    def in_doubt(self, message_id: str, error: str) -> None:
        """The sender could not tell whether the gateway took the message: it keeps its claim."""

    def stale_claims(self, claimed_before: datetime,
                            limit: int) -> list[InDoubtMessage]:
        """Messages claimed before ``claimed_before`` and never marked sent, oldest first."""

    def release(self, message_ids: Sequence[str], claimed_before: datetime) -> int:
        """Drop the claims (made before ``claimed_before``, unsent) of messages the gateway never
        took: they are sent again. How many were released."""

    def sent(self, message_ids: Sequence[str], now: datetime) -> None:
        """Mark messages sent (and their tubes notified), set-based."""

    def unsent(self, message_ids: Sequence[str], reason: str, now: datetime) -> None:
        """Close messages without sending them (``reason`` in ``last_error``), settled like
        sent ones, so they are not retried."""

    def failed(self, message_id: str, error: str, next_attempt_at: datetime) -> None:
        """The sender refused the message: its claim is dropped, it is retried from then."""


@dataclass(frozen=True, slots=True)
class AlertRow:
    """An alert about a subject (a box, a tube, a station event); ``detail`` names what the
    reader needs (codes, sites, times), never a person."""

    id: str
    kind: str  # late_box | late_result | custody_break | event_conflict | positive_result
    subject_id: str
    raised_at: datetime
    detail: JsonObject
    closed_at: datetime | None = None


class AlertRepository(Protocol):
    """Alerts, raised once per kind and subject."""

    def raise_late(self, now: datetime, transport_limit_ms: int, lab_limit_ms: int,
                     new_id: Callable[[], str]) -> int: ...

    def add(self, row: AlertRow) -> None:
        """Raise one alert (once per kind and subject)."""

    def raise_positive_results(self, tube_ids: Sequence[str], lab_id: str, now: datetime,
                               new_id: Callable[[], str]) -> int:
        """An alert ``positive_result`` for each of ``tube_ids`` (single tubes found positive
        by ``lab_id``): its barcode, lab and site; once per tube."""

    def recent(self, open_only: bool, limit: int, region_prefix: str) -> list[AlertRow]:
        """Alerts from sites whose region starts with the prefix (the site the alert names, or
        its box's or tube's), newest first."""


class TurnaroundRow(NamedTuple):
    """One tube's way through the stages: where it was sampled and tested, and the time of
    each stage (epoch ms, None for a stage not reached)."""

    site_id: str
    lab_id: str | None
    district: str  # the first 6 digits of the site's region
    first_sampled_at: int | None
    tube_sealed_at: int | None
    box_sealed_at: int | None
    handed_over_at: int | None
    received_at: int | None
    resulted_at: int | None
    notified_at: int | None


# The reconciliation's items, one kind per list: what fell between two stages. Times are ISO
# 8601 UTC (``...Z``) as the reports show them; lists are lists, flags booleans (docs/REPORTS.md,
# docs/schemas/reconcile.schema.json).


@dataclass(frozen=True, slots=True)
class UnboxedTube:
    """A tube with samples, open or sealed, in no box yet."""

    barcode: str
    site_id: str
    status: str
    count: int
    first_sampled_at: str | None


@dataclass(frozen=True, slots=True)
class UnreceivedBox:
    """A box sealed or in transit, not received by a lab."""

    code: str
    site_id: str
    status: str
    tube_count: int | None
    first_tube_sealed_at: str | None


@dataclass(frozen=True, slots=True)
class MissingTube:
    """A tube of a received box that the lab did not receive."""

    barcode: str
    code: str  # the box's
    lab_id: str | None
    received_at: str | None  # the box's


@dataclass(frozen=True, slots=True)
class UnresultedTube:
    """A tube received by a lab, with no result yet."""

    barcode: str
    lab_id: str | None
    priority: bool
    received_at: str | None


@dataclass(frozen=True, slots=True)
class BoxDiscrepancy:
    """A box received with tubes missing, extra or miscounted."""

    code: str
    lab_id: str | None
    tube_count: int | None
    received_count: int | None
    missing: list[str]  # the barcodes packed and not received
    extra: list[str]  # the barcodes received and not packed


@dataclass(frozen=True, slots=True)
class UnknownTubeResult:
    """A result a lab sent for a barcode no tube has."""

    barcode: str
    lab_id: str
    at: str  # when the result came


@dataclass(frozen=True, slots=True)
class OpenRecall:
    """A recall (re-test) still open."""

    id: str
    person_id: str
    reason: str
    opened_at: str
    due_at: str


@dataclass(frozen=True, slots=True)
class PoolForReview:
    """A pooled tube whose result awaits an investigator's review."""

    barcode: str
    site_id: str
    capacity: int
    resulted_at: str | None


@dataclass(frozen=True, slots=True)
class LateBox:
    """A box not received within the transport limit of its first tube's sealing."""

    code: str
    site_id: str
    status: str
    first_tube_sealed_at: str
    received_at: str | None


@dataclass(frozen=True, slots=True)
class LateResult:
    """A tube without a result within the lab limit of its receipt."""

    barcode: str
    lab_id: str | None
    received_at: str
    resulted_at: str | None


@dataclass(frozen=True, slots=True)
class OpenPlate:
    """A plate not released: being built, ready (on the instrument) or imported (awaiting
    review)."""

    id: str
    lab_id: str
    status: str
    created_at: str


@dataclass(frozen=True, slots=True)
class LabTally:
    """The lab stage in numbers: the plates made and released, the plates whose controls
    failed, the tube runs decided re-run, the results plates released (by result; a recall is
    released as ``invalid``), the specimens rejected (by stage: ``receipt``, ``bench``) and the
    correction requests (``pending``, ``declined``; applied: ``corrected``, ``cancelled``)."""

    plates: int
    plates_released: int
    control_failures: int
    reruns: int
    released: dict[str, int]
    rejected: dict[str, int] = field(default_factory=dict)
    corrections: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReconciliationList(Generic[_Item]):
    """How many items a list holds, and the first of them (up to the limit asked)."""

    count: int
    items: list[_Item]


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """The reconciliation lists, every one empty on a consistent round; and the lab stage's
    tally, which a round's own count of plates, control failures, re-runs and released
    results must equal."""

    as_of: str
    sampled_not_boxed: ReconciliationList[UnboxedTube]
    boxed_not_received: ReconciliationList[UnreceivedBox]
    missing_from_received_boxes: ReconciliationList[MissingTube]
    received_not_resulted: ReconciliationList[UnresultedTube]
    box_discrepancies: ReconciliationList[BoxDiscrepancy]
    results_for_unknown_tubes: ReconciliationList[UnknownTubeResult]
    recalls_open: ReconciliationList[OpenRecall]
    recalls_overdue: ReconciliationList[OpenRecall]
    pools_for_review: ReconciliationList[PoolForReview]
    late_boxes: ReconciliationList[LateBox]
    late_results: ReconciliationList[LateResult]
    plates_not_released: ReconciliationList[OpenPlate]
    lab: LabTally


class ReportRepository(Protocol):
    """The reports' reads: turnaround and reconciliation."""

    def turnaround_rows(self, since: datetime | None,
                        region_prefix: str) -> Iterator[TurnaroundRow]:
        """Per tube sampled since ``since`` at a site in the region, streamed (a city's round
        is a million tubes)."""
        ...

    def reconcile(self, now: datetime, limit: int, transport_limit_ms: int,
                  lab_limit_ms: int, region_prefix: str) -> Reconciliation:
        """The reconciliation lists, of sites and people in the region."""
