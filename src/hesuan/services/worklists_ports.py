"""Ports of the work lists: the rows the lists read and the ``WorklistQueries`` that reads them
(implemented set-based in ``adapters/db/worklists.py``). Times are aware UTC datetimes.

Imports: standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple, Protocol

__all__ = ["AreaExemption", "AreaRecall", "BoxInTransit", "ChainCounts", "LabBox", "OpenBox",
           "OpenTube", "SamplesInHour", "SealedBox", "SealedTube", "SiteDay", "StatusCounts",
           "TubeTally", "UserSummary", "WorklistQueries"]


# -- courier -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SealedBox:
    """A sealed box waiting to be collected at its site; ``priority``: it holds a priority
    tube (优先送检: a first-landing point's, a key group's, a recall's)."""

    code: str
    site: str
    tube_count: int | None
    sealed_at: datetime | None
    first_tube_sealed_at: datetime | None
    priority: bool = False


@dataclass(frozen=True, slots=True)
class BoxInTransit:
    """A box handed over to a courier and not yet received by a lab (``priority`` as a sealed
    box's)."""

    code: str
    site: str
    tube_count: int | None
    handed_over_at: datetime | None
    first_tube_sealed_at: datetime | None
    priority: bool = False


# -- lab -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabBox:
    """A box a lab received, with its count check (the tubes missing and extra, by
    barcode)."""

    code: str
    site: str
    tube_count: int | None
    received_count: int | None
    received_at: datetime | None
    missing: tuple[str, ...] | None
    extra: tuple[str, ...] | None
    discrepancy: bool


# -- sampling site -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenTube:
    """A tube open at a window, being filled."""

    barcode: str
    count: int
    capacity: int
    priority: bool
    window: int | None
    opened_at: datetime


@dataclass(frozen=True, slots=True)
class SealedTube:
    """A sealed tube waiting to be put in a box."""

    barcode: str
    count: int
    capacity: int
    priority: bool
    sealed_at: datetime | None


@dataclass(frozen=True, slots=True)
class OpenBox:
    """A box open at a site, and the tubes in it so far."""

    code: str
    opened_at: datetime
    tubes: int


@dataclass(frozen=True, slots=True)
class TubeTally:
    """Tubes in one state, and the people sampled into them."""

    tubes: int
    people: int


class SamplesInHour(NamedTuple):
    """Samples in one hour, by the hour's start in epoch milliseconds (a pair on the pages'
    JSON)."""

    hour_ms: int
    samples: int


@dataclass(frozen=True, slots=True)
class SiteDay:
    """A site's day: its open tubes, sealed tubes waiting for a box and open boxes; tubes by
    state and samples per hour since a time."""

    open_tubes: list[OpenTube]
    sealed_tubes: list[SealedTube]
    open_boxes: list[OpenBox]
    by_status: Mapping[str, TubeTally]
    samples_per_hour: list[SamplesInHour]


# -- people by status ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusCounts:
    """People, by status colour and by reason (overdue, pending re-test, ...); and when the
    latest of them was decided overdue (the sweep that did it), None when nobody is."""

    people: int
    colours: Mapping[str, int]
    reasons: Mapping[str, int]
    last_overdue_at: datetime | None = None


# -- command centre ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChainCounts:
    """Counts across the chain, from the boxes to the recalls (the order is the command
    centre's)."""

    boxes_to_collect: int
    boxes_in_transit: int
    late_boxes: int
    box_discrepancies: int
    awaiting_result: int
    late_results: int
    positive_pools: int
    positive_singles: int
    pools_for_review: int
    recalls_open: int
    recalls_overdue: int


# -- area lists ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AreaRecall:
    """An open recall (复核) of someone in an area, with the masked name."""

    id: str
    person_id: str
    name_masked: str
    grid_code: str
    address: str | None
    reason: str
    opened_at: datetime
    due_at: datetime
    answered: bool = False  # its re-test or new sample is taken, the result still to come


@dataclass(frozen=True, slots=True)
class AreaExemption:
    """An exemption in force of someone in an area, with the masked name."""

    id: str
    person_id: str
    name_masked: str
    grid_code: str
    reason: str
    note: str | None
    until: datetime
    set_by: str


# -- admin ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserSummary:
    """An account as the admin's list shows it (never its password hash)."""

    id: str
    username: str
    role: str
    scope: str | None
    active: bool
    created_at: datetime
    #: the name of the site, laboratory, region or venue the scope names (None: a person's
    #: own record, or a scope that names nothing)
    scope_name: str | None = None


class WorklistQueries(Protocol):
    """The reads behind the work lists (an adapter implements them over the database)."""

    def boxes_to_collect(self, limit: int) -> list[SealedBox]:
        """Sealed boxes not yet handed over, the oldest first tube first."""
        ...

    def boxes_in_transit(self, courier_id: str | None, limit: int) -> list[BoxInTransit]:
        """Boxes handed over and not yet received (by this courier, or all)."""
        ...

    def lab_boxes(self, lab_id: str, since: datetime, limit: int, offset: int = 0,
                  code: str | None = None) -> list[LabBox]:
        """Boxes the lab received since ``since``, newest first, with their count check: from
        the ``offset``-th, or the one with this ``code``."""
        ...

    def site_tubes(self, site_id: str, since: datetime) -> SiteDay:
        """A site's open and sealed-not-boxed tubes, open boxes, tubes by status since
        ``since``, and samples per hour since ``since``."""
        ...

    def samples_per_hour(self, since: datetime, region_prefix: str) -> list[SamplesInHour]:
        """Samples per hour since ``since``, by the tubes' first sample, at sites in a region
        ('' = everywhere)."""
        ...

    def status_counts(self, region_prefix: str) -> StatusCounts:
        """People by colour and by reason (overdue, pending re-test, ...) in a region."""
        ...

    def district_status(self) -> dict[str, StatusCounts]:
        """People by colour and by reason per district (6-digit code)."""
        ...

    def chain_counts(self, now: datetime, transport_limit: timedelta,
                     lab_limit: timedelta, region_prefix: str) -> ChainCounts:
        """Counts across the chain: boxes in transit, late boxes and results, positive pools,
        recalls open and overdue, tubes waiting for a result; of sites (and, for recalls, of
        people) in a region ('' = everywhere)."""
        ...

    def recalls(self, region_prefix: str, now: datetime, overdue_only: bool,
                limit: int) -> list[AreaRecall]:
        """Open recalls of people in a region (masked names), the most overdue first."""
        ...

    def exemptions(self, region_prefix: str, now: datetime, limit: int) -> list[AreaExemption]:
        """Active exemptions of people in a region (masked names)."""
        ...

    def users(self) -> list[UserSummary]:
        """Every user: username, role, scope, active, created (never a password hash)."""
        ...
