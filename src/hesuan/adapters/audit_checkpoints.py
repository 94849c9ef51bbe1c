"""Signed checkpoints of the audit chain, one JSON file each in a directory outside the database.

A file holds ``{"v": 1, "seq", "head", "at", "mac"}``; the MAC is HMAC-SHA256 under a key
derived from the master secret (``domain/audit.py``: ``CheckpointKey``). Files are written
whole (a temporary file, flushed to disk, then renamed) and readable by the owner only; the
directory is made owner-only too. Copy them off the machine as they appear (docs/SECURITY.md).

Imports: the standard library, ``hesuan.domain``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hesuan.domain.audit import Checkpoint, CheckpointKey

__all__ = ["FileCheckpoints"]

_GLOB = "checkpoint-*.json"


class FileCheckpoints:
    """The ``AuditCheckpoints`` port."""

    def __init__(self, directory: Path, key: CheckpointKey) -> None:
        self._dir = directory
        self._key = key

    def write(self, checkpoint: Checkpoint) -> str:
        self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        stamp = "".join(ch for ch in checkpoint.at[:19] if ch.isdigit())
        name = f"checkpoint-{checkpoint.seq:012d}-{stamp}.json"
        data = {"v": 1, "seq": checkpoint.seq, "head": checkpoint.head, "at": checkpoint.at,
                "mac": self._key.sign(checkpoint)}
        tmp = self._dir / f".{name}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(data, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self._dir / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        dir_fd = os.open(self._dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a power cut
        finally:
            os.close(dir_fd)
        return name

    def read(self) -> tuple[list[Checkpoint], list[str]]:
        valid: list[Checkpoint] = []
        bad: list[str] = []
        if not self._dir.is_dir():
            return valid, bad
        for path in sorted(self._dir.glob(_GLOB)):
            checkpoint = self._parse(path)
            if checkpoint is None:
                bad.append(path.name)
            else:
                valid.append(checkpoint)
        return valid, bad

    def _parse(self, path: Path) -> Checkpoint | None:
        """The checkpoint in ``path`` if it is well formed and its MAC holds."""
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("v") != 1:
            return None
        seq, head, at, mac = (data.get(k) for k in ("seq", "head", "at", "mac"))
        if not (isinstance(seq, int) and not isinstance(seq, bool) and seq > 0
                and isinstance(head, str) and isinstance(at, str) and isinstance(mac, str)):
            return None
        checkpoint = Checkpoint(seq, head, at)
        return checkpoint if self._key.valid(checkpoint, mac) else None
