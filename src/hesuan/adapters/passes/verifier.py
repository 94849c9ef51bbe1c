"""The standalone offline verifier of status passes (venues check passes with it, no network).

It needs only:

* the **root public key(s)** — the trust anchor, installed once on the device;
* the **trust list** — the platform's pass-signing public keys, signed by a root key
  (``trust-list.cose``); a key stays in it after rotation until its last pass has expired;
* optionally the **revocation list** — hashed ids of passes overtaken by a later result, signed by
  a pass-signing key of the trust list (``revocations.cose``);
* the current time.

::

    roots = [load_root_key(Path("root.pub"))]
    v = OfflineVerifier(TrustList.load(Path("trust-list.cose").read_bytes(), roots))
    verdict = v.verify("SP1:...", datetime.now(UTC))
    verdict.valid, verdict.colour, verdict.masked_name, verdict.reason

Imports: ``cbor2``, ``cryptography``, ``base45`` (through the codec), the standard library,
``hesuan.domain.passes``.
"""

from __future__ import annotations

import base64
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hesuan.adapters.passes.codec import MalformedPass, decode_claims, from_text
from hesuan.adapters.passes.cose import (
    CoseError,
    PublicKey,
    alg_of,
    decode_sign1,
    key_id,
    load_public,
)
from hesuan.domain.passes import (
    CLOCK_SKEW,
    Failure,
    PassClaims,
    Verdict,
    check_times,
    pass_id_hash,
)

__all__ = [
    "OfflineVerifier",
    "RevocationList",
    "TrustList",
    "TrustListError",
    "TrustedKey",
    "load_root_key",
]

TRUST_LIST_TYPE = "hesuan-pass-trust-list"
REVOCATIONS_TYPE = "hesuan-pass-revocations"


class TrustListError(ValueError):
    """A trust list or revocation list is malformed or its signature does not verify."""


def load_root_key(path: Path) -> bytes:
    """A root public key file: one line, Base64 of the raw 32-byte Ed25519 public key."""
    raw = base64.b64decode(path.read_text().strip())
    if len(raw) != 32:
        raise TrustListError(f"{path}: not a raw Ed25519 public key")
    return raw


def _ts(value: Any, what: str) -> datetime:
    if type(value) is not int:
        raise TrustListError(f"{what} must be an epoch-seconds integer")
    return datetime.fromtimestamp(value, UTC)


def _opt_ts(value: Any, what: str) -> datetime | None:
    return None if value is None else _ts(value, what)


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """A pass-signing key: valid for passes issued from ``not_before``; once ``retired_at`` is set
    it signs no more, and it is trusted for old passes until ``until`` (retired + 24 h)."""

    kid: bytes
    public: PublicKey
    not_before: datetime
    retired_at: datetime | None
    until: datetime | None

    @property
    def alg(self) -> int:
        """The COSE algorithm of the key (-8 EdDSA, -7 ES256)."""
        return alg_of(self.public)

    def valid_for(self, issued_at: datetime, now: datetime) -> bool:
        if issued_at < self.not_before - CLOCK_SKEW:
            return False
        if self.retired_at is not None and issued_at > self.retired_at + CLOCK_SKEW:
            return False
        return self.until is None or now < self.until


@dataclass(frozen=True, slots=True)
class TrustList:
    issuer: str
    sequence: int
    issued_at: datetime
    keys: dict[bytes, TrustedKey]

    @classmethod
    def load(cls, data: bytes, roots: Iterable[bytes]) -> TrustList:
        """Parse a signed trust list and check its signature against the root keys."""
        anchors = {key_id(raw): Ed25519PublicKey.from_public_bytes(raw) for raw in roots}
        try:
            msg = decode_sign1(data)
        except CoseError as exc:
            raise TrustListError(f"trust list: {exc}") from None
        root = anchors.get(msg.kid)
        if root is None:
            raise TrustListError("trust list is signed by a key that is not a trusted root")
        if not msg.verify(root):
            raise TrustListError("trust list signature does not verify")
        try:
            body = cbor2.loads(msg.payload)
        except Exception:
            raise TrustListError("trust list payload is not CBOR") from None
        if not isinstance(body, Mapping) or body.get("type") != TRUST_LIST_TYPE:
            raise TrustListError("not a trust list")
        keys: dict[bytes, TrustedKey] = {}
        entries = body.get("keys", [])
        if not isinstance(entries, list | tuple):
            raise TrustListError("trust list keys must be an array")
        for entry in entries:
            if not isinstance(entry, Mapping):
                raise TrustListError("trust list entry must be a map")
            kid, pub, alg = entry.get("kid"), entry.get("pub"), entry.get("alg")
            if not isinstance(pub, bytes) or type(alg) is not int or kid != key_id(pub):
                raise TrustListError("trust list entry: bad key")
            try:
                public = load_public(alg, pub)
            except CoseError as exc:
                raise TrustListError(f"trust list entry: {exc}") from None
            keys[kid] = TrustedKey(kid, public,
                                   _ts(entry.get("nbf"), "nbf"),
                                   _opt_ts(entry.get("retired"), "retired"),
                                   _opt_ts(entry.get("until"), "until"))
        issuer, seq = body.get("iss"), body.get("seq")
        if not isinstance(issuer, str) or type(seq) is not int:
            raise TrustListError("trust list: issuer and sequence required")
        return cls(issuer, seq, _ts(body.get("iat"), "iat"), keys)


