"""Ports: what the services need from the outside world, as Protocols the adapters implement.

* ``Clock`` — the only source of "now" (aware UTC).
* ``Vault`` — encryption of personal data at rest and keyed lookup hashes.
* ``CodeSigner`` — the opaque, MAC-protected token inside a sampling code (采样码).
* ``PasswordHasher`` — argon2 password hashes.
* ``Sender`` — delivers one notification (console, file, SMS gateway).
* ``QrRenderer`` — draws a QR code.
* ``PassKeys`` / ``StatusSource`` — signed status passes: keys, trust list, checking; and the
  person's current status that a pass states.
* ``AuditCheckpoints`` — signed checkpoints of the audit chain, kept outside the database.
* ``Store`` / ``UnitOfWork`` — storage. One unit of work is one transaction: either everything a
  use case wrote is committed, or nothing is. Bulk methods are set-based in the adapter.
  The ``UnitOfWork`` also holds the stores of zones, rosters, fence, lanes and teams, declared
  beside their data types in ``zones_ports``, ``rosters_ports``, ``fence_ports``,
  ``lanes_ports`` and ``teams_ports``.

Imports: standard library and ``hesuan.domain`` only.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

from hesuan.domain.access import Principal
from hesuan.domain.audit import AuditEntry, Checkpoint
from hesuan.domain.cadence import Policy
from hesuan.domain.passes import PassClaims, PassStatus, Verdict
from hesuan.domain.results import Result
from hesuan.domain.sampling import TubeState
from hesuan.domain.status import Facts, Rule, Status
from hesuan.services.fence_ports import FenceStore
from hesuan.services.lanes_ports import LaneStore
from hesuan.services.rosters_ports import RosterStore
from hesuan.services.teams_ports import TeamStore
from hesuan.services.zones_ports import ZoneStore

__all__ = [
    "AuditCheckpoints",
    "BoxRow",
    "Clock",
    "CodeSigner",
    "InDoubtMessage",
    "IssuedPass",
    "NewPerson",
    "OutboxMessage",
    "PassKeys",
    "PassStore",
    "PasswordHasher",
    "PersonFactsRow",
    "PersonRow",
    "QrRenderer",
    "ResultTube",
    "SendInDoubt",
    "SendRecord",
    "Sender",
    "SiteRow",
    "StationWrites",
    "StatusSource",
    "StatusStore",
    "Store",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "Vault",
    "VenueStore",
    "WriteRace",
]


class AuditCheckpoints(Protocol):
    def write(self, checkpoint: Checkpoint) -> str:
        """Sign and keep ``checkpoint``; its name."""
        ...
    def read(self) -> tuple[list[Checkpoint], list[str]]:
        """The checkpoints whose signature holds, and the names of those that are unsigned,
        unreadable or signed with another key."""
        ...


class WriteRace(Exception):
    """Raised by a store when a concurrent transaction won a unique key first; the service
    retries the whole unit of work, which then sees the winner's row."""


class TurnBusy(Exception):
    """Raised on entering a writing unit of work made with ``wait=False`` when another writer
    holds the database's write turn: nothing was started, nothing was written."""


class Clock(Protocol):
    def now(self) -> datetime: ...


class Vault(Protocol):
    def encrypt(self, plaintext: str) -> bytes: ...
    def decrypt(self, ciphertext: bytes) -> str: ...
    def lookup_hash(self, value: str) -> bytes: ...


class CodeSigner(Protocol):
    def sign(self, person_id: str) -> str: ...
    def verify(self, token: str) -> str | None:
        """Return the person id, or None if the token is forged, altered or malformed."""


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...
    def verify(self, password_hash: str, password: str) -> bool: ...


class QrRenderer(Protocol):
    def render(self, text: str, fmt: str, scale: int) -> bytes: ...


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: str
    person_id: str
    template: str
    params: dict[str, Any]
    phone_enc: bytes | None
    language: str
    attempts: int


class SendInDoubt(Exception):
    """Raised by a sender when the gateway may have taken the message but did not say so (the
    request went out, the answer never came): the outbox neither retries it nor marks it sent;
    it stays claimed, in doubt, until the gateway's record or an operator settles it."""


