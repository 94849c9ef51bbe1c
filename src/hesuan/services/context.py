"""What every service is built with: the ports and the numbers (limits) from settings.

Imports: standard library, ``hesuan.services.ports``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from hesuan.services.ports import (
    Clock,
    CodeSigner,
    PasswordHasher,
    QrRenderer,
    UnitOfWorkFactory,
    Vault,
)

__all__ = ["Deps", "Limits"]


@dataclass(frozen=True, slots=True)
class Limits:
    transport: timedelta = timedelta(hours=4)
    lab: timedelta = timedelta(hours=6)
    recall_due: timedelta = timedelta(hours=12)
    token_ttl: timedelta = timedelta(hours=12)
    batch_max: int = 1000


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
