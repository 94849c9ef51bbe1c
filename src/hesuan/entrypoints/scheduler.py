"""The scheduler inside ``hesuan serve``: every few minutes, the results files labs dropped,
then a tick of the city's housekeeping (``services/housekeeping.py``: the overdue sweep,
lateness alerts, the outbox, zone changes, a retention pass once an hour, a signed checkpoint
of the audit chain), in a background thread; and a last checkpoint when it stops. Every server
process starts one, and it runs once: a scheduler ticks only while its process holds the
database's scheduler lease (``Platform.scheduler_lease``), and lets the lease go when it stops,
so another process's scheduler takes over at its next tick (as it does when the holder dies).
Each step is safe to run twice besides: the sweep takes a lock and skips when another process
holds it; reminders are de-duplicated; a checkpoint of an unmoved head is not written again.

Imports: the standard library, ``hesuan.bootstrap`` (types), ``hesuan.services``.
"""

from __future__ import annotations

import logging
import threading

from hesuan.bootstrap import Platform
from hesuan.domain.audit import Checkpoint
from hesuan.entrypoints.lab_drop import LabDropFolder
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
        """Stop ticking, then checkpoint the audit chain: what was written up to the shutdown
        is anchored outside the database."""
        self._stop.set()
        self._thread.join(timeout=10)
        if self._p.scheduler_lease.held():
            _log_checkpoint(*self._p.housekeeping.checkpoint(SYSTEM))
        self._p.scheduler_lease.release()

    def tick(self) -> None:
        p = self._p
        if p.settings.lab_drop_folder is not None:  # results files labs dropped
            try:
                drop = LabDropFolder(p, p.settings.lab_drop_folder).collect()
            except Exception as exc:  # the folder unreadable, say: the housekeeping runs
                log.error("lab drop folder not collected (%s)", type(exc).__name__)
            else:
                if drop.received or drop.refused:
                    log.info("lab files received=%d unreadable=%d refused=%d",
                             drop.received, drop.unreadable, drop.refused)
        r = p.housekeeping.tick(SYSTEM)
        # counts only: no personal data in logs
        log.info("sweep reminders=%d decided=%d alerts=%d sms sent=%d failed=%d",
                 r.swept.reminders, r.swept.recomputed, r.alerts_raised, r.sms.sent,
                 r.sms.failed)
        if r.sms.in_doubt:  # the gateway may or may not have them: an operator decides
            log.warning("sms in doubt=%d (hesuan notify --in-doubt; docs/SMS.md)",
                        r.sms.in_doubt)
        if r.elr is not None:  # electronic lab reports out (docs/INTEROP.md "Out")
            log.info("elr sent=%d failed=%d", r.elr.sent, r.elr.failed)
            if r.elr.in_doubt:  # the receiver may or may not have them: an operator decides
                log.warning("elr in doubt=%d (hesuan elr --in-doubt; docs/INTEROP.md)",
                            r.elr.in_doubt)
        log.info("zones started=%d expired=%d coverage snapshot=%s", r.zones_started,
                 r.zones_expired, "refreshed" if r.snapshot_refreshed else "fresh")
        if r.retention is not None:  # what has expired is forgotten (docs/RETENTION.md)
            log.info("retention %s",
                     " ".join(f"{k}={n}" for k, n in r.retention.counts().items()))
        _log_checkpoint(r.checkpoint, r.checkpoint_refused)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                if self._p.scheduler_lease.held():
                    self.tick()
            except Exception:  # keep the scheduler alive; the next tick retries
                log.exception("scheduler tick failed")


def _log_checkpoint(checkpoint: Checkpoint | None, refused: str | None) -> None:
    if refused is not None:  # not signed, or not kept; serving goes on
        log.error("audit checkpoint refused: %s", refused)
    elif checkpoint is not None:
        log.info("audit checkpoint seq=%d", checkpoint.seq)
