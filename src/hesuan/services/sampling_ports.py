"""Ports of the sampling chain: what a station batch writes, boxes, the tubes a results file
names, and the repositories of station events, boxes and results (parts of the ``UnitOfWork``,
implemented by ``adapters/db``).

Imports: standard library and ``hesuan.domain`` only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from hesuan.domain.results import Result
from hesuan.domain.sampling import TubeState

__all__ = ["BoxRepository", "BoxRow", "ResultRepository", "ResultTube", "StationRepository",
           "StationWrites"]


@dataclass(slots=True)
class BoxRow:
    id: str
    code: str
    site_id: str
    status: str
    tube_ids: list[str]
    first_tube_sealed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ResultTube:
    id: str
    barcode: str
    lab_id: str | None
    status: str
    capacity: int
    result: str | None
    ct: dict[str, float] | None


@dataclass(slots=True)
class StationWrites:
    """Everything one station batch writes, applied by the store in a few bulk statements."""

    events: list[dict[str, Any]] = field(default_factory=list)
    new_tubes: list[dict[str, Any]] = field(default_factory=list)
    tube_updates: dict[str, dict[str, Any]] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)
    sealed_tube_ids: set[str] = field(default_factory=set)
    new_boxes: list[dict[str, Any]] = field(default_factory=list)
    box_updates: dict[str, dict[str, Any]] = field(default_factory=dict)


class StationRepository(Protocol):
    """What sampling stations write: events, tubes, boxes, samples."""

    def known_events(self, event_ids: Iterable[str]) -> dict[str, str | None]:
        """The ids among ``event_ids`` (canonical) already recorded, each with the digest of
        the content it was accepted with (None: none kept)."""

    def record_event(self, row: dict[str, Any]) -> None: ...

    def tubes_by_barcode(self, barcodes: Iterable[str],
                         for_update: bool) -> dict[str, TubeState]: ...

    def boxes_by_code(self, codes: Iterable[str], for_update: bool) -> dict[str, BoxRow]: ...

    def apply_station_writes(self, w: StationWrites, now: datetime) -> list[str]:
        """Write a station batch. Each sampled person's status row gets the sample and, when
        nothing about them is special and they are not past due + grace, the status the engine
        decides for that (green, awaiting the result). Returns the sampled people whose status
        is left for the caller to decide (``StatusService.refresh(person_ids=...)``)."""


class BoxRepository(Protocol):
    """Transport boxes along the chain of custody."""

    def box_by_code(self, code: str) -> dict[str, Any] | None: ...

    def update_box(self, box_id: str, values: dict[str, Any]) -> None: ...

    def box_tubes(self, box_id: str) -> list[tuple[str, str]]:
        """(tube id, barcode) of every tube packed in the box."""

    def mark_tubes_received(self, tube_ids: Sequence[str], lab_id: str, at: datetime) -> None: ...


class ResultRepository(Protocol):
    """Lab results and their fan-out to the members of each tube."""

    def tubes_for_results(self, barcodes: Iterable[str],
                          for_update: bool = False) -> dict[str, ResultTube]:
        """The tubes with these barcodes (as stored), by barcode. ``for_update``: a writing
        unit of work holds them until it ends, so that another one resulting the same tubes
        waits and then reads what this one wrote (SQLite: its writer holds the write turn)."""

    def reject_results(self, rows: Sequence[dict[str, Any]]) -> None: ...

    def apply_results(self, lab_id: str, results: Sequence[tuple[str, Result,
                      dict[str, float] | None]], corrections: Sequence[tuple[str, Result,
                      dict[str, float] | None, str, str]], actor: str, now: datetime,
                      new_id: Callable[[], str], recall_due: datetime) -> dict[str, int]: ...
