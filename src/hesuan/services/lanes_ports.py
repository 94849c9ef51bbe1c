"""What the lanes service needs from storage: the two lanes' entries (registered, then swabbed),
lane events, queue lengths and recent swabs (``LaneRepository``, part of the ``UnitOfWork``,
implemented by ``hesuan.adapters.db.lanes_store``).

Imports: standard library, ``hesuan.domain`` and the sampling ports (a lane event is a station
event).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

from hesuan.services.sampling_ports import StationEventRow

__all__ = ["LaneEntry", "LaneLapse", "LaneRepository", "LaneSwab"]


@dataclass(slots=True)
class LaneEntry:
    event_id: str
    site_id: str
    window: int | None
    barcode: str
    person_id: str
    registered_at: datetime
    swabbed_at: datetime | None = None
    swab_event_id: str | None = None


class LaneSwab(NamedTuple):
    """A registered person swabbed: their registration's event id, when, by which swab event,
    at which window."""

    registration_id: str
    swabbed_at: datetime
    swab_event_id: str
    window: int | None


class LaneLapse(NamedTuple):
    """A registration lapsed at a swab: its event id, when, and why its person may no longer go
    into its tube (``domain.lanes.LAPSING_REASONS``)."""

    registration_id: str
    lapsed_at: datetime
    reason: str


class LaneRepository(Protocol):
    # -- site lanes ------------------------------------------------------------------------
    def lane_pending(self, site_id: str, person_ids: Iterable[str] | None = None,
                     barcodes: Iterable[str] | None = None) -> list[LaneEntry]: ...
    def pending_for_people(self, person_ids: Iterable[str], *,
                           for_update: bool = False) -> dict[str, LaneEntry]:
        """The people's registrations waiting for their swab. ``for_update``: the people are
        held until the unit of work ends, so a second registration of one of them waits, then
        finds the first."""
        ...

    def add_lane_entries(self, rows: Sequence[LaneEntry]) -> None: ...
    def mark_swabbed(self, rows: Sequence[LaneSwab]) -> None: ...
    def lapse(self, rows: Sequence[LaneLapse]) -> None:
        """The registrations no longer wait: out of the queue, their places in the tube freed."""
        ...

    def record_lane_events(self, rows: Sequence[StationEventRow]) -> None: ...
    def queue_lengths(self, site_ids: Sequence[str] | None, since: datetime) -> dict[str, int]:
        """People registered and not yet swabbed, for sites that used the two lanes since
        ``since`` (or have anyone waiting)."""
    def recent_swabs(self, site_ids: Sequence[str] | None, since: datetime,
                     until: datetime) -> dict[str, list[tuple[int | None, datetime]]]: ...
