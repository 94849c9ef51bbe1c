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
* ``UnitOfWork`` — storage. One unit of work is one transaction: either everything a use case
  wrote is committed, or nothing is. It holds one repository per kind of stored thing
  (``uow.people``, ``uow.station``, ``uow.results``, ``uow.statuses``, ...), each a Protocol
  here; those of zones, rosters, fence, lanes, teams and the lab stage (assays, plates) are
  declared beside their data types in ``zones_ports``, ``rosters_ports``, ``fence_ports``,
  ``lanes_ports``, ``teams_ports``, ``lab_ports``, ``corrections_ports`` and ``lab_report_ports``.
  Bulk methods are set-based in the adapter.

Imports: standard library and ``hesuan.domain`` only.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from hesuan.domain.audit import Checkpoint
from hesuan.domain.passes import PassClaims, PassStatus, Verdict
from hesuan.services.corrections_ports import CorrectionRepository, RejectionRepository
from hesuan.services.elr_queue_ports import ElrQueueRepository
from hesuan.services.fence_ports import FenceRepository
from hesuan.services.keys_ports import SealedData
from hesuan.services.lab_messages_ports import LabMessageRepository
from hesuan.services.lab_ports import AssayRepository, PlateRepository
from hesuan.services.lab_report_ports import LabReportRepository
from hesuan.services.lanes_ports import LaneRepository
from hesuan.services.outbox_ports import (
    AlertRepository,
    OutboxMessage,
    OutboxRepository,
    ReportRepository,
)
from hesuan.services.people_ports import (
    AuditLogRepository,
    PeopleRepository,
    PlaceRepository,
    UserRepository,
)
from hesuan.services.retention_ports import ProgrammeRepository, RetentionRepository
from hesuan.services.rosters_ports import RosterRepository
from hesuan.services.sampling_ports import BoxRepository, ResultRepository, StationRepository
from hesuan.services.status_ports import (
    CadenceRepository,
    OverrideRepository,
    PassRepository,
    StatusRepository,
    VenueRepository,
)
from hesuan.services.teams_ports import TeamRepository
from hesuan.services.zones_ports import ZoneRepository

__all__ = [
    "AuditCheckpoints",
    "Clock",
    "CodeSigner",
    "InlineWrites",
    "PassKeys",
    "PasswordHasher",
    "QrRenderer",
    "SendInDoubt",
    "SendRecord",
    "Sender",
    "StatusSource",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "Vault",
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
    """Raised by a store when a concurrent transaction won a unique key first, and by the
    unit of work when the database rolled it back to end a deadlock with a concurrent one; the
    service retries the whole unit of work, which then sees the winner's rows."""


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


# --- rows exchanged with the store ---------------------------------------------------------


class UnitOfWork(Protocol):
    """One transaction, and the repositories that read and write inside it."""

    @property
    def audit_log(self) -> AuditLogRepository: ...
    @property
    def users(self) -> UserRepository: ...
    @property
    def places(self) -> PlaceRepository: ...
    @property
    def people(self) -> PeopleRepository: ...
    @property
    def station(self) -> StationRepository: ...
    @property
    def boxes(self) -> BoxRepository: ...
    @property
    def results(self) -> ResultRepository: ...
    @property
    def assays(self) -> AssayRepository: ...
    @property
    def plates(self) -> PlateRepository: ...
    @property
    def corrections(self) -> CorrectionRepository: ...
    @property
    def rejections(self) -> RejectionRepository: ...
    @property
    def lab_messages(self) -> LabMessageRepository: ...
    @property
    def lab_reports(self) -> LabReportRepository: ...
    @property
    def outbox(self) -> OutboxRepository: ...
    @property
    def elr_outbox(self) -> ElrQueueRepository: ...
    @property
    def alerts(self) -> AlertRepository: ...
    @property
    def reports(self) -> ReportRepository: ...
    @property
    def cadence(self) -> CadenceRepository: ...
    @property
    def statuses(self) -> StatusRepository: ...
    @property
    def overrides(self) -> OverrideRepository: ...
    @property
    def passes(self) -> PassRepository: ...
    @property
    def venues(self) -> VenueRepository: ...
    @property
    def zones(self) -> ZoneRepository: ...
    @property
    def rosters(self) -> RosterRepository: ...
    @property
    def fence(self) -> FenceRepository: ...
    @property
    def lanes(self) -> LaneRepository: ...
    @property
    def teams(self) -> TeamRepository: ...
    @property
    def retention(self) -> RetentionRepository: ...
    @property
    def programme(self) -> ProgrammeRepository: ...
    @property
    def sealed(self) -> SealedData: ...

    def __enter__(self) -> Self: ...
    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...
    def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, readonly: bool = False) -> UnitOfWork:
        """A unit of work; ``readonly``: one that only reads (it never waits for a writer)."""
        ...


class InlineWrites(Protocol):
    """Lets a short write run on the calling thread (an event loop) when that costs no waiting:
    where a write is this process's CPU work alone and no other writer holds the store."""

    def turn(self) -> AbstractContextManager[bool]:
        """True: until the block ends this thread holds the store's write turn, and a unit of
        work made in it starts at once or fails at once, writing nothing. False: nothing was
        taken; write elsewhere."""
        ...
