"""GeoJSON geometry with shapely (the ``Geometry`` port): zone polygons, district boundaries,
and which grid centres, sites or venues fall inside them.

Coordinates are lon/lat as GeoJSON has them, in GCJ-02, the datum of the packaged district
boundaries (``data/README.md``). Containment counts the boundary as inside (``covers``), so a
point on a zone's edge is in the zone. A polygon handed back is wound as RFC 7946 asks: outer
rings counter-clockwise, holes clockwise.

Imports: shapely, the standard library, ``hesuan.domain``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping, shape

from hesuan.domain.errors import InvalidInput
from hesuan.domain.json import Json, JsonObject

__all__ = ["ShapelyGeometry"]

_MAX_VERTICES = 100_000


class ShapelyGeometry:
    def _shape(self, geometry: JsonObject) -> Any:
        return shape(geometry)

    def check(self, geometry: Json, *, field: str) -> JsonObject:
        if isinstance(geometry, dict) and geometry.get("type") == "Feature":
            geometry = geometry.get("geometry")
        if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon",
                                                                          "MultiPolygon"):
            raise InvalidInput(f"{field} must be a GeoJSON Polygon or MultiPolygon",
                               code="bad_geometry", field=field)
        try:
            geom = shape(geometry)
        except Exception:  # shapely raises several kinds, in its own words, for bad coordinates
            raise InvalidInput(f"{field} is not readable GeoJSON geometry: each ring is a list "
                               "of at least 4 [longitude, latitude] points, the last the same "
                               "as the first", code="bad_geometry", field=field) from None
        if geom.is_empty or shapely.get_num_coordinates(geom) > _MAX_VERTICES:
            raise InvalidInput(f"{field} must be non-empty, at most {_MAX_VERTICES} vertices",
                               code="bad_geometry", field=field)
        minx, miny, maxx, maxy = geom.bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            raise InvalidInput(f"{field}: coordinates must be longitude, latitude in degrees",
                               code="bad_geometry", field=field)
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
            if geom.geom_type not in ("Polygon", "MultiPolygon") or geom.is_empty:
                raise InvalidInput(f"{field} is not a valid polygon (self-intersecting?)",
                                   code="bad_geometry", field=field)
        return _geojson(geom)

    def inside(self, geometry: JsonObject,
               points: Sequence[tuple[str, float, float]]) -> list[str]:
        if not points:
            return []
        geom = shape(geometry)
        shapely.prepare(geom)
        xs = np.fromiter((p[1] for p in points), dtype=float, count=len(points))
        ys = np.fromiter((p[2] for p in points), dtype=float, count=len(points))
        hit = shapely.intersects_xy(geom, xs, ys)
        return [p[0] for p, h in zip(points, hit, strict=True) if h]

    def covers(self, outer: JsonObject, inner: JsonObject) -> bool:
        return bool(shape(outer).covers(shape(inner)))

    def centre(self, geometry: JsonObject) -> tuple[float, float]:
        p = shape(geometry).representative_point()
        return float(p.x), float(p.y)

    def union(self, geometries: Sequence[JsonObject]) -> JsonObject | None:
        if not geometries:
            return None
        u = shapely.union_all([shape(g) for g in geometries])
        if u.is_empty:
            return None
        return _geojson(u)


def _geojson(geom: Any) -> JsonObject:
    """The polygon as GeoJSON with RFC 7946's winding."""
    out: JsonObject = _plain(mapping(shapely.orient_polygons(geom, exterior_cw=False)))
    return out


def _plain(value: Any) -> Any:
    """Tuples to lists, so the mapping is plain JSON."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
