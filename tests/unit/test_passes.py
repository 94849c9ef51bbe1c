"""Signed status passes without a database: COSE_Sign1 round trip, tampering, expiry, revocation,
unknown keys, the signed trust list and revocation list, key rotation, the offline verifier."""

from __future__ import annotations

import secrets
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import base45
import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hesuan.adapters.passes.codec import encode_claims, from_text, to_text
from hesuan.adapters.passes.cose import decode_sign1, key_id, public_raw, sign1
from hesuan.adapters.passes.keys import PassKeysMissing, PassKeyStore, load_signing_key
from hesuan.adapters.passes.verifier import (
    OfflineVerifier,
    RevocationList,
    TrustList,
    TrustListError,
    load_root_key,
)
from hesuan.adapters.qr import SegnoQr
from hesuan.domain.errors import RuleViolation
from hesuan.domain.passes import (
    MAX_PASS_TTL,
    REVOCATIONS_FRESH_FOR,
    Failure,
    PassClaims,
    PassColour,
    pass_expiry,
    pass_id_hash,
    revocations_note,
    trust_list_note,
)

NOW = datetime(2022, 8, 29, 2, 0, tzinfo=UTC)
ISSUER = "CN-14-0100"


def claims(at: datetime = NOW, ttl: timedelta = timedelta(hours=12),
           colour: PassColour = PassColour.GREEN) -> PassClaims:
    return PassClaims(ISSUER, at, at + ttl, secrets.token_bytes(16), colour, "张*明", "1234")


@pytest.fixture(params=["Ed25519", "ES256"])
def keys(tmp_path: Path, request: pytest.FixtureRequest) -> PassKeyStore:
    return PassKeyStore(tmp_path / "keys", ISSUER, create=True, alg=request.param)


def offline(keys: PassKeyStore, now: datetime = NOW,
            revoked: frozenset[str] = frozenset()) -> OfflineVerifier:
    """A verifier that knows only what a venue device knows: root key + trust list."""
    trust = TrustList.load(keys.trust_list(now), [keys.root_public(now)])
    return OfflineVerifier(trust, revoked)


# -- round trip ------------------------------------------------------------------------------

def test_round_trip_says_valid_with_status_and_masked_name(keys: PassKeyStore) -> None:
    c = claims()
    text = keys.sign(c)
    assert text.startswith("SP1:")
    v = offline(keys).verify(text, NOW + timedelta(hours=1))
    assert v.valid and v.failure is None
    assert (v.colour, v.masked_name, v.id_last4) == (PassColour.GREEN, "张*明", "1234")
    assert v.expires_at == c.expires_at and v.issuer == ISSUER
    assert v.key_id == keys.key_id(NOW)
    assert "valid until" in v.reason


def test_pass_carries_only_the_allowed_claims(keys: PassKeyStore) -> None:
    text = keys.sign(claims())
    msg = decode_sign1(from_text(text))
    body = cbor2.loads(msg.payload)
    assert set(body) == {1, 4, 6, 7, "v", "st", "nm", "id4"}
    header = cbor2.loads(msg.protected)
    alg = {"Ed25519": -8, "ES256": -7}[keys.algorithm]
    assert header == {1: alg, 4: msg.kid}  # algorithm and key id in the protected header


def test_cose_structure_follows_rfc9052() -> None:
    key = Ed25519PrivateKey.generate()
    kid = key_id(key.public_key())
    data = sign1(b"payload", key, kid)
    obj = cbor2.loads(data)
    assert isinstance(obj, cbor2.CBORTag) and obj.tag == 18
    protected, unprotected, payload, sig = obj.value
    assert unprotected == {} and payload == b"payload"
    # the signature is over Sig_structure = ["Signature1", protected, external_aad, payload]
    key.public_key().verify(sig, cbor2.dumps(["Signature1", protected, b"", b"payload"]))


