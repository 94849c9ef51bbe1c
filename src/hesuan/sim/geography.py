"""The six urban districts of the synthetic city: their real boundaries (from the packaged
``data/taiyuan-districts.geojson``) and points placed inside them.

Imports: standard library, numpy, shapely, ``hesuan.domain``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape

from hesuan.domain import nearby
from hesuan.domain.regions import URBAN_DISTRICTS

__all__ = ["District", "distance_m", "inside", "load_districts", "near", "offset", "urban_point"]


@dataclass(frozen=True, slots=True)
class District:
    code: str
    name: str
    geometry: Any  # shapely (Multi)Polygon, prepared
    center: tuple[float, float]  # lng, lat of the district seat


def load_districts() -> dict[str, District]:
    """The six urban districts' real boundaries from the packaged GeoJSON."""
    raw = (resources.files("hesuan") / "data" / "taiyuan-districts.geojson").read_text("utf-8")
    out: dict[str, District] = {}
    for feature in json.loads(raw)["features"]:
        code = str(feature["properties"]["adcode"])
        if code in URBAN_DISTRICTS:
            geom = shape(feature["geometry"])
            shapely.prepare(geom)
            lng, lat = feature["properties"]["center"]
            out[code] = District(code, URBAN_DISTRICTS[code], geom, (float(lng), float(lat)))
    missing = set(URBAN_DISTRICTS) - set(out)
    if missing:
        raise RuntimeError(f"district boundaries missing for {sorted(missing)}")
    return out


def offset(lng: float, lat: float, dx_m: float, dy_m: float) -> tuple[float, float]:
    """The point ``dx_m`` metres east and ``dy_m`` metres north of (lng, lat)."""
    return (lng + dx_m / (111_320.0 * math.cos(math.radians(lat))), lat + dy_m / 111_320.0)


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Distance in metres between two (lng, lat) points (the domain's, ``nearby``)."""
    return nearby.distance_m(a[1], a[0], b[1], b[0])


def inside(d: District, p: tuple[float, float]) -> bool:
    """Whether the (lng, lat) point lies in the district."""
    return bool(shapely.contains_xy(d.geometry, p[0], p[1]))


def near(d: District, rng: np.random.Generator, around: tuple[float, float],
         sigma_m: float) -> tuple[float, float]:
    """A point near ``around`` inside the district (closer in when the boundary is near)."""
    for attempt in range(24):
        s = sigma_m / (1 + attempt // 6)
        p = offset(around[0], around[1], float(rng.normal(0, s)), float(rng.normal(0, s)))
        if inside(d, p):
            return p
    return around


def urban_point(d: District, rng: np.random.Generator) -> tuple[float, float]:
    """A random point in the district, denser near the district seat (the built-up core)."""
    minx, miny, maxx, maxy = d.geometry.bounds
    while True:
        p = (float(rng.uniform(minx, maxx)), float(rng.uniform(miny, maxy)))
        if inside(d, p) and rng.random() < math.exp(-distance_m(p, d.center) / 6000.0):
            return p

