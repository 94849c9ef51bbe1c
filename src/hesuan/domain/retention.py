"""How long each kind of personal data is kept, and what a retention pass reports.

Each kind is kept for its own period, counted from the moment it stops being needed:

- **samples** (who was in which tube, with the lane entries that registered them and the
  recalls they resolved): from the tube's result, so that a correction within the period
  still reaches its people;
- **station events** (the ids that make a station's replay a no-op): from their receipt; never
  shorter than the stations' offline window, past which a replay is refused anyway;
- **notifications** (SMS and electronic lab reports): from their delivery; undelivered ones stay;
- **passes**: from their expiry;
- **venue scans** (venue checks and checkpoint scans): from the scan;
- **arrivals** (where an arrival came from, where and when they landed): from the arrival;
  their follow-up is on the person's status, which keeps the time it needs;
- **lab messages** (a lab system's messages, which name their patients with their results):
  from their receipt once settled — applied, or set aside by a person; those still in the
  inbox stay until someone decides them.

Before a sample is forgotten it is counted into the daily aggregates (per local day and
district: the people sampled, results, positives, turnaround), which hold no personal data and
are kept. The aggregates name no one, so a person whose routine samples of one day are
forgotten by several passes is counted among the people sampled by the pass that forgets the
last of them.

Imports: standard library, ``hesuan.domain``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from hesuan.domain.errors import InvalidInput

__all__ = ["Kind", "Retention", "RetentionReport"]


class Kind(enum.StrEnum):
    SAMPLES = "samples"
    STATION_EVENTS = "station_events"
    NOTIFICATIONS = "notifications"
    PASSES = "passes"
    VENUE_SCANS = "venue_scans"
    ARRIVALS = "arrivals"
    LAB_MESSAGES = "lab_messages"


@dataclass(frozen=True, slots=True)
class Retention:
    """The period each kind is kept (settings ``HESUAN_RETENTION_*``)."""

    samples: timedelta = timedelta(days=30)
    station_events: timedelta = timedelta(days=30)
    notifications: timedelta = timedelta(days=7)
    passes: timedelta = timedelta(days=1)
    venue_scans: timedelta = timedelta(days=14)
    arrivals: timedelta = timedelta(days=14)
    lab_messages: timedelta = timedelta(days=30)

    def check(self, offline_window: timedelta) -> None:
        """Refuse a negative period, and station events kept shorter than the offline window
        (a replay inside the window would then be taken for a new event)."""
        for f in fields(self):
            if getattr(self, f.name) < timedelta(0):
                raise InvalidInput(f"retention of {f.name} must not be negative",
                                   code="bad_retention", field=f.name)
        if self.station_events < offline_window:
            raise InvalidInput("station events must be kept at least the stations' offline "
                               "window", code="bad_retention", field="station_events")

    def cutoff(self, kind: Kind, now: datetime) -> datetime:
        """What of ``kind`` became unneeded before this instant is forgotten at ``now``."""
        period: timedelta = getattr(self, kind.value)
        return now - period


@dataclass(frozen=True, slots=True)
class RetentionReport:
    """How many rows of each kind one pass forgot (counts only: this goes to the audit log)."""

    samples: int = 0
    aggregated: int = 0  # samples counted into the daily aggregates first (= samples)
    lane_entries: int = 0
    recalls: int = 0
    station_events: int = 0
    sms: int = 0
    lab_reports: int = 0
    passes: int = 0
    venue_checks: int = 0
    fence_scans: int = 0
    arrivals: int = 0
    lab_messages: int = 0

    def counts(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
