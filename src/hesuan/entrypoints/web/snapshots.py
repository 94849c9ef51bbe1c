"""Snapshots of the aggregates that read the whole population (people by status per district,
an officer's area counts): a page is served from the last snapshot, and a snapshot older than
its interval is recomputed in the background (stale-while-revalidate), so that no request waits
for a scan of the city and many screens share one computation. Only the first request for a
key computes in line. The interval grows with the cost (five times the last computation, at
least ``min_interval``), so a big city's command centre never spends more than a fifth of a
core on refreshing. Every snapshot carries the time it was computed, which the pages show.

Lists that are cheap and must be live (recalls, override requests, queues) are never
snapshotted. One ``Snapshots`` per app (``app.state``); nothing global.

Imports: the standard library, Starlette (the request type), ``hesuan.domain``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from hesuan.domain.access import Principal

__all__ = ["Snapshots", "snapshots"]


@dataclass
class _Entry:
    value: Any
    at: float
    cost: float
    refreshing: bool = False


class Snapshots:
    def __init__(self, min_interval: float = 15.0) -> None:
        self._min = min_interval
        self._lock = threading.Lock()
        self._items: dict[str, _Entry] = {}

    def get(self, me: Principal, key: str, compute: Callable[[], Any],
            fresh: bool = False) -> Any:
        """The last snapshot of ``key`` for principals of ``me``'s role and scope (computed
        now if there is none, or if ``fresh``). A snapshot is only ever served to a principal
        the services answered it for, so no cached page reaches past its reader's scope."""
        key = f"{me.role}:{me.scope}:{key}"
        if fresh:
            return self._compute(key, compute)
        now = time.monotonic()
        with self._lock:
            entry = self._items.get(key)
            stale = entry is not None and not entry.refreshing and (
                now - entry.at > max(self._min, 5 * entry.cost))
            if stale:
                assert entry is not None
                entry.refreshing = True
        if entry is None:
            return self._compute(key, compute)
        if stale:
            threading.Thread(target=self._refresh, args=(key, compute), daemon=True,
                             name=f"snapshot {key}").start()
        return entry.value

    def last(self, me: Principal, key: str) -> Any:
        """The last snapshot of ``key`` for ``me``'s role and scope, None when there is none
        (a new computation compares itself with it)."""
        with self._lock:
            entry = self._items.get(f"{me.role}:{me.scope}:{key}")
        return None if entry is None else entry.value

    def _compute(self, key: str, compute: Callable[[], Any]) -> Any:
        started = time.monotonic()
        value = compute()
        done = time.monotonic()
        with self._lock:
            self._items[key] = _Entry(value, done, done - started)
        return value

    def _refresh(self, key: str, compute: Callable[[], Any]) -> None:
        try:
            self._compute(key, compute)
        except Exception:  # keep serving the last snapshot; try again next time
            with self._lock:
                entry = self._items.get(key)
                if entry is not None:
                    entry.refreshing = False

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def snapshots(request: Request) -> Snapshots:
    state = request.app.state
    snaps: Snapshots | None = getattr(state, "web_snapshots", None)
    if snaps is None:
        snaps = state.web_snapshots = Snapshots()
    return snaps