@dataclass(frozen=True, slots=True)
class RevocationList:
    issued_at: datetime
    hashes: frozenset[str]

    @classmethod
    def load(cls, data: bytes, trust: TrustList,
             now: datetime | None = None) -> RevocationList:
        """Parse a signed revocation list; it must be signed by a key of the trust list that
        was not retired when the list was issued, and (given ``now``) not be dated after it."""
        try:
            msg = decode_sign1(data)
        except CoseError as exc:
            raise TrustListError(f"revocation list: {exc}") from None
        key = trust.keys.get(msg.kid)
        if key is None or not msg.verify(key.public):
            raise TrustListError("revocation list is not signed by a trusted key")
        try:
            body = cbor2.loads(msg.payload)
        except Exception:
            raise TrustListError("revocation list payload is not CBOR") from None
        if not isinstance(body, Mapping) or body.get("type") != REVOCATIONS_TYPE:
            raise TrustListError("not a revocation list")
        hashes = body.get("hashes", [])
        if not isinstance(hashes, list | tuple) or not all(isinstance(h, bytes) for h in hashes):
            raise TrustListError("revocation list: hashes must be byte strings")
        issued_at = _ts(body.get("iat"), "iat")
        if key.retired_at is not None and issued_at > key.retired_at + CLOCK_SKEW:
            # whoever holds a retired key could otherwise hand out a list without revocations
            raise TrustListError("revocation list is signed by a retired key")
        if now is not None and issued_at > now + CLOCK_SKEW:
            raise TrustListError("revocation list is dated in the future")
        return cls(issued_at, frozenset(h.hex() for h in hashes))


class OfflineVerifier:
    """Checks a pass's text against a trust list (and revocations) at a given time.

    Order of checks: readable → key known → the key's own algorithm (else malformed) →
    signature → key valid for the issue time →
    not issued in the future → not expired → not revoked. Thread-safe (immutable)."""

    def __init__(self, trust: TrustList, revoked: Container[str] = frozenset(),
                 revocations_as_of: datetime | None = None) -> None:
        self.trust = trust
        self._revoked = revoked
        self._revocations_as_of = revocations_as_of

    @classmethod
    def from_files(cls, trust_list: Path, root_keys: Iterable[Path],
                   revocations: Path | None = None,
                   now: datetime | None = None) -> OfflineVerifier:
        trust = TrustList.load(trust_list.read_bytes(), [load_root_key(p) for p in root_keys])
        if revocations is None:
            return cls(trust)
        listed = RevocationList.load(revocations.read_bytes(), trust, now)
        return cls(trust, listed.hashes, listed.issued_at)

    def verify(self, text: str, now: datetime,
               revoked: Container[str] | None = None) -> Verdict:
        """The verdict on ``text`` at ``now``; ``revoked`` (the online check's revocations as
        they are now) in place of the list the verifier holds."""
        try:
            msg = decode_sign1(from_text(text))
        except (MalformedPass, CoseError):
            return Verdict.fail(Failure.MALFORMED)
        kid = msg.kid.hex()
        key = self.trust.keys.get(msg.kid)
        if key is None:
            return Verdict(False, Failure.UNKNOWN_KEY, key_id=kid,
                           trust_list_as_of=self.trust.issued_at)
        if msg.alg != key.alg:  # the header names another algorithm than the key's own
            return Verdict.fail(Failure.MALFORMED, key_id=kid)
        if not msg.verify(key.public):
            return Verdict.fail(Failure.BAD_SIGNATURE, key_id=kid)
        try:
            claims: PassClaims = decode_claims(msg.payload)
        except (MalformedPass, ValueError):
            return Verdict.fail(Failure.MALFORMED, key_id=kid)
        if claims.issuer != self.trust.issuer:
            return Verdict.fail(Failure.KEY_NOT_VALID, claims, kid)
        if not key.valid_for(claims.issued_at, now):
            return Verdict.fail(Failure.KEY_NOT_VALID, claims, kid)
        failure = check_times(claims, now)
        if failure is not None:
            return Verdict.fail(failure, claims, kid)
        as_of = self._revocations_as_of if revoked is None else now
        if pass_id_hash(claims.pass_id) in (self._revoked if revoked is None else revoked):
            return Verdict.fail(Failure.REVOKED, claims, kid, as_of)
        return Verdict.ok(claims, kid, as_of)
