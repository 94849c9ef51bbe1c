"""Signed status passes (通行码 / 健康码 status pass): what a pass says, how long it lives, and the
verdict a verifier gives.

A pass is a short-lived statement "this person's status is <colour> until <expiry>", signed by the
platform and checked by venues offline. It carries only what a venue needs to match it to the
person in front of them: the masked name (e.g. ``张*明``) and the last four ID digits. Never a
pool, site, ID number or birth date.

The bytes (COSE_Sign1 over CBOR, Base45 with prefix ``SP1:``) are the adapters' business; this
module holds the rules: expiry at most 24 h and never past the moment the status would change
by itself (its ``valid_until``: due + grace for a plain status), the reason codes a verification
can fail with, and the hash under which a revoked pass is listed.

Imports: standard library only.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from hesuan.domain.errors import InvalidInput, RuleViolation

__all__ = [
    "CLOCK_SKEW",
    "FAILURE_TEXT",
    "MAX_PASS_TTL",
    "PASS_PREFIX",
    "REVOCATIONS_FRESH_FOR",
    "ROTATION_INTERVAL",
    "Failure",
    "PassClaims",
    "PassColour",
    "PassStatus",
    "Verdict",
    "check_times",
    "next_rotation",
    "pass_expiry",
    "pass_id_hash",
    "revocations_note",
    "trust_list_note",
]

#: Text form prefix: "status pass, version 1".
PASS_PREFIX = "SP1:"
#: A pass never lives longer than this, whatever the person's next due time.
MAX_PASS_TTL = timedelta(hours=24)
#: Clock skew a verifier tolerates for a pass issued "in the future".
CLOCK_SKEW = timedelta(minutes=5)
#: At most one pass-signing key rotation in this long. Venues check passes signed with a new
#: key only once they have fetched the new trust list, and each retired key stays in that list
#: until its passes end (24 h): so a rotation is for a key thought leaked, not a thing to repeat.
ROTATION_INTERVAL = timedelta(hours=1)
#: A verifier's revocation list older than this is shown as old with every valid verdict: a
#: pass revoked since (a positive result, a correction) still verifies with it.
REVOCATIONS_FRESH_FOR = timedelta(hours=1)


class PassColour(enum.StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"
    POPUP = "popup"  # 弹窗: a special check is needed before entry


@dataclass(frozen=True, slots=True)
class PassStatus:
    """What a status source says about one person, enough to issue a pass."""

    colour: PassColour
    reasons: tuple[str, ...]
    valid_until: datetime
    masked_name: str
    id_last4: str


@dataclass(frozen=True, slots=True)
class PassClaims:
    """The claims inside a pass. ``pass_id`` is 16 random bytes, unique to this pass."""

    issuer: str
    issued_at: datetime
    expires_at: datetime
    pass_id: bytes
    colour: PassColour
    masked_name: str
    id_last4: str

    def __post_init__(self) -> None:
        if self.issued_at.tzinfo is None or self.expires_at.tzinfo is None:
            raise InvalidInput("pass times must be aware UTC", code="naive_time")
        if len(self.pass_id) != 16:
            raise InvalidInput("pass id must be 16 bytes", code="bad_pass_id")
        if len(self.id_last4) != 4:
            raise InvalidInput("id_last4 must be 4 characters", code="bad_id_last4")


def pass_expiry(now: datetime, valid_until: datetime) -> datetime:
    """When a pass issued at ``now`` for a status valid until ``valid_until`` expires: the
    earlier of the two and ``now + 24 h``. A status with no validity left gives no pass."""
    expiry = min(valid_until, now + MAX_PASS_TTL)
    if expiry <= now:
        raise RuleViolation("the person's status has no validity left; it must be renewed "
                            "(a new test) before a pass can be issued", code="status_expired")
    return expiry


def pass_id_hash(pass_id: bytes) -> str:
    """The name of a pass on the revocation list: SHA-256 of its id, first 16 bytes, in hex.
    The list so reveals nothing about whose passes are revoked."""
    return hashlib.sha256(b"hesuan-pass:" + pass_id).hexdigest()[:32]


class Failure(enum.StrEnum):
    """Why a pass is not valid."""

    MALFORMED = "malformed"  # not SP1 text, bad Base45, bad CBOR or COSE structure
    UNKNOWN_KEY = "unknown_key"  # key id not in the trust list
    BAD_SIGNATURE = "bad_signature"  # signature does not verify: forged or altered
    KEY_NOT_VALID = "key_not_valid"  # the key was not valid for a pass issued at that time
    NOT_YET_VALID = "not_yet_valid"  # issued in the future (beyond clock skew)
    EXPIRED = "expired"
    REVOKED = "revoked"  # overtaken by a later result


FAILURE_TEXT: dict[Failure, str] = {
    Failure.MALFORMED: "not a readable status pass",
    Failure.UNKNOWN_KEY: "signed with a key that is not in the trust list",
    Failure.BAD_SIGNATURE: "the signature does not match: the pass was forged or altered",
    Failure.KEY_NOT_VALID: "the signing key was not valid when the pass was issued",
    Failure.NOT_YET_VALID: "the pass claims to be issued in the future",
    Failure.EXPIRED: "the pass has expired; the person must show a fresh one",
    Failure.REVOKED: "the pass was revoked: the person's status changed after it was issued",
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer of a verifier. When ``valid`` is false, ``failure`` says why; the claims are
    filled in whenever the signature verified (so an expired pass still shows whose it was)."""

    valid: bool
    failure: Failure | None = None
    colour: PassColour | None = None
    masked_name: str | None = None
    id_last4: str | None = None
    issued_at: datetime | None = None
    expires_at: datetime | None = None
    issuer: str | None = None
    key_id: str | None = None
    #: ``pass_id_hash`` of the pass, when its signature verified (the online checker maps it to
    #: the person for fence alerts; offline verifiers have no use for it).
    pass_hash: str | None = None
    #: When the revocations the pass was checked against were issued (the online check: now);
    #: None when it was not checked against any.
    revocations_as_of: datetime | None = None
    #: When the trust list that did not know the pass's key was issued (``unknown_key``
    #: only): a key made after it is unknown to it.
    trust_list_as_of: datetime | None = None

    @property
    def reason(self) -> str:
        if self.failure is None:
            return f"valid until {self.expires_at:%Y-%m-%d %H:%M} UTC" if self.expires_at else ""
        return FAILURE_TEXT[self.failure]

    @classmethod
    def fail(cls, failure: Failure, claims: PassClaims | None = None,
             key_id: str | None = None, revocations_as_of: datetime | None = None) -> Verdict:
        if claims is None:
            return cls(False, failure, key_id=key_id)
        return cls(False, failure, claims.colour, claims.masked_name, claims.id_last4,
                   claims.issued_at, claims.expires_at, claims.issuer, key_id,
                   pass_id_hash(claims.pass_id), revocations_as_of)

    @classmethod
    def ok(cls, claims: PassClaims, key_id: str,
           revocations_as_of: datetime | None = None) -> Verdict:
        return cls(True, None, claims.colour, claims.masked_name, claims.id_last4,
                   claims.issued_at, claims.expires_at, claims.issuer, key_id,
                   pass_id_hash(claims.pass_id), revocations_as_of)


