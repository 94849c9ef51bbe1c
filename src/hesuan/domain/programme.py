"""The end of the programme: two health officers close it, its personal data is destroyed, and a
signed certificate says what was destroyed.

A close is requested by one health officer and approved by a different one (四眼原则, as a
status override is). Approval exports the final aggregates, destroys every row of personal data,
the keys that sign passes and the data key the personal data is encrypted under (so no copy of
it, backups included, can be read), and writes the destruction certificate: what was destroyed
and how many rows, when, the two officers, and the audit checkpoint that anchors the record of
it.

Imports: standard library, ``hesuan.domain``.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hesuan.domain.errors import Conflict, RuleViolation

__all__ = ["DESTROYED", "DESTROYED_ACCOUNTS", "KEPT", "LEGACY_KEPT", "Certificate",
           "ClosureStatus", "DataKeyState", "canonical", "check_approver", "check_open",
           "check_pending", "digest"]


class ClosureStatus(enum.StrEnum):
    REQUESTED = "requested"
    CLOSED = "closed"
    REJECTED = "rejected"


class DataKeyState(enum.StrEnum):
    """What became of the data key at the close."""

    DESTROYED = "destroyed"  # its file overwritten and removed: every copy is unreadable
    LEGACY = "legacy"  # the personal data was under the master secret's keys: not destroyable
    MISSING = "missing"  # its file was already gone


#: The personal data a close destroys, by table, in words.
DESTROYED: Mapping[str, str] = {
    "people": "people: ID numbers, names and phone numbers (encrypted); masked names, the last "
              "four ID digits, birth years and addresses; their codes",
    "households": "where households live (to about 100 m)",
    "person_status": "each person's status, due time and test history",
    "open_slots": "people in open tubes",
    "samples": "who was sampled in which tube",
    "lane_entries": "registrations at the sampling lanes",
    "recalls": "recalls of pool members",
    "exemptions": "exemptions",
    "overrides": "status overrides",
    "arrivals": "arrivals (落地检)",
    "roster_outcomes": "roster outcomes",
    "team_targets": "door-to-door targets",
    "fence_alerts": "fence alerts",
    "fence_scans": "checkpoint scans",
    "venue_checks": "venue checks",
    "passes": "issued passes",
    "outbox": "notifications (SMS)",
    "elr_outbox": "electronic lab reports",
    "lab_messages": "lab messages (they name patients)",
    "station_events": "station events",
    "sign_in_failures": "failed sign-ins (keyed hashes of addresses)",
    "tokens": "sign-in sessions",
}

#: The accounts a close deletes from ``users`` (the staff's stay: KEPT), by role: a resident's
#: own account is theirs, and its username may name them.
DESTROYED_ACCOUNTS: Mapping[str, str] = {"resident": "residents' own sign-in accounts"}

#: What a close keeps, and why; the certificate says so too.
KEPT: Mapping[str, str] = {
    "daily_aggregates": "counts per day and district; no personal data",
    "tubes, boxes, result_log, plates": "barcodes, places, times, results; they name no one",
    "audit_log": "append-only; entries name people by platform ids that no longer exist",
    "users": "staff accounts, to read the aggregates and verify the audit log",
    "HESUAN_SECRET_KEY": "keys the audit chain and its checkpoints only, so the audit log "
                         "stays verifiable; the personal-data, lookup-hash and sampling-code "
                         "keys derive from the data key, destroyed with its file: in backups "
                         "taken before the close the ID numbers, names and phone numbers can "
                         "no longer be read, but what is stored in the clear can (masked "
                         "names, the last four ID digits, birth years, addresses, where "
                         "households live, who was sampled when and with what result): "
                         "destroy those backups (docs/RETENTION.md)",
}

#: What a close keeps besides when the personal data was under the legacy keys.
LEGACY_KEPT: Mapping[str, str] = {
    "personal-data and lookup keys": "legacy: derived from HESUAN_SECRET_KEY (the database held "
                                     "people before it had a data key file), which is kept to "
                                     "verify the audit chain; so they are not destroyed, and "
                                     "backups taken before the close can still be decrypted "
                                     "with it: destroy them (docs/RETENTION.md)",
}


#: What each entry of a certificate's ``destroyed`` held.
_WHAT: Mapping[str, str] = {**DESTROYED, "users": "; ".join(DESTROYED_ACCOUNTS.values())}


def check_approver(requested_by: str, approver: str) -> None:
    """The officer who approves a close is not the one who asked for it."""
    if requested_by == approver:
        raise RuleViolation("a second, different health officer must approve the close "
                            "(四眼原则)", code="same_officer", field="closure_id")


def check_open(closed: bool) -> None:
    """A closed programme takes no personal data again."""
    if closed:
        raise RuleViolation("the programme is closed: it takes no personal data",
                            code="programme_closed")


def check_pending(status: str) -> None:
    if status != ClosureStatus.REQUESTED:
        raise Conflict(f"the close is already {status}", code="closure_decided",
                       field="closure_id")


@dataclass(frozen=True, slots=True)
class Certificate:
    """The destruction certificate's content; ``document()`` is what is signed."""

    closure_id: str
    requested_by: str
    approved_by: str
    requested_at: datetime
    destroyed_at: datetime
    destroyed: Mapping[str, int]  # table -> rows destroyed
    keys_destroyed: tuple[str, ...]  # key files destroyed
    aggregates_sha256: str  # of the exported final aggregates
    checkpoint_seq: int  # the audit checkpoint written after the destruction
    checkpoint_head: str
    checkpoint_at: str
    not_compacted: str | None = None  # why the store's files could not be rewritten, if so
    data_key: DataKeyState = DataKeyState.DESTROYED

    def document(self) -> dict[str, Any]:
        return {
            "v": 1, "kind": "hesuan.destruction-certificate", "closure": self.closure_id,
            "requested_by": self.requested_by, "approved_by": self.approved_by,
            "requested_at": self.requested_at.isoformat(),
            "destroyed_at": self.destroyed_at.isoformat(),
            "destroyed": {t: {"rows": n, "what": _WHAT.get(t, t)}
                          for t, n in sorted(self.destroyed.items())},
            "keys_destroyed": list(self.keys_destroyed),
            "data_key": self.data_key.value,
            "kept": {**KEPT, **(LEGACY_KEPT if self.data_key == DataKeyState.LEGACY else {})},
            "compacted": self.not_compacted is None,
            **({"not_compacted": self.not_compacted} if self.not_compacted else {}),
            "aggregates_sha256": self.aggregates_sha256,
            "audit_checkpoint": {"seq": self.checkpoint_seq, "head": self.checkpoint_head,
                                 "at": self.checkpoint_at},
        }

    def canonical(self) -> bytes:
        """The bytes signed: the document as sorted, compact JSON (UTF-8)."""
        return canonical(self.document())


def canonical(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
