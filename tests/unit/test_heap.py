"""``entrypoints.heap.settle``: what a process built before its work is kept out of later
collections, and garbage made before it is not kept."""

from __future__ import annotations

import gc
import weakref

from hesuan.entrypoints.heap import settle


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector frees it


def test_settle_freezes_the_survivors_and_frees_the_garbage() -> None:
    kept = _Node()
    garbage = weakref.ref(_Node())  # unreachable already, but for the cycle
    try:
        settle()
        assert garbage() is None
        assert gc.get_freeze_count() > 0
        assert not any(o is kept for o in gc.get_objects())  # frozen objects are not walked
    finally:
        gc.unfreeze()
