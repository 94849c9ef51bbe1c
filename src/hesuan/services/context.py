"""What every service is built with: the ports and the numbers (limits) from settings.

Imports: standard library, ``hesuan.services.ports``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from hesuan.services.ports import (
    Clock,
    CodeSigner,
    InlineWrites,
    PasswordHasher,
    QrRenderer,
    UnitOfWork,
    UnitOfWorkFactory,
    Vault,
    WriteRace,
)

__all__ = ["Deps", "Limits", "write_retrying"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Limits:
    transport: timedelta = timedelta(hours=4)
    lab: timedelta = timedelta(hours=6)
    recall_due: timedelta = timedelta(hours=12)
    token_ttl: timedelta = timedelta(hours=12)
    batch_max: int = 1000
    offline_window: timedelta = timedelta(days=1)
    #: How many chunks of one results file are applied at the same time, each in its own
    #: transaction (``LabService.import_rows``): one where the store has one writer (SQLite).
    result_chunks_at_once: int = 1
    #: How many groups of single scans are written at the same time when many windows wait,
    #: each in its own transaction (``GroupCommit``): one where the store has one writer.
    station_groups_at_once: int = 1


@dataclass(frozen=True, slots=True)
class Deps:
    uow: UnitOfWorkFactory
    clock: Clock
    vault: Vault
    codes: CodeSigner
    passwords: PasswordHasher
    qr: QrRenderer
    new_id: Callable[[], str]
    limits: Limits
    #: Short writes on an event loop, where the store allows it (None: always on a thread).
    inline_writes: InlineWrites | None = None


def write_retrying(deps: Deps, run: Callable[[UnitOfWork], T]) -> T:
    """``run`` in one writing transaction, committed before the answer. Up to 3 attempts: a
    concurrent writer on PostgreSQL can win a unique key between our read and our write; the
    retry re-reads and then rejects the losing item cleanly."""
    for attempt in range(3):
        try:
            with deps.uow() as uow:
                out = run(uow)
                uow.commit()
            return out
        except WriteRace:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
