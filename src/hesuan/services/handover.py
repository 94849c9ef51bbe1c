"""Handing queued messages over exactly once (docs/SMS.md "Exactly once"): the one loop that
delivers both the SMS outbox (``services/notify.py``) and the electronic lab reports
(``services/elr.py``).

A message is written, claimed — the claim committed — and only then handed to its transport; it
is marked sent in the transaction that claims the next one. A crash leaves at most the one
message in flight in doubt, and a message in doubt is never handed over again on a guess: the
transport's own record settles it (``SendRecord``), or an operator does. Two delivering
processes never hand over the same message (a claim is taken once). A message the transport
refuses is retried with exponential back-off; one that can never be sent (``Unsendable``: an
SMS for a landline, a report whose person is gone) is closed unsent with its reason.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar

from hesuan.services.context import Deps
from hesuan.services.ports import SendInDoubt, SendRecord, UnitOfWork

__all__ = ["ClaimedQueue", "HandOver", "Handed", "Unsendable"]

K = TypeVar("K")
K_contra = TypeVar("K_contra", contravariant=True)
T = TypeVar("T")
P = TypeVar("P")

_MAX_BACKOFF = timedelta(hours=1)
#: Stale claims looked at per delivery run.
_SETTLE_BATCH = 1000


class ClaimedQueue(Protocol[K_contra]):
    """What a queue delivered exactly once offers, each message named by its key."""

    def claim(self, key: K_contra, now: datetime) -> bool:
        """Claim a pending message (False: another process has it, or it is settled)."""
        ...

    def sent(self, keys: Sequence[K_contra], now: datetime) -> None: ...

    def unsent(self, keys: Sequence[K_contra], reason: str, now: datetime) -> None:
        """Close messages without handing them over (``reason`` kept), never retried."""
        ...

    def failed(self, key: K_contra, error: str, next_attempt_at: datetime) -> None:
        """Refused: the claim is dropped, the message retried from ``next_attempt_at``."""
        ...

    def in_doubt(self, key: K_contra, error: str) -> None:
        """The transport may have the message: it keeps its claim."""
        ...

    def release(self, keys: Sequence[K_contra], claimed_before: datetime) -> int:
        """Drop the stale claims of messages the transport never took. How many were."""
        ...


class Unsendable(Exception):
    """A message that can never be handed over; its text (a code such as ``no_mobile``, never
    personal data) is kept as the reason it was closed unsent."""


@dataclass(frozen=True, slots=True)
class Handed:
    """What one delivery run did."""

    sent: int
    failed: int
    closed: int  # closed unsent (``Unsendable``)
    in_doubt: int  # claimed, never confirmed, and not settled by the transport's record


def _kind(exc: Exception) -> str:
    return type(exc).__name__


class HandOver(Generic[K]):
    """The exactly-once loop over one queue.

    ``queue``: the queue's repository in a unit of work; ``stale``: the keys of claims made
    before a time and never marked sent, oldest first, at most a limit; ``message_id``: the id
    the transport knows a message by (its ``SendRecord`` answers in these)."""

    def __init__(self, deps: Deps, queue: Callable[[UnitOfWork], ClaimedQueue[K]],
                 stale: Callable[[UnitOfWork, datetime, int], list[K]],
                 message_id: Callable[[K], str], claim_timeout: timedelta) -> None:
        self._d = deps
        self._queue = queue
        self._stale = stale
        self._message_id = message_id
        self._claim_timeout = claim_timeout

    def stale_before(self) -> datetime:
        """Claims older than this, without a sent mark, are no longer in flight but in doubt."""
        return self._d.clock.now() - self._claim_timeout

    def run(self, pending: Callable[[UnitOfWork, datetime], Sequence[T]],
            key: Callable[[T], K], attempts: Callable[[T], int],
            write: Callable[[T], P], hand: Callable[[T, P], None], transport: object,
            pace: Callable[[], None] | None = None,
            error_text: Callable[[Exception], str] = _kind) -> Handed:
        """Hand each message ``pending`` reads (due at a time) over once, after settling the
        stale claims (those released are handed over in this run): ``write`` makes what is
        handed (raising ``Unsendable`` for one that never can be, anything else for one to
        retry), ``hand`` hands it to ``transport`` (raising ``SendInDoubt`` when it may have
        taken it); ``pace`` runs before each claim (a rate limit); ``error_text`` is what a
        failure records."""
        in_doubt = self._settle_stale(transport)
        now = self._d.clock.now()
        with self._d.uow(readonly=True) as uow:
            batch = pending(uow, now)
        sent = failed = 0
        closed: dict[str, list[K]] = {}
        handed: list[K] = []  # handed over; its sent mark goes with the next claim
        for item in batch:
            k = key(item)
            try:
                payload = write(item)
            except Unsendable as exc:
                closed.setdefault(str(exc), []).append(k)
                continue
            except Exception as exc:  # not written: retried later, like a refusal
                failed += 1
                self._failed(k, attempts(item), error_text(exc), now)
                continue
            if pace is not None:
                pace()
            with self._d.uow() as uow:  # one commit a message: the last one's mark, this claim
                q, at = self._queue(uow), self._d.clock.now()
                if handed:
                    q.sent(handed, at)
                mine = q.claim(k, at)
                uow.commit()
            handed = []
            if not mine:  # another process claimed it since the batch was read
                continue
            try:
                hand(item, payload)
            except SendInDoubt as exc:  # the transport may have it: kept claimed, not resent
                in_doubt += 1
                with self._d.uow() as uow:
                    self._queue(uow).in_doubt(k, f"in_doubt: {exc}")
                    uow.commit()
                continue
            except Exception as exc:  # the transport did not take it: retried later
                failed += 1
                self._failed(k, attempts(item), error_text(exc), now)
                continue
            sent += 1
            handed = [k]
        if handed or closed:
            with self._d.uow() as uow:
                q, at = self._queue(uow), self._d.clock.now()
                if handed:
                    q.sent(handed, at)
                for reason, keys in closed.items():
                    q.unsent(keys, reason, at)
                uow.commit()
        return Handed(sent, failed, sum(map(len, closed.values())), in_doubt)

    def in_doubt(self, uow: UnitOfWork, limit: int) -> list[K]:
        """The keys of messages in doubt (claimed before ``stale_before``), oldest first."""
        return self._stale(uow, self.stale_before(), limit)

    def settle(self, actor: str, message_ids: Sequence[str], *, taken: bool,
               audit_action: str, audit_subject: str) -> int:
        """An operator's decision on messages in doubt, by message id, from the transport's own
        record: it took them (``taken``: marked sent) or it never did (handed over again by the
        next run). Only messages in doubt change; how many did. Audited."""
        wanted = set(message_ids)
        with self._d.uow() as uow:
            before = self.stale_before()
            chosen = [k for k in self._stale(uow, before, 1_000_000)
                      if self._message_id(k) in wanted]
            q, now = self._queue(uow), self._d.clock.now()
            if taken:
                q.sent(chosen, now)
                n = len(chosen)
            else:
                n = q.release(chosen, before)
            uow.audit_log.append(now, actor, audit_action, audit_subject,
                                 {"decision": "sent" if taken else "resend",
                                  "messages": [self._message_id(k) for k in chosen]})
            uow.commit()
        return n

    def _settle_stale(self, transport: object) -> int:
        """Settle what crashed runs left in doubt, by the transport's own record when it keeps
        one: taken → marked sent; never taken → released, handed over in this run. The count of
        those still in doubt."""
        before = self.stale_before()
        with self._d.uow(readonly=True) as uow:
            stale = self._stale(uow, before, _SETTLE_BATCH)
        if not stale:
            return 0
        if not isinstance(transport, SendRecord):
            return len(stale)
        took = transport.took([self._message_id(k) for k in stale])
        with self._d.uow() as uow:
            q = self._queue(uow)
            taken = [k for k in stale if self._message_id(k) in took]
            if taken:
                q.sent(taken, self._d.clock.now())
            q.release([k for k in stale if self._message_id(k) not in took], before)
            uow.commit()
        return 0

    def _failed(self, key: K, attempts: int, error: str, now: datetime) -> None:
        backoff = min(timedelta(seconds=30 * 2 ** min(attempts, 20)), _MAX_BACKOFF)
        with self._d.uow() as uow:
            self._queue(uow).failed(key, error, now + backoff)
            uow.commit()
