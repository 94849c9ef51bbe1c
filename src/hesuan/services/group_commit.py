"""Group commit (合并提交) on an asyncio server's event loop: the items callers submit one at a
time while one transaction is being written go together into the next one, so a busy city pays
for one transaction per group, not per item, and each caller gets its answer only after its item
is durable. The sampling service writes single scans this way (``SamplingService.submit_one``).

Imports: standard library, ``hesuan.services.ports``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from hesuan.services.ports import InlineWrites

__all__ = ["DEEP_QUEUE", "INLINE_MAX", "GroupCommit"]

ItemT = TypeVar("ItemT")  # what a caller submits
OutcomeT = TypeVar("OutcomeT")  # what it is answered


#: A caller's future and what it is to be settled with
_Answer = tuple[asyncio.Future[OutcomeT], OutcomeT | BaseException]


#: The largest group written on the event loop itself (``GroupCommit``): small enough that the
#: loop, which serves every other request of the process, is never held for long.
INLINE_MAX = 64

#: Callers waiting before another group is written beside the one in flight (``at_once``).
DEEP_QUEUE = 64


class GroupCommit(Generic[ItemT, OutcomeT]):
    """Group commit on the server's event loop. A caller's item joins the queue; one writer
    at a time takes everything queued (up to ``max_events``), writes it in one transaction
    (``run``) and answers each caller; whatever arrived meanwhile forms the next group. Nobody
    waits for a timer: an idle site's lone scan is written at once, alone.

    Where a write is this process's CPU work alone and the store's write turn is free at once
    (``InlineWrites``: SQLite), a small group is written on the event loop itself, not on a
    worker thread. On a thread, every SQLite statement (every row of an ``executemany``) gives
    up the GIL and must win it back from the event loop busy with the next requests, up to a
    switch interval (5 ms) each time, so a small group would take several times its CPU time
    in wall time.
    Everything else — a busy turn, a large group, PostgreSQL — goes to a thread.

    Where the store has several writers (``at_once`` above one: PostgreSQL), a second group
    starts while the first is in flight once ``DEEP_QUEUE`` callers wait, up to ``at_once``
    groups at a time: one transaction's round trips and the database's work then overlap
    another's, when the queue is long enough that both groups stay large. A shorter queue
    waits for the group in flight, as with one writer: two small groups cost more than one."""

    def __init__(self, run: Callable[[Sequence[ItemT]], list[OutcomeT]],
                 max_events: int, inline: InlineWrites | None = None, at_once: int = 1,
                 deep_queue: int = DEEP_QUEUE) -> None:
        self._run = run
        self._inline = inline
        self._max = max_events
        self._at_once = at_once
        self._deep = deep_queue
        self._queue: list[tuple[ItemT, asyncio.Future[OutcomeT]]] = []
        self._writers: set[asyncio.Task[None]] = set()

    async def submit(self, item: ItemT) -> OutcomeT:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[OutcomeT] = loop.create_future()
        self._queue.append((item, answer))
        self._writers = {w for w in self._writers if not w.done() and w.get_loop() is loop}
        if not self._writers or (len(self._writers) < self._at_once
                                 and len(self._queue) >= self._deep):
            # a task of its own, not the caller's: a caller that goes away cancels nothing
            self._writers.add(loop.create_task(self._drain()))
        return await answer

    async def _drain(self) -> None:
        me = asyncio.current_task()
        try:
            # beside another writer, only a deep queue is worth a group of its own
            while self._queue and (len(self._writers) == 1 or len(self._queue) >= self._deep):
                group = self._queue[:self._max]
                del self._queue[:self._max]
                if self._write_now(group):
                    await asyncio.sleep(0)  # the loop reads what arrived meanwhile
                else:
                    await asyncio.to_thread(self._write, group)
        finally:
            if me is not None:
                self._writers.discard(me)

    def _write_now(self, group: list[tuple[ItemT, asyncio.Future[OutcomeT]]]) -> bool:
        """Write and answer ``group`` on this thread if that can be done without waiting;
        False (nothing written, nobody answered) otherwise."""
        if self._inline is None or len(group) > INLINE_MAX:
            return False
        with self._inline.turn() as free:
            if not free:
                return False
            try:
                results: list[OutcomeT | BaseException] = list(
                    self._run([item for item, _ in group]))
            except Exception:  # the store was busy, or a failure: nothing was committed, and
                return False   # a thread writes the group (one by one if it fails again)
        self._answer(group, results)
        return True

    def _write(self, group: list[tuple[ItemT, asyncio.Future[OutcomeT]]]) -> None:
        results: list[OutcomeT | BaseException]
        try:
            results = list(self._run([item for item, _ in group]))
        except Exception as exc:
            if len(group) == 1:
                results = [exc]
            else:
                # something beyond one event's rules failed the group: write each alone, so
                # that one caller's failure is not another's
                results = []
                for item, _ in group:
                    try:
                        results.append(self._run([item])[0])
                    except Exception as one:
                        results.append(one)
        self._answer(group, results)

    @staticmethod
    def _answer(group: list[tuple[ItemT, asyncio.Future[OutcomeT]]],
                results: list[OutcomeT | BaseException]) -> None:
        # one wake-up of each waiting loop for the whole group, not one per caller (each is a
        # write to the loop's self-pipe, a system call)
        by_loop: dict[asyncio.AbstractEventLoop, list[_Answer[OutcomeT]]] = {}
        for (_, answer), r in zip(group, results, strict=True):
            by_loop.setdefault(answer.get_loop(), []).append((answer, r))
        for loop, answers in by_loop.items():
            loop.call_soon_threadsafe(_settle, answers)


def _settle(answers: list[_Answer[OutcomeT]]) -> None:
    for answer, r in answers:
        if answer.done():  # its caller went away
            continue
        if isinstance(r, BaseException):
            answer.set_exception(r)
        else:
            answer.set_result(r)
