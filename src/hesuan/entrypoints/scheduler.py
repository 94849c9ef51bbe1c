"""The scheduler inside ``hesuan serve``: every few minutes, the overdue sweep, lateness alerts
and delivery of the outbox, in a background thread. Safe to run in every server process: the
sweep takes a lock and skips when another process holds it; reminders are de-duplicated.

Imports: the standard library, ``hesuan.bootstrap`` (types), ``hesuan.services``.
"""

from __future__ import annotations

import logging
import threading

from hesuan.bootstrap import Platform
from hesuan.services.auth import SYSTEM

__all__ = ["Scheduler"]

log = logging.getLogger("hesuan.scheduler")


class Scheduler:
    def __init__(self, platform: Platform, every_seconds: float) -> None:
        self._p = platform
        self._every = every_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hesuan-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def tick(self) -> None:
        p = self._p
        swept = p.status.sweep(SYSTEM)
        raised = p.alerts.check(SYSTEM)
        sent = p.outbox.deliver(SYSTEM, limit=5000)
        # counts only: no personal data in logs
        log.info("sweep reminders=%d decided=%d alerts=%d sms sent=%d failed=%d",
                 swept.reminders, swept.recomputed, raised, sent.sent, sent.failed)
        zones = p.zones.tick(SYSTEM)  # scheduled zones start, planned ends expire
        purged = p.fence.purge(SYSTEM)  # scans kept only as long as venue checks
        snap = p.rosters.refresh_snapshot_if_stale(SYSTEM)
        log.info("zones started=%d expired=%d scans purged=%d coverage snapshot=%s",
                 zones["started"], zones["expired"], purged, "refreshed" if snap else "fresh")

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self.tick()
            except Exception:  # keep the scheduler alive; the next tick retries
                log.exception("scheduler tick failed")
