"""The ``interop`` extra: python-hl7 and fhir.resources, imported only when a lab message is
read or acknowledged, so the platform starts without them and such a message is refused in words.
Also the two errors of unreadable input, and the time stamps both formats share.

Imports: ``hl7`` (when a message is read), standard library, ``hesuan.domain``.
"""

from __future__ import annotations

import importlib
import re
from datetime import date, datetime, time
from types import ModuleType

from hesuan.domain.errors import InvalidInput
from hesuan.domain.local_time import SHANGHAI
from hesuan.services.interop_ports import EXTRA_MISSING

__all__ = ["extra_missing", "hl7_module", "instant", "unreadable_fhir", "unreadable_hl7"]


def extra_missing(library: str, e: ImportError) -> InvalidInput:
    return InvalidInput(
        f"lab messages need the interop extra: they are read with {library}, which this server "
        "does not have (install hesuan[interop])", code=EXTRA_MISSING, field="format")


def hl7_module() -> ModuleType:
    """python-hl7, or ``interop_extra_missing``."""
    try:
        return importlib.import_module("hl7")
    except ImportError as e:
        raise extra_missing("python-hl7", e) from e


def unreadable_hl7(reason: str, field: str = "message") -> InvalidInput:
    """``field``: what is wrong, for the AR (``hl7_ack.unreadable_error``): ``message`` (not
    HL7, its segments out of order or missing), ``encoding`` (bytes not in its character set),
    or the HL7 field the reader needs and did not find (``MSH-10``)."""
    return InvalidInput(f"the HL7 v2 message cannot be read: {reason}", code="unreadable_hl7",
                        field=field)


def unreadable_fhir(reason: str) -> InvalidInput:
    return InvalidInput(f"the FHIR message cannot be read: {reason}", code="unreadable_fhir",
                        field="message")


#: HL7 v2 DTM/TS: YYYY[MM[DD[HH[MM[SS[.S…]]]]]][+/-ZZZZ].
_DTM = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6}))?([+-]\d{4})?")


def instant(value: str | date | datetime | None) -> datetime | None:
    """An HL7 v2 time stamp, or a FHIR date or dateTime, as an aware instant; a time without an
    offset is the city's local time (the lab is in the city); unreadable or empty: None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=SHANGHAI)
    if isinstance(value, date):
        return datetime.combine(value, time.min, tzinfo=SHANGHAI)
    m = _DTM.fullmatch(value.strip())
    if m is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = m.groups()
    try:
        t = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
                     int(second or 0), int((fraction or "0").ljust(6, "0")))
        if offset:
            return datetime.fromisoformat(t.isoformat() + offset[:3] + ":" + offset[3:])
    except ValueError:
        return None
    return t.replace(tzinfo=SHANGHAI)
