"""Keys and cryptography: encryption of personal data at rest, lookup hashes, sampling-code
MACs, the audit chain's keys and password hashes.

Every key is derived (HKDF-SHA256) for one purpose, so a leaked lookup key does not decrypt
anything. The keys that read personal data (encryption, lookup hashes, sampling codes) derive from
the data key, 32 random bytes in a file of their own outside the database; the audit chain's keys
derive from the master secret. Destroying the data key at the end of the programme makes every
copy of the ciphertext, backups included, unreadable, while the audit log stays verifiable
(crypto-shredding, docs/RETENTION.md). A database that held people before it had a data key file
is read with the legacy keys, derived from the master secret like the audit chain's. Encryption
is AES-256-GCM with a random 96-bit nonce (stored in front of the ciphertext).

Imports: ``cryptography``, ``argon2``, the standard library, ``hesuan.services.ports``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["DATA_KEY_BYTES", "Argon2Passwords", "DataKeyMoveFiles", "HmacCodeSigner", "KeyRing",
           "load_data_key", "load_master_secret", "new_data_key_path"]

#: The data key's length (AES-256, HKDF-SHA256 input).
DATA_KEY_BYTES = 32


def load_master_secret(secret: str | None, key_file: Path, *, create: bool) -> bytes:
    """The master secret from settings, or from ``key_file`` (made on first use in development)."""
    if secret:
        return hashlib.sha256(secret.encode()).digest()
    if key_file.exists():
        return base64.b64decode(key_file.read_text().strip())
    if not create:
        raise RuntimeError("HESUAN_SECRET_KEY is required in production")
    key_file.parent.mkdir(parents=True, exist_ok=True)
    raw = secrets.token_bytes(32)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.b64encode(raw).decode())
    return raw


def load_data_key(key_file: Path, *, create: bool) -> bytes | None:
    """The data key from ``key_file``; made when absent and ``create``, else None. Made whole in
    a temporary file, then linked to its name, which fails if another process made it first
    (whose key is then read): two processes starting at once share one key."""
    if not key_file.exists():
        if not create:
            return None
        key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = key_file.with_name(f".{key_file.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(base64.b64encode(secrets.token_bytes(DATA_KEY_BYTES)).decode())
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(FileExistsError):  # made by another process first
                os.link(tmp, key_file)
        finally:
            tmp.unlink(missing_ok=True)
    raw = base64.b64decode(key_file.read_text().strip())
    if len(raw) != DATA_KEY_BYTES:
        raise RuntimeError(f"the data key file {key_file} does not hold {DATA_KEY_BYTES} bytes "
                           f"(Base64)")
    return raw


def new_data_key_path(key_file: Path) -> Path:
    """Where a re-encryption from the legacy keys keeps the new data key until every encrypted
    column is under it (``DataKeyMoveFiles``): beside the data key file, named after it."""
    return key_file.with_name(key_file.name + ".new")


class DataKeyMoveFiles:
    """The ``DataKeyMove`` port: the legacy keys of ``master`` and the data key of
    ``key_file``, made first as ``new_data_key_path(key_file)`` and linked to its name by
    ``put_in_place``. A start finds no data key file meanwhile and the half-moved personal data
    unreadable under the legacy keys, and stops (``bootstrap``)."""

    def __init__(self, master: bytes, key_file: Path) -> None:
        self._master = master
        self._path = key_file
        self._new = new_data_key_path(key_file)

    def keys(self) -> tuple[KeyRing, KeyRing]:
        data = load_data_key(self._path, create=False)
        if data is None:
            data = load_data_key(self._new, create=True)
        assert data is not None
        return KeyRing(self._master), KeyRing(self._master, data)

    def put_in_place(self) -> str:
        if self._new.exists():
            with contextlib.suppress(FileExistsError):  # in place: a run stopped after it
                os.link(self._new, self._path)
            _fsync_dir(self._path.parent)
            self._new.unlink()
            _fsync_dir(self._path.parent)
        return self._path.name


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _derive(master: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"hesuan-v1",
                info=purpose.encode()).derive(master)


class KeyRing:
    """The ``Vault`` port: AES-GCM encryption and keyed lookup hashes. The personal-data,
    lookup-hash and sampling-code keys derive from ``data``, the audit chain's from ``master``;
    without ``data`` (a database from before data key files) all derive from ``master``."""

    def __init__(self, master: bytes, data: bytes | None = None) -> None:
        self.legacy = data is None
        personal = master if data is None else data
        self._aead = AESGCM(_derive(personal, "personal-data"))
        lookup = _derive(personal, "lookup-hash")
        # HMAC-SHA256 with the key's inner and outer pads hashed once (RFC 2104): the same
        # digest as hmac.digest(lookup, value, "sha256") at about a third of the cost, which
        # matters when millions of people are loaded.
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in lookup.ljust(64, b"\0")))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in lookup.ljust(64, b"\0")))
        self.code_key = _derive(personal, "sampling-code")
        # the audit chain's key and its checkpoints' key: neither is ever written to the
        # database, so a copy or a rewrite of the database cannot forge the chain
        self.audit_chain_key = _derive(master, "audit-chain")
        self.audit_checkpoint_key = _derive(master, "audit-checkpoint")

    def encrypt(self, plaintext: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plaintext.encode(), None)

    def decrypt(self, ciphertext: bytes) -> str:
        return self._aead.decrypt(ciphertext[:12], ciphertext[12:], None).decode()

    def reads(self, ciphertext: bytes) -> bool:
        """Whether ``ciphertext`` was encrypted under this ring's personal-data key (the GCM
        tag says so)."""
        try:
            self._aead.decrypt(ciphertext[:12], ciphertext[12:], None)
        except InvalidTag:
            return False
        return True

    def lookup_hash(self, value: str) -> bytes:
        inner = self._inner.copy()
        inner.update(value.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


_B32_DIGITS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
_B32_TO_INT = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghijklmnopqrstuv")


class HmacCodeSigner:
    """The ``CodeSigner`` port. Token: ``HS1:`` + Base32(person id (16 bytes) + MAC (10 bytes)),
    upper-case so it fits the QR alphanumeric mode. It carries no personal data."""

    PREFIX = "HS1:"

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, raw_id: bytes) -> bytes:
        return hmac.digest(self._key, b"code:" + raw_id, "sha256")[:10]

    def sign(self, person_id: str) -> str:
        raw = bytes.fromhex(person_id)
        return self.PREFIX + base64.b32encode(raw + self._mac(raw)).decode().rstrip("=")

    def verify(self, token: str) -> str | None:
        """The person id a token names, or None. Strict: only the exact text ``sign`` makes is
        valid (upper case, no spaces, the Base32 padding bits zero), so each person has one
        code text and a changed character never names the same person; the blanks or newline
        a hand scanner adds around what it read are not the code's and are left aside."""
        token = token.strip()
        if len(token) != len(self.PREFIX) + 42 or not token.startswith(self.PREFIX):
            return None
        body = token[len(self.PREFIX):]
        # Base32 by int(), faster than base64.b32decode (every sample scan decodes one),
        # same result: 42 digits = 26 bytes and 2 padding bits, which must be 0
        if not _B32_DIGITS.issuperset(body):
            return None
        bits = int(body.translate(_B32_TO_INT), 32)
        if bits & 0b11:
            return None
        blob = (bits >> 2).to_bytes(26, "big")
        raw, mac = blob[:16], blob[16:]
        if not hmac.compare_digest(mac, self._mac(raw)):
            return None
        return raw.hex()


class Argon2Passwords:
    """The ``PasswordHasher`` port (argon2id)."""

    def __init__(self, fast: bool = False) -> None:
        # Tests and demo seeding hash many passwords; ``fast`` lowers the cost there only.
        self._h = _Argon2(time_cost=1, memory_cost=8192) if fast else _Argon2()

    def hash(self, password: str) -> str:
        return self._h.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._h.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
