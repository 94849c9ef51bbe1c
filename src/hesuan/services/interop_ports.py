"""A lab's message as read: HL7 v2 or FHIR R4 in one neutral, typed form, pure of storage.

The readers (``adapters/interop``) turn what a lab's system sends — an HL7 v2 ORU^R01 (one
message or an FHS/BHS batch) or a FHIR R4 message or transaction Bundle — into
:class:`LabMessage` values: who sent it and under which control id (the key that makes a resend
change nothing), the message's own bytes and their SHA-256, and its results. Each
:class:`LabResult` keeps every specimen id candidate it was sent with (the lab's configuration
chooses which one names the tube), the test, the value and the numeric observations beside it
(Ct values), the status, when it was observed, who performed it, and the patient only as given.
``hesuan.domain.interop.specimen_outcomes`` maps the results to an outcome per specimen.

The patient's name and ids are kept for the inbox's display and never logged: their ``repr``
withholds them, as does the message's for its bytes.

Imports: standard library, ``hesuan.domain``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from hesuan.domain.interop import Measurement, ObservedValue, SpecimenId
from hesuan.domain.lab_codes import Concept, ResultStatus

__all__ = ["EXTRA_MISSING", "AckCode", "Facility", "LabMessage", "LabMessageFormat",
           "LabMessageReader", "LabResult", "PatientAsGiven", "UnreadableMessage"]

#: An HL7 acknowledgment code: AA accepted, AE accepted with an error, AR rejected.
AckCode = Literal["AA", "AE", "AR"]

#: The code of the reader's ``InvalidInput`` when the server lacks the library a format is read
#: with (the interop extra): the server's want, not the message's fault.
EXTRA_MISSING = "interop_extra_missing"


class LabMessageFormat(enum.StrEnum):
    HL7V2 = "hl7v2"
    FHIR = "fhir"


@dataclass(frozen=True, slots=True)
class Facility:
    """A lab or a sending system as named in the message: its name, and its id with the id's
    kind (a CLIA number, an ISO OID...) when given."""

    name: str
    id: str = ""
    id_type: str = ""

    @property
    def key(self) -> str:
        """What names it for matching: its id when given, else its name."""
        return self.id or self.name

    def __str__(self) -> str:
        if self.id and self.id != self.name:
            kind = f" {self.id_type}" if self.id_type else ""
            return f"{self.name} ({self.id}{kind})" if self.name else f"{self.id}{kind}"
        return self.name


@dataclass(frozen=True, slots=True, repr=False)
class PatientAsGiven:
    """The patient as the lab named them (PID-3 and PID-5; FHIR Patient.identifier and name),
    for display in the inbox only: never matched on, never logged."""

    family: str = ""
    given: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        parts = [self.family, *self.given]
        # Han names are written family name first and unspaced (张三); others spaced.
        joiner = "" if all(_han(p) for p in parts if p) else " "
        return joiner.join(p for p in parts if p)

    def __repr__(self) -> str:
        return "PatientAsGiven(<withheld>)"


def _han(text: str) -> bool:
    return all("\u3400" <= ch <= "\u9fff" or ch in "·•" for ch in text)


@dataclass(frozen=True, slots=True)
class LabResult:
    """One qualitative result of a message (an OBX, a FHIR Observation) with its context: the
    order it answers (OBR-4, DiagnosticReport.code), the specimen id candidates, the numeric
    observations of the same order beside it (Ct values), and the status as sent (``status_code``:
    the OBX-11 letter or the FHIR status word) and as read."""

    specimen_ids: tuple[SpecimenId, ...]
    order: Concept
    test: Concept
    value: ObservedValue
    measurements: tuple[Measurement, ...]
    status: ResultStatus
    status_code: str
    observed_at: datetime | None
    performer: Facility | None
    patient: PatientAsGiven | None


@dataclass(frozen=True, slots=True)
class LabMessage:
    """One message as read. ``control_id`` (MSH-10; the Bundle's identifier, else its
    MessageHeader's id) with ``sending_facility.key`` names it across resends; ``sha256`` is the
    digest of ``raw``, the message's own bytes (an HL7 message with its segments joined by CR,
    whatever separators it came with; a FHIR Bundle as received). ``header`` is the HL7 MSH
    segment as received, from which its acknowledgment is built (empty for FHIR)."""

    format: LabMessageFormat
    sending_application: Facility
    sending_facility: Facility
    control_id: str
    version: str
    message_type: str
    sent_at: datetime | None
    sha256: str
    results: tuple[LabResult, ...]
    header: str = ""
    raw: bytes = field(default=b"", repr=False)
    #: HL7 table 0103 (``P`` production, ``T`` training, ``D`` debugging): MSH-11; a FHIR
    #: message's ``meta.tag`` of that table (its MessageHeader's, else the Bundle's); empty
    #: when the message says none.
    processing_id: str = ""
    #: A FHIR Bundle's ``type``, and the HL7 v2 trigger event (table 0003) its MessageHeader's
    #: ``eventCoding`` names; empty for HL7, and when the header names none of that table.
    bundle_type: str = ""
    trigger_event: str = ""


@dataclass(frozen=True, slots=True)
class UnreadableMessage:
    """A message of an HL7 batch that cannot be read, the others being read: its own bytes
    (segments joined by CR) and why (``code``, ``unreadable_hl7``, the words, and the
    ``field`` the reader names as wrong, as ``InvalidInput.field``)."""

    raw: bytes = field(repr=False)
    code: str
    message: str
    field: str | None = None


class LabMessageReader(Protocol):
    """Reads lab messages and acknowledges HL7 ones (``adapters/interop``). Unreadable input is
    ``InvalidInput`` (``unreadable_hl7``, ``unreadable_fhir``) with the reason in words; in an
    HL7 batch, a message that cannot be read is an ``UnreadableMessage`` among the others."""

    def read_hl7(self, data: bytes) -> list[LabMessage | UnreadableMessage]: ...

    def read_fhir(self, data: bytes) -> list[LabMessage]: ...

    def ack(self, message: LabMessage, code: AckCode, text: str, at: datetime,
            reason: str | None = None) -> bytes:
        """The HL7 ACK of ``message``, made ``at`` (the platform's clock: MSH-7); an AE's
        error code from ``reason``, the first of its specimens' in the inbox."""

    def ack_unreadable(self, data: bytes, text: str, at: datetime,
                       field: str | None = None) -> bytes:
        """The AR of input that cannot be read, made ``at``; its error code and location from
        ``field``, what the reader named as wrong (the ``InvalidInput``'s field)."""
