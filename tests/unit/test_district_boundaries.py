"""The packaged district boundaries and the platform's coordinates: RFC 7946 winding (an outer
ring counter-clockwise, a hole clockwise) in the file and in every polygon the geometry adapter
hands back; one datum, GCJ-02 (the source's), stated beside the file; and every coordinate
the synthetic city places (grid centres, sites, and any other planned thing with a position)
inside the polygon of its own district: grid centres, sites, households."""

from __future__ import annotations

import dataclasses
import itertools
import json
from importlib import resources
from typing import Any

import numpy as np
import pytest
from shapely.geometry import Point

from hesuan.adapters.geo import ShapelyGeometry
from hesuan.domain.json import JsonObject
from hesuan.sim.city_plan import plan_city
from hesuan.sim.geography import load_districts
from hesuan.sim.population import household_homes, plan_population


def _signed_area(ring: list[list[float]]) -> float:
    """Twice the shoelace area: positive for a counter-clockwise ring (lon east, lat north)."""
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise(ring))


def _polygons(geometry: JsonObject) -> list[Any]:
    coords = geometry["coordinates"]
    assert isinstance(coords, list)
    return [coords] if geometry["type"] == "Polygon" else list(coords)


def _wound_as_rfc7946(geometry: JsonObject) -> list[str]:
    wrong = []
    for i, polygon in enumerate(_polygons(geometry)):
        for j, ring in enumerate(polygon):
            assert ring[0] == ring[-1], f"polygon {i} ring {j} is not closed"
            ccw = _signed_area(ring) > 0
            if ccw != (j == 0):
                wrong.append(f"polygon {i} {'outer ring' if j == 0 else f'hole {j}'} "
                             f"{'counter-clockwise' if ccw else 'clockwise'}")
    return wrong


def _data(name: str) -> str:
    return (resources.files("hesuan") / "data" / name).read_text("utf-8")


def test_district_file_rings_follow_rfc7946() -> None:
    features = json.loads(_data("taiyuan-districts.geojson"))["features"]
    assert len(features) == 10
    wrong = {f["properties"]["adcode"]: w for f in features
             if (w := _wound_as_rfc7946(f["geometry"]))}
    assert not wrong, wrong


def test_datum_is_stated_beside_the_file() -> None:
    readme = _data("README.md")
    assert "GCJ-02" in readme
    assert "WGS-84-style" not in readme and "in WGS-84" not in readme


#: A clockwise square with a counter-clockwise hole: the opposite of RFC 7946 on both rings.
_CLOCKWISE: JsonObject = {"type": "Polygon", "coordinates": [
    [[112.50, 37.80], [112.50, 37.90], [112.60, 37.90], [112.60, 37.80], [112.50, 37.80]],
    [[112.52, 37.82], [112.58, 37.82], [112.58, 37.88], [112.52, 37.88], [112.52, 37.82]]]}


def test_geometry_adapter_hands_back_rfc7946_rings() -> None:
    geo = ShapelyGeometry()
    assert _wound_as_rfc7946(_CLOCKWISE)  # the fixture is wound the wrong way
    checked = geo.check(_CLOCKWISE, field="geometry")
    assert not _wound_as_rfc7946(checked), checked
    next_door: JsonObject = {"type": "Polygon", "coordinates": [
        [[112.60, 37.80], [112.60, 37.90], [112.70, 37.90], [112.70, 37.80], [112.60, 37.80]]]}
    union = geo.union([_CLOCKWISE, next_door])
    assert union is not None and not _wound_as_rfc7946(union), union


def _district_of(thing: Any) -> str:
    for name in ("region_code", "grid_code", "code"):
        code = getattr(thing, name, None)
        if isinstance(code, str) and len(code) >= 6:
            return code[:6]
    raise AssertionError(f"no region code on {thing!r}")


@pytest.mark.parametrize("people", [3_000, 60_000])
def test_city_coordinates_fall_inside_their_district(people: int) -> None:
    districts = load_districts()
    plan = plan_city(people, seed=3)
    placed = 0
    outside = []
    for f in dataclasses.fields(plan):
        things = getattr(plan, f.name)
        if not isinstance(things, list):
            continue
        for thing in things:
            lng, lat = getattr(thing, "lng", None), getattr(thing, "lat", None)
            if lng is None or lat is None:
                continue
            placed += 1
            code = _district_of(thing)
            if not districts[code].geometry.covers(Point(lng, lat)):
                outside.append(f"{f.name}: {thing!r}")
    assert placed >= len(plan.grids) + len(plan.sites) > 0
    # households: a building in its grid's cell (sim/population.py), in its grid's district
    pop = plan_population(plan)
    first = np.unique(pop.household, return_index=True)[1]
    homes = household_homes(plan, pop)
    assert len(homes) == len(first) > 0
    for home, person in zip(homes, first.tolist(), strict=True):
        code = pop.grid_codes[int(pop.grid[person])][:6]
        if not districts[code].geometry.covers(Point(home["lng"], home["lat"])):
            outside.append(f"household {home['id']} of grid {pop.grid_codes[pop.grid[person]]}")
    assert not outside, (len(outside), outside[:5])


@pytest.mark.parametrize("coordinates", [
    [[[112.5, 37.8], [112.6]]], "abc", [[[112.5, 37.8], [112.6, 37.9]]], [[["a", "b"]]]])
def test_an_unreadable_polygon_is_refused_in_words_not_the_librarys(coordinates: Any) -> None:
    """The library's own text reached officers: 'setting an array element with a sequence.
    The requested array has an inhomogeneous shape after 1 dimensions…'."""
    from hesuan.adapters.geo import ShapelyGeometry
    from hesuan.domain.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        ShapelyGeometry().check({"type": "Polygon", "coordinates": coordinates},
                                field="polygon")
    message = refused.value.message
    assert refused.value.code == "bad_geometry"
    assert "array" not in message and "dimension" not in message, message
    assert "[longitude, latitude]" in message, message
