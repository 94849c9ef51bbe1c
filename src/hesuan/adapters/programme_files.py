"""What the end of the programme leaves on disk and takes away: the folder of the final
aggregates and the destruction certificate (``ProgrammeFiles``), the certificate's signer, the
pass root key, which destroys the pass keys (``CertificateSigner``), and the data key file
(``DataKey``).

The certificate is a COSE_Sign1 by the pass root key (Ed25519), whose public half venues and
verifiers already install (``root.pub``, docs/PASSES.md), so anyone can check it after the
private keys are gone. A key file is destroyed by overwriting it with random bytes, flushing it
to disk and removing it.

Imports: the standard library, ``hesuan.adapters.passes``, ``hesuan.services``.
"""

from __future__ import annotations

import os
from pathlib import Path

from hesuan.adapters.passes.cose import key_id, public_raw, sign1
from hesuan.adapters.passes.keys import PassKeyStore, load_signing_key
from hesuan.services.ports import Clock

__all__ = ["DataKeyFile", "FolderFiles", "RootKeySigner"]


class FolderFiles:
    """The ``ProgrammeFiles`` port: files written whole into one owner-only folder."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory

    def write(self, name: str, data: bytes) -> str:
        if "/" in name or name.startswith("."):
            raise ValueError(f"not a plain file name: {name!r}")
        self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self._dir / f".{name}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self._dir / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return name


class RootKeySigner:
    """The ``CertificateSigner`` port on the pass key directory."""

    def __init__(self, keys: PassKeyStore, clock: Clock) -> None:
        self._keys = keys
        self._clock = clock

    def check(self) -> None:
        """The root key is there to sign with (made on first use outside production)."""
        self._keys.root_public(self._clock.now())

    def sign(self, payload: bytes) -> bytes:
        root = load_signing_key((self._keys.directory / "root.key").read_text(), "Ed25519")
        return sign1(payload, root, key_id(public_raw(root.public_key())))

    def destroy_signing_keys(self) -> list[str]:
        return [_shred(p) for p in sorted(self._keys.directory.glob("signing-*.key"))]

    def destroy_root_key(self) -> list[str]:
        root = self._keys.directory / "root.key"
        destroyed = [_shred(root)] if root.exists() else []
        self._keys.mark_destroyed(self._clock.now())
        return destroyed


class DataKeyFile:
    """The ``DataKey`` port on the data key's file (``adapters/crypto.py``)."""

    def __init__(self, path: Path, *, legacy: bool) -> None:
        self._path = path
        self._legacy = legacy

    @property
    def legacy(self) -> bool:
        return self._legacy

    def destroy(self) -> list[str]:
        return [_shred(self._path)] if self._path.exists() else []


def _shred(path: Path) -> str:
    size = path.stat().st_size
    with path.open("r+b") as fh:
        fh.write(os.urandom(max(size, 64)))
        fh.flush()
        os.fsync(fh.fileno())
    path.unlink()
    return path.name