def test_text_form_is_compressed_base45_and_fits_a_qr(keys: PassKeyStore) -> None:
    text = keys.sign(claims())
    raw = base45.b45decode(text[4:])
    cose = zlib.decompress(raw) if raw[:1] == b"\x78" else raw  # compressed only if shorter
    assert cose[:1] == b"\xd2"  # tag 18, COSE_Sign1
    # the text issued, and no other form of it, is valid (test_strict_tokens has the rest)
    packed = "SP1:" + base45.b45encode(zlib.compress(cose, 9)).decode()
    plain = to_text(cose, compress=False)
    assert text in (packed, plain)
    assert offline(keys).verify(text, NOW).valid
    other = plain if text == packed else packed
    assert offline(keys).verify(other, NOW).failure is Failure.MALFORMED
    svg = SegnoQr().render(text, "svg", 4)
    assert svg.startswith(b"<?xml") and len(text) < 300


@pytest.mark.parametrize("colour", list(PassColour))
def test_every_colour_round_trips(keys: PassKeyStore, colour: PassColour) -> None:
    v = offline(keys).verify(keys.sign(claims(colour=colour)), NOW)
    assert v.valid and v.colour is colour


# -- tampering -------------------------------------------------------------------------------

def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1:]


def test_a_flipped_byte_anywhere_never_verifies(keys: PassKeyStore) -> None:
    cose = from_text(keys.sign(claims()))
    v = offline(keys)
    outcomes = set()
    for i in range(len(cose)):
        verdict = v.verify(to_text(_flip(cose, i)), NOW)
        assert not verdict.valid, f"byte {i} flipped still verified"
        outcomes.add(verdict.failure)
    assert Failure.BAD_SIGNATURE in outcomes and Failure.MALFORMED in outcomes


def test_a_flipped_payload_byte_is_a_bad_signature(keys: PassKeyStore) -> None:
    text = keys.sign(claims())
    msg = decode_sign1(from_text(text))
    payload = bytearray(msg.payload)
    payload[-2] ^= 0x01  # inside the last claim (id4)
    forged = cbor2.dumps(cbor2.CBORTag(18, [msg.protected, {}, bytes(payload), msg.signature]))
    v = offline(keys).verify(to_text(forged), NOW)
    assert (v.valid, v.failure) == (False, Failure.BAD_SIGNATURE)
    assert v.masked_name is None  # nothing from an unverified pass is shown


def test_a_changed_colour_is_a_bad_signature(keys: PassKeyStore) -> None:
    c = claims(colour=PassColour.RED)
    msg = decode_sign1(from_text(keys.sign(c)))
    greener = encode_claims(PassClaims(c.issuer, c.issued_at, c.expires_at, c.pass_id,
                                       PassColour.GREEN, c.masked_name, c.id_last4))
    forged = cbor2.dumps(cbor2.CBORTag(18, [msg.protected, {}, greener, msg.signature]))
    assert offline(keys).verify(to_text(forged), NOW).failure is Failure.BAD_SIGNATURE


def test_wrong_key_claiming_a_trusted_key_id_is_a_bad_signature(keys: PassKeyStore) -> None:
    trusted_kid = bytes.fromhex(keys.key_id(NOW))
    # a key of the trusted key's own algorithm (another algorithm is malformed: see below)
    other = (Ed25519PrivateKey.generate() if keys.algorithm == "Ed25519"
             else ec.generate_private_key(ec.SECP256R1()))
    forged = sign1(encode_claims(claims()), other, trusted_kid)
    v = offline(keys).verify(to_text(forged), NOW)
    assert (v.valid, v.failure) == (False, Failure.BAD_SIGNATURE)


def test_unknown_key_id(keys: PassKeyStore, tmp_path: Path) -> None:
    other = PassKeyStore(tmp_path / "other", ISSUER, create=True, alg="Ed25519")
    v = offline(keys).verify(other.sign(claims()), NOW)
    assert (v.valid, v.failure) == (False, Failure.UNKNOWN_KEY)
    assert "not in the trust list" in v.reason


