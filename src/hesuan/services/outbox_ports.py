"""Ports of what leaves the platform and what watches it: outbox messages and the repositories
of the outbox, alerts and reports (parts of the ``UnitOfWork``, implemented by
``adapters/db``).

Imports: standard library and ``hesuan.domain`` only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from hesuan.domain.json import JsonObject

__all__ = ["AlertRepository", "InDoubtMessage", "NewMessage", "OutboxMessage",
           "OutboxRepository", "ReportRepository"]


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: str
    person_id: str
    template: str
    params: dict[str, Any]
    phone_enc: bytes | None
    language: str
    attempts: int


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

    def sent(self, message_id: str, now: datetime) -> None: ...

    def sent_many(self, message_ids: Sequence[str], now: datetime) -> None:
        """``outbox_sent`` for many messages, set-based."""

    def unsent(self, message_ids: Sequence[str], reason: str, now: datetime) -> None:
        """Close messages without sending them (``reason`` in ``last_error``), settled like
        sent ones, so they are not retried."""

    def failed(self, message_id: str, error: str, next_attempt_at: datetime) -> None:
        """The sender refused the message: its claim is dropped, it is retried from then."""


class AlertRepository(Protocol):
    """Alerts, raised once per kind and subject."""

    def raise_late(self, now: datetime, transport_limit_ms: int, lab_limit_ms: int,
                     new_id: Callable[[], str]) -> int: ...

    def add(self, row: dict[str, Any]) -> None:
        """Raise one alert (once per kind and subject)."""

    def recent(self, open_only: bool, limit: int, region_prefix: str) -> list[dict[str, Any]]:
        """Alerts from sites whose region starts with the prefix (the site the alert names, or
        its box's or tube's)."""


class ReportRepository(Protocol):
    """The reports' reads: turnaround and reconciliation."""

    def turnaround_rows(self, since: datetime | None,
                        region_prefix: str) -> Iterator[tuple[Any, ...]]:
        """Per tube sampled since ``since`` at a site in the region: site, lab, district,
        first sample and each stage's time (epoch ms or None), streamed (a city's round is a
        million tubes)."""
        ...

    def reconcile(self, now: datetime, limit: int, transport_limit_ms: int,
                  lab_limit_ms: int, region_prefix: str) -> dict[str, Any]:
        """The reconciliation lists, of sites and people in the region."""
