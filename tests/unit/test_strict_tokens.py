"""Every token has exactly one valid text: a sampling code decoded strictly, a pass's COSE headers
and ES256 signature checked strictly, an algorithm that is not the key's refused with the
documented reason; and QR codes with the quiet zone ISO/IEC 18004 asks for on white."""

from __future__ import annotations

import re
import secrets
import struct
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cbor2
import pytest
import segno
from base45 import b45decode, b45encode
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from hesuan.adapters.crypto import HmacCodeSigner
from hesuan.adapters.passes.codec import encode_claims, from_text, to_text
from hesuan.adapters.passes.cose import decode_sign1
from hesuan.adapters.passes.keys import PassKeyStore, load_signing_key
from hesuan.adapters.passes.verifier import OfflineVerifier, TrustList
from hesuan.adapters.qr import SegnoQr
from hesuan.domain.passes import Failure, PassClaims, PassColour

NOW = datetime(2022, 8, 29, 2, 0, tzinfo=UTC)
ISSUER = "CN-14-0100"
#: The order of P-256's base point.
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


# -- sampling codes --------------------------------------------------------------------------

def test_a_sampling_code_has_exactly_one_valid_text() -> None:
    signer = HmacCodeSigner(b"k" * 32)
    pid = secrets.token_hex(16)
    token = signer.sign(pid)
    assert signer.verify(token) == pid
    # the last character carries 3 data bits and 2 padding bits: every other value of it,
    # including the three that differ only in the padding bits, is refused
    variants = [token[:-1] + c for c in B32 if c != token[-1]]
    assert len(variants) == 31
    accepted = [v for v in variants if signer.verify(v) is not None]
    assert accepted == [], accepted
    # nor any other spelling of the same bytes
    for other in (token.lower(), "hs1:" + token[4:], token[:4] + token[4:].lower(),
                  token[:10] + " " + token[10:]):
        assert signer.verify(other) is None, repr(other)
    # the blanks or newline a hand scanner adds around what it read are not the code's
    for scanned in (" " + token, token + "\n", "\t" + token + "\r\n"):
        assert signer.verify(scanned) == pid, repr(scanned)


# -- passes ----------------------------------------------------------------------------------

def _claims() -> PassClaims:
    return PassClaims(ISSUER, NOW, NOW + timedelta(hours=12), secrets.token_bytes(16),
                      PassColour.GREEN, "张*明", "1234")


@pytest.fixture(params=["Ed25519", "ES256"])
def keys(tmp_path: Path, request: pytest.FixtureRequest) -> PassKeyStore:
    return PassKeyStore(tmp_path / "keys", ISSUER, create=True, alg=request.param)


def _offline(keys: PassKeyStore) -> OfflineVerifier:
    return OfflineVerifier(TrustList.load(keys.trust_list(NOW), [keys.root_public(NOW)]))


def _signer(keys: PassKeyStore) -> Any:
    kid = keys.key_id(NOW)
    return load_signing_key((keys.directory / f"signing-{kid}.key").read_text(),
                            keys.algorithm)


