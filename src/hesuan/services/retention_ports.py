"""Ports of history that expires and of the end of the programme: the retention repository
(daily aggregates, set-based expiry of each kind of personal data) and the programme repository
(close requests, destruction of all personal data), parts of the ``UnitOfWork`` implemented by
``adapters/db``; and the signer of destruction certificates.

Imports: standard library and ``hesuan.domain`` only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from hesuan.domain.json import JsonObject

__all__ = ["CertificateSigner", "ClosureRow", "DailyAggregate", "DataKey", "ProgrammeFiles",
           "ProgrammeRepository", "RetentionRepository", "StoreCompactor"]


@dataclass(frozen=True, slots=True)
class DailyAggregate:
    """What remains of one local day's samples in one district once they are forgotten:
    counts, and the turnaround from sample to result (count, sum and longest, in seconds)."""

    day: str  # local date, YYYY-MM-DD
    district: str  # district code
    people: int  # the district's people when its samples were last counted (coverage's base)
    sampled: int  # people sampled in routine testing, each once (by the last pass of their day)
    resulted: int  # of them, in a tube with a negative or positive result
    positive: int  # of them, in a positive tube of one
    in_positive_pools: int  # of them, in a positive pool (recalled)
    turnaround_n: int
    turnaround_sum_s: int
    turnaround_max_s: int


@dataclass(frozen=True, slots=True)
class ClosureRow:
    id: str
    status: str
    reason: str
    requested_by: str  # username
    requested_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    certificate: JsonObject | None = None


class RetentionRepository(Protocol):
    """Each method is one statement or a handful, whatever the number of rows."""

    def prepare(self, now: datetime) -> None:
        """Make the store ready for what is written from ``now`` on (on a store that
        partitions by month: this month's partitions and the next ones); idempotent."""
        ...

    def aggregate_samples(self, resulted_before: datetime | None) -> int:
        """Count the samples whose tube's result came before ``resulted_before`` (every sample,
        with or without a result, when None) into the daily aggregates, adding to what earlier
        passes counted; a person is counted in ``sampled`` when no routine sample of theirs of
        that day stays, so once a day across passes. Returns how many samples were counted."""
        ...

    def expire_samples(self, resulted_before: datetime) -> int:
        """Forget the samples ``aggregate_samples(resulted_before)`` counted."""
        ...

    def expire_lane_entries(self, before: datetime) -> int: ...
    def expire_recalls(self, resolved_before: datetime) -> int: ...
    def expire_station_events(self, received_before: datetime) -> int: ...
    def expire_sms(self, sent_before: datetime) -> int: ...
    def expire_lab_reports(self, sent_before: datetime) -> int: ...
    def expire_passes(self, expired_before: datetime) -> int: ...
    def expire_venue_checks(self, before: datetime) -> int: ...
    def expire_fence_scans(self, before: datetime) -> int: ...
    def expire_arrivals(self, before: datetime) -> int: ...
    def mark_recall_resamples(self, resulted_before: datetime | None) -> int:
        """Mark the tubes about to lose their samples (resulted before ``resulted_before``;
        None: all) that held a recall's re-sample; how many."""
        ...
    def expire_lab_messages(self, settled_before: datetime) -> int:
        """Lab messages received before ``settled_before`` and settled (applied, or set
        aside); those still in the inbox stay."""
        ...

    def aggregates(self, since: str | None = None) -> list[DailyAggregate]:
        """The daily aggregates (from local day ``since``), by day and district."""
        ...


class ProgrammeRepository(Protocol):
    def city_code(self) -> str | None:
        """The code of the city the platform serves (its region at city level)."""
        ...

    def add_closure(self, row: ClosureRow) -> None: ...
    def closure(self, closure_id: str) -> ClosureRow | None: ...
    def closures(self) -> list[ClosureRow]: ...

    def closed(self) -> bool:
        """Whether the programme is closed (a close was approved)."""
        ...

    def decide_closure(self, closure_id: str, status: str, decided_by: str,
                       decided_at: datetime) -> None: ...

    def set_certificate(self, closure_id: str, certificate: JsonObject) -> None: ...

    def destroy(self, tables: Sequence[str]) -> Mapping[str, int]:
        """Delete every row of ``tables`` (children before parents); rows per table."""
        ...

    def destroy_accounts(self, roles: Sequence[str]) -> int:
        """Delete the sign-in accounts of ``roles``; how many there were."""
        ...


class CertificateSigner(Protocol):
    """Signs a destruction certificate with the pass root key (venues and the public already
    hold its public half), and destroys the pass keys."""

    def check(self) -> None:
        """Raise unless the root key is there to sign with."""
        ...

    def sign(self, payload: bytes) -> bytes:
        """A COSE_Sign1 of ``payload`` by the root key."""
        ...

    def destroy_signing_keys(self) -> list[str]:
        """Overwrite and remove the pass-signing private keys; the files' names."""
        ...

    def destroy_root_key(self) -> list[str]:
        """Overwrite and remove the root's private key; the file's name (none if absent)."""
        ...


class DataKey(Protocol):
    """The key the personal data is encrypted under, in a file outside the database (the
    personal-data, lookup-hash and sampling-code keys derive from it)."""

    @property
    def legacy(self) -> bool:
        """True when the personal data is under the keys derived from the master secret (the
        database held people before it had a data key file): nothing to destroy."""
        ...

    def destroy(self) -> list[str]:
        """Overwrite and remove the data key file: no copy of the ciphertext, backups
        included, can be read any more (crypto-shredding). The file's name (none if absent)."""
        ...


class StoreCompactor(Protocol):
    """Rewrites the store's files after a destruction, outside any transaction, so that the
    deleted rows leave no trace in them."""

    def compact(self, tables: Sequence[str]) -> str | None:
        """None when done; otherwise why it could not be (another connection busy, say)."""
        ...


class ProgrammeFiles(Protocol):
    """The folder the end of the programme leaves its files in (owner-only)."""

    def write(self, name: str, data: bytes) -> str:
        """Write ``data`` whole as ``name`` (durably); the file's name."""
        ...