def test_a_key_made_after_the_devices_trust_list_says_the_list_is_behind(
        keys: PassKeyStore) -> None:
    """A device holding the trust list from before a rotation was told of a true pass of the
    new key only "signed with a key that is not in the trust list", as of a forgery: a venue
    turned the person away with no hint that its own list was behind. The verdict carries the
    list's issue time, and the note beside it asks for the lists to be updated."""
    held = offline(keys)
    issued = held.trust.issued_at
    before = keys.sign(claims())
    rotated_at = NOW + timedelta(hours=3)
    keys.rotate(rotated_at)
    at = rotated_at + timedelta(minutes=5)
    v = held.verify(keys.sign(claims(at=rotated_at)), at)
    assert (v.valid, v.failure, v.trust_list_as_of) == (False, Failure.UNKNOWN_KEY, issued)
    assert trust_list_note(v, at) == (
        f"trust list as of {issued:%Y-%m-%d %H:%M} UTC, 3 h 5 min old: a signing key made "
        "since (a rotation) is unknown to it; update the lists and check again before "
        "turning the person away")
    # any other verdict says nothing of the trust list
    assert trust_list_note(held.verify(before, at), at) is None
    assert trust_list_note(held.verify("SP1:garbage", at), at) is None


@pytest.mark.parametrize("text", [
    "", "SP1:", "HS1:ABC", "SP2:" + "A" * 40, "SP1:not base45 ~~", "SP1:" + "A" * 9000,
    "SP1:" + base45.b45encode(b"\x78\x9c garbage").decode(),
    "SP1:" + base45.b45encode(cbor2.dumps({"a": 1})).decode(),
    "SP1:" + base45.b45encode(cbor2.dumps(cbor2.CBORTag(17, [b"", {}, b"", b""]))).decode(),
])
def test_malformed_text(keys: PassKeyStore, text: str) -> None:
    v = offline(keys).verify(text, NOW)
    assert (v.valid, v.failure) == (False, Failure.MALFORMED)


def test_the_key_id_must_be_protected(keys: PassKeyStore) -> None:
    msg = decode_sign1(from_text(keys.sign(claims())))
    bare = cbor2.dumps({1: -8})
    moved = cbor2.dumps(cbor2.CBORTag(18, [bare, {4: msg.kid}, msg.payload, msg.signature]))
    assert offline(keys).verify(to_text(moved), NOW).failure is Failure.MALFORMED


def test_a_signed_payload_that_is_not_a_pass_is_malformed(keys: PassKeyStore) -> None:
    # a revocation list is signed by the same key, but is no pass
    text = to_text(keys.sign_revocations([], NOW))
    assert offline(keys).verify(text, NOW).failure is Failure.MALFORMED


# -- time and revocation ---------------------------------------------------------------------

def test_expired_and_not_yet_valid(keys: PassKeyStore) -> None:
    c = claims(ttl=timedelta(hours=3))
    text = keys.sign(c)
    v = offline(keys)
    assert v.verify(text, c.expires_at - timedelta(seconds=1)).valid
    expired = v.verify(text, c.expires_at)
    assert (expired.valid, expired.failure) == (False, Failure.EXPIRED)
    assert expired.masked_name == "张*明"  # an expired pass still shows whose it was
    early = v.verify(text, NOW - timedelta(hours=1))
    assert early.failure is Failure.NOT_YET_VALID
    assert v.verify(text, NOW - timedelta(minutes=2)).valid  # within clock skew


def test_a_pass_living_longer_than_24h_is_refused(keys: PassKeyStore) -> None:
    text = keys.sign(claims(ttl=MAX_PASS_TTL + timedelta(hours=1)))
    assert offline(keys).verify(text, NOW).failure is Failure.MALFORMED


def test_revoked(keys: PassKeyStore) -> None:
    c = claims()
    text = keys.sign(c)
    rl = RevocationList.load(keys.sign_revocations([pass_id_hash(c.pass_id)], NOW),
                             offline(keys).trust)
    v = offline(keys, revoked=rl.hashes).verify(text, NOW)
    assert (v.valid, v.failure) == (False, Failure.REVOKED)
    assert offline(keys).verify(text, NOW, revoked={pass_id_hash(c.pass_id)}).failure \
        is Failure.REVOKED
    assert offline(keys, revoked=rl.hashes).verify(keys.sign(claims()), NOW).valid


