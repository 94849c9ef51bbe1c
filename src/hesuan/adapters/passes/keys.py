"""The pass key directory (the ``PassKeys`` port): root key, pass-signing keys, rotation, the
signed trust list, signed revocation lists, and signing and checking passes.

Layout of the directory (``HESUAN_PASS_KEY_DIR``, default ``var/keys``)::

    root.key              Base64 raw Ed25519 private key of the root (0600) - signs trust lists
    root.pub              Base64 raw public root key: the trust anchor venues install
    signing-<kid>.key     Base64 raw Ed25519 private pass-signing keys (0600)
    keys.json             the signing keys: kid, public key, created, retired; which is current
    trust-list.cose       the current signed trust list (rewritten on every change)
    destroyed.json        after the programme's close: when its keys were destroyed (then only
                          this and root.pub, which checks the destruction certificate, remain)

In development the directory is made on first use; in production it must exist
(``hesuan passes init-keys``). Rotation makes a new signing key current and retires the old one,
which stays in the trust list until its last pass has expired (retired + 24 h). Several processes
may share the directory: changes take a file lock and every process re-reads ``keys.json`` when
it changes. Once the keys are destroyed, every use of them is refused (``programme_closed``),
and none are made again.

Imports: ``cbor2``, ``cryptography``, the standard library, ``hesuan.adapters.passes``,
``hesuan.domain``.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Container, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cbor2
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_der_private_key,
)

from hesuan.adapters.passes.codec import encode_claims, to_text
from hesuan.adapters.passes.cose import ALGORITHMS, PrivateKey, key_id, public_raw, sign1
from hesuan.adapters.passes.verifier import (
    REVOCATIONS_TYPE,
    TRUST_LIST_TYPE,
    OfflineVerifier,
    TrustList,
)
from hesuan.domain.errors import RuleViolation
from hesuan.domain.passes import MAX_PASS_TTL, PassClaims, Verdict

__all__ = ["PassKeyStore", "PassKeysMissing", "load_signing_key"]


class PassKeysMissing(RuntimeError):
    """The key directory has no keys and may not create them (production)."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _epoch(value: datetime) -> int:
    return int(value.timestamp())


def _write_secret(path: Path, raw: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(_b64(raw) + "\n")
    os.replace(tmp, path)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _private(raw_b64: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(raw_b64.strip()))


def _private_bytes(key: PrivateKey) -> bytes:
    """Ed25519: the raw 32 bytes; P-256: PKCS#8 DER."""
    if isinstance(key, Ed25519PrivateKey):
        return key.private_bytes_raw()
    return key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())


