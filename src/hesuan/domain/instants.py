"""The span of time the platform lives in.

Every instant a caller gives — an event's time, an expiry, a policy's start, a zone's end — is
checked against one plausible range: nothing the platform records happened before 2020 or will
happen after 2100. A time outside it is a typing or clock error (the year 0001 from an unset
device clock, 9999 as "forever"), and refusing it at the edge keeps the arithmetic inside from
overflowing (``datetime.min - timedelta(days=1)``).

The API's schemas check the same bounds inside pydantic's core (``EARLIEST``/``LATEST``); times
read anywhere else (files, forms, the command line) go through ``check_instant``.

Imports: standard library only.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hesuan.domain.errors import InvalidInput

__all__ = ["EARLIEST", "LATEST", "check_instant", "iso_utc"]

#: The first instant the platform accepts (inclusive).
EARLIEST = datetime(2020, 1, 1, tzinfo=UTC)
#: The first instant past the platform's life (exclusive).
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def check_instant(value: datetime, field: str) -> datetime:
    """``value`` when it is aware and inside [``EARLIEST``, ``LATEST``); otherwise
    ``InvalidInput`` naming ``field``."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{field} must carry a timezone", code="naive_time", field=field)
    if not EARLIEST <= value < LATEST:
        raise InvalidInput(f"{field} must lie between {EARLIEST:%Y-%m-%d} and "
                           f"{LATEST:%Y-%m-%d} (UTC)", code="implausible_time", field=field)
    return value


def iso_utc(value: datetime) -> str:
    """An aware instant as the reports write it: ISO 8601 in UTC with the ``Z`` offset
    (``2022-08-29T00:00:00Z``; fractions of a second when it has them)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
