"""A long file's chunks applied several at once, each in its own transaction, with the answers
in the file's order. The lab applies a results file this way (``LabService.import_rows``): on
PostgreSQL the chunks' set-based statements then run on more than one of the server's cores,
while the next chunk is parsed; SQLite has one writer, and there it applies one chunk at a time
on the caller's thread.

Two chunks that name the same thing (a tube's result in one, its correction in the next) are
never applied at once: the later one waits until the earlier one has finished, so that it sees
what that one wrote, as it would one chunk after the other.

Imports: standard library only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

__all__ = ["apply_in_order"]

ChunkT = TypeVar("ChunkT")
AnswerT = TypeVar("AnswerT")


def apply_in_order(chunks: Iterable[tuple[frozenset[str], ChunkT]],
                   apply: Callable[[ChunkT], AnswerT], at_once: int
                   ) -> Generator[AnswerT, None, None]:
    """``apply`` to each chunk, up to ``at_once`` of them at the same time on worker threads
    (one: in turn, on the caller's thread), yielding the answers in the chunks' order. Each
    chunk comes with the keys it names; a chunk that shares a key with one being applied starts
    only once that one has finished.

    If ``apply`` fails for a chunk, no further chunk is started; those already started are let
    finish (each commits or not on its own), and the first failure in the chunks' order is
    raised. Chunks before it were applied; of the chunks after it, those already started may
    have been."""
    if at_once < 1:
        raise ValueError("at_once must be at least 1")
    if at_once == 1:
        for _keys, chunk in chunks:
            yield apply(chunk)
        return
    running: deque[tuple[frozenset[str], Future[AnswerT]]] = deque()
    with ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="chunk") as pool:
        try:
            for keys, chunk in chunks:
                # wait, oldest first, until there is room and no chunk being applied names
                # one of this chunk's keys (answers leave in order in any case)
                while running and (len(running) >= at_once
                                   or any(not keys.isdisjoint(k) for k, _ in running)):
                    yield running.popleft()[1].result()
                running.append((keys, pool.submit(apply, chunk)))
            while running:
                yield running.popleft()[1].result()
        finally:
            # a failure, or a caller that stopped reading: the chunks already started finish
            # before this returns (none is left writing behind the caller's back)
            for _, started in running:
                started.cancel()
            for _, started in running:
                if not started.cancelled():
                    started.exception()