def _sign_raw(key: Any, protected: dict[Any, Any], unprotected: dict[Any, Any],
              payload: bytes) -> str:
    """A pass made by hand with the trusted key: the signature holds, the headers are ours."""
    prot = cbor2.dumps(protected, canonical=True)
    to_sign = cbor2.dumps(["Signature1", prot, b"", payload])
    if isinstance(key, Ed25519PrivateKey):
        sig = key.sign(to_sign)
    else:
        r, s = decode_dss_signature(key.sign(to_sign, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + min(s, P256_N - s).to_bytes(32, "big")
    return to_text(cbor2.dumps(cbor2.CBORTag(18, [prot, unprotected, payload, sig])))


def _alg(keys: PassKeyStore) -> int:
    return {"Ed25519": -8, "ES256": -7}[keys.algorithm]


def test_a_hand_made_pass_with_ordinary_headers_verifies(keys: PassKeyStore) -> None:
    # the control for the tests below: the hand-made pass itself is good
    kid = bytes.fromhex(keys.key_id(NOW))
    text = _sign_raw(_signer(keys), {1: _alg(keys), 4: kid}, {}, encode_claims(_claims()))
    assert _offline(keys).verify(text, NOW).valid


@pytest.mark.parametrize("crit", [[99], ["x-hesuan-must-know"], [], [1, 99]])
def test_an_unknown_critical_header_is_refused(keys: PassKeyStore, crit: list[Any]) -> None:
    kid = bytes.fromhex(keys.key_id(NOW))
    protected = {1: _alg(keys), 4: kid, 2: crit, 99: "must be understood"}
    text = _sign_raw(_signer(keys), protected, {}, encode_claims(_claims()))
    v = _offline(keys).verify(text, NOW)
    assert (v.valid, v.failure) == (False, Failure.MALFORMED)


def test_crit_in_the_unprotected_header_is_refused(keys: PassKeyStore) -> None:
    kid = bytes.fromhex(keys.key_id(NOW))
    text = _sign_raw(_signer(keys), {1: _alg(keys), 4: kid}, {2: [99], 99: 1},
                     encode_claims(_claims()))
    assert _offline(keys).verify(text, NOW).failure is Failure.MALFORMED


@pytest.mark.parametrize("unprotected", ["same", "other", "alg"])
def test_a_header_in_both_maps_is_refused(keys: PassKeyStore, unprotected: str) -> None:
    kid = bytes.fromhex(keys.key_id(NOW))
    extras: dict[str, dict[Any, Any]] = {"same": {4: kid}, "other": {4: b"\x00" * 8},
                                         "alg": {1: _alg(keys)}}
    extra = extras[unprotected]
    text = _sign_raw(_signer(keys), {1: _alg(keys), 4: kid}, extra, encode_claims(_claims()))
    v = _offline(keys).verify(text, NOW)
    assert (v.valid, v.failure) == (False, Failure.MALFORMED)


def _variants(text: str) -> dict[str, str]:
    """Other texts of the same signed pass: each decodes to the same signature over the same
    claims, and each verified as valid."""
    body = b45decode(text[4:])
    compressed = body[:1] == b"\x78"  # zlib only when it makes the pass shorter
    cose = zlib.decompress(body) if compressed else body
    protected, _, payload, signature = cbor2.loads(cose).value
    packed = zlib.compress(cose, 9)
    return {
        "compressed otherwise": "SP1:" + b45encode(
            zlib.compress(cose, 1) if compressed else packed).decode(),
        "not compressed" if compressed else "compressed at level 1": "SP1:" + b45encode(
            cose if compressed else zlib.compress(cose, 1)).decode(),
        "untagged": to_text(cbor2.dumps([protected, {}, payload, signature])),
        "an unprotected label": to_text(cbor2.dumps(cbor2.CBORTag(
            18, [protected, {99: 0}, payload, signature]))),
        "bytes after the message": to_text(cose + b"\x00"),
        "bytes after the zlib stream": "SP1:" + b45encode(packed + b"\x00").decode(),
        "spaces around it": f"  {text}\n",
    }


def test_a_pass_has_exactly_one_valid_text(keys: PassKeyStore) -> None:
    kid = bytes.fromhex(keys.key_id(NOW))
    text = _sign_raw(_signer(keys), {1: _alg(keys), 4: kid}, {}, encode_claims(_claims()))
    verifier = _offline(keys)
    assert verifier.verify(text, NOW).valid
    for name, other in _variants(text).items():
        v = verifier.verify(other, NOW)
        assert (v.valid, v.failure) == (False, Failure.MALFORMED), name


def test_es256_passes_are_signed_low_s_and_high_s_is_refused(tmp_path: Path) -> None:
    keys = PassKeyStore(tmp_path / "keys", ISSUER, create=True, alg="ES256")
    verifier = _offline(keys)
    public = _signer(keys).public_key()
    texts = [keys.sign(_claims()) for _ in range(40)]
    for text in texts:
        msg = decode_sign1(from_text(text))
        s = int.from_bytes(msg.signature[32:], "big")
        assert 0 < s <= P256_N // 2, "a high-S signature was made"
        # its high-S twin is a valid ECDSA signature of the same bytes...
        twin = msg.signature[:32] + (P256_N - s).to_bytes(32, "big")
        r = int.from_bytes(msg.signature[:32], "big")
        to_check = cbor2.dumps(["Signature1", msg.protected, b"", msg.payload])
        public.verify(encode_dss_signature(r, P256_N - s), to_check, ec.ECDSA(hashes.SHA256()))
        # ...but not a second valid text of the pass
        forged = to_text(cbor2.dumps(cbor2.CBORTag(18, [msg.protected, {}, msg.payload, twin])))
        v = verifier.verify(forged, NOW)
        assert (v.valid, v.failure) == (False, Failure.BAD_SIGNATURE)
        assert verifier.verify(text, NOW).valid


def test_an_algorithm_that_is_not_the_keys_is_malformed(keys: PassKeyStore) -> None:
    # the documented reason (docs/PASSES.md): "algorithm not the key's" is malformed
    msg = decode_sign1(from_text(keys.sign(_claims())))
    other = {-8: -7, -7: -8}[msg.alg]
    swapped = cbor2.dumps({1: other, 4: msg.kid}, canonical=True)
    text = to_text(cbor2.dumps(cbor2.CBORTag(18, [swapped, {}, msg.payload, msg.signature])))
    v = _offline(keys).verify(text, NOW)
    assert (v.valid, v.failure) == (False, Failure.MALFORMED)
    assert v.key_id == msg.kid.hex()


# -- QR codes --------------------------------------------------------------------------------

TOKEN = "HS1:" + "A" * 42


def _modules(text: str) -> int:
    width, _ = segno.make(text, error="m", micro=False).symbol_size(scale=1, border=0)
    return int(width)


@pytest.mark.parametrize("scale", [4, 8])
def test_svg_has_a_four_module_quiet_zone_on_white(scale: int) -> None:
    svg = SegnoQr().render(TOKEN, "svg", scale).decode()
    n = _modules(TOKEN)
    size = re.search(r'<svg[^>]* width="(\d+)" height="(\d+)"', svg)
    assert size is not None and int(size.group(1)) == int(size.group(2)) == (n + 8) * scale
    # a white rectangle under the whole symbol, quiet zone included
    side = n + 8
    assert re.search(rf'<path fill="#fff(?:fff)?" d="M0 0h{side}v{side}h-{side}z"/>', svg), \
        svg[:400]
    # the first dark module starts 4 modules in
    dark = re.search(r'class="qrline" stroke="#000" d="M(\d+) (\d+)\.5h', svg)
    assert dark is not None and (int(dark.group(1)), int(dark.group(2))) == (4, 4)


def _png_pixels(data: bytes) -> list[list[int]]:
    """Grey levels of a non-interlaced 1- or 8-bit grey or palette PNG (enough for segno's)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, palette = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = [body[i] for i in range(0, len(body), 3)]  # red channel
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert interlace == 0 and depth in (1, 8) and colour in (0, 3)
    raw = zlib.decompress(idat)
    stride = (width * depth + 7) // 8
    rows, prev = [], bytes(stride)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        assert f in (0, 2), f"filter {f}"
        if f == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev, strict=True))
        prev = bytes(line)
        if depth == 1:
            vals = [(line[x // 8] >> (7 - x % 8)) & 1 for x in range(width)]
            vals = [v * 255 for v in vals] if colour == 0 else vals
        else:
            vals = list(line[:width])
        rows.append([palette[v] if palette is not None else v for v in vals])
    return rows


@pytest.mark.parametrize("scale", [4, 8])
def test_png_has_a_four_module_quiet_zone_on_white(scale: int) -> None:
    px = _png_pixels(SegnoQr().render(TOKEN, "png", scale))
    n = _modules(TOKEN)
    assert len(px) == len(px[0]) == (n + 8) * scale
    quiet = 4 * scale
    for y in range(len(px)):
        for x in range(len(px)):
            if min(x, y) < quiet or max(x, y) >= len(px) - quiet:
                assert px[y][x] == 255, (x, y)
    assert px[quiet][quiet] == 0  # the finder pattern's corner
