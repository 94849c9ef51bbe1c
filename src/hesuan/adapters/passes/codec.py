"""The bytes of a pass: CBOR claims map, COSE_Sign1 around it, optional zlib, Base45 with ``SP1:``.

Claims map (CWT claim keys, RFC 8392, for the standard ones; short text keys for the rest)::

    1: issuer (text)          4: expiry (epoch s)        6: issued-at (epoch s)
    7: pass id (16 bytes)     "v": 1 (format version)    "st": colour
    "nm": masked name         "id4": last 4 ID digits

Nothing else: no pool, site, ID number or birth date.

Imports: ``cbor2``, ``base45``, the standard library, ``hesuan.domain``.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime

import cbor2
from base45 import b45encode

from hesuan.domain.passes import PASS_PREFIX, PassClaims, PassColour

__all__ = [
    "MalformedPass",
    "b45decode_fast",
    "decode_claims",
    "encode_claims",
    "from_text",
    "to_text",
]

_ISS, _EXP, _IAT, _CTI = 1, 4, 6, 7
_MAX_COSE = 4096
_COLOURS = {c.value: c for c in PassColour}
_MAPS = (dict, cbor2.frozendict)


class MalformedPass(ValueError):
    """The text or bytes are not a pass of this format."""


def _epoch(value: datetime) -> int:
    return int(value.timestamp())


def encode_claims(c: PassClaims) -> bytes:
    return cbor2.dumps({_ISS: c.issuer, _EXP: _epoch(c.expires_at), _IAT: _epoch(c.issued_at),
                        _CTI: c.pass_id, "v": 1, "st": c.colour.value, "nm": c.masked_name,
                        "id4": c.id_last4}, canonical=True)


def decode_claims(payload: bytes) -> PassClaims:
    try:
        m = cbor2.loads(payload)
    except Exception:
        raise MalformedPass("claims are not CBOR") from None
    if not isinstance(m, _MAPS) or m.get("v") != 1:
        raise MalformedPass("claims must be a version-1 map")
    iss, exp, iat, cti = m.get(_ISS), m.get(_EXP), m.get(_IAT), m.get(_CTI)
    colour, name, last4 = m.get("st"), m.get("nm"), m.get("id4")
    if not (type(iss) is str and type(exp) is int and type(iat) is int
            and type(cti) is bytes and len(cti) == 16 and type(colour) is str
            and colour in _COLOURS and type(name) is str and type(last4) is str
            and len(last4) == 4 and len(name) <= 40):
        raise MalformedPass("claims are missing or of the wrong type")
    try:
        issued = datetime.fromtimestamp(iat, UTC)
        expires = datetime.fromtimestamp(exp, UTC)
    except (OverflowError, OSError, ValueError):
        raise MalformedPass("claim times out of range") from None
    return PassClaims(iss, issued, expires, cti, _COLOURS[colour], name, last4)


_B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
#: bytes.translate table: a Base45 character to its value, anything else to 0xFF.
_B45_VALUES = bytes(_B45.index(chr(i)) if chr(i) in _B45 else 0xFF for i in range(256))


def b45decode_fast(text: str) -> bytes:
    """RFC 9285 Base45 decoding, the same as ``base45.b45decode`` (the tests check it on random
    input) but about ten times faster, which venues checking thousands of passes need.

    Every triplet ``c d e`` is the 16-bit word ``c + 45 d + 2025 e``. Instead of a Python loop,
    the three digit columns are spread into 32-bit lanes of three big integers, combined with
    two multiplications, and the words read back from the lanes (no lane can carry into the next:
    the largest sum is 91,124)."""
    try:
        vals = text.encode("ascii").translate(_B45_VALUES)
    except UnicodeEncodeError:
        raise ValueError("Invalid base45 string") from None
    if 0xFF in vals or len(vals) % 3 == 1:
        raise ValueError("Invalid base45 string")
    full = len(vals) - len(vals) % 3
    n = full // 3
    lanes = []
    for k in range(3):
        spread = bytearray(4 * n)
        spread[3::4] = vals[k:full:3]
        lanes.append(int.from_bytes(spread, "big"))
    words = (lanes[0] + lanes[1] * 45 + lanes[2] * 2025).to_bytes(4 * n, "big")
    if words[0::4].count(0) != n or words[1::4].count(0) != n:
        raise ValueError("Invalid base45 string")
    out = bytearray(2 * n + (full < len(vals)))
    out[0:2 * n:2] = words[2::4]
    out[1:2 * n:2] = words[3::4]
    if full < len(vals):
        last = vals[full] + vals[full + 1] * 45
        if last > 0xFF:
            raise ValueError("Invalid base45 string")
        out[-1] = last
    return bytes(out)


def to_text(cose: bytes, compress: bool = True) -> str:
    """``SP1:`` + Base45 of the COSE bytes, zlib-compressed when that makes them shorter."""
    body = cose
    if compress:
        packed = zlib.compress(cose, 9)
        if len(packed) < len(cose):
            body = packed
    encoded: bytes = b45encode(body)
    return PASS_PREFIX + encoded.decode("ascii")


def from_text(text: str) -> bytes:
    """The COSE bytes inside an ``SP1:`` text (decompressed), when the text is the one
    ``to_text`` makes of them: a pass has exactly one valid text (no spaces around it, no other
    compression, nothing after the zlib stream). Raises ``MalformedPass``."""
    if not text.startswith(PASS_PREFIX):
        raise MalformedPass(f"a status pass starts with {PASS_PREFIX}")
    body = text[len(PASS_PREFIX):]
    if len(body) > 2 * _MAX_COSE:
        raise MalformedPass("too long for a status pass")
    try:
        raw = b45decode_fast(body)
    except ValueError:
        raise MalformedPass("not Base45") from None
    if raw[:1] == b"\x78":  # zlib header (deflate, 32 KiB window)
        d = zlib.decompressobj()
        try:
            raw = d.decompress(raw, _MAX_COSE)
        except zlib.error:
            raise MalformedPass("bad zlib data") from None
        if d.unconsumed_tail:
            raise MalformedPass("too long for a status pass")
    if to_text(raw) != text:
        raise MalformedPass("not the one text of a status pass")
    return raw
