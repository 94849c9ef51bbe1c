"""``Deps`` for services on the fakes: the fake unit of work, a fixed clock, ids counted from 1,
and the real adapters that are pure (no I/O): the key ring (``Vault``), the HMAC sampling-code
signer, argon2 at its test cost, segno's QR codes."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from hesuan.adapters.clock import FixedClock
from hesuan.adapters.crypto import Argon2Passwords, HmacCodeSigner, KeyRing
from hesuan.adapters.qr import SegnoQr
from hesuan.services.context import Deps, Limits
from tests.fakes.database import FakeDatabase
from tests.fakes.uow import FakeUnitOfWorkFactory

__all__ = ["counting_ids", "fake_deps"]

_MASTER = b"fake-master-secret-for-tests-32b"


def counting_ids() -> Callable[[], str]:
    """Ids as the platform makes them (32 hex digits), counted: 0...01, 0...02, ..."""
    n = itertools.count(1)
    return lambda: f"{next(n):032x}"


def fake_deps(db: FakeDatabase, clock: FixedClock, limits: Limits | None = None) -> Deps:
    keys = KeyRing(_MASTER)
    return Deps(uow=FakeUnitOfWorkFactory(db), clock=clock, vault=keys,
                codes=HmacCodeSigner(keys.code_key), passwords=Argon2Passwords(fast=True),
                qr=SegnoQr(), new_id=counting_ids(), limits=limits or Limits())
