"""The work lists' service over a stub of its read port (no database): a courier's boxes aged
against the transport limit, recalls marked overdue, the command centre's figures and its
districts scoped to the caller's area, a site's day with the site, and who may read them."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from hesuan.domain.access import Principal, Role
from hesuan.domain.errors import PermissionDenied
from hesuan.services.worklists import WorklistService
from hesuan.services.worklists_ports import (
    AreaExemption,
    AreaRecall,
    BoxInTransit,
    ChainCounts,
    LabBox,
    SamplesInHour,
    SealedBox,
    SiteDay,
    StatusCounts,
    TubeTally,
    UserSummary,
)
from tests.fakes import World, make_world

ADMIN = Principal("u-admin", "admin", Role.ADMIN)
COURIER = Principal("u-c1", "courier", Role.COURIER)
XIAODIAN = Principal("u-o3", "xiaodian", Role.HEALTH_OFFICER, "140105")
RESIDENT = Principal("u-r1", "resident", Role.RESIDENT, "p1")


class StubQueries:
    """The port's answers, fixed; it records who asked for boxes in transit."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.courier_asked: list[str | None] = []

    def boxes_to_collect(self, limit: int) -> list[SealedBox]:
        return [SealedBox("BX1", "site", 3, self.now, self.now - timedelta(hours=5)),
                SealedBox("BX2", "site", 1, self.now, self.now - timedelta(minutes=90)),
                SealedBox("BX3", "site", None, None, None)]

    def boxes_in_transit(self, courier_id: str | None, limit: int) -> list[BoxInTransit]:
        self.courier_asked.append(courier_id)
        return [BoxInTransit("BX4", "site", 2, self.now, self.now - timedelta(hours=4))]

    def lab_boxes(self, lab_id: str, since: datetime, limit: int, offset: int = 0,
                  code: str | None = None) -> list[LabBox]:
        return []

    def site_tubes(self, site_id: str, since: datetime) -> SiteDay:
        return SiteDay([], [], [], {"sealed": TubeTally(2, 20)},
                       [SamplesInHour(1_661_731_200_000, 20)])

    def samples_per_hour(self, since: datetime, region_prefix: str) -> list[SamplesInHour]:
        return [SamplesInHour(1_661_731_200_000, 7)]

    def status_counts(self, region_prefix: str) -> StatusCounts:
        return StatusCounts(3, {"green": 3}, {})

    def district_status(self) -> dict[str, StatusCounts]:
        return {"140105": StatusCounts(2, {"green": 2}, {}),
                "140106": StatusCounts(1, {"yellow": 1}, {"overdue": 1})}

    def chain_counts(self, now: datetime, transport_limit: timedelta, lab_limit: timedelta,
                     region_prefix: str) -> ChainCounts:
        return ChainCounts(*range(11))

    def recalls(self, region_prefix: str, now: datetime, overdue_only: bool,
                limit: int) -> list[AreaRecall]:
        return [AreaRecall("r1", "p1", "王*", "140105001001001", None, "positive_pool",
                           now - timedelta(days=2), now - timedelta(hours=1)),
                AreaRecall("r2", "p2", "李*", "140105001001001", "1号楼", "positive_pool",
                           now - timedelta(hours=1), now + timedelta(hours=23))]

    def exemptions(self, region_prefix: str, now: datetime, limit: int) -> list[AreaExemption]:
        return []

    def users(self) -> list[UserSummary]:
        return [UserSummary("u1", "admin", "admin", None, True, self.now)]


@pytest.fixture
def w() -> World:
    return make_world()


@pytest.fixture
def queries(w: World) -> StubQueries:
    return StubQueries(w.clock.now())


@pytest.fixture
def lists(w: World, queries: StubQueries) -> WorklistService:
    return WorklistService(w.deps, queries)


def test_a_couriers_boxes_are_aged_against_the_transport_limit(
        lists: WorklistService, queries: StubQueries) -> None:
    boxes = lists.courier_boxes(COURIER)
    assert [(b.box.code, b.age_min, b.late) for b in boxes.to_collect] == [
        ("BX1", 300, True), ("BX2", 90, False), ("BX3", None, False)]
    assert [(b.box.code, b.age_min, b.late) for b in boxes.in_transit] == [("BX4", 240, False)]
    assert boxes.limit_min == 240
    lists.courier_boxes(ADMIN)
    assert queries.courier_asked == ["u-c1", None]  # a courier's own boxes; an admin's all
    with pytest.raises(PermissionDenied):
        lists.courier_boxes(RESIDENT)


def test_recalls_past_their_due_time_are_overdue(lists: WorklistService) -> None:
    assert [(r.recall.id, r.overdue) for r in lists.recalls(XIAODIAN)] == [
        ("r1", True), ("r2", False)]


def test_the_command_centre_reads_the_callers_area(lists: WorklistService, w: World) -> None:
    centre = lists.command_centre(XIAODIAN)
    assert centre.as_of == w.clock.now()
    assert centre.samples_per_hour == [(1_661_731_200_000, 7)]
    assert centre.chain.boxes_to_collect == 0 and centre.chain.recalls_overdue == 10
    assert list(lists.district_status(XIAODIAN)) == ["140105"]
    assert list(lists.district_status(ADMIN)) == ["140105", "140106"]
    with pytest.raises(PermissionDenied):
        lists.command_centre(COURIER)


def test_a_sites_overview_is_its_day_with_the_site(lists: WorklistService, w: World) -> None:
    overview = lists.site_overview(ADMIN, w.site)
    assert overview.site.id == w.site
    assert overview.day.by_status["sealed"] == TubeTally(2, 20)
