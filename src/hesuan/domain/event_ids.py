"""The form of a station event's id (事件编号): a UUID the station makes, time-ordered.

Every event a station sends carries an id it made itself, so that it can retry blindly (the
server keeps one row per id). Any UUID is accepted; ours are UUIDv7 (RFC 9562): the event's
time in milliseconds in the first 48 bits, then random bits. Ids made close in time sort
together, so the server's unique index on them grows at its end, on a few pages a
transaction, instead of on one random page per event (a batch of 1,000 v4 ids dirties ~1,000
pages of a large index, each written to the WAL and again by the checkpoint). The time is
only for that locality; nothing reads it back.

A UUID is one value whatever its spelling (upper case, no dashes, braces, ``urn:uuid:``):
``canonical_event_id`` gives the one form (lower-case 8-4-4-4-12) every lookup and every stored
row uses. An id names one event: ``content_digest`` is what the server keeps of the event's
content, so that the same id sent again with other content is told apart from a replay.

Pure: the caller passes the time and the random bits.

Imports: standard library.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta

from hesuan.domain.errors import InvalidInput

__all__ = ["RANDOM_BITS", "canonical_event_id", "content_digest", "time_ordered_id"]

#: Random bits a time-ordered id carries (the rest: 48 of time, 4 of version, 2 of variant).
RANDOM_BITS = 74

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def time_ordered_id(at: datetime, random_bits: int) -> str:
    """A UUIDv7 for an event at ``at`` (aware), with ``random_bits`` (< 2**74) as its random
    part, in the canonical 8-4-4-4-12 form."""
    if at.tzinfo is None:
        raise ValueError("at must be aware")
    if not 0 <= random_bits < 1 << RANDOM_BITS:
        raise ValueError(f"random_bits must be below 2**{RANDOM_BITS}")
    ms = ((at - _EPOCH) // _MS) & ((1 << 48) - 1)
    rand_a, rand_b = random_bits >> 62, random_bits & ((1 << 62) - 1)
    value = (ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return str(uuid.UUID(int=value))


#: The canonical form itself, checked first: a match is cheaper than parsing by ``uuid.UUID``.
_CANONICAL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def canonical_event_id(event_id: str) -> str:
    """``event_id`` in its one form (lower-case, hyphenated); ``InvalidInput`` (bad_event_id)
    when it is not a UUID in any spelling."""
    if _CANONICAL.fullmatch(event_id):
        return event_id
    try:
        return str(uuid.UUID(event_id))
    except ValueError:
        raise InvalidInput("event_id must be a UUID made by the station", code="bad_event_id",
                           field="event_id") from None


def content_digest(*fields: object) -> str:
    """A digest (128 bits, hex) of an event's content, its ``fields`` in a fixed order: None,
    text, numbers and aware times (as UTC microseconds, whatever zone they were sent in)."""
    parts = []
    for f in fields:
        if isinstance(f, datetime):
            f = (f - _EPOCH) // _US
        parts.append("\x00" if f is None else str(f))
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()


_US = timedelta(microseconds=1)
