"""Ports of the lab-message inbox: every message a lab's own system sent (``uow.lab_messages``)
and each lab's interop setting, and the rows they exchange (``adapters/db/lab_messages_store.py``).

Imports: standard library, ``hesuan.domain``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from hesuan.domain.interop import DEFAULT_ID_ORDER, IdSource, LocalCodes
from hesuan.domain.lab_codes import Finding

__all__ = ["InteropSetting", "LabMessageRepository", "LabMessageRow", "MessageState",
           "MessageVia", "SpecimenLine", "SpecimenState"]


class MessageState(enum.StrEnum):
    UNPROCESSED = "unprocessed"  # kept, not yet mapped (a step failed before the outcomes)
    APPLIED = "applied"  # every specimen applied (or its correction requested)
    UNCLEAR = "unclear"  # at least one specimen could not be applied: in the inbox
    DISCARDED = "discarded"  # set aside by a person, with a reason


class MessageVia(enum.StrEnum):
    MLLP = "mllp"
    FILE = "file"
    API = "api"


class SpecimenState(enum.StrEnum):
    APPLIED = "applied"  # released (or the same result again: nothing changed)
    CORRECTION_REQUESTED = "correction_requested"  # a correction waiting for a second person
    UNCLEAR = "unclear"  # cannot be applied: ``reason`` and ``detail`` say why


@dataclass(frozen=True, slots=True)
class SpecimenLine:
    """What became of one specimen of a message: applied (with its result), its correction
    requested, or why it cannot be applied (``reason`` a code, ``detail`` in words)."""

    specimen_id: str | None
    state: SpecimenState
    result: str | None = None
    reason: str | None = None
    detail: str | None = None
    request_id: str | None = None  # the correction request it made


@dataclass(frozen=True, slots=True)
class LabMessageRow:
    """One message as kept. ``ack`` the acknowledgment's bytes as first answered (an HL7 ACK, or
    a FHIR OperationOutcome), sent again unchanged to a resend. ``raw`` the message's bytes as
    the repository keeps them: encrypted by the vault (the service seals and opens them); empty
    in lists."""

    id: str
    lab_id: str
    format: str
    via: MessageVia
    sending_facility: str
    control_id: str
    sha256: str
    received_by: str
    received_at: datetime
    state: MessageState
    specimens: tuple[SpecimenLine, ...]
    ack_code: str
    ack: bytes
    reason: str | None = None  # why it was discarded
    decided_by: str | None = None
    decided_at: datetime | None = None
    raw: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True)
class InteropSetting:
    """A lab's interop setting: which specimen id sources name its tubes, in order, and its own
    test codes (each to a LOINC code) and result codes or words (each to a finding)."""

    lab_id: str
    id_order: tuple[IdSource, ...] = DEFAULT_ID_ORDER
    tests: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Finding] = field(default_factory=dict)
    set_by: str = ""
    set_at: datetime | None = None

    @property
    def codes(self) -> LocalCodes:
        return LocalCodes(dict(self.tests), dict(self.values))


class LabMessageRepository(Protocol):
    def add(self, row: LabMessageRow) -> None:
        """Keep a new message; ``WriteRace`` when its sending facility and control id are
        kept already (a resend that arrived at the same time)."""
        ...

    def by_control_id(self, lab_id: str, sending_facility: str,
                      control_id: str) -> LabMessageRow | None: ...

    def message(self, message_id: str, *, for_update: bool = False) -> LabMessageRow | None: ...

    def lab_messages(self, lab_ids: list[str] | None, state: MessageState | None,
                     limit: int) -> list[LabMessageRow]:
        """Newest first, without their bytes; ``lab_ids`` None: every lab's."""
        ...

    def update(self, message_id: str, state: MessageState,
               specimens: tuple[SpecimenLine, ...], reason: str | None,
               decided_by: str | None, decided_at: datetime | None) -> None: ...

    def setting(self, lab_id: str) -> InteropSetting | None: ...

    def set_setting(self, setting: InteropSetting) -> None: ...