def test_revocation_list_signature_is_checked(keys: PassKeyStore, tmp_path: Path) -> None:
    trust = offline(keys).trust
    blob = keys.sign_revocations(["00" * 16], NOW)
    assert RevocationList.load(blob, trust).hashes == {"00" * 16}
    with pytest.raises(TrustListError):
        RevocationList.load(_flip(blob, len(blob) - 70), trust)
    other = PassKeyStore(tmp_path / "other", ISSUER, create=True, alg="Ed25519")
    with pytest.raises(TrustListError):
        RevocationList.load(other.sign_revocations(["00" * 16], NOW), trust)


def test_a_stolen_retired_key_cannot_clear_the_revocations(keys: PassKeyStore) -> None:
    """A revocation list signed by a retired key and dated after its retirement would let
    whoever stole the key hand venues an empty list: refused, as a pass would be."""
    old_kid = bytes.fromhex(keys.key_id(NOW))
    stolen = load_signing_key(
        (keys.directory / f"signing-{old_kid.hex()}.key").read_text(), keys.algorithm)
    keys.rotate(NOW)
    later = NOW + timedelta(hours=2)
    body = {"type": "hesuan-pass-revocations", "v": 1, "iss": ISSUER,
            "iat": int(later.timestamp()), "hashes": []}
    forged = sign1(cbor2.dumps(body, canonical=True), stolen, old_kid)
    with pytest.raises(TrustListError, match="retired"):
        RevocationList.load(forged, offline(keys, later).trust)
    # the current key's list of the same time is taken
    assert RevocationList.load(keys.sign_revocations([], later),
                               offline(keys, later).trust).issued_at == later


def test_a_revocation_list_from_the_future_is_refused(keys: PassKeyStore) -> None:
    blob = keys.sign_revocations([], NOW + timedelta(hours=1))
    trust = offline(keys).trust
    with pytest.raises(TrustListError, match="future"):
        RevocationList.load(blob, trust, now=NOW)
    assert RevocationList.load(blob, trust, now=NOW + timedelta(minutes=56)).hashes == set()


def test_a_verdict_says_how_old_its_revocations_are(keys: PassKeyStore, tmp_path: Path) -> None:
    """A venue's device is told when its revocation list is old: passes revoked since are not
    caught by it, and the person at the door may be red."""
    text = keys.sign(claims())
    d = keys.directory
    rev = tmp_path / "revocations.cose"
    rev.write_bytes(keys.sign_revocations([], NOW))
    unchecked = OfflineVerifier.from_files(d / "trust-list.cose", [d / "root.pub"])
    v = unchecked.verify(text, NOW)
    assert v.valid and v.revocations_as_of is None
    assert revocations_note(v, NOW) == "revocations not checked"
    held = OfflineVerifier.from_files(d / "trust-list.cose", [d / "root.pub"], rev, now=NOW)
    fresh = held.verify(text, NOW + REVOCATIONS_FRESH_FOR)
    assert fresh.valid and fresh.revocations_as_of == NOW
    assert revocations_note(fresh, NOW + REVOCATIONS_FRESH_FOR) is None
    old_at = NOW + REVOCATIONS_FRESH_FOR + timedelta(minutes=5)
    old = held.verify(text, old_at)
    assert old.valid and old.revocations_as_of == NOW
    assert revocations_note(old, old_at) == (
        "revocations as of 2022-08-29 02:00 UTC, 1 h 5 min old: passes revoked since are "
        "not caught; update the lists")
    # the online check reads the revocations as they are now
    live = keys.verify(text, old_at, frozenset())
    assert live.revocations_as_of == old_at and revocations_note(live, old_at) is None
    # a failure before the revocations were looked at says nothing of them
    assert revocations_note(held.verify("SP1:garbage", old_at), old_at) is None