class Sender(Protocol):
    def send(self, phone: str | None, text: str, message: OutboxMessage) -> None:
        """Hand one message to the gateway. Raise ``SendInDoubt`` when the gateway may have
        taken it; any other exception means it did not, and the outbox retries with back-off."""


@runtime_checkable
class SendRecord(Protocol):
    """A sender that keeps its own record of what it took, and can settle a message in doubt."""

    def took(self, message_ids: Sequence[str]) -> set[str]:
        """Which of the messages the gateway has taken (the rest it never did)."""
        ...


@dataclass(frozen=True, slots=True)
class InDoubtMessage:
    """A message claimed for sending and never confirmed (no personal data)."""

    id: str
    person_id: str
    template: str
    claimed_at: datetime
    attempts: int
    last_error: str | None


# --- signed status passes ------------------------------------------------------------------

class PassKeys(Protocol):
    """Pass-signing keys (rotation, the signed trust list) and the checking of passes."""

    issuer: str

    def sign(self, claims: PassClaims) -> str:
        """The pass's text form (``SP1:`` + Base45 of the COSE_Sign1 message)."""
    def key_id(self, now: datetime) -> str: ...
    def rotate(self, now: datetime, *, unless_since: datetime | None = None) -> str | None:
        """Make a new signing key current (the old one stays trusted until its passes end);
        None, and nothing changed, if some process rotated it after ``unless_since``."""
    def last_rotation(self, now: datetime) -> datetime | None:
        """When the signing key was last rotated (None: never)."""
    def trust_list(self, now: datetime) -> bytes: ...
    def root_public(self, now: datetime) -> bytes: ...
    def sign_revocations(self, hashes: Sequence[str], now: datetime) -> bytes: ...
    def verify(self, text: str, now: datetime, revoked: Container[str]) -> Verdict: ...


class StatusSource(Protocol):
    """The person's current status, as a pass states it (colour, reasons, valid-until)."""

    def current(self, person_id: str) -> PassStatus | None: ...


@dataclass(frozen=True, slots=True)
class IssuedPass:
    id_hash: str
    person_id: str
    key_id: str
    colour: str
    issued_at: datetime
    expires_at: datetime


class PassStore(Protocol):
    def add_pass(self, row: IssuedPass, status_read_at: datetime) -> bool:
        """Record a pass; False (and revoked) if a positive result came after the status read."""
    def revoke_passes(self, person_ids: Sequence[str], now: datetime, reason: str,
                      keep_red: bool) -> int: ...
    def revoked_pass_hashes(self, now: datetime) -> list[str]: ...
    def purge_passes(self, before: datetime) -> int: ...


# --- rows exchanged with the store ---------------------------------------------------------

@dataclass(frozen=True, slots=True)
class NewPerson:
    id: str
    id_kind: str
    id_hash: bytes
    id_enc: bytes
    id_last4: str
    name_enc: bytes
    name_masked: str
    phone_enc: bytes | None
    phone_hash: bytes | None
    grid_code: str
    household_id: str | None
    address: str | None
    groups: str
    birth_year: int | None
    language: str


@dataclass(frozen=True, slots=True)
class PersonRow:
    id: str
    id_kind: str
    id_enc: bytes
    id_last4: str
    name_enc: bytes
    name_masked: str
    phone_enc: bytes | None
    grid_code: str
    household_id: str | None
    address: str | None
    groups: str
    language: str
    test_state: str
    last_sampled_at: datetime | None
    last_result: str | None
    last_result_at: datetime | None
    last_negative_at: datetime | None
    open_recall_id: str | None
    next_due_at: datetime | None


@dataclass(frozen=True, slots=True)
class PersonFactsRow:
    groups: str
    open_tube_id: str | None
    open_recall_id: str | None
    name_masked: str
    test_state: str


@dataclass(frozen=True, slots=True)
class SiteRow:
    id: str
    name: str
    kind: str
    region_code: str
    lat: float | None
    lng: float | None
    opening_hours: str
    windows: int
    status: str


