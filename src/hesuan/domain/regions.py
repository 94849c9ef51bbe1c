"""Region hierarchy 省-市-区县-街道-社区-网格 (province, city, district, street, community, grid).

Codes: province/city/district use the national administrative division codes (e.g. 140105 小店区);
below a district the code extends its parent's (street +3 digits, community +3, grid +3), so a
region's ancestors are its code prefixes and "everything under X" is a prefix match.

Imports: standard library only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from hesuan.domain.digits import is_digits
from hesuan.domain.errors import InvalidInput

__all__ = ["LEVEL_CODE_LENGTH", "URBAN_DISTRICTS", "Level", "Region", "check_region_code"]


class Level(enum.StrEnum):
    PROVINCE = "province"  # 省
    CITY = "city"  # 市
    DISTRICT = "district"  # 区县
    STREET = "street"  # 街道
    COMMUNITY = "community"  # 社区
    GRID = "grid"  # 网格


LEVEL_CODE_LENGTH: dict[Level, int] = {
    Level.PROVINCE: 2,
    Level.CITY: 4,
    Level.DISTRICT: 6,
    Level.STREET: 9,
    Level.COMMUNITY: 12,
    Level.GRID: 15,
}

# The six urban districts of the source city (六城区), real administrative codes.
URBAN_DISTRICTS: dict[str, str] = {
    "140105": "小店区",
    "140106": "迎泽区",
    "140107": "杏花岭区",
    "140108": "尖草坪区",
    "140109": "万柏林区",
    "140110": "晋源区",
}


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    level: Level
    name: str
    parent_code: str | None

    def contains(self, code: str) -> bool:
        return code.startswith(self.code)


def check_region_code(code: str, level: Level, parent_code: str | None) -> None:
    """Raise InvalidInput unless ``code`` fits ``level`` and extends ``parent_code``."""
    if not is_digits(code) or len(code) != LEVEL_CODE_LENGTH[level]:
        raise InvalidInput(
            f"region code {code!r} must be {LEVEL_CODE_LENGTH[level]} digits for level {level}",
            code="bad_region_code",
            field="code",
        )
    if parent_code is not None and not code.startswith(parent_code):
        raise InvalidInput(
            f"region code {code!r} must start with its parent's code {parent_code!r}",
            code="bad_region_code",
            field="parent_code",
        )
