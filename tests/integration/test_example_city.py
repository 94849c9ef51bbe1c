"""The example city (``sim/example.py``) the demo accounts and many tests stand on: its
``resident`` accounts are people in no key group, so a resident's sample goes into a pool as
most people's do (a key group's is refused in a pool: single tubes only). People's ids are
random, so the city is seeded several times."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from hesuan.bootstrap import Platform
from hesuan.sim.example import seed_example_city


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("attempt", range(6))
def test_the_demo_residents_are_in_no_key_group(platform: Platform, attempt: int) -> None:
    city = seed_example_city(platform, people=24)
    residents = [scope for name, (_, scope) in city.users.items() if name.startswith("resident")]
    assert len(residents) == 2
    with platform.engine.connect() as c:
        groups = [c.execute(text("SELECT groups FROM people WHERE id = :i"), {"i": r}).scalar_one()
                  for r in residents]
    assert groups == ["", ""]
