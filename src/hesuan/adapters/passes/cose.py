"""COSE_Sign1 (RFC 9052 §4.2) with EdDSA / Ed25519 (alg -8, the default) or ES256 (ECDSA P-256
with SHA-256, alg -7); nothing else is accepted.

A COSE_Sign1 message is the CBOR tag 18 around ``[protected, unprotected, payload, signature]``;
``protected`` is the byte string of the CBOR header map ``{1: alg, 4: kid}`` and the signature is
over ``Sig_structure = ["Signature1", protected, external_aad (b""), payload]`` (for ES256 the
64-byte ``r || s`` of RFC 9053 §2.1, not DER). The key id is the first 8 bytes of SHA-256 of the
raw public key (32 bytes for Ed25519, the 65-byte uncompressed point for P-256). The key id and
the algorithm are read from the protected header only, and the algorithm must be the key's own.

Strict, so that a message has one valid text: a header label in both maps, a key id or ``crit``
in the unprotected map, and any ``crit`` entry (no extension is understood here) are refused
(RFC 9052 §3, §3.1); ES256 signatures are made with the low S of the pair (S, n - S) and a high
S never verifies.

Imports: ``cbor2``, ``cryptography``, the standard library.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "ALGORITHMS",
    "ALG_EDDSA",
    "ALG_ES256",
    "COSE_SIGN1_TAG",
    "CoseError",
    "PrivateKey",
    "PublicKey",
    "Sign1",
    "alg_of",
    "decode_sign1",
    "key_id",
    "load_public",
    "public_raw",
    "sign1",
    "verify_sign1",
]

COSE_SIGN1_TAG = 18
ALG_EDDSA = -8
ALG_ES256 = -7
#: Algorithm names (settings, key files) ↔ COSE algorithm numbers.
ALGORITHMS = {"Ed25519": ALG_EDDSA, "ES256": ALG_ES256}
_HDR_ALG = 1
_HDR_CRIT = 2
_HDR_KID = 4
#: The order of P-256's base point: ES256's S and n - S both verify; only S <= n/2 is made
#: and accepted.
_P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_ECDSA = ec.ECDSA(hashes.SHA256())

PrivateKey = Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = Ed25519PublicKey | ec.EllipticCurvePublicKey


class CoseError(ValueError):
    """The bytes are not a well-formed COSE_Sign1 message of the kind accepted here."""


def alg_of(key: PrivateKey | PublicKey) -> int:
    if isinstance(key, Ed25519PrivateKey | Ed25519PublicKey):
        return ALG_EDDSA
    if isinstance(key.curve, ec.SECP256R1):
        return ALG_ES256
    raise CoseError(f"unsupported curve {key.curve.name}")


def public_raw(key: PublicKey) -> bytes:
    if isinstance(key, Ed25519PublicKey):
        return key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def load_public(alg: int, raw: bytes) -> PublicKey:
    """A public key from its raw bytes. Raises ``CoseError``."""
    try:
        if alg == ALG_EDDSA and len(raw) == 32:
            return Ed25519PublicKey.from_public_bytes(raw)
        if alg == ALG_ES256 and len(raw) == 65:
            return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError:
        pass
    raise CoseError("not a public key of the algorithm named")


def key_id(public: bytes | PublicKey) -> bytes:
    raw = public if isinstance(public, bytes) else public_raw(public)
    return hashlib.sha256(raw).digest()[:8]


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected, b"", payload])


def sign1(payload: bytes, key: PrivateKey, kid: bytes) -> bytes:
    """A tagged COSE_Sign1 message over ``payload``, algorithm and key id in the protected
    header."""
    alg = alg_of(key)
    protected = cbor2.dumps({_HDR_ALG: alg, _HDR_KID: kid}, canonical=True)
    to_sign = _sig_structure(protected, payload)
    if isinstance(key, Ed25519PrivateKey):
        signature = key.sign(to_sign)
    else:
        r, s = decode_dss_signature(key.sign(to_sign, _ECDSA))
        s = min(s, _P256_N - s)  # low S: the one text of this signature
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, signature]))


@dataclass(frozen=True, slots=True)
class Sign1:
    """A decoded, not yet verified, COSE_Sign1 message."""

    protected: bytes
    alg: int
    kid: bytes
    payload: bytes
    signature: bytes

    def verify(self, key: PublicKey) -> bool:
        """True when the signature verifies with ``key``, whose algorithm must be the one the
        protected header names."""
        to_check = _sig_structure(self.protected, self.payload)
        try:
            if isinstance(key, Ed25519PublicKey):
                if self.alg != ALG_EDDSA:
                    return False
                key.verify(self.signature, to_check)
            else:
                if self.alg != ALG_ES256:
                    return False
                s = int.from_bytes(self.signature[32:], "big")
                if s > _P256_N // 2:  # the high-S twin of a signature: not its one text
                    return False
                der = encode_dss_signature(int.from_bytes(self.signature[:32], "big"), s)
                key.verify(der, to_check, _ECDSA)
        except InvalidSignature:
            return False
        return True


_MAPS = (dict, cbor2.frozendict)  # cbor2 6 decodes maps inside tags as frozendict
_ARRAYS = (list, tuple)
_ALGS = frozenset(ALGORITHMS.values())


@functools.lru_cache(maxsize=256)
def _protected_header(protected: bytes) -> tuple[int, bytes, frozenset[object]]:
    """(algorithm, key id, the header's labels) from a protected header. Memoised: every pass
    signed by one key has the same protected header, so a verifier parses it once per key."""
    try:
        header = cbor2.loads(protected)
    except Exception:
        raise CoseError("protected header is not CBOR") from None
    if not isinstance(header, _MAPS):
        raise CoseError("protected header must be a map")
    alg = header.get(_HDR_ALG)
    if alg not in _ALGS:
        raise CoseError("algorithm must be EdDSA (-8) or ES256 (-7)")
    kid = header.get(_HDR_KID)
    # The key id must be covered by the signature: it is taken from the protected header only.
    if not isinstance(kid, bytes) or not kid:
        raise CoseError("key id (header 4) missing from the protected header")
    # crit names labels the reader must understand or refuse the message; none is understood
    # here beyond alg and kid, which need not be listed (RFC 9052 §3.1)
    if _HDR_CRIT in header:
        raise CoseError("critical header parameters (header 2) are not understood here")
    return alg, kid, frozenset(header)


def _check_unprotected(unprotected: Mapping[object, object], protected: frozenset[object]
                       ) -> None:
    """A label in both maps, or an unprotected key id or crit, is refused (RFC 9052 §3)."""
    if not unprotected:
        return
    if _HDR_KID in unprotected:
        raise CoseError("key id (header 4) must not be in the unprotected header")
    if _HDR_CRIT in unprotected:
        raise CoseError("crit (header 2) must not be in the unprotected header")
    if not protected.isdisjoint(unprotected):
        raise CoseError("a header parameter is in both the protected and unprotected header")


def decode_sign1(data: bytes) -> Sign1:
    """Parse a COSE_Sign1 message as ``sign1`` makes it: tagged, no unprotected header, the
    bytes exactly those of its items (nothing after them, no other CBOR encoding), so that a
    signed message has one valid form. Raises ``CoseError`` when malformed or when the
    algorithm is not one accepted here."""
    try:
        obj = cbor2.loads(data)
    except Exception:  # cbor2 raises several error types on garbage
        raise CoseError("not CBOR") from None
    if type(obj) is not cbor2.CBORTag or obj.tag != COSE_SIGN1_TAG:
        raise CoseError("not a tagged COSE_Sign1 (18)")
    obj = obj.value
    if not isinstance(obj, _ARRAYS) or len(obj) != 4:
        raise CoseError("COSE_Sign1 must be an array of 4 items")
    protected, unprotected, payload, signature = obj
    if not (type(protected) is bytes and isinstance(unprotected, _MAPS)
            and type(payload) is bytes and type(signature) is bytes):
        raise CoseError("COSE_Sign1 items have the wrong types")
    if len(signature) != 64:
        raise CoseError("an Ed25519 or ES256 signature is 64 bytes")
    alg, kid, labels = _protected_header(protected)
    _check_unprotected(unprotected, labels)
    if unprotected:
        raise CoseError("the unprotected header is empty in a pass or list of ours")
    if cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, signature])) != data:
        raise CoseError("not the one encoding of this COSE_Sign1 (bytes after it, say)")
    return Sign1(protected, alg, kid, payload, signature)


def verify_sign1(data: bytes, key: PublicKey) -> bytes:
    """Decode and verify with ``key``; return the payload. Raises ``CoseError``."""
    msg = decode_sign1(data)
    if msg.kid != key_id(key) or not msg.verify(key):
        raise CoseError("signature does not verify")
    return msg.payload
