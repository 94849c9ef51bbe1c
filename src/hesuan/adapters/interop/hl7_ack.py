"""HL7 v2 acknowledgments (original mode), built with python-hl7's ``create_ack``.

An ACK answers one message: its MSH swaps the message's sender and receiver and names the event
(``ACK^R01^ACK``), keeps its processing id and version; MSA-1 is the code (AA accepted, AE
accepted with an error, AR rejected) and MSA-2 the message's control id (MSH-10). AE and AR
carry the reason as MSA-3 and in an ERR segment: ERR-3 (HL7 error code, table 0357), ERR-4
(severity E) and ERR-8 (the words) from version 2.5, ERR-1 before it.

A message the platform does not take (another type, event or processing id than it applies)
is answered AR by the service with its reason's code (200, 201, 202; :func:`error_for`).
Input that cannot be read at all is answered AR too (:func:`ack_unreadable`): from its MSH when
one can be found, else with an empty MSA-2. Its error code says what the reader found wrong
(:func:`unreadable_error`): a required field missing (101) at that field (ERR-2, or ERR-1's
location before 2.5), bytes not in the message's character set (102), else no message, or its
segments out of order (100).

Imports: ``hl7`` (when an ACK is built), standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from hesuan.adapters.interop.extra import hl7_module
from hesuan.adapters.interop.hl7_in import segments_text
from hesuan.domain.errors import InvalidInput
from hesuan.services.interop_ports import AckCode, LabMessage, LabMessageFormat

__all__ = ["ERROR_CODES", "ack", "ack_unreadable", "error_for", "unreadable_error"]

#: HL7 table 0357, message error condition codes.
ERROR_CODES: dict[str, str] = {
    "0": "Message accepted",
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "202": "Unsupported processing id",
    "203": "Unsupported version id",
    "204": "Unknown key identifier",
    "205": "Duplicate key identifier",
    "206": "Application record locked",
    "207": "Application internal error",
}
#: The table 0357 code of what a specimen waits for in the inbox (its line's reason), so that
#: the sender's system can act on it; 207 for the reasons no code of the table names (a lab's
#: decision to make: a conflict, a presumptive positive, a result already released).
_ERROR_OF_REASON: dict[str, str] = {
    # the specimen id names no tube the lab holds: an unknown key
    "unknown_tube": "204", "other_lab": "204", "not_received": "204",
    # a code or value no table (nor the lab's mapping) reads
    "unmapped_code": "103", "unmapped_value": "103", "not_nucleic_acid": "103",
    # what the message must give and does not
    "no_specimen_id": "101", "no_result": "101", "status_unknown": "101",
    "twice_in_message": "205",
    # the message as a whole is not one the platform takes
    "unsupported_message_type": "200", "unsupported_event": "201",
    "unsupported_processing_id": "202",
}
#: The table 0357 code of unreadable input by what the reader names as wrong (its error's
#: field), other than an HL7 field it needs and did not find (101, at that field).
_ERROR_OF_UNREADABLE: dict[str, str] = {
    "encoding": "102",  # bytes that are not text in the message's character set
    "message": "100",  # not HL7, or its segments out of order or missing
}
#: An HL7 field's location as the reader names it: segment, then field (``MSH-10``).
_LOCATION = re.compile(r"([A-Z][A-Z0-9]{2})-([1-9][0-9]*)")
_CODES = ("AA", "AE", "AR")
#: Stands in for a message's MSH when the input has none that can be read.
_NO_HEADER = "MSH|^~\\&|||||||ORU^R01||P|2.5.1"


def ack(message: LabMessage, code: AckCode, text: str = "", *, at: datetime,
        error: str = "207", control_id: str | None = None) -> bytes:
    """The ACK of an HL7 v2 message (UTF-8, segments ended by CR), made ``at`` (its MSH-7).
    ``error``: the table 0357 code of an AE or AR; ``control_id``: the ACK's own MSH-10
    (python-hl7 makes one up without)."""
    if message.format is not LabMessageFormat.HL7V2 or not message.header:
        raise InvalidInput("only an HL7 v2 message is acknowledged with an HL7 ACK",
                           code="not_hl7", field="message")
    return _build(message.header, code, text, error, control_id, at)


def error_for(reason: str | None) -> str:
    """The table 0357 code an AE or AR carries for a specimen's or a message's reason (207
    when none fits)."""
    return _ERROR_OF_REASON.get(reason or "", "207")


def unreadable_error(field: str | None) -> tuple[str, str]:
    """The table 0357 code and the location (``MSH-10``, or empty) of an AR to input that cannot
    be read, from the field the reader names as wrong: an HL7 field is a required field missing
    (101) at that field; ``encoding`` a data type error (102); anything else a segment sequence
    error (100)."""
    if field and _LOCATION.fullmatch(field):
        return "101", field
    return _ERROR_OF_UNREADABLE.get(field or "", "100"), ""


def ack_unreadable(data: bytes, text: str, *, at: datetime, error: str = "100",
                   location: str = "", control_id: str | None = None) -> bytes:
    """AR for input that cannot be read, made ``at``: answered from its MSH when one can be read
    (MSA-2 its MSH-10), else from none (MSA-2 empty). ``location``: the HL7 field the error is
    at (``MSH-10``), or empty."""
    decoded = segments_text(data.decode("utf-8", "replace"))
    header = next((s for s in decoded.split("\r") if re.match(r"MSH[|^~\\&#]", s)), "")
    try:
        return _build(header or _NO_HEADER, "AR", text, error, control_id, at, location)
    except Exception:  # the MSH is as unreadable as the rest
        return _build(_NO_HEADER, "AR", text, error, control_id, at, location)


def _build(header: str, code: str, text: str, error: str, control_id: str | None,
           at: datetime, location: str = "") -> bytes:
    if code not in _CODES:
        raise InvalidInput("an acknowledgment code is AA, AE or AR", code="bad_ack_code",
                           field="code")
    if error not in ERROR_CODES:
        raise InvalidInput(f"{error!r} is not an HL7 error code (table 0357)",
                           code="bad_ack_error", field="error")
    hl7 = hl7_module()
    source = hl7.parse(header)
    reply = source.create_ack(ack_code=code, message_id=control_id)
    # MSH-7 the platform's time, in UTC with its offset (python-hl7 writes the machine's local
    # time without one)
    reply.segment("MSH").assign_field(at.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000"), 7)
    if code != "AA":
        reply.segment("MSA").assign_field(_escape(reply, text[:80]), 3)
        reply.append(_err(reply, source, error, text, location))
    return str(reply).encode("utf-8")


def _err(reply: Any, source: Any, error: str, text: str, location: str) -> Any:
    err = reply.create_segment([reply.create_field(["ERR"])])
    version = str(source.segment("MSH").extract_field(field_num=12, component_num=1))
    words = _escape(reply, ERROR_CODES[error])
    where = _LOCATION.fullmatch(location)
    # the field's location: its segment, the segment's sequence (1: the fields the reader
    # names are the MSH's, one a message) and the field's position
    place = (where.group(1), "1", where.group(2)) if where else ()
    if _before_2_5(version):
        # ERR-1 (ELD): segment ^ sequence ^ field ^ code & words & table.
        for component, value in enumerate(place, 1):
            err.assign_field(value, 1, 1, component)
        err.assign_field(f"{error}&{words}&HL70357", 1, 1, 4)
    else:
        # ERR-2 (ERL): segment ^ sequence ^ field
        for component, value in enumerate(place, 1):
            err.assign_field(value, 2, 1, component)
        err.assign_field(error, 3, 1, 1)
        err.assign_field(words, 3, 1, 2)
        err.assign_field("HL70357", 3, 1, 3)
        err.assign_field("E", 4)
        err.assign_field(_escape(reply, text), 8)
    return err


def _escape(reply: Any, text: str) -> str:
    """``text`` with the message's delimiters escaped (HL7 2.10.4) and line breaks as spaces;
    other characters as they are, sent as UTF-8 (python-hl7's own ``escape`` writes them as
    ``\\X…\\`` code points, which HL7 reads as bytes)."""
    esc = str(reply.esc)
    names = {reply.separators[1]: "F", reply.separators[2]: "R", reply.separators[3]: "S",
             reply.separators[4]: "T", esc: "E"}
    flat = " ".join(text.split())
    return "".join(f"{esc}{names[c]}{esc}" if c in names else c for c in flat)


def _before_2_5(version: str) -> bool:
    parts = [int(p) for p in re.findall(r"\d+", version)[:2]]
    return bool(parts) and tuple(parts) < (2, 5)
