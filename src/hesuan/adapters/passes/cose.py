"""COSE_Sign1 (RFC 9052 §4.2) with EdDSA / Ed25519 (alg -8), the only algorithm accepted.

A COSE_Sign1 message is the CBOR tag 18 around ``[protected, unprotected, payload, signature]``;
``protected`` is the byte string of the CBOR header map ``{1: -8, 4: kid}`` and the signature is
over ``Sig_structure = ["Signature1", protected, external_aad (b""), payload]``. The key id is the
first 8 bytes of SHA-256 of the raw 32-byte public key.

Imports: ``cbor2``, ``cryptography``, the standard library.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "ALG_EDDSA",
    "COSE_SIGN1_TAG",
    "CoseError",
    "Sign1",
    "decode_sign1",
    "key_id",
    "public_raw",
    "sign1",
    "verify_sign1",
]

COSE_SIGN1_TAG = 18
ALG_EDDSA = -8
_HDR_ALG = 1
_HDR_KID = 4


class CoseError(ValueError):
    """The bytes are not a well-formed COSE_Sign1 message of the kind accepted here."""


def public_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public: bytes | Ed25519PublicKey) -> bytes:
    raw = public if isinstance(public, bytes) else public_raw(public)
    return hashlib.sha256(raw).digest()[:8]


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected, b"", payload])


def sign1(payload: bytes, key: Ed25519PrivateKey, kid: bytes) -> bytes:
    """A tagged COSE_Sign1 message over ``payload``, key id in the protected header."""
    protected = cbor2.dumps({_HDR_ALG: ALG_EDDSA, _HDR_KID: kid}, canonical=True)
    signature = key.sign(_sig_structure(protected, payload))
    return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, signature]))


@dataclass(frozen=True, slots=True)
class Sign1:
    """A decoded, not yet verified, COSE_Sign1 message."""

    protected: bytes
    kid: bytes
    payload: bytes
    signature: bytes

    def verify(self, key: Ed25519PublicKey) -> bool:
        try:
            key.verify(self.signature, _sig_structure(self.protected, self.payload))
        except InvalidSignature:
            return False
        return True


_MAPS = (dict, cbor2.frozendict)  # cbor2 6 decodes maps inside tags as frozendict
_ARRAYS = (list, tuple)


@functools.lru_cache(maxsize=256)
def _protected_kid(protected: bytes) -> bytes:
    """The key id from a protected header, which must say EdDSA. Memoised: every pass signed by
    one key has the same protected header, so a verifier parses it once per key."""
    try:
        header = cbor2.loads(protected)
    except Exception:
        raise CoseError("protected header is not CBOR") from None
    if not isinstance(header, _MAPS):
        raise CoseError("protected header must be a map")
    if header.get(_HDR_ALG) != ALG_EDDSA:
        raise CoseError("algorithm must be EdDSA (-8)")
    kid = header.get(_HDR_KID)
    # The key id must be covered by the signature: it is taken from the protected header only.
    if not isinstance(kid, bytes) or not kid:
        raise CoseError("key id (header 4) missing from the protected header")
    return kid


def decode_sign1(data: bytes) -> Sign1:
    """Parse a COSE_Sign1 message (tagged or untagged). Raises ``CoseError`` when malformed or
    when the algorithm is not EdDSA."""
    try:
        obj = cbor2.loads(data)
    except Exception:  # cbor2 raises several error types on garbage
        raise CoseError("not CBOR") from None
    if type(obj) is cbor2.CBORTag:
        if obj.tag != COSE_SIGN1_TAG:
            raise CoseError(f"CBOR tag {obj.tag} is not COSE_Sign1 (18)")
        obj = obj.value
    if not isinstance(obj, _ARRAYS) or len(obj) != 4:
        raise CoseError("COSE_Sign1 must be an array of 4 items")
    protected, unprotected, payload, signature = obj
    if not (type(protected) is bytes and isinstance(unprotected, _MAPS)
            and type(payload) is bytes and type(signature) is bytes):
        raise CoseError("COSE_Sign1 items have the wrong types")
    if len(signature) != 64:
        raise CoseError("an Ed25519 signature is 64 bytes")
    return Sign1(protected, _protected_kid(protected), payload, signature)


def verify_sign1(data: bytes, key: Ed25519PublicKey) -> bytes:
    """Decode and verify with ``key``; return the payload. Raises ``CoseError``."""
    msg = decode_sign1(data)
    if msg.kid != key_id(key) or not msg.verify(key):
        raise CoseError("signature does not verify")
    return msg.payload