def revocations_note(verdict: Verdict, now: datetime) -> str | None:
    """What a venue is told beside a valid verdict when the revocations it was checked against
    may have missed a change: none held, or held longer than ``REVOCATIONS_FRESH_FOR``. None
    otherwise, and for a pass found not valid (that answer stands whatever the list's age)."""
    if not verdict.valid:
        return None
    as_of = verdict.revocations_as_of
    if as_of is None:
        return "revocations not checked"
    if now - as_of <= REVOCATIONS_FRESH_FOR:
        return None
    return (f"revocations as of {_as_of(as_of, now)}: passes revoked since are not caught; "
            "update the lists")


def trust_list_note(verdict: Verdict, now: datetime) -> str | None:
    """What a venue is told beside a pass whose signing key its trust list does not hold: the
    list's age, for a key made after it (a rotation) is unknown to it, and a true pass is then
    refused until the lists are updated. None for any other verdict."""
    as_of = verdict.trust_list_as_of
    if verdict.failure is not Failure.UNKNOWN_KEY or as_of is None:
        return None
    return (f"trust list as of {_as_of(as_of, now)}: a signing key made since (a rotation) is "
            "unknown to it; update the lists and check again before turning the person away")


def _as_of(at: datetime, now: datetime) -> str:
    """A list's issue time and age, as a device shows them."""
    minutes = max(0, int((now - at).total_seconds()) // 60)
    return f"{at:%Y-%m-%d %H:%M} UTC, {minutes // 60} h {minutes % 60} min old"


def check_times(claims: PassClaims, now: datetime) -> Failure | None:
    """The time rules every verifier applies after the signature."""
    if claims.issued_at > now + CLOCK_SKEW:
        return Failure.NOT_YET_VALID
    if now >= claims.expires_at:
        return Failure.EXPIRED
    if claims.expires_at - claims.issued_at > MAX_PASS_TTL:
        return Failure.MALFORMED
    return None


def next_rotation(last_rotation: datetime | None, now: datetime) -> datetime | None:
    """When the pass-signing key may be rotated again after the last rotation; None if now."""
    if last_rotation is None:
        return None
    until = last_rotation + ROTATION_INTERVAL
    return until if until > now else None
