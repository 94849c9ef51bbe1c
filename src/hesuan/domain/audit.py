"""The append-only audit log (审计日志): how each entry is chained, how checkpoints anchor the
chain, and what a check of both concludes.

Entry n's hash is HMAC-SHA256, under a key the database does not hold, over entry n-1's hash
and entry n's canonical JSON: editing or deleting a past entry breaks every hash after it, and
recomputing them takes the key. Entries at or below the log's legacy boundary (written before
the database had a keyed chain) carry plain SHA-256 instead; the first keyed entry's MAC covers
the last of them, so they cannot change either once one keyed entry follows.

A checkpoint is (seq, head hash, time), signed with HMAC-SHA256 under a second key and kept
outside the database. A check against the latest valid checkpoint finds what the chain alone
cannot: the last entries deleted (the log ends before the checkpoint's seq) or the log rebuilt
by someone holding the key (the checkpoint's seq has another hash).

Imports: standard library and ``hesuan.domain.json``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from hesuan.domain.instants import iso_utc
from hesuan.domain.json import JsonObject

__all__ = ["ANCHOR_MAX_AGE", "GENESIS", "AuditEntry", "AuditReport", "ChainCheck", "ChainKey",
           "Checkpoint", "CheckpointKey", "Verdict", "judge", "plain_hash", "signs", "verify_chain"]

GENESIS = "0" * 64

#: How old the latest signed checkpoint may grow while entries follow it before a check says
#: the log is not being anchored (the scheduler signs one every few minutes).
ANCHOR_MAX_AGE = timedelta(hours=1)

#: What a check concludes, worst first when several hold: a checkpoint that is not ours, the
#: log shorter than a checkpoint, the checkpoint's entry replaced, an entry that fails its hash.
Verdict = Literal["forged_checkpoint", "truncated", "rewritten", "broken", "intact"]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: str  # ISO-8601 UTC
    actor: str
    action: str
    subject: str
    detail: JsonObject
    prev_hash: str
    hash: str


def _body(prev_hash: str, seq: int, at: str, actor: str, action: str, subject: str,
          detail: JsonObject) -> bytes:
    return (prev_hash + json.dumps([seq, at, actor, action, subject, detail],
                                   ensure_ascii=False, sort_keys=True,
                                   separators=(",", ":"))).encode()


def plain_hash(prev_hash: str, seq: int, at: str, actor: str, action: str, subject: str,
               detail: JsonObject) -> str:
    """The unkeyed rule of entries at or below the legacy boundary."""
    return hashlib.sha256(_body(prev_hash, seq, at, actor, action, subject, detail)).hexdigest()


class ChainKey:
    """The chain's HMAC key. The key's pads are hashed once, and each entry costs what a plain
    SHA-256 of it does (every write appends at least one entry)."""

    __slots__ = ("_base",)

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the audit chain key must be at least 32 bytes")
        self._base = hmac.new(key, digestmod=hashlib.sha256)

    def entry_hash(self, prev_hash: str, seq: int, at: str, actor: str, action: str,
                   subject: str, detail: JsonObject) -> str:
        mac = self._base.copy()
        mac.update(_body(prev_hash, seq, at, actor, action, subject, detail))
        return mac.hexdigest()

    def expected(self, e: AuditEntry, legacy_upto: int) -> str:
        """The hash entry ``e`` must carry."""
        rule = plain_hash if e.seq <= legacy_upto else self.entry_hash
        return rule(e.prev_hash, e.seq, e.at, e.actor, e.action, e.subject, e.detail)


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """Where a replay of the chain got to: the last good entry, or the first bad seq."""

    seq: int = 0
    hash: str = GENESIS
    broken_at: int | None = None


def verify_chain(entries: Iterable[AuditEntry], key: ChainKey, start: ChainCheck | None = None,
                 legacy_upto: int = 0) -> ChainCheck:
    """Replay ``entries`` (in seq order) from ``start`` (the log's beginning). A missing entry
    is reported at its own seq; an entry whose link or hash is wrong at its seq. Stops at the
    first break."""
    start = start or ChainCheck()
    if start.broken_at is not None:
        return start
    seq, prev = start.seq, start.hash
    for e in entries:
        if e.seq != seq + 1:
            return ChainCheck(seq, prev, seq + 1)
        if e.prev_hash != prev or not hmac.compare_digest(key.expected(e, legacy_upto), e.hash):
            return ChainCheck(seq, prev, e.seq)
        seq, prev = e.seq, e.hash
    return ChainCheck(seq, prev)


def signs(key: ChainKey, recent: Iterable[AuditEntry], legacy_upto: int) -> bool:
    """Whether ``key`` is the key the log is signed under, judged on its ``recent`` entries:
    one keyed entry among them verifies. Another key verifies none; a log whose very last
    entries were altered still has earlier ones that verify (``verify_chain`` finds the
    break). Entries from before the keyed chain prove nothing, nor does an empty log: True."""
    keyed = [e for e in recent if e.seq > legacy_upto]
    return not keyed or any(hmac.compare_digest(key.expected(e, legacy_upto), e.hash)
                            for e in keyed)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    seq: int
    head: str
    at: str  # ISO-8601 UTC, as signed

    @property
    def signed_at(self) -> datetime:
        """``at`` as an instant, whatever offset form the signed text has."""
        return datetime.fromisoformat(self.at)


class CheckpointKey:
    """The checkpoints' HMAC key (derived apart from the chain's)."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the checkpoint key must be at least 32 bytes")
        self._key = key

    def sign(self, cp: Checkpoint) -> str:
        msg = json.dumps(["hesuan-audit-checkpoint", 1, cp.seq, cp.head, cp.at],
                         separators=(",", ":")).encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def valid(self, cp: Checkpoint, mac: str) -> bool:
        return hmac.compare_digest(self.sign(cp), mac)


