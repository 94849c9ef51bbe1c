"""Bad inputs through the HTTP API, table-driven: each gets its clear error, and nothing changes.

Every case sets up the state it needs (an open tube, a full tube, a resulted tube, ...), takes a
snapshot of the whole database (every table's rows, not only their counts), sends one bad
request, and checks

* the answer: HTTP status, the reason code, the field it names, and a message that names that
  field (for role errors: one that names the role) — station events are answered per event
  (HTTP 200, ``status: rejected``, as the sampling stations expect), lab results per tube;
* the database: exactly as before, except for the tables where a rejection is *legitimately*
  recorded:

  - ``audit_log`` — never compared: the lab service audits every results call, including one
    whose every row is rejected (who tried what is exactly what an audit log is for);
  - ``rejected_results`` — compared in every case; it must gain exactly one row (the unknown
    barcode, reason ``unknown_tube``) in the "result for an unknown tube" case, because the
    design keeps those for reconciliation, and must not change in any other case;
  - ``tokens`` — compared too: every user logs in before the snapshot, so no case may add one.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform
from hesuan.domain.sampling import make_box_code, make_tube_barcode
from hesuan.entrypoints.api import create_app
from hesuan.sim.example import make_resident_id, seed_example_city
from tests.helpers import Api, Station

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

#: Tables where a rejection may legitimately leave a trace (see the module docstring).
NOT_COMPARED = {"audit_log", "alembic_version"}
USERS = ("admin", "officer", "sampler", "courier", "lab")
PEOPLE_PER_CASE = 6


@dataclass
class World:
    """One seeded city shared by all cases; each case gets its own tube and box codes and its
    own people (``begin``), so that what one case sets up never meets another's."""

    api: Api
    station: Station  # the sampler's own site
    people: list[str]
    case_no: int = 0
    t1: str = ""
    t2: str = ""
    box: str = ""
    _next_person: int = 0
    _mine: list[str] = field(default_factory=list)

    def begin(self, case_no: int) -> None:
        self.case_no = case_no
        self.t1, self.t2 = make_tube_barcode(1000 + 10 * case_no), make_tube_barcode(
            1001 + 10 * case_no)
        self.box = make_box_code(100 + case_no)
        self._mine = self.people[self._next_person:self._next_person + PEOPLE_PER_CASE]
        self._next_person += PEOPLE_PER_CASE
        assert len(self._mine) == PEOPLE_PER_CASE, "seed more people"

    def pid(self, i: int) -> str:
        return self._mine[i]

    def post(self, user: str | None, path: str, **kw: Any) -> Any:
        headers = (self.api.h(user) if user else {}) | kw.pop("headers", {})
        return self.api.client.post(path, headers=headers, **kw)

    def scan(self, *events: dict[str, Any]) -> None:
        r = self.post("sampler", "/scans/batch", json={"events": list(events)})
        assert r.status_code == 200 and r.json()["rejected"] == 0, r.text

    def code(self, i: int) -> str:
        return self.api.code(self._mine[i])