@dataclass(slots=True)
class BoxRow:
    id: str
    code: str
    site_id: str
    status: str
    tube_ids: list[str]
    first_tube_sealed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ResultTube:
    id: str
    barcode: str
    lab_id: str | None
    status: str
    capacity: int
    result: str | None
    ct: dict[str, float] | None


@dataclass(slots=True)
class StationWrites:
    """Everything one station batch writes, applied by the store in a few bulk statements."""

    events: list[dict[str, Any]] = field(default_factory=list)
    new_tubes: list[dict[str, Any]] = field(default_factory=list)
    tube_updates: dict[str, dict[str, Any]] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)
    sealed_tube_ids: set[str] = field(default_factory=set)
    new_boxes: list[dict[str, Any]] = field(default_factory=list)
    box_updates: dict[str, dict[str, Any]] = field(default_factory=dict)


class Store(PassStore, Protocol):
    # -- audit
    def audit(self, at: datetime, actor: str, action: str, subject: str,
              detail: dict[str, Any]) -> None: ...
    def audit_entries(self, after_seq: int, limit: int) -> list[AuditEntry]: ...
    def audit_head(self) -> tuple[int, str] | None:
        """The last entry's (seq, hash); None for an empty log."""
        ...
    def audit_legacy_upto(self) -> int:
        """The last entry hashed with plain SHA-256 (0: none)."""
        ...

    # -- users and tokens
    def add_user(self, row: dict[str, Any]) -> None: ...
    def user_by_name(self, username: str) -> dict[str, Any] | None: ...
    def add_token(self, token_hash: str, user_id: str, now: datetime,
                  expires_at: datetime) -> None: ...
    def delete_token(self, token_hash: str) -> str | None: ...
    def principal_for_token(self, token_hash: str, now: datetime) -> Principal | None: ...
    # failed sign-ins, under keyed hashes of the account or address (``domain/sign_in.py``)
    def sign_in_failures(self, keys: Sequence[bytes],
                         since: datetime) -> dict[bytes, list[datetime]]: ...
    def add_sign_in_failure(self, keys: Sequence[bytes], at: datetime,
                            forget_before: datetime) -> None: ...
    def clear_sign_in_failures(self, key: bytes) -> None: ...

    # -- regions, sites, labs
    def upsert_regions(self, rows: Sequence[dict[str, Any]]) -> None: ...
    def region(self, code: str) -> dict[str, Any] | None: ...
    def grid_codes(self) -> set[str]: ...
    def add_site(self, row: dict[str, Any]) -> None: ...
    def sites(self, ids: Iterable[str] | None = None) -> list[SiteRow]: ...
    def add_lab(self, row: dict[str, Any]) -> None: ...
    def labs(self) -> list[dict[str, Any]]: ...
    def lab(self, lab_id: str) -> dict[str, Any] | None: ...

    # -- people
    def insert_people(self, rows: Sequence[NewPerson], now: datetime) -> int:
        """Insert people whose id_hash is new; return how many were inserted."""
    def person(self, person_id: str) -> PersonRow | None: ...
    def person_id_by_hash(self, id_hash: bytes) -> str | None: ...
    def people_ids(self, limit: int) -> list[str]: ...
    def person_facts(self, person_ids: Iterable[str]) -> dict[str, PersonFactsRow]:
        """Facts a window needs about each person, for the ids that exist."""
    def person_samples(self, person_id: str) -> list[dict[str, Any]]: ...
    def person_recalls(self, person_id: str) -> list[dict[str, Any]]: ...

    # -- station events (sampling and boxing)
    def known_events(self, event_ids: Iterable[str]) -> dict[str, str | None]:
        """The ids among ``event_ids`` (canonical) already recorded, each with the digest of
        the content it was accepted with (None: none kept)."""
    def tubes_by_barcode(self, barcodes: Iterable[str],
                         for_update: bool) -> dict[str, TubeState]: ...
    def boxes_by_code(self, codes: Iterable[str], for_update: bool) -> dict[str, BoxRow]: ...
    def apply_station_writes(self, w: StationWrites, now: datetime) -> list[str]:
        """Write a station batch. Each sampled person's status row gets the sample and, when
        nothing about them is special and they are not past due + grace, the status the engine
        decides for that (green, awaiting the result). Returns the sampled people whose status
        is left for the caller to decide (``StatusService.refresh(person_ids=...)``)."""
    def record_event(self, row: dict[str, Any]) -> None: ...

    # -- delivery
    def box_by_code(self, code: str) -> dict[str, Any] | None: ...
    def update_box(self, box_id: str, values: dict[str, Any]) -> None: ...
    def box_tubes(self, box_id: str) -> list[tuple[str, str]]:
        """(tube id, barcode) of every tube packed in the box."""
    def mark_tubes_received(self, tube_ids: Sequence[str], lab_id: str, at: datetime) -> None: ...

    # -- results
    def tubes_for_results(self, barcodes: Iterable[str],
                          for_update: bool = False) -> dict[str, ResultTube]:
        """The tubes with these barcodes (as stored), by barcode. ``for_update``: a writing
        unit of work holds them until it ends, so that another one resulting the same tubes
        waits and then reads what this one wrote (SQLite: its writer holds the write turn)."""
    def reject_results(self, rows: Sequence[dict[str, Any]]) -> None: ...
    def apply_results(self, lab_id: str, results: Sequence[tuple[str, Result,
                      dict[str, float] | None]], corrections: Sequence[tuple[str, Result,
                      dict[str, float] | None, str, str]], actor: str, now: datetime,
                      new_id: Callable[[], str], recall_due: datetime) -> dict[str, int]: ...

    # -- outbox and alerts
    def pending_outbox(self, now: datetime, limit: int) -> list[OutboxMessage]: ...
    def outbox_sent(self, message_id: str, now: datetime) -> None: ...
    def outbox_sent_many(self, message_ids: Sequence[str], now: datetime) -> None:
        """``outbox_sent`` for many messages, set-based."""
    def outbox_failed(self, message_id: str, error: str, next_attempt_at: datetime) -> None:
        """The sender refused the message: its claim is dropped, it is retried from then."""
    def outbox_claim(self, message_id: str, now: datetime) -> bool:
        """Claim a pending message for sending (False: another process has it, or it is sent
        or not yet due). Committed before the message is handed over."""
    def outbox_in_doubt(self, message_id: str, error: str) -> None:
        """The sender could not tell whether the gateway took the message: it keeps its claim."""
    def outbox_stale_claims(self, claimed_before: datetime,
                            limit: int) -> list[InDoubtMessage]:
        """Messages claimed before ``claimed_before`` and never marked sent, oldest first."""
    def outbox_release(self, message_ids: Sequence[str], claimed_before: datetime) -> int:
        """Drop the claims (made before ``claimed_before``, unsent) of messages the gateway never
        took: they are sent again. How many were released."""
    def outbox_unsent(self, message_ids: Sequence[str], reason: str, now: datetime) -> None:
        """Close messages without sending them (``reason`` in ``last_error``), settled like
        sent ones, so they are not retried."""
    def raise_alerts(self, now: datetime, transport_limit_ms: int, lab_limit_ms: int,
                     new_id: Callable[[], str]) -> int: ...
    def add_alert(self, row: dict[str, Any]) -> None:
        """Raise one alert (once per kind and subject)."""
    def alerts(self, open_only: bool, limit: int, region_prefix: str) -> list[dict[str, Any]]:
        """Alerts from sites whose region starts with the prefix (the site the alert names, or
        its box's or tube's)."""

    # -- reports
    def turnaround_rows(self, since: datetime | None,
                        region_prefix: str) -> Iterator[tuple[Any, ...]]:
        """Per tube sampled since ``since`` at a site in the region: site, lab, district,
        first sample and each stage's time (epoch ms or None), streamed (a city's round is a
        million tubes)."""
        ...
    def reconcile(self, now: datetime, limit: int, transport_limit_ms: int,
                  lab_limit_ms: int, region_prefix: str) -> dict[str, Any]:
        """The reconciliation lists, of sites and people in the region."""