@dataclass(frozen=True, slots=True)
class AuditReport:
    """The outcome of ``audit verify``."""

    verdict: Verdict
    entries: int  # entries checked (up to the first break)
    head_seq: int  # the log's last seq
    legacy_entries: int  # entries at or below the legacy boundary (plain SHA-256)
    first_broken_seq: int | None
    checkpoint: Checkpoint | None  # the latest valid one
    bad_checkpoints: tuple[str, ...]  # names of checkpoints unsigned, unreadable or forged

    @property
    def intact(self) -> bool:
        return self.verdict == "intact"

    def anchor_overdue(self, now: datetime) -> bool:
        """Entries follow the latest signed checkpoint (or there is none), and it is older
        than :data:`ANCHOR_MAX_AGE`: what was written since could be rewritten unseen. The
        scheduler signs one every few minutes; this says it has stopped, or cannot write."""
        if self.head_seq == 0:
            return False
        cp = self.checkpoint
        if cp is None:
            return True
        return (self.head_seq > cp.seq
                and now - cp.signed_at > ANCHOR_MAX_AGE)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON answers it (the API and ``hesuan audit verify --json``)."""
        cp = self.checkpoint
        return {"verdict": self.verdict, "intact": self.intact, "entries": self.entries,
                "head_seq": self.head_seq, "legacy_entries": self.legacy_entries,
                "first_broken_seq": self.first_broken_seq,
                "checkpoint": None if cp is None else {
                    "seq": cp.seq, "head": cp.head,
                    "at": iso_utc(cp.signed_at)},  # as every report writes a time
                "bad_checkpoints": list(self.bad_checkpoints)}


def judge(chain: ChainCheck, head_seq: int, hash_at_checkpoint: str | None,
          checkpoint: Checkpoint | None, bad_checkpoints: tuple[str, ...]) -> Verdict:
    """The verdict from a replay of the whole log, its last seq, the hash the log holds at the
    latest valid checkpoint's seq (None: no such entry) and the checkpoints that fail."""
    if bad_checkpoints:
        return "forged_checkpoint"
    if checkpoint is not None:
        if head_seq < checkpoint.seq:
            return "truncated"
        if hash_at_checkpoint is None or not hmac.compare_digest(hash_at_checkpoint,
                                                                  checkpoint.head):
            return "rewritten"
    return "broken" if chain.broken_at is not None else "intact"
