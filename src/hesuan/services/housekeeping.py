"""The city's housekeeping, one tick of it: the overdue sweep, lateness alerts, delivery of the
outbox (and of electronic lab reports, when enabled), the scheduled zone changes, the roster's
coverage snapshot when stale, a retention pass once an hour (docs/RETENTION.md) and a signed
checkpoint of the audit chain. The scheduler inside ``hesuan serve`` runs a tick every few
minutes; the simulated round runs one every simulated hour, so the demo's city is kept as a
served city is. Each step is safe to run twice.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hesuan.domain.access import Principal
from hesuan.domain.audit import Checkpoint
from hesuan.domain.errors import RuleViolation
from hesuan.domain.retention import RetentionReport
from hesuan.services.audit import AuditService
from hesuan.services.elr import ElrDeliveryReport, ElrService
from hesuan.services.notify import AlertService, DeliveryReport, OutboxService
from hesuan.services.ports import Clock
from hesuan.services.retention import RetentionService
from hesuan.services.rosters import RosterService
from hesuan.services.status import StatusService, SweepReport
from hesuan.services.zones import ZoneService

__all__ = ["BATCH", "RETENTION_EVERY", "Housekeeping", "HousekeepingReport"]

#: Time between retention passes: expiry is counted in days, so once an hour is prompt.
RETENTION_EVERY = timedelta(hours=1)
#: Messages (SMS, electronic lab reports) a tick delivers at most; the rest wait for the next.
BATCH = 5000


@dataclass(frozen=True, slots=True)
class HousekeepingReport:
    """What one tick did: counts only (the scheduler logs them; no personal data)."""

    swept: SweepReport
    alerts_raised: int
    sms: DeliveryReport
    elr: ElrDeliveryReport | None  # None: electronic lab reports are not enabled
    zones_started: int
    zones_expired: int
    snapshot_refreshed: bool
    retention: RetentionReport | None  # None: the last pass is less than an hour old
    checkpoint: Checkpoint | None  # None: the log's head has not moved, or it was refused
    checkpoint_refused: str | None  # why not: a broken chain, a folder that cannot be written


class Housekeeping:
    def __init__(self, clock: Clock, status: StatusService, alerts: AlertService,
                 outbox: OutboxService, zones: ZoneService, rosters: RosterService,
                 retention: RetentionService, audit: AuditService,
                 elr: ElrService | None = None) -> None:
        self._clock = clock
        self._status = status
        self._alerts = alerts
        self._outbox = outbox
        self._zones = zones
        self._rosters = rosters
        self._retention = retention
        self._audit = audit
        self._elr = elr
        self._retained_at: datetime | None = None  # when this process's last pass ran

    def tick(self, actor: Principal) -> HousekeepingReport:
        swept = self._status.sweep(actor)
        raised = self._alerts.check(actor)
        sms = self._outbox.deliver(actor, limit=BATCH)
        elr = None if self._elr is None else self._elr.deliver(actor, limit=BATCH)
        zones = self._zones.tick(actor)  # scheduled zones start, planned ends expire
        snapshot = self._rosters.refresh_snapshot_if_stale(actor) is not None
        retention = None
        now = self._clock.now()
        if self._retained_at is None or not (
                timedelta(0) <= now - self._retained_at < RETENTION_EVERY):
            retention = self._retention.run(actor)
            self._retained_at = now
        checkpoint, refused = self.checkpoint(actor)
        return HousekeepingReport(swept, raised, sms, elr, zones.started, zones.expired,
                                  snapshot, retention, checkpoint, refused)

    def checkpoint(self, actor: Principal) -> tuple[Checkpoint | None, str | None]:
        """Sign the audit log's head (``AuditService.checkpoint``), or say why it was not: a
        chain that does not hold is not signed, a checkpoint that cannot be written is not
        kept; either way the rest of the housekeeping, and serving, go on."""
        try:
            return self._audit.checkpoint(actor), None
        except RuleViolation as e:
            return None, f"{e.code}: {e.message}"
        except OSError as e:  # the checkpoints' folder: full, read-only, gone
            return None, f"cannot write the checkpoint: {e}"
