"""The interpreter's cyclic garbage collector in a long-running process (the API server, the
simulator).

Everything a process has built before its real work starts — the application, its routes and
models, SQLAlchemy's tables and compiled statements, the simulator's city — lives until the
process ends, yet every full collection walks all of it again. ``settle`` collects once and then
freezes what is left (``gc.freeze``): those objects go to a permanent generation the collector
no longer walks, so a collection costs what was allocated since. A 1,000-event station batch
allocates tens of thousands of objects, so collections run often while the server works.

Imports: standard library.
"""

from __future__ import annotations

import gc

__all__ = ["settle"]


def settle() -> None:
    """Collect, then keep the survivors out of every later collection."""
    gc.collect()
    gc.freeze()
