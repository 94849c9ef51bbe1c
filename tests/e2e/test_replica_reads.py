"""Reads that may be stale go to the read-only database (``HESUAN_DATABASE_REPLICA_URL``): the
dashboards' analytics, the turnaround and reconciliation reports, the rosters' coverage; they
answer which database served them and how far behind it is. Writes and every other read stay
on the primary. Here the "replica" is a second, migrated and empty database on the same
server, so a report that reads it sees none of what the primary holds; the real streaming
replica is in ``scripts/deploy-test.sh``."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, make_url

from hesuan.adapters.clock import FixedClock
from hesuan.adapters.db.migrate import upgrade
from hesuan.bootstrap import bootstrap
from hesuan.config import Settings
from hesuan.entrypoints.api import create_app
from hesuan.sim.example import seed_example_city
from tests.helpers import Api, Station, barcodes, postgres_database, web_sign_in


@pytest.fixture
def replica_url(backend: str) -> Iterator[str]:
    if backend != "postgres":
        pytest.skip("a replica is PostgreSQL's")
    with postgres_database(f"hesuan_replica_{os.getpid()}") as url:
        eng = create_engine(url)
        upgrade(eng)
        eng.dispose()
        yield url


@pytest.fixture
def split(settings: Settings, replica_url: str, clock: FixedClock) -> Iterator[Api]:
    p = bootstrap(settings.model_copy(update={"database_replica_url": replica_url}),
                  clock=clock, migrate=False)
    city = seed_example_city(p, people=20)
    with TestClient(create_app(p)) as client:
        yield Api(client, p, city, clock)
    p.close()


def _sample_one_tube(api: Api) -> None:
    st = Station(api.city.sites["140105"], api.clock)
    events = st.fill(next(barcodes()), [api.code(p) for p in api.people(limit=10)])
    r = api.client.post("/scans/batch", headers=api.h("sampler"), json={"events": events})
    assert r.status_code == 200 and r.json()["accepted"] == 11, r.text


def test_reports_read_the_replica_and_say_so(split: Api) -> None:
    _sample_one_tube(split)
    assert split.count("SELECT count(*) FROM samples") == 10  # written on the primary
    officer = split.h("officer")
    for path in ("/reports/turnaround", "/reports/reconcile", "/rosters/coverage"):
        r = split.client.get(path, headers=officer)
        assert r.status_code == 200, r.text
        assert r.headers["hesuan-read-from"] == "replica", path
        assert float(r.headers["hesuan-read-age"]) >= 0, path
    # ... and they read the (empty) replica
    turnaround = split.client.get("/reports/turnaround", headers=officer).json()
    assert turnaround["tubes"] == 0
    coverage = split.client.get("/rosters/coverage", headers=officer,
                                params={"live": True}).json()
    assert coverage["total"]["due"] == 0
    # a read that must be current stays on the primary
    person = split.client.get(f"/people/{split.people(limit=1)[0]}", headers=officer)
    assert person.status_code == 200 and person.json()["test_state"] == "sampled"


def test_without_a_replica_reports_read_the_primary(api: Api) -> None:
    _sample_one_tube(api)
    r = api.client.get("/reports/turnaround", headers=api.h("officer"))
    assert r.json()["tubes"] == 1
    assert r.headers["hesuan-read-from"] == "primary"
    assert r.headers["hesuan-read-age"] == "0"


def test_the_replica_is_never_written(split: Api) -> None:
    with pytest.raises(TypeError, match="read-only"):
        split.platform.reads.uow()
    assert split.platform.reads.uow(readonly=True) is not None


def test_a_replica_url_must_be_postgresql() -> None:
    with pytest.raises(ValueError, match="HESUAN_DATABASE_REPLICA_URL"):
        Settings(database_url="sqlite:///x.db", database_replica_url="sqlite:///y.db")


def test_the_command_centre_says_its_figures_came_from_the_replica(split: Api) -> None:
    web = TestClient(split.client.app, base_url="https://testserver")
    web_sign_in(web, "officer")
    data = web.get("/web/dashboard.json").json()
    assert data["read_from"] == "replica" and data["read_age_s"] >= 0
    page = web.get("/web/dashboard").text
    assert "只读副本" in page  # Chinese by default
    web.cookies.set("hs_lang", "en")
    assert "read from the database replica" in web.get("/web/dashboard").text


def test_the_command_centre_on_the_primary_says_nothing_of_a_replica(api: Api) -> None:
    web = TestClient(api.client.app, base_url="https://testserver")
    web_sign_in(web, "officer")
    data = web.get("/web/dashboard.json").json()
    assert data["read_from"] == "primary" and data["read_age_s"] == 0
    assert "只读副本" not in web.get("/web/dashboard").text


def test_a_replica_down_at_start_does_not_stop_the_platform(
        settings: Settings, backend: str, clock: FixedClock) -> None:
    """A replica that cannot be reached when the platform starts: it starts (whether the
    replica is a copy of the primary is checked when it is reached: ``scripts/deploy-test.sh``
    brings up another cluster there); the reports that read it answer 503, every other route
    as before."""
    if backend != "postgres":
        pytest.skip("a replica is PostgreSQL's")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # a port no server listens on
    port = closed.getsockname()[1]
    url = make_url(settings.database_url).set(host="127.0.0.1", port=port)
    p = bootstrap(settings.model_copy(update={
        "database_replica_url": url.render_as_string(hide_password=False)}),
        clock=clock, migrate=False)
    try:
        city = seed_example_city(p, people=20)
        with TestClient(create_app(p)) as client:
            api = Api(client, p, city, clock)
            _sample_one_tube(api)
            r = client.get("/reports/turnaround", headers=api.h("officer"))
            assert r.status_code == 503 and r.json()["error"]["code"] == "store_unavailable", r.text
            person = client.get(f"/people/{api.people(limit=1)[0]}", headers=api.h("officer"))
            assert person.status_code == 200 and person.json()["test_state"] == "sampled"
    finally:
        p.close()
        closed.close()