def test_pass_expiry_is_the_next_due_time_at_most_24h() -> None:
    assert pass_expiry(NOW, NOW + timedelta(hours=5)) == NOW + timedelta(hours=5)
    assert pass_expiry(NOW, NOW + timedelta(days=3)) == NOW + MAX_PASS_TTL
    with pytest.raises(RuleViolation):
        pass_expiry(NOW, NOW)


def test_revocation_hash_hides_the_pass_id() -> None:
    pid = secrets.token_bytes(16)
    h = pass_id_hash(pid)
    assert len(h) == 32 and pid.hex() not in h and h == pass_id_hash(pid)


# -- trust list ------------------------------------------------------------------------------

def test_trust_list_signature_is_checked(keys: PassKeyStore, tmp_path: Path) -> None:
    blob = keys.trust_list(NOW)
    root = keys.root_public(NOW)
    assert TrustList.load(blob, [root]).keys
    for i in (len(blob) - 5, len(blob) - 80, 20):
        with pytest.raises(TrustListError):
            TrustList.load(_flip(blob, i), [root])
    other = PassKeyStore(tmp_path / "other", ISSUER, create=True, alg="Ed25519")
    with pytest.raises(TrustListError, match="not a trusted root"):
        TrustList.load(blob, [other.root_public(NOW)])
    # a trust list signed by a pass-signing key (not the root) is refused
    forged = other.trust_list(NOW)
    with pytest.raises(TrustListError):
        TrustList.load(forged, [root])
    with pytest.raises(TrustListError):
        TrustList.load(b"garbage", [root])


def test_a_forged_trust_list_cannot_add_a_key(keys: PassKeyStore) -> None:
    """An attacker who re-signs the trust list with their own key gets nowhere."""
    evil = Ed25519PrivateKey.generate()
    evil_pub = public_raw(evil.public_key())
    body = {"type": "hesuan-pass-trust-list", "v": 1, "iss": ISSUER, "seq": 99, "iat": 0,
            "keys": [{"kid": key_id(evil_pub), "alg": -8, "pub": evil_pub, "nbf": 0,
                      "retired": None, "until": None}]}
    blob = sign1(cbor2.dumps(body), evil, key_id(evil_pub))
    with pytest.raises(TrustListError):
        TrustList.load(blob, [keys.root_public(NOW)])


def test_files_for_venue_devices(keys: PassKeyStore, tmp_path: Path) -> None:
    c = claims()
    text = keys.sign(c)
    d = keys.directory
    assert (d / "trust-list.cose").exists() and (d / "root.pub").exists()
    rev = tmp_path / "revocations.cose"
    rev.write_bytes(keys.sign_revocations([pass_id_hash(c.pass_id)], NOW))
    v = OfflineVerifier.from_files(d / "trust-list.cose", [d / "root.pub"])
    assert v.verify(text, NOW).valid
    v2 = OfflineVerifier.from_files(d / "trust-list.cose", [d / "root.pub"], rev)
    assert v2.verify(text, NOW).failure is Failure.REVOKED
    assert load_root_key(d / "root.pub") == keys.root_public(NOW)
    assert oct((d / "root.key").stat().st_mode & 0o777) == "0o600"


# -- keys ------------------------------------------------------------------------------------

def test_rotation_keeps_old_passes_valid_until_they_expire(keys: PassKeyStore) -> None:
    old_kid = keys.key_id(NOW)
    old_pass = keys.sign(claims(ttl=MAX_PASS_TTL))
    rotated_at = NOW + timedelta(hours=1)
    new_kid = keys.rotate(rotated_at)
    assert new_kid != old_kid and keys.key_id(rotated_at) == new_kid
    new_pass = keys.sign(claims(at=rotated_at))
    assert decode_sign1(from_text(new_pass)).kid.hex() == new_kid
    later = rotated_at + timedelta(hours=2)
    v = offline(keys, later)
    assert set(k.hex() for k in v.trust.keys) == {old_kid, new_kid}
    assert v.verify(old_pass, later).valid and v.verify(new_pass, later).valid
    # after retirement + 24 h the old key leaves the trust list
    gone = rotated_at + MAX_PASS_TTL + timedelta(seconds=1)
    assert set(k.hex() for k in offline(keys, gone).trust.keys) == {new_kid}
    assert offline(keys, gone).verify(old_pass, gone).failure is Failure.UNKNOWN_KEY
    # a verifier holding the older trust list still refuses the old key after its end
    assert v.verify(old_pass, gone).failure in (Failure.KEY_NOT_VALID, Failure.EXPIRED)


