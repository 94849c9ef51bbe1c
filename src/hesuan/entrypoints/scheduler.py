"""The scheduler inside ``hesuan serve``: every few minutes, the overdue sweep, lateness alerts,
delivery of the outbox (and of electronic lab reports, when enabled), once an hour a retention
pass (docs/RETENTION.md) and a signed checkpoint of the audit chain, in a background thread;
and a last checkpoint when it stops. Every server process starts one, and it runs once: a
scheduler ticks only while its process holds the database's scheduler lease
(``Platform.scheduler_lease``), and lets the lease go when it stops, so another process's
scheduler takes over at its next tick (as it does when the holder dies).
Each step is safe to run twice besides: the sweep takes a lock and skips when another process
holds it; reminders are de-duplicated; a checkpoint of an unmoved head is not written again.

Imports: the standard library, ``hesuan.bootstrap`` (types), ``hesuan.services``.
"""

from __future__ import annotations

import logging
import threading
import time

from hesuan.bootstrap import Platform
from hesuan.entrypoints.lab_drop import LabDropFolder
from hesuan.services.auth import SYSTEM

__all__ = ["Scheduler"]

log = logging.getLogger("hesuan.scheduler")

#: Seconds between retention passes: expiry is counted in days, so once an hour is prompt.
RETENTION_EVERY_S = 3600.0


class Scheduler:
    def __init__(self, platform: Platform, every_seconds: float) -> None:
        self._p = platform
        self._every = every_seconds
        self._retained_at: float | None = None  # monotonic time of the last retention pass
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hesuan-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop ticking, then checkpoint the audit chain: what was written up to the shutdown
        is anchored outside the database."""
        self._stop.set()
        self._thread.join(timeout=10)
        if self._p.scheduler_lease.held():
            self._checkpoint()
        self._p.scheduler_lease.release()

    def _checkpoint(self) -> None:
        try:
            cp = self._p.audit.checkpoint(SYSTEM)
        except Exception:  # a broken chain is not signed; the log says so, serving goes on
            log.exception("audit checkpoint refused")
            return
        if cp is not None:
            log.info("audit checkpoint seq=%d", cp.seq)

    def tick(self) -> None:
        p = self._p
        swept = p.status.sweep(SYSTEM)
        raised = p.alerts.check(SYSTEM)
        sent = p.outbox.deliver(SYSTEM, limit=5000)
        # counts only: no personal data in logs
        log.info("sweep reminders=%d decided=%d alerts=%d sms sent=%d failed=%d",
                 swept.reminders, swept.recomputed, raised, sent.sent, sent.failed)
        if sent.in_doubt:  # the gateway may or may not have them: an operator decides
            log.warning("sms in doubt=%d (hesuan notify --in-doubt; docs/SMS.md)", sent.in_doubt)
        if p.elr is not None:  # electronic lab reports out (docs/INTEROP.md "Out")
            elr = p.elr.deliver(SYSTEM, limit=5000)
            log.info("elr sent=%d failed=%d", elr.sent, elr.failed)
            if elr.in_doubt:  # the receiver may or may not have them: an operator decides
                log.warning("elr in doubt=%d (docs/INTEROP.md)", elr.in_doubt)
        if p.settings.lab_drop_folder is not None:  # results files labs dropped
            drop = LabDropFolder(p, p.settings.lab_drop_folder).collect()
            if drop.received or drop.refused:
                log.info("lab files received=%d unreadable=%d refused=%d",
                         drop.received, drop.unreadable, drop.refused)
        zones = p.zones.tick(SYSTEM)  # scheduled zones start, planned ends expire
        snap = p.rosters.refresh_snapshot_if_stale(SYSTEM)
        log.info("zones started=%d expired=%d coverage snapshot=%s",
                 zones["started"], zones["expired"], "refreshed" if snap else "fresh")
        now = time.monotonic()
        if self._retained_at is None or now - self._retained_at >= RETENTION_EVERY_S:
            # what has expired is forgotten (docs/RETENTION.md); counts only in the log
            forgot = p.retention.run(SYSTEM)
            self._retained_at = now
            log.info("retention %s", " ".join(f"{k}={n}" for k, n in forgot.counts().items()))
        self._checkpoint()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                if self._p.scheduler_lease.held():
                    self.tick()
            except Exception:  # keep the scheduler alive; the next tick retries
                log.exception("scheduler tick failed")
