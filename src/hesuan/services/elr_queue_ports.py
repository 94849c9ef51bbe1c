"""Ports of the electronic lab reports' queue (docs/INTEROP.md "Out"): the reports waiting to
be delivered, what storage holds to write one, and the repository (part of the ``UnitOfWork``,
implemented by ``adapters/db/elr_store``), and the transport a report is delivered by.

A queued report is keyed by the result-log entry it reports, the person it reports on and its
format: the same report cannot be queued twice. Delivery follows the outbox's rules (docs/SMS.md
"Exactly once"): claimed and committed before it is handed over, marked sent after, a claim
without a mark in doubt once older than the claim timeout.

Imports: standard library and ``hesuan.domain`` only.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

from hesuan.domain.json import JsonObject

__all__ = ["ElrFormat", "ElrKey", "ElrQueueRepository", "ElrQueued", "ElrRefused", "ElrSource",
           "ElrTransport"]


class ElrFormat(enum.StrEnum):
    HL7 = "hl7"  # HL7 v2.5.1 ORU^R01
    FHIR = "fhir"  # FHIR R4 message Bundle


class ElrKey(NamedTuple):
    """One queued report: the result-log entry, the person, the format."""

    result_log_id: str
    person_id: str
    format: str

    @property
    def message_id(self) -> str:
        """The message's id (MSH-10, the Bundle's identifier, the file's name): one per queued
        report, the same each time it is written, so a receiver recognises a report it has."""
        digest = hashlib.sha256(":".join(self).encode()).hexdigest()
        return f"elr-{digest[:32]}"


@dataclass(frozen=True, slots=True)
class ElrQueued:
    """A queued report, pending or claimed (no personal data)."""

    key: ElrKey
    tube_id: str
    attempts: int
    claimed_at: datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class ElrSource:
    """What storage holds to write one report: the result-log entry (and, for a correction or a
    cancellation, when the result it replaces or withdraws was released; a cancellation's
    ``result`` is ``cancelled``), the tube, the lab, the assay, and the person — their identity
    still encrypted, decrypted only for a receiver entitled to it."""

    result_log_id: str
    tube_id: str
    barcode: str
    lab_id: str
    lab_name: str
    result: str
    ct: JsonObject | None
    previous: str | None
    reason: str | None
    released_at: datetime
    previous_released_at: datetime | None
    pool_size: int
    collected_at: datetime
    received_at: datetime | None
    resulted_at: datetime | None
    assay_id: str | None
    assay_version: int | None
    assay_name: str | None
    assay_definition: JsonObject | None
    person_id: str
    grid_code: str
    district_name: str | None
    id_kind: str
    id_enc: bytes
    name_enc: bytes
    phone_enc: bytes | None
    address: str | None


class ElrQueueRepository(Protocol):
    """The queue of electronic lab reports."""

    def queue(self, formats: Sequence[str], positives_only: bool, now: datetime) -> int:
        """Queue a report per format for every person the fan-out batch (the results repository's
        staged batch and its gathered members) reaches — only the positives and the corrections
        of what the receiver was sent (a positive, or a result of the tube a report was queued
        for) when ``positives_only`` — set-based; one already queued is skipped. How many were
        queued."""

    def queue_withdrawals(self, log_ids: Sequence[str], formats: Sequence[str],
                          positives_only: bool, now: datetime) -> int:
        """Queue a report per format for every member of the tube of each cancellation (the
        result-log entries ``log_ids`` that withdraw a released result) — only withdrawals of
        what the receiver was sent (a positive, or a result of the tube a report was queued
        for) when ``positives_only`` — set-based; one already queued is skipped. How many were
        queued."""

    def pending(self, now: datetime, limit: int) -> list[ElrQueued]: ...

    def source(self, key: ElrKey) -> ElrSource | None:
        """What the report ``key`` is written from (None: its result or person is gone)."""

    def claim(self, key: ElrKey, now: datetime) -> bool:
        """Claim a pending report for delivery (False: another process has it, or it is sent or
        not yet due). Committed before the report is handed over."""

    def sent(self, keys: Sequence[ElrKey], now: datetime) -> None: ...

    def unsent(self, keys: Sequence[ElrKey], reason: str, now: datetime) -> None:
        """Close reports without delivering them (``reason`` in ``last_error``), settled like
        sent ones, so they are not retried."""

    def failed(self, key: ElrKey, error: str, next_attempt_at: datetime) -> None:
        """The receiver refused the report: its claim is dropped, it is retried from then."""

    def in_doubt(self, key: ElrKey, error: str) -> None:
        """The receiver may have the report: it keeps its claim, in doubt."""

    def stale_claims(self, claimed_before: datetime, limit: int) -> list[ElrQueued]:
        """Reports claimed before ``claimed_before`` and never marked sent, oldest first."""

    def release(self, keys: Sequence[ElrKey], claimed_before: datetime) -> int:
        """Drop the claims (made before ``claimed_before``, unsent) of reports the receiver
        never got: they are delivered again. How many were released."""


class ElrRefused(Exception):
    """The receiver answered that it did not take the report (an HL7 ACK ``AE`` or ``AR``);
    its text is the acknowledgment code and the receiver's words, never the report's data."""


class ElrTransport(Protocol):
    """Where reports go (a folder, an MLLP receiver). ``deliver`` raises ``SendInDoubt`` when
    the receiver may have the report without having said so, any other exception when it did
    not take it (retried with back-off). A transport that keeps its own record of what it took
    also implements ``SendRecord`` and settles reports in doubt itself."""

    def deliver(self, message_id: str, fmt: ElrFormat, payload: bytes) -> None: ...