@pytest.fixture
def world(platform: Platform, clock: FixedClock) -> Iterator[World]:
    city = seed_example_city(platform, people=12 * PEOPLE_PER_CASE * len(CASES) // 7 + 12)
    with TestClient(create_app(platform)) as client:
        api = Api(client, platform, city, clock)
        for user in USERS:  # log in before any snapshot: tokens are compared too
            api.h(user)
        station = Station(city.sites["140105"], clock)
        yield World(api, station, api.people(limit=PEOPLE_PER_CASE * len(CASES)))


# -- the database snapshot -------------------------------------------------------------------


def snapshot(platform: Platform) -> dict[str, tuple[int, str]]:
    """Every table (as the database lists them): its row count and a digest of its rows."""
    out: dict[str, tuple[int, str]] = {}
    with platform.engine.connect() as c:
        for name in sorted(inspect(c).get_table_names()):
            if name in NOT_COMPARED:
                continue
            rows = sorted(repr(tuple(r)) for r in c.execute(text(f'SELECT * FROM "{name}"')))
            out[name] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
    return out


def changed(before: dict[str, tuple[int, str]],
            after: dict[str, tuple[int, str]]) -> dict[str, tuple[int, int]]:
    return {t: (before.get(t, (0, ""))[0], after.get(t, (0, ""))[0])
            for t in set(before) | set(after) if before.get(t) != after.get(t)}


# -- set-ups -----------------------------------------------------------------------------------

def nothing(w: World) -> None:
    return None


def open_tube(w: World) -> None:
    w.scan(*w.station.fill(w.t1, [w.code(0)], mode=10))


def full_tube(w: World) -> None:
    w.scan(*w.station.fill(w.t1, [w.code(i) for i in range(5)], mode=5))  # seals itself at 5/5


def two_open_tubes(w: World) -> None:
    w.scan(*w.station.fill(w.t1, [w.code(0)], mode=10), w.station.ev("open_tube", barcode=w.t2,
                                                                     mode=10))


def handed_over_box(w: World) -> None:
    """A box of one sealed tube, handed over to its courier."""
    s = w.station
    w.scan(*s.fill(w.t1, [w.code(i) for i in range(5)], mode=5),
           s.ev("box_tube", box_code=w.box, barcode=w.t1), s.ev("seal_box", box_code=w.box))
    r = w.post("courier", f"/boxes/{w.box}/handover",
               json={"event_id": _uuid(), "at": w.api.clock.now().isoformat()})
    assert r.status_code == 200, r.text


def resulted_tube(w: World) -> None:
    s = w.station
    w.scan(*s.fill(w.t1, [w.code(i) for i in range(5)], mode=5),
           s.ev("box_tube", box_code=w.box, barcode=w.t1), s.ev("seal_box", box_code=w.box))
    at = w.api.clock.now().isoformat()
    r = w.post("courier", f"/boxes/{w.box}/handover", json={"event_id": _uuid(), "at": at})
    assert r.status_code == 200, r.text
    lab = w.api.city.labs["lab1"]
    r = w.post("lab", f"/boxes/{w.box}/receive", json={"event_id": _uuid(), "lab_id": lab,
                                                      "at": at, "tube_barcodes": [w.t1]})
    assert r.status_code == 200 and not r.json()["discrepancy"], r.text
    r = w.post("lab", f"/labs/{lab}/results", json={"results": [{"barcode": w.t1,
                                                                 "result": "negative"}]})
    assert r.json()["results"][0]["status"] == "accepted", r.text


def _uuid() -> str:
    return str(uuid.uuid4())


def _bad_checksum_id() -> str:
    good = make_resident_id("140105", __import__("datetime").date(1990, 5, 17), 123)
    bad_digit = next(d for d in "0123456789" if d != good[-1])
    return good[:-1] + bad_digit


def _altered(token: str) -> str:
    """The token with one character of its MAC changed (not the last one, which also carries
    Base32 padding bits)."""
    i = len(token) - 5
    return token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]


def _spliced(token: str, other_person_id: str) -> str:
    """Another person's id with this token's MAC: what a forger who knows ids would try."""
    blob = base64.b32decode(token[4:] + "=" * (-len(token[4:]) % 8))
    return "HS1:" + base64.b32encode(bytes.fromhex(other_person_id) + blob[16:]).decode().rstrip(
        "=")


# -- the cases -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    setup: Callable[[World], None]
    send: Callable[[World], Any]
    status: int
    code: str
    field: str | None
    per_item: str | None = None  # "scan" / "result" / "csv": answered per item with HTTP 200
    mentions: str | None = None  # what the message must name (default: the field)
    rejected_results_delta: int = 0


def scan(w: World, event: dict[str, Any]) -> Any:
    return w.post("sampler", "/scans", json=event)


