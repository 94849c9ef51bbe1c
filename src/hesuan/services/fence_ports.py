"""What the fence service needs from storage: checkpoints and venues (places), the facts of
scanned people, place scans and fence alerts (``FenceRepository``, part of the ``UnitOfWork``,
implemented by ``hesuan.adapters.db.fence_store``).

Imports: standard library and ``hesuan.domain`` only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from hesuan.domain.fence import ScanPerson

__all__ = ["FenceRepository", "PlaceRow", "ScanFacts"]


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


class FenceRepository(Protocol):
    # -- places and fence alerts -----------------------------------------------------------
    def add_checkpoint(self, row: dict[str, Any]) -> None: ...
    def places(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], PlaceRow]: ...
    def scan_facts(self, person_ids: Iterable[str]) -> dict[str, ScanFacts]:
        """Facts of those of the people a fence rule can fire for (anyone else is absent)."""
    def tests_since(self, person_ids: Sequence[str],
                    since: dict[str, datetime]) -> dict[str, list[datetime]]: ...
    def known_scans(self, event_ids: Iterable[str]) -> set[str]: ...
    def person_for_pass_hash(self, id_hashes: Iterable[str]) -> dict[str, str]: ...
    def record_scans(self, rows: Sequence[dict[str, Any]]) -> None: ...
    def upsert_fence_alerts(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert new alerts; a second scan the same day bumps the existing alert's count.
        Returns how many alerts are new."""
    def fence_alerts(self, prefix: str, grid: str | None, statuses: Sequence[str],
                     limit: int) -> list[dict[str, Any]]: ...
    def fence_alert(self, alert_id: str) -> dict[str, Any] | None: ...
    def update_fence_alert(self, alert_id: str, values: dict[str, Any]) -> None: ...
    def purge_scans(self, before: datetime) -> int: ...
