"""What the fence service needs from storage: checkpoints and venues (places), the facts of
scanned people, place scans and fence alerts (``FenceRepository``, part of the ``UnitOfWork``,
implemented by ``hesuan.adapters.db.fence_store``).

Imports: standard library and ``hesuan.domain`` only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple, Protocol

from hesuan.domain.fence import ScanPerson
from hesuan.domain.json import JsonObject

__all__ = ["CheckpointRow", "FenceAlertHandling", "FenceAlertRow", "FenceRepository",
           "FenceScanRow", "NewFenceAlert", "PlaceRow", "PlaceScan", "ScanFacts"]


@dataclass(frozen=True, slots=True)
class CheckpointRow:
    """A checkpoint (交通卡口 / 小区卡口) as registered."""

    id: str
    code: str
    name: str
    kind: str
    region_code: str
    lat: float | None
    lng: float | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PlaceRow:
    kind: str  # venue | checkpoint
    id: str
    name: str
    region_code: str
    lat: float | None
    lng: float | None


@dataclass(slots=True)
class ScanFacts:
    """A scanned person's facts for the fence rules, with their home grid."""

    grid_code: str
    name_masked: str
    person: ScanPerson = field(default_factory=ScanPerson)


class FenceScanRow(NamedTuple):
    """A scan at a venue or checkpoint, the only location data kept; it goes to the driver as
    it is (``executemany``), its fields the columns of ``fence_scans``."""

    event_id: str
    place_kind: str
    place_id: str
    person_id: str | None
    via: str  # code | pass
    at: datetime
    received_at: datetime
    actor: str
    alerts: int


@dataclass(frozen=True, slots=True)
class PlaceScan:
    """A scan as its place's device lists it: when, by what, and how many fence rules it broke
    (more than none: the person was stopped). Nothing about the person."""

    at: datetime
    via: str  # code | pass
    alerts: int


@dataclass(frozen=True, slots=True)
class NewFenceAlert:
    """An alert a scan raises: one per person, rule and local day."""

    id: str
    person_id: str
    rule: str
    day: str
    grid_code: str
    raised_at: datetime
    last_scan_at: datetime
    scans: int
    place_kind: str
    place_id: str
    place_name: str | None
    detail: JsonObject
    status: str


@dataclass(frozen=True, slots=True)
class FenceAlertRow:
    """A fence alert as stored, with the masked name and address of its person (fields in the
    order of its columns: the inbox answers them as they are)."""

    id: str
    person_id: str
    rule: str
    day: str
    grid_code: str
    raised_at: datetime
    last_scan_at: datetime
    scans: int
    place_kind: str
    place_id: str
    place_name: str | None
    detail: JsonObject
    status: str
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    closed_by: str | None
    closed_at: datetime | None
    outcome: str | None
    note: str | None
    name_masked: str | None
    address: str | None


@dataclass(frozen=True, slots=True)
class FenceAlertHandling:
    """What acknowledging or closing an alert writes: its status and note always, each other
    field only when it is given (not None)."""

    status: str
    note: str | None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    closed_by: str | None = None
    closed_at: datetime | None = None
    outcome: str | None = None


class FenceRepository(Protocol):
    # -- places and fence alerts -----------------------------------------------------------
    def add_checkpoint(self, row: CheckpointRow) -> None: ...
    def checkpoints(self) -> list[CheckpointRow]: ...
    def places(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], PlaceRow]: ...
    def scan_facts(self, person_ids: Iterable[str],
                   since: datetime | None = None) -> dict[str, ScanFacts]:
        """Facts of those of the people a fence rule can fire for (anyone else is absent).
        With ``since``, the earliest time scanned: also the kept times of what the status
        rules read (``ScanPerson.positive_since``, ``recalls``, ``overrides``), and the people
        a recall or a red override made a rule's case for at any time since."""
    def tests_since(self, person_ids: Sequence[str],
                    since: dict[str, datetime]) -> dict[str, list[datetime]]: ...
    def known_scans(self, event_ids: Iterable[str]) -> set[str]: ...
    def person_for_pass_hash(self, id_hashes: Iterable[str]) -> dict[str, str]: ...
    def record_scans(self, rows: Sequence[FenceScanRow]) -> None: ...
    def place_scans(self, place_kind: str, place_id: str, limit: int) -> list[PlaceScan]:
        """The place's latest scans, newest first."""
        ...
    def upsert_fence_alerts(self, rows: Sequence[NewFenceAlert]) -> int:
        """Insert new alerts; a second scan the same day bumps the existing alert's count,
        and one made after the alert was closed opens it again (its acknowledgement cleared,
        the close's outcome and note kept until it is closed anew). Returns how many alerts
        are new."""
    def fence_alerts(self, prefix: str, grid: str | None, statuses: Sequence[str],
                     limit: int) -> list[FenceAlertRow]: ...
    def fence_alert(self, alert_id: str, *, for_update: bool = False) -> FenceAlertRow | None:
        """The alert; ``for_update``: its row locked until the transaction ends."""
    def update_fence_alert(self, alert_id: str, handling: FenceAlertHandling) -> None: ...