class StatusStore(Protocol):
    """Storage of cadence and status (see ``services.status``)."""

    def current_policies(self) -> list[Policy]: ...
    def policy_history(self, policy_id: str) -> list[Policy]: ...
    def save_policy(self, p: Policy, actor: str, now: datetime) -> None: ...
    def assign_policies(self, policies: Sequence[Policy], now: datetime) -> int:
        """Give everyone the policy ``cadence.choose_policy`` picks among ``policies``."""
    def current_rules(self) -> list[Rule]: ...
    def save_rule(self, rule: Rule, position: int, actor: str, now: datetime) -> None: ...
    def refresh_plain(self, now: datetime, everyone: bool = False,
                      person_ids: Sequence[str] | None = None) -> int: ...
    def refresh_overdue(self, now: datetime, rule_id: str, rule_version: int,
                        colour: str | None, everyone: bool = False,
                        person_ids: Sequence[str] | None = None) -> int: ...
    def special_facts(self, now: datetime, after: str,
                      limit: int) -> list[tuple[str, Facts]]: ...
    def stale_facts(self, now: datetime, limit: int, person_ids: Sequence[str] | None = None,
                    in_results: bool = False) -> list[tuple[str, Facts]]: ...
    def facts_of(self, person_id: str) -> Facts | None: ...
    def write_statuses(self, rows: Sequence[tuple[str, Status]], now: datetime) -> None: ...
    def status_row(self, person_id: str) -> dict[str, Any] | None: ...
    def sweep_lock(self) -> bool: ...
    def due_for_reminder(self, now: datetime, max_lead_ms: int,
                         limit: int) -> list[tuple[str, int]]: ...
    def enqueue_reminders(self, rows: Sequence[tuple[str, str, int]], now: datetime) -> None: ...
    def mark_reminded(self, rows: Sequence[tuple[str, int]]) -> None: ...
    def mark_all_reminded(self, now: datetime, max_lead_ms: int) -> int: ...
    def purge_venue_checks(self, before: datetime) -> int: ...
    def add_exemption(self, row: dict[str, Any]) -> None: ...
    def active_exemption_person(self, exemption_id: str) -> str | None:
        """The person an exemption that is still in force belongs to."""
        ...
    def revoke_exemption(self, exemption_id: str, now: datetime) -> str | None: ...
    def exemptions_of(self, person_id: str) -> list[dict[str, Any]]: ...
    def add_override(self, row: dict[str, Any]) -> None: ...
    def override(self, override_id: str) -> dict[str, Any] | None: ...
    def decide_override(self, override_id: str, status: str, by: str, now: datetime) -> None: ...
    def overrides_of(self, person_id: str) -> list[dict[str, Any]]: ...
    def pending_overrides(self, limit: int, region_prefix: str) -> list[dict[str, Any]]:
        """Override requests awaiting a decision, of people whose grid starts with
        ``region_prefix``, oldest first."""
        ...
    def add_arrival(self, row: dict[str, Any], first_due: datetime) -> None: ...


class VenueStore(Protocol):
    def add_venue(self, row: dict[str, Any]) -> None: ...
    def venue(self, venue_id: str) -> dict[str, Any] | None: ...
    def venue_by_code(self, code: str) -> dict[str, Any] | None: ...
    def venues(self) -> list[dict[str, Any]]: ...
    def add_venue_check(self, row: dict[str, Any]) -> None: ...
    def venue_checks(self, venue_id: str, limit: int) -> list[dict[str, Any]]: ...


class UnitOfWork(Store, StatusStore, VenueStore, ZoneStore, RosterStore, FenceStore, LaneStore,
                 TeamStore, Protocol):
    def __enter__(self) -> Self: ...
    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...
    def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    #: A writing transaction here is work of this process's CPU alone: no network round
    #: trips, no wait for the disk at commit. Only then may a short one run on an event loop.
    local_writes: bool

    def __call__(self, *, readonly: bool = False, wait: bool = True,
                 bulk: bool = False) -> UnitOfWork:
        """A unit of work. ``wait=False``: a writing one raises ``TurnBusy`` on entering
        instead of waiting for another writer's turn to end. ``bulk=True``: one that moves
        many rows at once (a results file): its scratch tables are kept in memory for its
        length, not in files."""
        ...
