"""Unit tests of the rules of zones, fence, rosters, lanes and shifts: zone membership (areas
and polygons), fence-alert rules, roster arithmetic (Hypothesis: due = sampled + exempt +
outstanding everywhere, and roll-ups add up), site-load figures, and shift rotation limits."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hesuan.adapters.geo import ShapelyGeometry
from hesuan.domain.errors import InvalidInput, RuleViolation
from hesuan.domain.fence import FenceRule, PlaceKind, ScanPerson, ScanPlace, alert_day, evaluate
from hesuan.domain.json import Json
from hesuan.domain.lanes import sample_gaps, site_load, wait_minutes
from hesuan.domain.rosters import LEVELS, Counts, RosterClass, classify, coverage_pct, roll_up
from hesuan.domain.shifts import (
    ShiftLimits,
    Span,
    check_start,
    may_start,
    rotation,
    worked_on_day,
)
from hesuan.domain.zones import (
    Area,
    ZoneKind,
    ZoneRules,
    area_covers,
    areas_overlap,
    check_areas,
    check_parts,
    check_rules,
    default_rules,
    rank,
    within,
)

T0 = datetime(2022, 8, 29, 0, 0, tzinfo=UTC)  # 08:00 in Taiyuan
GRID = "140105001002003"

# -- zones -------------------------------------------------------------------------------


def test_area_covers_region_prefix_and_building() -> None:
    assert area_covers(Area("140105"), GRID, None)
    assert area_covers(Area("140105001002"), GRID, "3号楼1单元")
    assert not area_covers(Area("140106"), GRID, None)
    assert area_covers(Area(GRID, "3号楼"), GRID, "3号楼2单元")
    assert not area_covers(Area(GRID, "3号楼"), GRID, "13号楼1单元")
    assert not area_covers(Area(GRID, "3号楼"), GRID, None)


def test_check_areas_drops_areas_inside_others_and_validates() -> None:
    kept = check_areas([Area("140105001"), Area(GRID), Area(GRID, "3号楼"),
                        Area("140105002001"), Area("140105001")])
    assert kept == [Area("140105001"), Area("140105002001")]
    assert check_areas([Area(GRID, "3号楼"), Area(GRID, "3号楼1单元")]) == [Area(GRID, "3号楼")]
    for bad in ([], [Area("1401")], [Area("14010500100x")], [Area("140105001", "3号楼")]):
        with pytest.raises(InvalidInput):
            check_areas(bad)


codes = st.text("12", min_size=1, max_size=3).map(lambda s: "140105" + s.ljust(3, "0"))
grid_codes = st.tuples(codes, st.text("12", min_size=6, max_size=6)).map(lambda t: t[0] + t[1])
areas = st.one_of(codes.map(Area), grid_codes.map(Area),
                  st.tuples(grid_codes, st.sampled_from(["1号楼", "2号楼", "1号楼1单元"]))
                  .map(lambda t: Area(*t)))


@given(st.lists(areas, min_size=1, max_size=8), grid_codes,
       st.sampled_from([None, "1号楼1单元", "2号楼3单元", "9号楼"]))
def test_check_areas_keeps_membership(a: list[Area], grid: str, address: str | None) -> None:
    """Dropping areas inside other areas never changes who is in the zone."""
    kept = check_areas(a)
    assert any(area_covers(x, grid, address) for x in a) == any(
        area_covers(x, grid, address) for x in kept)
    assert within(a, kept) and within(kept, a)


@given(st.lists(areas, min_size=1, max_size=5), st.lists(areas, min_size=1, max_size=5))
def test_overlap_is_symmetric(a: list[Area], b: list[Area]) -> None:
    assert areas_overlap(a, b) == areas_overlap(b, a)


def test_split_and_shrink_rules() -> None:
    parent = [Area("140105001")]
    check_parts(parent, [[Area("140105001001")], [Area("140105001002")]], shrink=False)
    with pytest.raises(RuleViolation):  # outside the parent
        check_parts(parent, [[Area("140105002001")], [Area("140105001002")]], shrink=False)
    with pytest.raises(RuleViolation):  # parts overlap
        check_parts(parent, [[Area("140105001")], [Area("140105001002")]], shrink=False)
    with pytest.raises(RuleViolation):  # not smaller
        check_parts(parent, [[Area("140105001")]], shrink=True)
    check_parts(parent, [[Area("140105001001")]], shrink=True)


def test_rank_and_rules() -> None:
    assert rank(None) < rank("precaution") < rank("controlled") < rank("sealed")
    check_rules(ZoneKind.SEALED, ZoneRules(24, default_rules(ZoneKind.SEALED).sampling_mode,
                                           default_rules(ZoneKind.SEALED).movement, "popup"))
    with pytest.raises(InvalidInput):
        check_rules(ZoneKind.PRECAUTION, ZoneRules(None, default_rules(
            ZoneKind.PRECAUTION).sampling_mode, default_rules(ZoneKind.PRECAUTION).movement,
            "red"))
    with pytest.raises(InvalidInput):
        check_rules(ZoneKind.SEALED, ZoneRules(1, default_rules(ZoneKind.SEALED).sampling_mode,
                                               default_rules(ZoneKind.SEALED).movement))


def test_polygon_membership() -> None:
    geo = ShapelyGeometry()
    ring = [[112.50, 37.80], [112.52, 37.80], [112.52, 37.82], [112.50, 37.82], [112.50, 37.80]]
    poly = geo.check({"type": "Polygon", "coordinates": [ring]}, field="polygon")
    pts = [("in", 112.51, 37.81), ("edge", 112.50, 37.81), ("out", 112.53, 37.81)]
    assert geo.inside(poly, pts) == ["in", "edge"]
    assert geo.covers(poly, geo.check({"type": "Polygon", "coordinates": [[
        [112.505, 37.805], [112.51, 37.805], [112.51, 37.81], [112.505, 37.805]]]},
        field="x"))
    bowtie: Json = {"type": "Polygon",
                    "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    assert str(geo.check(bowtie, field="p")["type"]) in ("Polygon", "MultiPolygon")  # valid
    bads: list[Json] = [
        {"type": "Point", "coordinates": [1, 2]}, {"type": "Polygon"}, "x",
        {"type": "Polygon", "coordinates": [[[500, 0], [501, 0], [501, 1], [500, 0]]]}]
    for bad in bads:
        with pytest.raises(InvalidInput):
            geo.check(bad, field="polygon")


# -- fence rules -------------------------------------------------------------------------

VENUE = ScanPlace(PlaceKind.VENUE, "v1")
AT = T0 + timedelta(hours=5)


def rules_of(person: ScanPerson, place: ScanPlace = VENUE, at: datetime = AT) -> list[FenceRule]:
    return [r for r, _ in evaluate(person, place, at)]


def test_zone_exit_only_outside_the_zone() -> None:
    sealed = ScanPerson(zone_id="z1", zone_kind="sealed", colour="red", rule_id="R-ZONE")
    assert rules_of(sealed) == [FenceRule.ZONE_EXIT]  # red by zone: one alert, not two
    inside = ScanPlace(PlaceKind.CHECKPOINT, "gate", frozenset({"z1"}))
    assert rules_of(sealed, inside) == []
    assert rules_of(ScanPerson(zone_id="z2", zone_kind="controlled", colour="yellow",
                               rule_id="R-ZONE")) == [FenceRule.ZONE_EXIT]
    assert rules_of(ScanPerson(zone_id="z3", zone_kind=None)) == []  # precaution
    assert rules_of(ScanPerson()) == []


def test_red_or_retest_anywhere() -> None:
    assert rules_of(ScanPerson(colour="red", rule_id="R-POSITIVE", test_state="positive")) == [
        FenceRule.RED_OR_RETEST]
    assert rules_of(ScanPerson(colour="yellow", test_state="pending_retest")) == [
        FenceRule.RED_OR_RETEST]
    assert rules_of(ScanPerson(colour="yellow", open_recall=True),
                    ScanPlace(PlaceKind.CHECKPOINT, "c")) == [FenceRule.RED_OR_RETEST]
    assert rules_of(ScanPerson(colour="yellow", rule_id="R-OVERDUE")) == []


def test_red_or_retest_is_judged_at_the_scans_time_where_the_times_are_kept() -> None:
    """A scan uploaded late is judged by the status in force when it was made: a recall open
    then (and closed since) fires, one opened after does not; a positive known only after the
    scan does not; a red override is red while it was in force, and a later override of
    another colour takes its place from its approval. Without the times (not read), the
    status as it is now."""
    h = timedelta(hours=1)
    now_green = ScanPerson(colour="green", rule_id="R-DEFAULT", test_state="negative",
                           recalls=((AT - 2 * h, AT + h),), overrides=())
    assert rules_of(now_green) == [FenceRule.RED_OR_RETEST]
    assert rules_of(now_green, at=AT + 2 * h) == []
    pending = ScanPerson(colour="yellow", rule_id="R-RECALL", test_state="pending_retest",
                         open_recall=True, recalls=((AT + h, None),), overrides=())
    assert rules_of(pending) == []
    assert rules_of(pending, at=AT + 2 * h) == [FenceRule.RED_OR_RETEST]
    positive = ScanPerson(colour="red", rule_id="R-POSITIVE", test_state="positive",
                          positive_since=AT + h, recalls=(), overrides=())
    assert rules_of(positive) == []
    assert rules_of(positive, at=AT + h) == [FenceRule.RED_OR_RETEST]
    # red by an override from AT - 2h to AT + 2h, replaced by a green one at AT + h
    overridden = ScanPerson(colour="green", rule_id="R-OVERRIDE", recalls=(), overrides=(
        (AT - 2 * h, AT + 2 * h, "red"), (AT + h, AT + 9 * h, "green")))
    assert rules_of(overridden) == [FenceRule.RED_OR_RETEST]
    assert rules_of(overridden, at=AT + 3 * h / 2) == []
    assert rules_of(overridden, at=AT - 3 * h) == []
    red_later = ScanPerson(colour="red", rule_id="R-OVERRIDE", recalls=(), overrides=(
        (AT + h, AT + 9 * h, "red"),))
    assert rules_of(red_later) == []
    assert rules_of(red_later, at=AT + 2 * h) == [FenceRule.RED_OR_RETEST]
    # a colour no kept time explains (a rule recoloured red): as it is now
    assert rules_of(ScanPerson(colour="red", rule_id="R-ARRIVAL", recalls=(),
                               overrides=())) == [FenceRule.RED_OR_RETEST]


def test_arrival_follow_up() -> None:
    arrived = T0
    nobody = ScanPerson(arrival_at=arrived)
    assert rules_of(nobody, at=arrived + timedelta(hours=23)) == []
    assert rules_of(nobody, at=arrived + timedelta(hours=25)) == [FenceRule.ARRIVAL_FOLLOW_UP]
    once = ScanPerson(arrival_at=arrived, tests_since_arrival=(arrived + timedelta(hours=3),))
    assert rules_of(once, at=arrived + timedelta(hours=50)) == []
    assert rules_of(once, at=arrived + timedelta(hours=73)) == [FenceRule.ARRIVAL_FOLLOW_UP]
    twice = ScanPerson(arrival_at=arrived, tests_since_arrival=(
        arrived + timedelta(hours=3), arrived + timedelta(hours=40)))
    assert rules_of(twice, at=arrived + timedelta(hours=73)) == []
    # at a checkpoint the arrival rule does not apply; after the follow-up period neither
    assert rules_of(nobody, ScanPlace(PlaceKind.CHECKPOINT, "c"),
                    arrived + timedelta(hours=30)) == []
    assert rules_of(nobody, at=arrived + timedelta(days=8)) == []


def test_the_fence_and_the_status_count_an_arrivals_tests_alike() -> None:
    """The fence's follow-up rule is the status's (``domain.arrivals``): a test less than 24 h
    after the test before it is not the second (the fence took any test 24 h after the first:
    tested at 2, 20 and 30 h, overdue on the status side and never alerted); a late first test
    asks for the second 24 h after it, not by 72 h."""
    arrived = T0
    close = ScanPerson(arrival_at=arrived, tests_since_arrival=(
        arrived + timedelta(hours=2), arrived + timedelta(hours=20), arrived + timedelta(hours=30)))
    assert rules_of(close, at=arrived + timedelta(hours=73)) == [FenceRule.ARRIVAL_FOLLOW_UP]
    late = ScanPerson(arrival_at=arrived, tests_since_arrival=(arrived + timedelta(hours=50),))
    assert rules_of(late, at=arrived + timedelta(hours=73)) == []
    assert rules_of(late, at=arrived + timedelta(hours=75)) == [FenceRule.ARRIVAL_FOLLOW_UP]


def test_alert_day_is_local() -> None:
    assert alert_day(datetime(2022, 8, 29, 15, 59, tzinfo=UTC)).isoformat() == "2022-08-29"
    assert alert_day(datetime(2022, 8, 29, 16, 1, tzinfo=UTC)).isoformat() == "2022-08-30"


# -- rosters -----------------------------------------------------------------------------

people = st.lists(st.tuples(
    st.sampled_from([f"14010{d}00{s}00{c}00{g}" for d in (5, 6) for s in (1, 2) for c in (1, 2)
                     for g in (1, 2, 3)]),
    st.one_of(st.none(), st.integers(-200, 100).map(lambda h: T0 + timedelta(hours=h))),
    st.one_of(st.none(), st.integers(-50, 500).map(lambda h: T0 + timedelta(hours=h)))),
    max_size=200)


@settings(max_examples=200)
@given(people)
def test_roster_arithmetic(population: list[tuple[str, datetime | None, datetime | None]]) -> None:
    start, end = T0 - timedelta(hours=72), T0
    grids: dict[str, Counts] = {}
    for grid, sampled_at, exempt_until in population:
        cls = classify(sampled_at, exempt_until, start, end)
        one = Counts(1, cls is RosterClass.SAMPLED, cls is RosterClass.EXEMPT,
                     cls is RosterClass.OUTSTANDING)
        grids[grid] = grids[grid] + one if grid in grids else one
    levels = roll_up(grids)
    for counts in (c for lv in levels.values() for c in lv.values()):
        assert counts.due == counts.sampled + counts.exempt + counts.outstanding
        assert Counts.of(counts.due, counts.sampled, counts.exempt) == counts
        pct = coverage_pct(counts)
        assert pct is None or 0 <= pct <= 100
    # every level adds up to the city, and every parent to its children
    total = sum(grids.values(), Counts())
    for level, _ in LEVELS:
        assert sum(levels[level].values(), Counts()) == total
    for (_, n_child), (parent_level, n_parent) in itertools.pairwise(LEVELS):
        for code, c in levels[parent_level].items():
            kids = [v for k, v in grids.items() if k[:n_parent] == code]
            assert sum(kids, Counts()) == c
            assert n_child > n_parent
    assert total.due == len(population)


def test_classify_window_edges() -> None:
    start, end = T0 - timedelta(hours=72), T0
    assert classify(end, None, start, end) is RosterClass.SAMPLED
    assert classify(start, None, start, end) is RosterClass.OUTSTANDING
    assert classify(start, end + timedelta(hours=1), start, end) is RosterClass.EXEMPT
    assert classify(None, end, start, end) is RosterClass.OUTSTANDING  # exemption ran out
    assert classify(end, end + timedelta(days=9), start, end) is RosterClass.SAMPLED


# -- site load ---------------------------------------------------------------------------

def test_site_load_figures() -> None:
    now = T0 + timedelta(minutes=30)
    swabs = [(1, T0 + timedelta(minutes=16, seconds=45 * i)) for i in range(18)]
    swabs += [(2, T0 + timedelta(minutes=16, seconds=30 * i)) for i in range(20)]
    swabs += [(2, T0 - timedelta(minutes=5))]  # before the rate window, after an idle gap
    load = site_load(swabs, 12, now)
    assert load.swabs == 38 and load.open_windows == 2
    assert load.swabs_per_min == round(38 / 15, 2)
    assert load.sample_seconds_p50 in (30.0, 45.0) and load.sample_seconds_p90 == 45.0
    assert load.wait_minutes == wait_minutes(12, 38 / 15) == round(13 / (38 / 15), 1)
    assert "38 swabs at 2 windows" in load.basis
    assert site_load([], None, now).wait_minutes is None
    assert sample_gaps({1: [T0, T0 + timedelta(minutes=20)]}) == []


# -- shifts ------------------------------------------------------------------------------

def test_shift_limits() -> None:
    limits = ShiftLimits()
    # 01:00 UTC = 09:00 local
    day = [Span(T0 + timedelta(hours=1), T0 + timedelta(hours=5)),
           Span(T0 + timedelta(hours=5, minutes=40), T0 + timedelta(hours=9, minutes=40))]
    assert worked_on_day(day, T0 + timedelta(hours=12)) == timedelta(hours=8)
    with pytest.raises(RuleViolation) as e:
        check_start(day, T0 + timedelta(hours=12), limits)
    assert e.value.code == "daily_limit"
    with pytest.raises(RuleViolation) as e:
        check_start(day[:1], T0 + timedelta(hours=5, minutes=10), limits)
    assert e.value.code == "needs_rest"
    check_start(day[:1], T0 + timedelta(hours=5, minutes=30), limits)
    with pytest.raises(RuleViolation):
        check_start([Span(T0, None)], T0 + timedelta(hours=1), limits)
    # a new local day starts at 16:00 UTC
    check_start(day, T0 + timedelta(hours=16, minutes=30), limits)
    # rotation: 4 h at a window, unless the day runs out first
    cur = Span(T0 + timedelta(hours=1), None)
    at, why = rotation([cur], cur, T0 + timedelta(hours=2), limits)
    assert (at, why) == (T0 + timedelta(hours=5), "at_window")
    cur2 = Span(T0 + timedelta(hours=10), None)
    at, why = rotation([day[0], Span(day[1].start, day[1].start + timedelta(hours=3)), cur2],
                       cur2, T0 + timedelta(hours=10), limits)
    assert (at, why) == (T0 + timedelta(hours=11), "per_day")


def test_may_start_after_rest_or_on_the_next_local_day() -> None:
    limits = ShiftLimits()
    day = [Span(T0 + timedelta(hours=1), T0 + timedelta(hours=5)),
           Span(T0 + timedelta(hours=5, minutes=40), T0 + timedelta(hours=9, minutes=40))]
    # after one stint: its 30 min of rest; long after it, at once
    assert may_start(day[:1], T0 + timedelta(hours=5, minutes=10), limits) == (
        T0 + timedelta(hours=5, minutes=30))
    assert may_start(day[:1], T0 + timedelta(hours=7), limits) == T0 + timedelta(hours=7)
    # a full day worked: at the next local midnight (16:00 UTC)
    assert may_start(day, T0 + timedelta(hours=12), limits) == T0 + timedelta(hours=16)
    # on a stint: not before it ends
    assert may_start([Span(T0, None)], T0 + timedelta(hours=1), limits) is None
    assert may_start([], T0, limits) == T0


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40 * 60), st.integers(1, 6 * 60)), max_size=6),
       st.integers(0, 48 * 60))
def test_may_start_is_the_first_instant_check_start_allows(
        stints: list[tuple[int, int]], after_min: int) -> None:
    limits = ShiftLimits()
    spans, t = [], T0
    for gap, length in stints:  # closed stints one after another
        start = t + timedelta(minutes=gap)
        t = start + timedelta(minutes=length)
        spans.append(Span(start, t))
    at = t + timedelta(minutes=after_min)
    first = may_start(spans, at, limits)
    assert first is not None and first >= at
    check_start(spans, first, limits)  # allowed then
    if first > at:  # and not a second before
        with pytest.raises(RuleViolation):
            check_start(spans, first - timedelta(seconds=1), limits)
