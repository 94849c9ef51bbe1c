"""Lab messages in: HL7 v2 ORU^R01 and FHIR R4 Bundles read into ``LabMessage`` values, and HL7
acknowledgments (the ``interop`` extra: python-hl7, fhir.resources).

:class:`LabMessages` is the :class:`~hesuan.services.interop_ports.LabMessageReader` port;
the functions are its parts. docs/INTEROP.md maps each field and element.

Imports: ``hl7`` and ``fhir.resources`` (when a message is read), standard library,
``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

from datetime import datetime

from hesuan.adapters.interop.fhir_in import read_fhir
from hesuan.adapters.interop.hl7_ack import ack, ack_unreadable, error_for, unreadable_error
from hesuan.adapters.interop.hl7_in import read_hl7
from hesuan.services.interop_ports import AckCode, LabMessage, UnreadableMessage

__all__ = ["LabMessages", "ack", "ack_unreadable", "read_fhir", "read_hl7"]


class LabMessages:
    """Reads lab messages and acknowledges HL7 ones."""

    def read_hl7(self, data: bytes) -> list[LabMessage | UnreadableMessage]:
        return read_hl7(data)

    def read_fhir(self, data: bytes) -> list[LabMessage]:
        return read_fhir(data)

    def ack(self, message: LabMessage, code: AckCode, text: str, at: datetime,
            reason: str | None = None) -> bytes:
        return ack(message, code, text, at=at, error=error_for(reason))

    def ack_unreadable(self, data: bytes, text: str, at: datetime,
                       field: str | None = None) -> bytes:
        error, location = unreadable_error(field)
        return ack_unreadable(data, text, at=at, error=error, location=location)