def load_signing_key(raw_b64: str, alg: str) -> PrivateKey:
    """A signing key file's content (Base64) as a key of algorithm ``alg``."""
    if alg == "Ed25519":
        return _private(raw_b64)
    key = load_der_private_key(base64.b64decode(raw_b64.strip()), None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("an ES256 signing key must be a P-256 key")
    return key


@dataclass(frozen=True, slots=True)
class _KeyInfo:
    kid: bytes
    public: bytes
    created: int
    retired: int | None
    alg: str = "Ed25519"

    @property
    def until(self) -> int | None:
        return None if self.retired is None else self.retired + int(MAX_PASS_TTL.total_seconds())


@dataclass(frozen=True, slots=True)
class _State:
    stamp: tuple[int, int]
    seq: int
    current: bytes
    keys: tuple[_KeyInfo, ...]
    signer: PrivateKey
    root: Ed25519PrivateKey


class PassKeyStore:
    """Keys in a directory; implements the ``PassKeys`` port. Thread-safe. New signing keys are
    of algorithm ``alg`` (``Ed25519``, or ``ES256`` whose checks are cheaper); the root key is
    always Ed25519. Keys of both kinds may be in one trust list (after a rotation)."""

    def __init__(self, directory: Path, issuer: str, *, create: bool, alg: str) -> None:
        if alg not in ALGORITHMS:
            raise ValueError(f"pass signing algorithm must be one of {', '.join(ALGORITHMS)}")
        self.directory = directory
        self.issuer = issuer
        self._alg = alg
        self._create = create
        self._lock = threading.Lock()
        self._state: _State | None = None
        self._trust: tuple[tuple[int, int, frozenset[bytes]], bytes, OfflineVerifier] | None = None

    @property
    def algorithm(self) -> str:
        """The algorithm of new signing keys."""
        return self._alg

    # -- files -----------------------------------------------------------------------------

    @property
    def _manifest(self) -> Path:
        return self.directory / "keys.json"

    @property
    def _destroyed_marker(self) -> Path:
        return self.directory / "destroyed.json"

    @property
    def destroyed(self) -> bool:
        """Whether the programme's close destroyed the keys."""
        return self._destroyed_marker.exists()

    def _refuse_if_destroyed(self) -> None:
        if self.destroyed:
            raise RuleViolation("the programme is closed and its pass keys destroyed: passes "
                                "are neither issued nor checked", code="programme_closed")

    def mark_destroyed(self, now: datetime) -> None:
        """Record that the keys were destroyed (the programme's close shreds the key files) and
        take away the manifest and the trust list, which name them: from then on every use of
        the keys is refused, in this process and every other sharing the directory."""
        with self._file_lock():
            _write_atomic(self._destroyed_marker,
                          json.dumps({"destroyed_at": now.isoformat()}).encode())
            self._manifest.unlink(missing_ok=True)
            (self.directory / "trust-list.cose").unlink(missing_ok=True)
        self._state = None
        self._trust = None

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # the owner's only
        with (self.directory / ".lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _write_manifest(self, seq: int, current: bytes, keys: Sequence[_KeyInfo]) -> None:
        doc = {"issuer": self.issuer, "seq": seq, "current": current.hex(),
               "keys": [{"kid": k.kid.hex(), "alg": k.alg, "public": _b64(k.public),
                         "created": k.created, "retired": k.retired} for k in keys]}
        _write_atomic(self._manifest, json.dumps(doc, indent=2).encode())

    def _new_signing_key(self, now: datetime) -> _KeyInfo:
        key: PrivateKey = (Ed25519PrivateKey.generate() if self._alg == "Ed25519"
                           else ec.generate_private_key(ec.SECP256R1()))
        pub = public_raw(key.public_key())
        kid = key_id(pub)
        _write_secret(self.directory / f"signing-{kid.hex()}.key", _private_bytes(key))
        return _KeyInfo(kid, pub, _epoch(now), None, self._alg)

    def init(self, now: datetime) -> bool:
        """Make the root and the first signing key if there are none; True if it made them."""
        self._refuse_if_destroyed()
        with self._file_lock():
            if self._manifest.exists():
                return False
            root_path = self.directory / "root.key"
            if not root_path.exists():
                root = Ed25519PrivateKey.generate()
                _write_secret(root_path, root.private_bytes_raw())
                (self.directory / "root.pub").write_text(
                    _b64(public_raw(root.public_key())) + "\n")
            first = self._new_signing_key(now)
            self._write_manifest(1, first.kid, [first])
        self._state = None
        self._write_trust_list(now)
        return True

    def rotate(self, now: datetime, *, unless_since: datetime | None = None) -> str | None:
        """Make a new signing key current; the old one is retired (kept until its passes end).
        None, and nothing changed, if a rotation (by any process: under the file lock)
        happened after ``unless_since``."""
        self._load(now)
        with self._file_lock():
            doc = json.loads(self._manifest.read_text())
            keys = [self._info(k) for k in doc["keys"]]
            last = max((k.retired for k in keys if k.retired is not None), default=None)
            if unless_since is not None and last is not None and last > unless_since.timestamp():
                return None
            new = self._new_signing_key(now)
            ts = _epoch(now)
            keys = [k if k.retired is not None
                    else _KeyInfo(k.kid, k.public, k.created, ts, k.alg) for k in keys]
            keys.append(new)
            self._write_manifest(int(doc["seq"]) + 1, new.kid, keys)
        self._state = None
        self._write_trust_list(now)
        return new.kid.hex()

    def check(self, now: datetime) -> None:
        """Raise ``PassKeysMissing`` unless the manifest, the current signing key and the root
        key are all there and readable (a production server checks this at start)."""
        try:
            self._load(now)
        except (OSError, ValueError, KeyError, StopIteration) as exc:
            raise PassKeysMissing(f"the pass keys in {self.directory} are incomplete "
                                  f"({type(exc).__name__}: {exc}); restore them, or run "
                                  f"`hesuan passes init-keys` on an empty directory") from exc

    @staticmethod
    def _info(k: dict[str, Any]) -> _KeyInfo:
        return _KeyInfo(bytes.fromhex(k["kid"]), base64.b64decode(k["public"]), int(k["created"]),
                        None if k["retired"] is None else int(k["retired"]),
                        str(k.get("alg", "Ed25519")))

    def _load(self, now: datetime) -> _State:
        try:
            st = os.stat(self._manifest)
        except FileNotFoundError:
            self._refuse_if_destroyed()
            if not self._create:
                raise PassKeysMissing(
                    f"no pass keys in {self.directory}: run `hesuan passes init-keys`") from None
            self.init(now)
            st = os.stat(self._manifest)
        stamp = (st.st_mtime_ns, st.st_size)
        state = self._state
        if state is not None and state.stamp == stamp:
            return state
        with self._lock:
            doc = json.loads(self._manifest.read_text())
            current = bytes.fromhex(doc["current"])
            infos = tuple(self._info(k) for k in doc["keys"])
            alg = next(k.alg for k in infos if k.kid == current)
            signer = load_signing_key(
                (self.directory / f"signing-{current.hex()}.key").read_text(), alg)
            root = _private((self.directory / "root.key").read_text())
            state = _State(stamp, int(doc["seq"]), current, infos, signer, root)
            self._state = state
        return state

    # -- trust list ------------------------------------------------------------------------

    def _build_trust_list(self, state: _State, now: datetime) -> bytes:
        ts = _epoch(now)
        entries = [{"kid": k.kid, "alg": ALGORITHMS[k.alg], "pub": k.public, "nbf": k.created,
                    "retired": k.retired, "until": k.until}
                   for k in state.keys if k.until is None or k.until > ts]
        body = {"type": TRUST_LIST_TYPE, "v": 1, "iss": self.issuer, "seq": state.seq,
                "iat": ts, "keys": entries}
        root_pub = public_raw(state.root.public_key())
        return sign1(cbor2.dumps(body, canonical=True), state.root, key_id(root_pub))

    def _trusted(self, now: datetime) -> tuple[bytes, OfflineVerifier]:
        state = self._load(now)
        ts = _epoch(now)
        live = frozenset(k.kid for k in state.keys if k.until is None or k.until > ts)
        cache_key = (state.stamp[0], state.stamp[1], live)
        cached = self._trust
        if cached is not None and cached[0] == cache_key:
            return cached[1], cached[2]
        blob = self._build_trust_list(state, now)
        verifier = OfflineVerifier(TrustList.load(blob, [self.root_public(now)]))
        self._trust = (cache_key, blob, verifier)
        return blob, verifier

    def _write_trust_list(self, now: datetime) -> None:
        blob, _ = self._trusted(now)
        _write_atomic(self.directory / "trust-list.cose", blob)

    def trust_list(self, now: datetime) -> bytes:
        """The signed trust list: every signing key whose passes may still be valid."""
        return self._trusted(now)[0]

    def root_public(self, now: datetime) -> bytes:
        return public_raw(self._load(now).root.public_key())

    def last_rotation(self, now: datetime) -> datetime | None:
        last = max((k.retired for k in self._load(now).keys if k.retired is not None),
                   default=None)
        return None if last is None else datetime.fromtimestamp(last, UTC)

    @property
    def current_key_id(self) -> str | None:
        return None if self._state is None else self._state.current.hex()

    # -- passes ----------------------------------------------------------------------------

    def sign(self, claims: PassClaims) -> str:
        state = self._load(claims.issued_at)
        return to_text(sign1(encode_claims(claims), state.signer, state.current))

    def key_id(self, now: datetime) -> str:
        return self._load(now).current.hex()

    def key_ids(self, now: datetime) -> frozenset[str]:
        """Every signing key of the directory, current and retired (hex key ids)."""
        return frozenset(k.kid.hex() for k in self._load(now).keys)

    def sign_revocations(self, hashes: Sequence[str], now: datetime) -> bytes:
        state = self._load(now)
        body = {"type": REVOCATIONS_TYPE, "v": 1, "iss": self.issuer, "iat": _epoch(now),
                "hashes": sorted(bytes.fromhex(h) for h in hashes)}
        return sign1(cbor2.dumps(body, canonical=True), state.signer, state.current)

    def verify(self, text: str, now: datetime, revoked: Container[str]) -> Verdict:
        return self._trusted(now)[1].verify(text, now, revoked)
