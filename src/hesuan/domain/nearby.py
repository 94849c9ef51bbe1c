"""Nearness: how far a household is from a site, and which sites a resident is shown.

Coordinates are (latitude, longitude) in the datum the sites and households share; at a city's
scale the equirectangular approximation is exact to a few metres. A household's location is
kept to three decimals (about 100 m): enough to rank sites, not enough to find a door.

Imports: standard library, ``hesuan.domain``.
"""

from __future__ import annotations

import math

from hesuan.domain.sampling import SiteKind

__all__ = ["HOME_DECIMALS", "coarse", "distance_m", "for_residents"]

#: Decimals a household's latitude and longitude are kept to (0.001° ≈ 111 m north-south).
HOME_DECIMALS = 3
_M_PER_DEGREE = 111_320.0


def distance_m(a_lat: float, a_lng: float, b_lat: float, b_lng: float) -> float:
    """Distance in metres between two points (equirectangular)."""
    mean_lat = math.radians((a_lat + b_lat) / 2)
    dx = (a_lng - b_lng) * _M_PER_DEGREE * math.cos(mean_lat)
    dy = (a_lat - b_lat) * _M_PER_DEGREE
    return math.hypot(dx, dy)


def coarse(degrees: float) -> float:
    """A household coordinate as it is kept."""
    return round(degrees, HOME_DECIMALS)


def for_residents(kind: str) -> bool:
    """Whether a resident is sent to a site of this kind: not an arrival checkpoint (where
    travellers land: the railway station, the airport) and not a door-to-door team, which
    comes to people rather than people to it."""
    k = SiteKind(kind)
    return not k.is_arrival_checkpoint and k is not SiteKind.DOOR_TO_DOOR