def test_a_retired_key_may_not_sign_new_passes(keys: PassKeyStore) -> None:
    """A stolen retired key cannot mint passes dated after its retirement."""
    old_kid = bytes.fromhex(keys.key_id(NOW))
    old_priv = (keys.directory / f"signing-{old_kid.hex()}.key").read_text()
    keys.rotate(NOW)
    stolen = load_signing_key(old_priv, keys.algorithm)
    later = NOW + timedelta(hours=2)
    forged = sign1(encode_claims(claims(at=later)), stolen, old_kid)
    assert offline(keys, later).verify(to_text(forged), later).failure is Failure.KEY_NOT_VALID


def test_a_second_process_sees_the_rotation(keys: PassKeyStore) -> None:
    keys.key_id(NOW)
    twin = PassKeyStore(keys.directory, ISSUER, create=False, alg="Ed25519")
    assert twin.key_id(NOW) == keys.key_id(NOW)
    kid = keys.rotate(NOW + timedelta(minutes=1))
    assert twin.key_id(NOW) == kid
    assert offline(keys).verify(twin.sign(claims()), NOW).valid


def test_production_needs_keys_made_beforehand(tmp_path: Path) -> None:
    prod = PassKeyStore(tmp_path / "none", ISSUER, create=False, alg="Ed25519")
    with pytest.raises(PassKeysMissing):
        prod.sign(claims())
    assert prod.init(NOW) is True and prod.init(NOW) is False
    assert offline(prod).verify(prod.sign(claims()), NOW).valid


def test_fast_base45_decoder_agrees_with_the_base45_package() -> None:
    import random

    from hesuan.adapters.passes.codec import b45decode_fast

    rng = random.Random(45)
    for n in list(range(40)) + [rng.randrange(40, 400) for _ in range(200)]:
        data = rng.randbytes(n)
        text = base45.b45encode(data).decode()
        assert b45decode_fast(text) == data == base45.b45decode(text)
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
    for _ in range(2000):  # random strings: both accept or both refuse, and agree when accepting
        text = "".join(rng.choice(alphabet + "a~é") for _ in range(rng.randrange(0, 12)))
        try:
            expected: bytes | None = base45.b45decode(text)
        except ValueError:
            expected = None
        try:
            got: bytes | None = b45decode_fast(text)
        except ValueError:
            got = None
        assert got == expected, text


def test_rotation_from_ed25519_to_es256_keeps_both_in_the_trust_list(tmp_path: Path) -> None:
    ed = PassKeyStore(tmp_path / "k", ISSUER, create=True, alg="Ed25519")
    old = ed.sign(claims())
    es = PassKeyStore(tmp_path / "k", ISSUER, create=True, alg="ES256")
    es.rotate(NOW)
    new = es.sign(claims())
    assert decode_sign1(from_text(new)).alg == -7 and decode_sign1(from_text(old)).alg == -8
    v = offline(es)
    assert v.verify(old, NOW).valid and v.verify(new, NOW).valid
    # an ES256 signature presented as EdDSA (or the reverse) never verifies: the algorithm is
    # not the key's, which docs/PASSES.md names malformed
    msg = decode_sign1(from_text(new))
    swapped = cbor2.dumps({1: -8, 4: msg.kid})
    forged = cbor2.dumps(cbor2.CBORTag(18, [swapped, {}, msg.payload, msg.signature]))
    assert v.verify(to_text(forged), NOW).failure is Failure.MALFORMED
