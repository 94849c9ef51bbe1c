from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform
from hesuan.entrypoints.api import create_app
from hesuan.sim.example import seed_example_city
from tests.helpers import Api


@pytest.fixture
def api(platform: Platform, clock: FixedClock) -> Iterator[Api]:
    city = seed_example_city(platform, people=200)
    with TestClient(create_app(platform)) as client:
        yield Api(client, platform, city, clock)