def csv_upload(w: World, content: bytes) -> Any:
    lab = w.api.city.labs["lab1"]
    return w.post("lab", f"/labs/{lab}/results.csv",
                  files={"file": ("results.csv", content, "text/csv")})


def person_body(w: World, id_number: str) -> dict[str, Any]:
    return {"id_number": id_number, "name": "张三", "grid_code": w.api.city.grids[0]}


CASES = [
    Case("bad ID checksum", nothing,
         lambda w: w.post("officer", "/people", json=person_body(w, _bad_checksum_id())),
         422, "bad_id_number", "id_number"),
    Case("altered sampling code", open_tube,
         lambda w: scan(w, w.station.ev("sample", barcode=w.t1, code=_altered(w.code(1)))),
         200, "forged_code", "code", per_item="scan"),
    Case("forged sampling code (another person's id under a valid MAC)", open_tube,
         lambda w: scan(w, w.station.ev("sample", barcode=w.t1,
                                        code=_spliced(w.code(1), w.pid(2)))),
         200, "forged_code", "code", per_item="scan"),
    Case("reused tube barcode", open_tube,
         lambda w: scan(w, w.station.ev("open_tube", barcode=w.t1, mode=10)),
         200, "barcode_used", "barcode", per_item="scan"),
    Case("tube barcode with a wrong check digit", nothing,
         lambda w: scan(w, w.station.ev("open_tube", barcode=w.t1[:-1] + str(
             (int(w.t1[-1]) + 1) % 10), mode=10)),
         200, "bad_barcode", "barcode", per_item="scan"),
    Case("overfilled tube (a 6th person into a full 5-in-1 tube)", full_tube,
         lambda w: scan(w, w.station.ev("sample", barcode=w.t1, code=w.code(5))),
         200, "tube_sealed", "barcode", per_item="scan"),
    Case("pool size that does not exist", nothing,
         lambda w: scan(w, w.station.ev("open_tube", barcode=w.t1, mode=7)),
         200, "bad_mode", "mode", per_item="scan"),
    Case("person in two open tubes", two_open_tubes,
         lambda w: scan(w, w.station.ev("sample", barcode=w.t2, code=w.code(0))),
         200, "person_in_open_tube", "code", per_item="scan"),
    Case("person twice in one tube", open_tube,
         lambda w: scan(w, w.station.ev("sample", barcode=w.t1, code=w.code(0))),
         200, "already_in_tube", "code", per_item="scan"),
    Case("box with an unsealed tube", open_tube,
         lambda w: scan(w, w.station.ev("box_tube", box_code=w.box, barcode=w.t1)),
         200, "tube_not_sealed", "barcode", per_item="scan"),
    Case("sampler writing at another site", nothing,
         lambda w: scan(w, Station(w.api.city.sites["140106"], w.api.clock).ev(
             "open_tube", barcode=w.t1, mode=10)),
         200, "wrong_site", "site_id", per_item="scan"),
    Case("result for an unknown tube", nothing,
         lambda w: w.post("lab", f"/labs/{w.api.city.labs['lab1']}/results",
                          json={"results": [{"barcode": make_tube_barcode(999_999),
                                             "result": "negative"}]}),
         200, "unknown_tube", "barcode", per_item="result", rejected_results_delta=1),
    Case("a different result for a resulted tube, without a correction reason", resulted_tube,
         lambda w: w.post("lab", f"/labs/{w.api.city.labs['lab1']}/results",
                          json={"results": [{"barcode": w.t1, "result": "positive"}]}),
         200, "result_conflict", "result", per_item="result"),
    Case("garbage CSV rows", resulted_tube,
         lambda w: csv_upload(w, (
             "barcode,result,ct_N\n"
             "not-a-barcode,negative,\n"  # row 2: malformed barcode
             f"{w.t1},maybe,\n"  # row 3: no such result
             ",negative,\n"  # row 4: barcode missing
             f"{w.t1},,\n"  # row 5: result missing
             f"{w.t1},positive,abc\n"  # row 6: Ct not a number
             f"{w.t1},positive,99\n"  # row 7: Ct out of range
         ).encode()),
         200, "*", None, per_item="csv"),
    Case("unreadable CSV file", nothing,
         lambda w: csv_upload(w, b"barcode,result\n" + b"9" * 200_000 + b",negative\n"),
         422, "bad_csv", "file"),
    Case("wrong role: a courier scanning tubes", nothing,
         lambda w: w.post("courier", "/scans", json=w.station.ev("open_tube", barcode=w.t1,
                                                                   mode=10)),
         403, "wrong_role", None, mentions="courier"),
    Case("wrong role: a sampler recording results", nothing,
         lambda w: w.post("sampler", f"/labs/{w.api.city.labs['lab1']}/results",
                          json={"results": [{"barcode": w.t1, "result": "negative"}]}),
         403, "wrong_role", None, mentions="sampler"),
    # a count that is not the box's cannot say which tubes came: every packed tube was marked
    # received, the missing ones waiting in the lab's queue as if there
    Case("a receipt by count that is not the box's count", handed_over_box,
         lambda w: w.post("lab", f"/boxes/{w.box}/receive",
                          json={"event_id": _uuid(), "lab_id": w.api.city.labs["lab1"],
                                "at": w.api.clock.now().isoformat(), "counted": 2}),
         409, "count_mismatch", "counted", mentions="tube_barcodes"),
    Case("wrong scope: a lab receiving for another lab", nothing,
         lambda w: w.post("lab", f"/boxes/{w.box}/receive",
                          json={"event_id": _uuid(), "lab_id": w.api.city.labs["lab2"],
                                "at": w.api.clock.now().isoformat(), "counted": 1}),
         403, "wrong_scope", "lab_id", mentions="lab"),
    Case("NUL character in a path parameter", nothing,
         lambda w: w.api.client.get("/people/abc%00def/status", headers=w.api.h("officer")),
         422, "bad_character", "path", mentions="NUL"),
    Case("NUL character in a query parameter", nothing,
         lambda w: w.api.client.get("/reports/reconcile?limit=5%00",
                                    headers=w.api.h("officer")),
         422, "bad_character", "limit", mentions="NUL"),
    Case("no credentials", nothing,
         lambda w: w.post(None, "/scans", json=w.station.ev("open_tube", barcode=w.t1, mode=10)),
         401, "missing_token", None, mentions="Bearer"),
]

