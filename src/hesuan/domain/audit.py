"""The append-only, hash-chained audit log (审计日志): how each entry's hash is made.

Entry n's hash is SHA-256 over entry n-1's hash and entry n's canonical JSON, so editing or
deleting any past entry breaks every hash after it. ``verify_chain`` replays the chain.

Imports: standard library only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["GENESIS", "AuditEntry", "entry_hash", "verify_chain"]

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: str  # ISO-8601 UTC
    actor: str
    action: str
    subject: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str


def entry_hash(prev_hash: str, seq: int, at: str, actor: str, action: str, subject: str,
               detail: dict[str, Any]) -> str:
    body = json.dumps([seq, at, actor, action, subject, detail], ensure_ascii=False,
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def verify_chain(entries: Iterable[AuditEntry], start_hash: str = GENESIS) -> int | None:
    """Return the seq of the first broken entry, or None when the whole chain holds."""
    prev = start_hash
    expected_seq: int | None = None
    for e in entries:
        if expected_seq is not None and e.seq != expected_seq:
            return e.seq
        if e.prev_hash != prev:
            return e.seq
        if entry_hash(e.prev_hash, e.seq, e.at, e.actor, e.action, e.subject, e.detail) != e.hash:
            return e.seq
        prev = e.hash
        expected_seq = e.seq + 1
    return None
