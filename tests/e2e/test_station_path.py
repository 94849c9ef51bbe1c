"""``POST /scans`` below the framework (``entrypoints/api/station_path.py``): the usual scan is
answered by the short path; every unusual one reaches the full application with its body and
gets the answer it always got."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from hesuan.domain.errors import Conflict
from hesuan.entrypoints.api.station_path import StationFastPath
from tests.helpers import Api, Station, barcodes


class _Spy:
    """The full application, counting the requests that reach it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.calls.append((scope["method"], scope["path"]))
        await self.app(scope, receive, send)


@pytest.fixture
def short(api: Api) -> tuple[TestClient, _Spy]:
    spy = _Spy(api.client.app)
    return TestClient(StationFastPath(spy, api.platform)), spy


def test_the_usual_scan_skips_the_framework_and_answers_alike(
        api: Api, short: tuple[TestClient, _Spy]) -> None:
    client, spy = short
    station = Station(api.city.sites["140105"], api.clock)
    headers = api.h("sampler")
    code = api.code(api.people(limit=1)[0])
    tube = next(barcodes(880_001))
    opened = station.ev("open_tube", barcode=tube, mode=10)
    # a token not yet in the cache: the full application authenticates it (and caches it)
    r = client.post("/scans", json=opened, headers=headers)
    assert r.status_code == 200 and r.json()["status"] == "accepted", r.text
    assert spy.calls == [("POST", "/scans")]
    sample = station.ev("sample", barcode=tube, code=code)
    r = client.post("/scans", json=sample, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.json()["status"] == "accepted" and r.json()["tube"]["count"] == 1, r.text
    assert r.json()["person"]["name"], r.text
    assert len(spy.calls) == 1  # answered by the short path
    again = client.post("/scans", json=sample, headers=headers)
    # the same event through the full application (a query string sends it there)
    full = client.post("/scans?via=full", json=sample, headers=headers)
    assert again.json()["status"] == "duplicate"
    assert again.content == full.content and again.status_code == full.status_code == 200
    assert len(spy.calls) == 2
    assert api.count("SELECT count(*) FROM samples") == 1


def test_unusual_scans_get_the_full_applications_answer(
        api: Api, short: tuple[TestClient, _Spy]) -> None:
    client, spy = short
    station = Station(api.city.sites["140105"], api.clock)
    ok = station.ev("open_tube", barcode=next(barcodes(880_101)), mode=10)
    sampler, officer = api.h("sampler"), api.h("officer")
    for headers in (sampler, officer):  # both tokens in the cache
        api.platform.auth.authenticate(headers["Authorization"].split()[1])
    cases: list[tuple[str, dict[str, Any], Any, int, str | None]] = [
        ("no token", {}, ok, 401, "missing_token"),
        ("another scheme", {"Authorization": "Basic c2FtcGxlcjp4"}, ok, 401, "missing_token"),
        ("unknown token", {"Authorization": "Bearer not-a-token"}, ok, 401, None),
        ("a role that may not scan", officer, ok, 403, None),
        ("a body that does not validate", sampler, ok | {"mode": "ten"}, 422, None),
    ]
    for name, headers, body, status, code in cases:
        before = len(spy.calls)
        r = client.post("/scans", json=body, headers=headers)
        assert r.status_code == status, (name, r.text)
        assert len(spy.calls) == before + 1, name  # the full application answered
        if status == 401:
            assert r.headers["www-authenticate"] == "Bearer", name
        if code is not None:
            assert r.json()["error"]["code"] == code, (name, r.text)
        if status == 422:
            assert r.json()["error"]["errors"][0]["loc"] == ["body", "mode"], r.text
    assert client.get("/scans", headers=sampler).status_code == 405
    assert api.count("SELECT count(*) FROM tubes") == 0


def test_a_failed_service_call_is_answered_by_the_full_application(
        api: Api, short: tuple[TestClient, _Spy], monkeypatch: pytest.MonkeyPatch) -> None:
    client, spy = short
    station = Station(api.city.sites["140105"], api.clock)
    headers = api.h("sampler")
    api.platform.auth.authenticate(headers["Authorization"].split()[1])
    sampling = api.platform.sampling
    real = sampling.submit_one
    failures = iter([Conflict("a write race", code="write_race")])

    async def flaky(actor: Any, event: Any) -> Any:
        for exc in failures:  # the first call fails before anything is written
            raise exc
        return await real(actor, event)

    monkeypatch.setattr(sampling, "submit_one", flaky)
    r = client.post("/scans", json=station.ev("open_tube", barcode=next(barcodes(880_201)),
                                                 mode=10), headers=headers)
    assert r.status_code == 200 and r.json()["status"] == "accepted", r.text
    assert spy.calls == [("POST", "/scans")]
    assert api.count("SELECT count(*) FROM tubes") == 1