#: For the garbage-CSV case: (row, reason, what the message names) of every problem reported.
CSV_PROBLEMS = [(2, "bad_barcode", "barcode"), (3, "bad_result", "result"),
                (4, "missing_field", "barcode"), (5, "missing_field", "result"),
                (6, "bad_ct", "ct_N"), (7, "bad_ct", "ct")]


def test_bad_inputs_get_a_clear_error_and_change_nothing(world: World,
                                                         subtests: pytest.Subtests) -> None:
    for n, case in enumerate(CASES):
        with subtests.test(case.name):
            world.begin(n)
            check_case(world, case)


def check_case(world: World, case: Case) -> None:
    case.setup(world)
    before = snapshot(world.api.platform)
    r = case.send(world)
    after = snapshot(world.api.platform)

    assert r.status_code == case.status, r.text
    body = r.json()
    mentions = case.mentions or case.field
    if case.per_item == "scan":
        assert (body["status"], body["reason"], body["field"]) == (
            "rejected", case.code, case.field), body
        assert mentions and mentions in body["message"], body
    elif case.per_item == "result":
        [item] = body["results"]
        assert (item["status"], item["reason"]) == ("rejected", case.code), body
        assert mentions and mentions in item["message"], body
    elif case.per_item == "csv":
        assert body["rows"] == len(CSV_PROBLEMS)
        problems = sorted(body["problems"], key=lambda p: p["row"])
        got = [(p["row"], p["reason"]) for p in problems]
        assert got == [(row, reason) for row, reason, _ in CSV_PROBLEMS], body
        for p, (_, _, name) in zip(problems, CSV_PROBLEMS, strict=True):
            assert p["status"] == "rejected" and name in p["message"], p
    else:
        err = body["error"]
        assert (err["code"], err["field"]) == (case.code, case.field), body
        assert mentions and mentions in err["message"], body

    diff = changed(before, after)
    if case.rejected_results_delta:
        assert diff.pop("rejected_results") == (before["rejected_results"][0],
                                                before["rejected_results"][0]
                                                + case.rejected_results_delta)
    assert diff == {}, f"tables changed by a rejected request: {diff}"


def test_a_nul_in_a_station_event_is_refused(world: World) -> None:
    # checked by a pattern inside pydantic's core: a single scan is refused whole, a batch's
    # item alone (docs/API.md)
    barcode = make_tube_barcode(990_001)
    before = snapshot(world.api.platform)
    event = world.station.ev("open_tube", barcode=barcode, mode=10)
    for field_name, value in [("barcode", barcode[:5] + "\x00" + barcode[5:]),
                              ("event_id", "\x00" + str(uuid.uuid4())[1:])]:
        bad = event | {field_name: value}
        r = world.post("sampler", "/scans", json=bad)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["errors"][0]["loc"][-1] == field_name, r.text
        r = world.post("sampler", "/scans/batch", json={"events": [bad]})
        assert r.status_code == 200, r.text
        [item] = r.json()["results"]
        assert (item["status"], item["reason"], item["field"]) == (
            "rejected", f"bad_{field_name}", field_name), r.text
    assert changed(before, snapshot(world.api.platform)) == {}


def test_station_routes_refuse_unreadable_bodies_as_fastapi_does(world: World) -> None:
    # the two station routes validate their JSON themselves (in pydantic's core); their
    # errors are the usual 422, each field's failure located under "body"
    before = snapshot(world.api.platform)
    event = world.station.ev("open_tube", barcode=make_tube_barcode(990_002), mode=10)
    for path in ("/scans", "/scans/batch"):
        for raw in (b"", b"{not json", b"\x80\x81", b"[]"):
            r = world.post("sampler", path, content=raw,
                           headers={"Content-Type": "application/json"})
            assert r.status_code == 422, (path, raw, r.text)
            assert r.json()["error"]["errors"][0]["loc"][0] == "body", r.text
    r = world.post("sampler", "/scans", json=event | {"surprise": 1})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["errors"][0]["loc"] == ["body", "surprise"], r.text
    for body in ({"events": "all"}, {"events": [event], "surprise": 1}):
        r = world.post("sampler", "/scans/batch", json=body)
        assert r.status_code == 422 and r.json()["error"]["errors"][0]["loc"][0] == "body", r.text
    # a malformed item of a batch is rejected alone, naming its field
    r = world.post("sampler", "/scans/batch", json={"events": [event | {"mode": "ten"}]})
    assert r.json()["results"][0]["field"] == "mode", r.text
    assert r.json()["results"][0]["reason"] == "bad_mode", r.text
    r = world.post(None, "/scans/batch", json={"events": [event]})
    assert r.status_code == 401 and r.json()["error"]["code"] == "missing_token", r.text
    assert changed(before, snapshot(world.api.platform)) == {}
    # and OpenAPI still shows their bodies, answers and the bearer scheme
    paths = world.api.client.get("/openapi.json").json()["paths"]
    for path, answer in (("/scans", "EventOutcomeOut"), ("/scans/batch", "StationBatchOut")):
        op = paths[path]["post"]
        body = op["requestBody"]["content"]["application/json"]["schema"]
        assert "event_id" in str(body) and "$defs" not in str(body), body
        assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{answer}"}
        assert op["security"] == [{"HTTPBearer": []}]
