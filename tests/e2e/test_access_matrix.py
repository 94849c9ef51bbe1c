"""The route × role × scope test: every route of the live application (API and web pages)
declares its access action, and every route answers every role as the access policy says, for an
object in the caller's scope and one outside it, on SQLite and PostgreSQL.

The world has two districts (A: 140105, B: 140106), each with a sampling site, an arrival
checkpoint (first-landing site), a laboratory, a venue, a door-to-door team with a household on
its route, staff, people, a zone and a fence alert; one user per role per side (health officer,
sampler, site lead, checkpoint sampler, lab, venue, grid worker, resident), a city-wide health
officer, an administrator and a courier. Each case of ``CASES`` fills one route for the object in
A and for the object in B; the expected answer is
``allows(principal, route's declared action, the object's Target)``:

- allowed: not 401/403/404 and not 422 (the request is valid; 409, a rule of the domain
  decided after access, is allowed);
- denied: 403 for a role the action does not name, and for a role it names acting out of
  scope; 404 instead for an out-of-scope object of a ``hide`` action (existence must not leak);
- a route that acts on the caller's own site, lab, venue or person (``/web/lab``, ``/me/...``):
  a caller who has none is refused (403 or 404).

Writes that change the world act on objects made fresh for each request (a box, an exemption, a
zone, an override, a shift, a session), so the order of the cases does not matter. A route with
no case here, or without a declared action, fails the test: adding a route means adding its case.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import create_engine, text
from starlette.requests import Request
from starlette.routing import BaseRoute

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform, bootstrap
from hesuan.config import Settings
from hesuan.domain.access import POLICY, Action, Principal, Role, Target, allows
from hesuan.domain.corrections import CorrectionKind
from hesuan.domain.fence import PlaceKind
from hesuan.domain.people import IdKind
from hesuan.domain.plates import WellKind
from hesuan.domain.regions import Level
from hesuan.domain.sampling import SiteKind, make_box_code, make_tube_barcode
from hesuan.domain.shifts import StaffRole, TeamKind
from hesuan.domain.status import Colour
from hesuan.domain.zones import Area, ZoneKind
from hesuan.entrypoints.actions import declared_action
from hesuan.entrypoints.api import create_app
from hesuan.entrypoints.web.session import csrf_token
from hesuan.services.auth import SYSTEM
from hesuan.services.fence import CheckpointKind, ScanInput
from hesuan.services.interop_ports import LabMessageFormat
from hesuan.services.lab import ResultInput
from hesuan.services.lab_messages_ports import MessageVia
from hesuan.services.places import LabInput, SiteInput
from hesuan.services.sampling import EventKind, StationEvent
from hesuan.services.zones import ZoneInput
from hesuan.sim.example import DEMO_PASSWORD, make_resident_id, seed_regions
from tests.conftest import PG_URL, START
from tests.helpers import AppClient
from tests.integration.lab_bench import NEG, POS, cfx_csv

pytestmark = pytest.mark.slow

SIDES = ("a", "b")
DISTRICT = {"a": "140105", "b": "140106"}

#: Routes that are not API routes (FastAPI's own documentation): open to anyone.
PUBLIC_NON_API = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/docs/assets"}


# -- the world -----------------------------------------------------------------------------------


@dataclass
class World:
    platform: Platform
    client: AppClient
    grid: dict[str, str] = field(default_factory=dict)  # the grid of the side's people
    grid2: dict[str, str] = field(default_factory=dict)  # another grid of the side
    site: dict[str, str] = field(default_factory=dict)
    landing: dict[str, str] = field(default_factory=dict)  # the arrival checkpoint site
    door: dict[str, str] = field(default_factory=dict)  # the door-to-door team's site
    lab: dict[str, str] = field(default_factory=dict)
    venue: dict[str, str] = field(default_factory=dict)
    checkpoint: dict[str, str] = field(default_factory=dict)
    person: dict[str, str] = field(default_factory=dict)
    id_number: dict[str, str] = field(default_factory=dict)
    household: dict[str, str] = field(default_factory=dict)
    household_codes: dict[str, list[str]] = field(default_factory=dict)
    team: dict[str, str] = field(default_factory=dict)  # the site's sampling team
    zone: dict[str, str] = field(default_factory=dict)
    imported_plate: dict[str, str] = field(default_factory=dict)  # a plate with its run file
    alert: dict[str, str] = field(default_factory=dict)
    assignment: dict[str, str] = field(default_factory=dict)  # a door team's, to be closed
    rule_id: str = ""
    users: dict[str, Principal] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    serial: Iterator[int] = field(default_factory=lambda: itertools.count(1000))

    def n(self) -> int:
        return next(self.serial)

    def code(self, person_id: str) -> str:
        return self.platform.deps.codes.sign(person_id)

    def uid(self, prefix: str = "x") -> str:
        return f"{prefix}{self.n()}"

    def event_id(self) -> str:
        return f"00000000-0000-4000-8000-{self.n():012d}"

    # fresh objects, made with the SYSTEM principal for the request that uses them up

    def sealed_box(self, side: str) -> str:
        """A box sealed at the side's site, holding one tube with one sample."""
        return self._sealed(side)[1]

    def _sealed(self, side: str) -> tuple[str, str]:
        """(tube, box): a box sealed at the side's site, holding one tube with one sample."""
        n, site, now = self.n(), self.site[side], self.platform.deps.clock.now()
        tube, box = make_tube_barcode(800_000 + n), make_box_code(80_000 + n)
        events = [StationEvent(self.event_id(), EventKind.OPEN_TUBE, site, now, barcode=tube,
                               mode=1),
                  StationEvent(self.event_id(), EventKind.SAMPLE, site, now, barcode=tube,
                               code=self.code(self.person[side])),
                  StationEvent(self.event_id(), EventKind.BOX_TUBE, site, now, barcode=tube,
                               box_code=box),
                  StationEvent(self.event_id(), EventKind.SEAL_BOX, site, now, box_code=box)]
        out = self.platform.sampling.submit(SYSTEM, events)
        assert all(o.status == "accepted" for o in out), [(o.status, o.reason) for o in out]
        return tube, box

    def received_tube(self, side: str) -> str:
        """A tube with one sample, handed over and received by the side's lab."""
        tube, box = self._sealed(side)
        now = self.platform.deps.clock.now()
        self.platform.delivery.hand_over(self.users["courier"], self.event_id(), box, now)
        self.platform.delivery.receive(SYSTEM, self.event_id(), self.lab[side], box, now, [tube])
        return tube

    def plate(self, side: str, controls: bool = False) -> str:
        """A plate being built at the side's lab (with its two controls, or empty)."""
        plate = self.platform.plates.create(SYSTEM, self.lab[side])
        if controls:
            self.platform.plates.place_control(SYSTEM, plate.id, "A1",
                                               WellKind.POSITIVE_CONTROL)
            self.platform.plates.place_control(SYSTEM, plate.id, "A2",
                                               WellKind.NEGATIVE_CONTROL)
        return plate.id

    def imported(self, side: str) -> str:
        """A plate of the side's lab with a tube and its controls, its run file imported."""
        tube, plates = self.received_tube(side), self.platform.plates
        plate_id = self.plate(side, controls=True)
        plates.place_tube(SYSTEM, plate_id, "A3", tube)
        plates.mark_ready(SYSTEM, plate_id)
        data = cfx_csv({"A1": ("Pos Ctrl", "PC", POS), "A2": ("Neg Ctrl", "NC", NEG),
                        "A3": ("Unkn", tube, NEG)})
        self.platform.runs.import_run(SYSTEM, plate_id, "run.csv", data)
        return plate_id

    def resulted_tube(self, side: str) -> str:
        """A tube of the side's lab with its result released (negative)."""
        tube = self.received_tube(side)
        out = self.platform.lab.record(SYSTEM, self.lab[side], [ResultInput(tube, "negative")])
        assert out[0].status == "accepted", out
        return tube

    def correction_request(self, side: str) -> str:
        """A pending request, by the side's lab user, to correct a released result."""
        return self.platform.corrections.request(
            self.users["lab_" + side], self.lab[side], self.resulted_tube(side),
            CorrectionKind.CORRECTION, "matrix", "positive").id

    def lab_message(self, side: str) -> str:
        """A message from the side's lab's system that waits in its inbox (an unknown tube)."""
        return self.platform.lab_messages.receive(
            SYSTEM, self.lab[side], _oru(f"LM{self.n()}"), LabMessageFormat.HL7V2,
            MessageVia.API).messages[0].message_id

    def handed_over_box(self, side: str) -> str:
        box = self.sealed_box(side)
        self.platform.delivery.hand_over(self.users["courier"], self.event_id(), box,
                                         self.platform.deps.clock.now())
        return box

    def exemption(self, side: str) -> str:
        return self.platform.status.exempt(SYSTEM, self.person[side], "other", _at(days=5))

    def override(self, side: str) -> str:
        return self.platform.status.request_override(
            self.users["officer_" + side], self.person[side], Colour.YELLOW, "matrix",
            "matrix test", _at(days=2))

    def new_zone(self, side: str, areas: list[str] | None = None) -> str:
        z = self.platform.zones.designate(SYSTEM, ZoneInput(
            self.uid("zone "), ZoneKind.PRECAUTION,
            [Area(a) for a in (areas or [self.grid[side]])], planned_end=_at(days=7)))
        return z.id

    def staff_on_shift(self, side: str) -> str:
        sid = self.platform.teams.add_staff(SYSTEM, self.uid("staff "), StaffRole.SWABBER,
                                            self.team[side])
        self.platform.teams.start_shift(SYSTEM, sid, "site", self.site[side], 1)
        return sid

    def staff(self, side: str) -> str:
        return self.platform.teams.add_staff(SYSTEM, self.uid("staff "), StaffRole.SWABBER,
                                             self.team[side])

    def session(self, user: str) -> str:
        return self.platform.auth.login(self.users[user].username, DEMO_PASSWORD)


def _oru(control: str) -> bytes:
    """An HL7 v2 ORU^R01 for a tube no one opened: kept in the inbox (``unknown_tube``)."""
    return "\r".join((
        f"MSH|^~\\&|LIS|MATRIX LAB^MATRIX^L|HESUAN|CITY|20240605120000||ORU^R01|{control}|P|"
        "2.5.1", "OBR|1|ORD-1|FIL-1|94531-1^SARS-CoV-2 RNA panel^LN",
        "OBX|1|CWE|94500-6^SARS-CoV-2 RNA^LN||260415000^Not detected^SCT||||||F",
        f"SPM|1|{make_tube_barcode(990_000)}")).encode()


def _at(days: float = 0, hours: float = 0) -> Any:
    return START + timedelta(days=days, hours=hours)


def _iso(days: float = 0, hours: float = 0) -> str:
    return str(_at(days, hours).isoformat())


def _build(platform: Platform) -> World:
    seed_regions(platform)
    platform.status.seed_defaults(SYSTEM)
    w = World(platform, AppClient(create_app(platform), base_url="https://testserver"))
    rows = []
    for side in SIDES:
        d = DISTRICT[side]
        w.grid[side], w.grid2[side] = f"{d}001001001", f"{d}001001002"
        w.site[side] = platform.places.add_site(SYSTEM, SiteInput(
            name=f"site {side}", kind=SiteKind.FIXED, region_code=f"{d}001", windows=4,
            lat=37.85, lng=112.55))
        w.landing[side] = platform.places.add_site(SYSTEM, SiteInput(
            name=f"landing {side}", kind=SiteKind.FIRST_LANDING, region_code=d, windows=2,
            opening_hours="00:00-24:00"))
        w.door[side] = platform.places.add_site(SYSTEM, SiteInput(
            name=f"door team {side}", kind=SiteKind.DOOR_TO_DOOR, region_code=f"{d}001",
            windows=1))
        w.lab[side] = platform.places.add_lab(SYSTEM, LabInput(f"lab {side}", d, 10_000))
        w.venue[side] = platform.venues.register(SYSTEM, f"V{d}", f"venue {side}",
                                                 f"{d}001", None, None)
        w.checkpoint[side] = platform.fence.add_checkpoint(
            SYSTEM, f"CP{d}", f"checkpoint {side}", CheckpointKind.HIGHWAY, d)
        w.household[side] = f"{w.grid[side]}HH1"
        for i in range(6):
            grid = w.grid[side] if i < 4 else w.grid2[side]
            number = make_resident_id(d, date(1990, 1, 1) + timedelta(days=i), 100 * i + 7)
            rows.append({"id_number": number, "name": f"居民{side}{i}", "phone": f"1390000{i:04d}",
                         "grid_code": grid, "groups": "",
                         "household_id": w.household[side] if i < 3 else f"{grid}H{i}",
                         "address": f"{i}号楼"})
    grids = {r["grid_code"] for r in rows}
    report = platform.people.import_rows(SYSTEM, rows, grids)
    assert report.inserted == len(rows), report
    with platform.deps.uow(readonly=True) as uow:
        found = uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT id, grid_code, household_id FROM people ORDER BY id")).all()
    for side in SIDES:
        first = next(r for r in rows if r["household_id"] == w.household[side])
        w.id_number[side] = first["id_number"]
        w.person[side] = platform.people.find_by_id_number(SYSTEM, IdKind.RESIDENT,
                                                           first["id_number"])
        w.household_codes[side] = [w.code(r[0]) for r in found if r[2] == w.household[side]]
    users: dict[str, tuple[Role, str | None]] = {
        "admin": (Role.ADMIN, None), "courier": (Role.COURIER, None),
        "province": (Role.PROVINCE, None),
        # first among the officers: its cached pages must not answer a district officer
        "officer_city": (Role.HEALTH_OFFICER, "1401"),
    }
    for side in SIDES:
        users |= {f"officer_{side}": (Role.HEALTH_OFFICER, DISTRICT[side]),
                  f"sampler_{side}": (Role.SAMPLER, w.site[side]),
                  f"lead_{side}": (Role.SITE_LEAD, w.site[side]),
                  f"landing_{side}": (Role.SAMPLER, w.landing[side]),
                  f"door_{side}": (Role.SAMPLER, w.door[side]),
                  f"lab_{side}": (Role.LAB, w.lab[side]),
                  f"venue_{side}": (Role.VENUE, w.venue[side]),
                  f"checkpoint_{side}": (Role.VENUE, w.checkpoint[side]),
                  f"grid_{side}": (Role.GRID_WORKER, w.grid[side]),
                  f"resident_{side}": (Role.RESIDENT, w.person[side])}
    for name, (role, scope) in users.items():
        uid = platform.auth.create_user(SYSTEM, name, DEMO_PASSWORD, role, scope)
        w.users[name] = Principal(uid, name, role, scope)
    for side in SIDES:
        w.team[side] = platform.teams.add_team(SYSTEM, f"site team {side}",
                                               TeamKind.SAMPLING, "site", w.site[side])
        platform.teams.add_team(SYSTEM, f"door team {side}", TeamKind.DOOR_TO_DOOR, "site",
                                w.door[side])
        platform.door_teams.assign(SYSTEM, w.door[side], person_ids=[
            r[0] for r in found if r[2] == w.household[side]])
        w.assignment[side] = platform.door_teams.assign(SYSTEM, w.door[side], person_ids=[
            r[0] for r in found if r[2] == w.household[side]]).id
        w.zone[side] = w.new_zone(side, [w.grid2[side]])
        # someone in a sealed zone scanned at a venue: a fence alert for their grid
        sealed = next(r[0] for r in found if r[1] == w.grid2[side])
        platform.zones.designate(SYSTEM, ZoneInput(f"sealed {side}", ZoneKind.SEALED,
                                                   [Area(w.grid2[side])],
                                                   planned_end=_at(days=7)))
        platform.fence.scan(SYSTEM, [ScanInput(w.event_id(), PlaceKind.VENUE, w.venue[side],
                                               _at(), code=w.code(sealed))])
        alerts = platform.fence.alerts(SYSTEM, region=DISTRICT[side])
        assert alerts, f"no fence alert in district {side}"
        w.alert[side] = alerts[0].id
        w.override(side)  # pending: the overrides list has something to show
    w.rule_id = platform.status.list_rules(SYSTEM)[0].id
    for side in SIDES:
        w.imported_plate[side] = w.imported(side)
    platform.rosters.refresh_snapshot(SYSTEM)
    for name in w.users:
        r = w.client.post("/auth/token", json={"username": name, "password": DEMO_PASSWORD})
        assert r.status_code == 200, r.text
        w.tokens[name] = r.json()["access_token"]
    return w


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres",
                                                               marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
          ) -> Iterator[World]:
    """One world per backend, in a database of its own (other tests empty the shared one)."""
    tmp = tmp_path_factory.mktemp("matrix")
    pg_admin = None
    if request.param == "postgres":
        try:
            pg_admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
            with pg_admin.connect() as c:
                c.execute(text("SELECT 1"))
        except Exception:
            pytest.skip("PostgreSQL is not reachable")
        name = f"hesuan_matrix_{os.getpid()}"
        with pg_admin.connect() as c:
            c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            c.execute(text(f"CREATE DATABASE {name}"))
        url = PG_URL.rsplit("/", 1)[0] + "/" + name
    else:
        db = tmp / "matrix.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), db)
        url = f"sqlite:///{db}"
    settings = Settings(database_url=url, environment="test", secret_key="matrix-secret",
                        sms_file=tmp / "sms.jsonl", key_file=tmp / "k",
                        pass_key_dir=tmp / "keys")
    platform = bootstrap(settings, clock=FixedClock(START), migrate=request.param == "postgres")
    try:
        w = _build(platform)
        try:
            yield w
        finally:
            w.client.close()
    finally:
        platform.close()
        if pg_admin is not None:
            with pg_admin.connect() as c:
                c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            pg_admin.dispose()


# -- requests and cases --------------------------------------------------------------------------


class _NoObject:
    """The route acts on the caller's own site, lab, venue or person, and the caller has none."""


NO_OBJECT = _NoObject()
Obj = Target | None | _NoObject


@dataclass
class Req:
    params: dict[str, str] = field(default_factory=dict)  # path parameters
    query: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    form: dict[str, Any] | None = None  # a web form: the CSRF token is added
    files: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    session: str | None = None  # a fresh session token instead of the user's own


Make = Callable[[World, str, Principal], tuple[Req, Obj]]


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    make: Make
    one_side: bool = False  # the object does not depend on the side (own objects, lists)
    batch: bool = False  # answers each item: a refusal may be 200 with every item refused
    # a collection read: what of a side's objects it shows (texts) and where they are; a
    # principal the policy keeps from that side's object must not see any of the texts
    shows: Callable[[World, str], tuple[list[str], Target]] | None = None


def _person(w: World, side: str) -> Target:
    return Target(region=w.grid[side], person=w.person[side])


def _site(w: World, side: str) -> Target:
    return Target(region=f"{DISTRICT[side]}001", site=w.site[side])


def _door(w: World, side: str) -> Target:
    return Target(region=f"{DISTRICT[side]}001", site=w.door[side])


def _venue(w: World, side: str) -> Target:
    return Target(region=f"{DISTRICT[side]}001", venue=w.venue[side])


def _bundle(w: World) -> Any:
    """A FHIR R4 message Bundle (one of the CDC's, under a fresh identifier)."""
    doc = json.loads((Path(__file__).parent.parent / "fixtures" / "interop" / "reportstream"
                      / "sample_AK_20240220-0001.fhir").read_bytes())
    doc["identifier"] = {"value": f"LM{w.n()}"}
    return doc


def _lab(w: World, side: str) -> Target:
    return Target(lab=w.lab[side])


def _area(w: World, side: str) -> Target:
    return Target(region=w.grid[side])


def _own_site(p: Principal) -> Obj:
    if p.role in (Role.SAMPLER, Role.SITE_LEAD) and p.scope:
        return Target(site=p.scope)
    return NO_OBJECT


def _own_checkpoint(w: World, p: Principal) -> Obj:
    """The checkpoint whose device the caller is (a venue account scoped to a checkpoint)."""
    side = next((s for s in SIDES if p.role is Role.VENUE and w.checkpoint[s] == p.scope), None)
    if side is None:
        return NO_OBJECT
    return Target(region=DISTRICT[side], venue=w.checkpoint[side])


def _own_lab(p: Principal) -> Obj:
    return Target(lab=p.scope) if p.role is Role.LAB and p.scope else NO_OBJECT


def _own_person(w: World, p: Principal) -> Obj:
    if p.role is not Role.RESIDENT or not p.scope:
        return NO_OBJECT
    side = next(s for s in SIDES if w.person[s] == p.scope)
    return _person(w, side)


def _own_area(p: Principal) -> Target:
    return Target(region=p.scope) if p.scope else Target()


def _list(req: Req | None = None) -> Make:
    """A collection read or write with no object: the role decides."""
    return lambda w, side, p: (req or Req(), None)


def _anyone(req: Req | None = None) -> Make:
    return lambda w, side, p: (req or Req(), Target())


def on_person(**kw: Any) -> Make:
    return lambda w, side, p: (Req(params={"person_id": w.person[side]}, **kw),
                               _person(w, side))


def _scan_event(w: World, side: str, site: str | None = None) -> dict[str, Any]:
    return {"event_id": w.event_id(), "kind": "open_tube", "site_id": site or w.site[side],
            "at": _iso(), "barcode": make_tube_barcode(900_000 + w.n()), "mode": 10}


def _feature_collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


def _roster_area(w: World, side: str, p: Principal) -> Target:
    """The web roster shows a grid worker their own grid whatever they ask for."""
    return Target(region=p.scope if p.role is Role.GRID_WORKER else w.grid[side])


def _login_form(w: World, side: str, p: Principal) -> tuple[Req, Obj]:
    w.client.cookies.clear()
    page = w.client.get("/web/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    w.client.cookies.clear()
    return Req(form={"csrf": token.group(1), "username": p.username, "password": DEMO_PASSWORD},
               cookies={"hs_login_csrf": token.group(1)}), Target()


CASES: list[Case] = [
    # -- meta, auth, places
    Case("GET", "/health", _anyone(), one_side=True),
    Case("GET", "/ready", _anyone(), one_side=True),
    Case("POST", "/auth/token", lambda w, s, p: (
        Req(json={"username": p.username, "password": DEMO_PASSWORD}), Target()), True),
    Case("POST", "/auth/logout", lambda w, s, p: (Req(session=w.session(p.username)), Target()),
         one_side=True),
    Case("POST", "/users", lambda w, s, p: (Req(json={
        "username": w.uid("user"), "password": "matrix-password-1", "role": "courier"}),
        Target()), one_side=True),
    Case("GET", "/audit/verify", _list(), one_side=True),
    Case("POST", "/regions", _list(Req(json={"regions": [
        {"code": "140105", "level": "district", "name": "小店区", "parent_code": "1401"}]})), True),
    Case("GET", "/sites", _list(), one_side=True),
    Case("POST", "/sites", lambda w, s, p: (Req(json={
        "name": w.uid("site "), "kind": "fixed", "region_code": f"{DISTRICT[s]}001",
        "windows": 2}), Target(region=f"{DISTRICT[s]}001"))),
    Case("GET", "/labs", _list(), one_side=True),
    Case("POST", "/labs", lambda w, s, p: (Req(json={
        "name": w.uid("lab "), "region_code": DISTRICT[s], "daily_capacity": 1000}),
        Target(region=DISTRICT[s]))),
    # -- people
    Case("POST", "/people", lambda w, s, p: (Req(json={
        "id_number": make_resident_id(DISTRICT[s], date(1980, 1, 1), w.n() % 1000),
        "name": "新居民", "grid_code": w.grid[s]}), Target(region=w.grid[s]))),
    Case("GET", "/people/{person_id}", on_person()),
    Case("GET", "/people/{person_id}/history", on_person()),
    Case("GET", "/people/{person_id}/sampling-code", on_person()),
    Case("GET", "/people/{person_id}/sampling-code.svg", on_person()),
    Case("GET", "/people/{person_id}/sampling-code.png", on_person()),
    # -- sampling
    Case("POST", "/scans", lambda w, s, p: (Req(json=_scan_event(w, s)), _site(w, s)), batch=True),
    Case("POST", "/scans/batch", lambda w, s, p: (
        Req(json={"events": [_scan_event(w, s)]}), _site(w, s)), batch=True),
    Case("POST", "/lanes/batch", lambda w, s, p: (
        Req(json={"events": [_scan_event(w, s)]}), _site(w, s)), batch=True),
    Case("GET", "/sites/load", _list(), one_side=True),
    Case("GET", "/sites/{site_id}/load", lambda w, s, p: (
        Req(params={"site_id": w.site[s]}), None)),
    # -- delivery and testing
    Case("POST", "/boxes/{box_code}/handover", lambda w, s, p: (Req(
        params={"box_code": w.sealed_box(s)}, json={"event_id": w.event_id(), "at": _iso()}),
        Target(site=w.site[s], region=f"{DISTRICT[s]}001"))),
    Case("POST", "/boxes/{box_code}/reopen", lambda w, s, p: (Req(
        params={"box_code": w.sealed_box(s)}, json={"event_id": w.event_id(), "at": _iso()}),
        _site(w, s))),
    Case("POST", "/boxes/{box_code}/receive", lambda w, s, p: (Req(
        params={"box_code": w.handed_over_box(s)},
        json={"event_id": w.event_id(), "lab_id": w.lab[s], "at": _iso(), "counted": 1}),
        _lab(w, s))),
    Case("POST", "/labs/{lab_id}/results", lambda w, s, p: (Req(
        params={"lab_id": w.lab[s]},
        json={"results": [{"barcode": make_tube_barcode(700_000 + w.n()),
                           "result": "negative"}]}), _lab(w, s))),
    Case("POST", "/labs/{lab_id}/results.csv", lambda w, s, p: (Req(
        params={"lab_id": w.lab[s]},
        files={"file": ("r.csv", f"barcode,result\n{make_tube_barcode(700_000 + w.n())},"
                                 "negative\n", "text/csv")}), _lab(w, s))),
    # -- the lab stage: assays, plates, runs, the queue
    Case("GET", "/assays", _list(), one_side=True),
    Case("GET", "/assays/current", _list(), one_side=True),
    Case("POST", "/assays", _list(Req(json={
        "id": "orf1ab-n", "name": "matrix", "targets": [
            {"name": "ORF1ab", "dye": "FAM", "cutoff": 40, "grey_from": 37},
            {"name": "N", "dye": "VIC", "cutoff": 40, "grey_from": 37},
            {"name": "IC", "dye": "CY5", "cutoff": 40, "internal_control": True}]})),
         one_side=True),
    Case("POST", "/labs/{lab_id}/plates", lambda w, s, p: (Req(
        params={"lab_id": w.lab[s]}, json={"size": 96}), _lab(w, s))),
    Case("GET", "/labs/{lab_id}/plates", lambda w, s, p: (Req(
        params={"lab_id": w.lab[s]}), _lab(w, s))),
    Case("GET", "/plates/{plate_id}", lambda w, s, p: (Req(
        params={"plate_id": w.imported_plate[s]}), _lab(w, s))),
    Case("GET", "/plates/{plate_id}/run-file", lambda w, s, p: (Req(
        params={"plate_id": w.imported_plate[s]}), _lab(w, s))),
    Case("POST", "/plates/{plate_id}/wells", lambda w, s, p: (Req(
        params={"plate_id": w.plate(s)}, json={"well": "A1", "control": "positive_control"}),
        _lab(w, s))),
    Case("DELETE", "/plates/{plate_id}/wells/{well}", lambda w, s, p: (Req(
        params={"plate_id": w.plate(s, controls=True), "well": "A1"}), _lab(w, s))),
    # an empty plate: refused for its missing controls (409) once access is granted
    Case("POST", "/plates/{plate_id}/ready", lambda w, s, p: (Req(
        params={"plate_id": w.plate(s)}), _lab(w, s))),
    # a plate still being built: its run is refused (409) once access is granted
    Case("POST", "/plates/{plate_id}/run", lambda w, s, p: (Req(
        params={"plate_id": w.plate(s)},
        files={"file": ("run.csv", cfx_csv({"A1": ("Unkn", "x", NEG)}), "text/csv")}),
        _lab(w, s))),
    Case("POST", "/plates/{plate_id}/run/preview", lambda w, s, p: (Req(
        params={"plate_id": w.plate(s)},
        files={"file": ("run.csv", cfx_csv({"A1": ("Unkn", "x", NEG)}), "text/csv")}),
        _lab(w, s))),
    Case("POST", "/plates/{plate_id}/release", lambda w, s, p: (Req(
        params={"plate_id": w.plate(s)}), _lab(w, s))),
    Case("GET", "/labs/{lab_id}/queue", lambda w, s, p: (Req(
        params={"lab_id": w.lab[s]}), _lab(w, s))),
    Case("GET", "/labs/{lab_id}/release-setting", lambda w, s, p: (Req(
        params={"lab_id": w.lab[s]}), _lab(w, s))),
    Case("PUT", "/labs/{lab_id}/release-setting", lambda w, s, p: (Req(
        params={"lab_id": w.lab[s]}, json={"one_person_release": False}), _lab(w, s))),
    # -- corrections, rejected specimens, the lab report
    Case("POST", "/labs/{lab_id}/corrections", lambda w, s, p: (Req(
        params={"lab_id": w.lab[s]}, json={"barcode": w.resulted_tube(s), "result": "positive",
                                           "reason": "matrix"}), _lab(w, s))),
    Case("GET", "/labs/{lab_id}/corrections", lambda w, s, p: (Req(
        params={"lab_id": w.lab[s]}), _lab(w, s))),
    Case("GET", "/corrections/{request_id}", lambda w, s, p: (Req(
        params={"request_id": w.correction_request(s)}), _lab(w, s))),
    # by the requester: refused (409) for the second person once access is granted
    Case("POST", "/corrections/{request_id}/approve", lambda w, s, p: (Req(
        params={"request_id": w.correction_request(s)}), _lab(w, s))),
    Case("POST", "/corrections/{request_id}/decline", lambda w, s, p: (Req(
        params={"request_id": w.correction_request(s)}, json={"note": "matrix"}), _lab(w, s))),
    Case("POST", "/labs/{lab_id}/rejections", lambda w, s, p: (Req(
        params={"lab_id": w.lab[s]}, json={"barcode": w.received_tube(s), "code": "leaked"}),
        _lab(w, s))),
    Case("GET", "/labs/{lab_id}/rejections", lambda w, s, p: (Req(
        params={"lab_id": w.lab[s]}), _lab(w, s))),
    Case("GET", "/labs/{lab_id}/report", lambda w, s, p: (Req(
        params={"lab_id": w.lab[s]}), Target(lab=w.lab[s], region=DISTRICT[s]))),
    # -- results from a lab's own system, its inbox and interop setting
    Case("POST", "/labs/{lab_id}/messages", lambda w, s, p: (Req(
        params={"lab_id": w.lab[s]}, headers={"Content-Type": "application/hl7-v2"},
        json=_oru(f"LM{w.n()}").decode()), _lab(w, s))),
    Case("POST", "/fhir", lambda w, s, p: (Req(
        query={"lab_id": w.lab[s]}, json=_bundle(w)), _lab(w, s))),
    Case("GET", "/labs/{lab_id}/messages", lambda w, s, p: (Req(
        params={"lab_id": w.lab[s]}), Target(lab=w.lab[s], region=DISTRICT[s]))),
    Case("GET", "/lab-messages/{message_id}", lambda w, s, p: (Req(
        params={"message_id": w.lab_message(s)}), Target(lab=w.lab[s], region=DISTRICT[s]))),
    Case("POST", "/lab-messages/{message_id}/apply", lambda w, s, p: (Req(
        params={"message_id": w.lab_message(s)}), _lab(w, s))),
    Case("POST", "/lab-messages/{message_id}/discard", lambda w, s, p: (Req(
        params={"message_id": w.lab_message(s)}, json={"reason": "matrix"}), _lab(w, s))),
    Case("GET", "/labs/{lab_id}/interop", lambda w, s, p: (Req(
        params={"lab_id": w.lab[s]}), _lab(w, s))),
    Case("PUT", "/labs/{lab_id}/interop", lambda w, s, p: (Req(
        params={"lab_id": w.lab[s]}, json={"id_order": ["specimen_placer"]}), _lab(w, s))),
    # -- reports and alerts
    Case("GET", "/reports/turnaround", _list(), one_side=True),
    Case("GET", "/reports/reconcile", _list(), one_side=True),
    Case("GET", "/reports/daily", _list(), one_side=True),
    Case("GET", "/alerts", _list(), one_side=True),
    Case("POST", "/alerts/check", _list(), one_side=True),
    # -- cadence and status
    Case("GET", "/policies", _list(), one_side=True),
    Case("POST", "/policies", lambda w, s, p: (Req(json={
        "scope_kind": "region", "scope": DISTRICT[s], "interval_hours": 72}),
        Target(region=DISTRICT[s]))),
    Case("GET", "/people/{person_id}/policy", on_person()),
    Case("GET", "/people/{person_id}/status", on_person()),
    Case("GET", "/me/status", lambda w, s, p: (Req(), _own_person(w, p)), one_side=True),
    Case("POST", "/people/{person_id}/exemptions", on_person(json={
        "reason": "other", "until": _iso(days=3)})),
    Case("DELETE", "/exemptions/{exemption_id}", lambda w, s, p: (
        Req(params={"exemption_id": w.exemption(s)}), _person(w, s))),
    Case("POST", "/people/{person_id}/overrides", on_person(json={
        "colour": "yellow", "reason": "matrix", "legal_basis": "matrix test",
        "expires_at": _iso(days=2)})),
    Case("GET", "/overrides", _list(), one_side=True,
         shows=lambda w, s: ([w.person[s]], _person(w, s))),
    Case("POST", "/overrides/{override_id}/approve", lambda w, s, p: (
        Req(params={"override_id": w.override(s)}), _person(w, s))),
    Case("POST", "/overrides/{override_id}/reject", lambda w, s, p: (
        Req(params={"override_id": w.override(s)}), _person(w, s))),
    Case("POST", "/arrivals", lambda w, s, p: (Req(json={
        "person_id": w.person[s], "checkpoint_site_id": w.landing[s], "origin_region": "4403",
        "origin_risk": "low", "arrived_at": _iso()}),
        Target(region=w.grid[s], person=w.person[s], site=w.landing[s]))),
    Case("POST", "/sweep", _list(Req(query={"limit": 10})), one_side=True),
    Case("GET", "/rules", _list(), one_side=True),
    Case("PATCH", "/rules/{rule_id}", lambda w, s, p: (
        Req(params={"rule_id": w.rule_id}, json={"enabled": True}), None), one_side=True),
    # -- venues and passes
    Case("POST", "/venues", lambda w, s, p: (Req(json={
        "code": w.uid("V"), "name": "新场所", "region_code": f"{DISTRICT[s]}001"}),
        Target(region=f"{DISTRICT[s]}001"))),
    Case("GET", "/venues", _list(), one_side=True,
         shows=lambda w, s: ([w.venue[s]], _venue(w, s))),
    Case("POST", "/venues/{venue_id}/checks", lambda w, s, p: (Req(
        params={"venue_id": w.venue[s]},
        json={"pass": "SP1:NOTAPASS", "temperature_c": 36.5, "mask": True,
        "certificate": True}), _venue(w, s))),
    Case("GET", "/venues/{venue_id}/checks", lambda w, s, p: (
        Req(params={"venue_id": w.venue[s]}), _venue(w, s))),
    Case("POST", "/verify", _list(Req(json={"pass": "SP1:NOTAPASS"})), one_side=True),
    Case("POST", "/people/{person_id}/pass", on_person()),
    Case("POST", "/people/{person_id}/pass.svg", on_person()),
    Case("POST", "/people/{person_id}/pass/revoke", on_person(json={"reason": "matrix"})),
    Case("GET", "/passes/trust-list", _list(), one_side=True),
    Case("GET", "/passes/root-key", _list(), one_side=True),
    Case("GET", "/passes/revocations", _list(), one_side=True),
    Case("POST", "/passes/rotate-key", _list(), one_side=True),
    # -- zones
    Case("POST", "/zones", lambda w, s, p: (Req(json={
        "name": w.uid("zone "), "kind": "precaution", "areas": [w.grid[s]],
        "planned_end": _iso(days=3)}), _area(w, s))),
    Case("GET", "/zones", _list(), one_side=True,
         shows=lambda w, s: ([w.zone[s]], Target(region=w.grid2[s]))),
    Case("GET", "/zones.geojson", _list(), one_side=True,
         shows=lambda w, s: ([w.zone[s]], Target(region=w.grid2[s]))),
    Case("POST", "/zones/import", lambda w, s, p: (Req(json=_feature_collection([{
        "type": "Feature", "geometry": None, "properties": {
            "name": w.uid("zone "), "kind": "precaution", "areas": [w.grid[s]]}}])),
        _area(w, s)), batch=True),
    Case("GET", "/zones/{zone_id}", lambda w, s, p: (
        Req(params={"zone_id": w.zone[s]}), Target(region=w.grid2[s]))),
    Case("POST", "/zones/{zone_id}/lift", lambda w, s, p: (Req(
        params={"zone_id": w.new_zone(s)}, json={"reason": "matrix"}), _area(w, s))),
    Case("POST", "/zones/{zone_id}/extend", lambda w, s, p: (Req(
        params={"zone_id": w.new_zone(s)}, json={"planned_end": _iso(days=9)}), _area(w, s))),
    Case("POST", "/zones/{zone_id}/split", lambda w, s, p: (Req(
        params={"zone_id": w.new_zone(s, [w.grid[s], w.grid2[s]])},
        json={"parts": [{"areas": [w.grid[s]]}, {"areas": [w.grid2[s]]}]}), _area(w, s))),
    Case("POST", "/zones/{zone_id}/shrink", lambda w, s, p: (Req(
        params={"zone_id": w.new_zone(s, [w.grid[s], w.grid2[s]])},
        json={"areas": [w.grid[s]]}), _area(w, s))),
    Case("GET", "/regions/boundaries.geojson", _list(), one_side=True),
    Case("POST", "/regions/boundaries", _list(Req(json=_feature_collection([]))),
         one_side=True),
    # -- rosters and coverage
    Case("GET", "/rosters/coverage", lambda w, s, p: (
        Req(query={"region": w.grid[s]}), _area(w, s))),
    Case("GET", "/rosters/coverage.xlsx", lambda w, s, p: (
        Req(query={"region": w.grid[s]}), _area(w, s))),
    Case("GET", "/rosters/people", lambda w, s, p: (
        Req(query={"region": w.grid[s]}), _area(w, s))),
    Case("POST", "/rosters/snapshot", _list(), one_side=True),
    Case("POST", "/people/{person_id}/roster-outcome", on_person(json={"outcome": "reached"})),
    Case("POST", "/people/{person_id}/reveal-phone", on_person()),
    # -- fence
    Case("POST", "/checkpoints", lambda w, s, p: (Req(json={
        "code": w.uid("CP"), "name": "卡口", "kind": CheckpointKind.HIGHWAY.value,
        "region_code": DISTRICT[s]}), Target(region=DISTRICT[s]))),
    Case("GET", "/checkpoints", _list(), one_side=True,
         shows=lambda w, s: ([w.checkpoint[s]],
                             Target(region=DISTRICT[s], venue=w.checkpoint[s]))),
    Case("GET", "/checkpoints/{checkpoint_id}/scans", lambda w, s, p: (
        Req(params={"checkpoint_id": w.checkpoint[s]}),
        Target(region=DISTRICT[s], venue=w.checkpoint[s]))),
    Case("POST", "/fence/scans", lambda w, s, p: (Req(json={"scans": [{
        "event_id": w.event_id(), "place_kind": "venue", "place_id": w.venue[s], "at": _iso(),
        "code": w.code(w.person[s])}]}), _venue(w, s)), batch=True),
    Case("GET", "/fence/alerts", _list(), one_side=True,
         shows=lambda w, s: ([w.alert[s]], Target(region=w.grid2[s]))),
    Case("POST", "/fence/alerts/{alert_id}/acknowledge", lambda w, s, p: (
        Req(params={"alert_id": w.alert[s]}, json={}), Target(region=w.grid2[s]))),
    Case("POST", "/fence/alerts/{alert_id}/close", lambda w, s, p: (
        Req(params={"alert_id": w.alert[s]}, json={"outcome": "false_alarm"}),
        Target(region=w.grid2[s]))),
    # -- door-to-door teams, staff and shifts
    Case("POST", "/door-teams/{site_id}/assignments", lambda w, s, p: (Req(
        params={"site_id": w.door[s]}, json={"person_ids": [w.person[s]]}), _door(w, s))),
    Case("POST", "/door-teams/{site_id}/assignments/{assignment_id}/close", lambda w, s, p: (
        Req(params={"site_id": w.door[s], "assignment_id": w.assignment[s]}), _door(w, s))),
    Case("GET", "/door-teams/{site_id}/route", lambda w, s, p: (
        Req(params={"site_id": w.door[s]}), _door(w, s))),
    Case("POST", "/door-teams/{site_id}/households/{household_id}/visit", lambda w, s, p: (Req(
        params={"site_id": w.door[s], "household_id": w.household[s]},
        json={"event_id": w.event_id(), "barcode": make_tube_barcode(600_000 + w.n()),
              "at": _iso(), "scanned": w.household_codes[s]}), _door(w, s))),
    Case("POST", "/teams", lambda w, s, p: (Req(json={
        "name": w.uid("team "), "kind": "sampling", "place_kind": "site",
        "place_id": w.site[s]}), _site(w, s))),
    Case("GET", "/teams", _list(), one_side=True,
         shows=lambda w, s: ([w.team[s]], _site(w, s))),
    Case("GET", "/teams/{team_id}/staff", lambda w, s, p: (
        Req(params={"team_id": w.team[s]}), _site(w, s))),
    Case("POST", "/teams/{team_id}/move", lambda w, s, p: (Req(
        params={"team_id": w.platform.teams.add_team(SYSTEM, w.uid("team "), TeamKind.SAMPLING,
                                                     "site", w.site[s])},
        json={"to_kind": "site", "to_id": w.landing[s]}), _site(w, s))),
    Case("POST", "/staff", lambda w, s, p: (Req(json={
        "name": w.uid("staff "), "role": "swabber", "team_id": w.team[s]}), _site(w, s))),
    Case("POST", "/shifts/start", lambda w, s, p: (Req(json={
        "staff_id": w.staff(s), "place_id": w.site[s], "window": 1}), _site(w, s))),
    Case("POST", "/shifts/end", lambda w, s, p: (Req(json={
        "staff_id": w.staff_on_shift(s)}), _site(w, s))),
    Case("GET", "/shifts/board/{place_id}", lambda w, s, p: (
        Req(params={"place_id": w.site[s]}), _site(w, s))),
    # -- web: signing in, files
    Case("GET", "/", _anyone(), one_side=True),
    Case("GET", "/web", _anyone(), one_side=True),
    Case("GET", "/web/", _anyone(), one_side=True),
    Case("GET", "/web/login", _anyone(), one_side=True),
    Case("POST", "/web/login", _login_form, one_side=True),
    Case("POST", "/web/logout", lambda w, s, p: (
        Req(form={}, session=w.session(p.username)), Target()), one_side=True),
    Case("GET", "/web/lang/{locale}", _anyone(Req(params={"locale": "en"})), one_side=True),
    Case("GET", "/web/static/{name:path}", _anyone(Req(params={"name:path": "hesuan.css"})),
         one_side=True),
    Case("GET", "/web/sw.js", _anyone(), one_side=True),
    Case("GET", "/web/districts.geojson", _anyone(), one_side=True),
    # -- web: station, courier, lab
    Case("GET", "/web/station", lambda w, s, p: (Req(), _own_site(p)), one_side=True),
    Case("POST", "/web/station", lambda w, s, p: (Req(form={
        "scan": make_tube_barcode(500_000 + w.n()), "mode": "10", "action": "scan",
        "tube": "", "box": "", "event_id": w.event_id()}), _own_site(p)), one_side=True),
    Case("POST", "/web/station/events.json", lambda w, s, p: (
        Req(json={"events": [_scan_event(w, s)]}, headers={"X-CSRF-Token": "<csrf>"}),
        _site(w, s)), batch=True),
    Case("GET", "/web/station/boxes/{box_code}.json", lambda w, s, p: (Req(params={
        "box_code": make_box_code(800_000 + w.n())}), _own_site(p)), one_side=True),
    # the station's page: for the staff of a site (others have none), a box of the side's site
    Case("POST", "/web/station/reopen", lambda w, s, p: (Req(form={
        "box_code": w.sealed_box(s), "take_out": "", "event_id": w.event_id()}),
        _site(w, s) if _own_site(p) is not NO_OBJECT else NO_OBJECT)),
    Case("GET", "/web/courier", _list(), one_side=True),
    Case("POST", "/web/courier/handover", lambda w, s, p: (Req(form={
        "box_code": w.sealed_box(s), "event_id": w.event_id()}),
        Target(site=w.site[s], region=f"{DISTRICT[s]}001"))),
    Case("GET", "/web/lab", lambda w, s, p: (Req(), _own_lab(p)), one_side=True),
    Case("POST", "/web/lab/receive", lambda w, s, p: (Req(form={
        "box_code": w.handed_over_box(s), "counted": "1", "event_id": w.event_id()}),
        _own_lab(p))),
    Case("POST", "/web/lab/results/check", lambda w, s, p: (Req(form={
        "csv": f"barcode,result\n{make_tube_barcode(700_000 + w.n())},negative\n"}),
        _own_lab(p)), one_side=True),
    Case("POST", "/web/lab/results/commit", lambda w, s, p: (Req(form={
        "csv": f"barcode,result\n{make_tube_barcode(700_000 + w.n())},negative\n"}),
        _own_lab(p)), one_side=True),
    Case("POST", "/web/lab/result", lambda w, s, p: (Req(form={
        "barcode": make_tube_barcode(700_000 + w.n()), "result": "negative"}),
        _own_lab(p)), one_side=True),
    # -- web: plates, runs, review (a refused step re-renders the plate page: 200)
    Case("GET", "/web/lab/plates", lambda w, s, p: (Req(), _own_lab(p)), one_side=True),
    Case("POST", "/web/lab/plates", lambda w, s, p: (Req(form={"size": "96"}), _own_lab(p)),
         one_side=True),
    Case("GET", "/web/lab/review", lambda w, s, p: (Req(), _own_lab(p)), one_side=True),
    Case("GET", "/web/lab/plates/{plate_id}", lambda w, s, p: (Req(
        params={"plate_id": w.imported_plate[s]}), _lab(w, s))),
    Case("POST", "/web/lab/plates/{plate_id}/wells", lambda w, s, p: (Req(
        params={"plate_id": w.plate(s)}, form={"well": "A1", "control": "positive_control"}),
        _lab(w, s))),
    Case("POST", "/web/lab/plates/{plate_id}/remove", lambda w, s, p: (Req(
        params={"plate_id": w.plate(s, controls=True)}, form={"well": "A1"}), _lab(w, s))),
    Case("POST", "/web/lab/plates/{plate_id}/ready", lambda w, s, p: (Req(
        params={"plate_id": w.plate(s)}, form={}), _lab(w, s))),
    Case("POST", "/web/lab/plates/{plate_id}/run/preview", lambda w, s, p: (Req(
        params={"plate_id": w.plate(s)}, form={},
        files={"file": ("run.csv", cfx_csv({"A1": ("Unkn", "x", NEG)}), "text/csv")}),
        _lab(w, s))),
    Case("POST", "/web/lab/plates/{plate_id}/run", lambda w, s, p: (Req(
        params={"plate_id": w.plate(s)}, form={"name": "run.csv", "data": base64.b64encode(
            cfx_csv({"A1": ("Unkn", "x", NEG)})).decode()}), _lab(w, s))),
    Case("POST", "/web/lab/plates/{plate_id}/release", lambda w, s, p: (Req(
        params={"plate_id": w.plate(s)}, form={}), _lab(w, s))),
    # -- web: rejected specimens and corrections (a refused step re-renders its page: 200)
    Case("POST", "/web/lab/reject", lambda w, s, p: (Req(form={
        "barcode": w.received_tube(s), "code": "leaked"}), _own_lab(p))),
    Case("POST", "/web/lab/plates/{plate_id}/reject", lambda w, s, p: (Req(
        params={"plate_id": w.plate(s)}, form={"barcode": w.received_tube(s),
                                               "code": "leaked"}), _lab(w, s))),
    Case("GET", "/web/lab/corrections", lambda w, s, p: (Req(), _own_lab(p)), one_side=True),
    Case("POST", "/web/lab/corrections", lambda w, s, p: (Req(form={
        "barcode": w.resulted_tube(s), "change": "positive", "reason": "matrix"}),
        _own_lab(p))),
    # by the requester: refused for the second person (the page says so) once access is granted
    Case("POST", "/web/lab/corrections/{request_id}/{decision}", lambda w, s, p: (Req(
        params={"request_id": w.correction_request(s), "decision": "approve"}, form={}),
        _lab(w, s))),
    # -- web: a lab's message inbox
    Case("GET", "/web/lab/messages", lambda w, s, p: (Req(query={"lab": w.lab[s]}), Target(
        lab=w.lab[s], region=DISTRICT[s]))),
    Case("POST", "/web/lab/messages/{message_id}/{decision}", lambda w, s, p: (Req(
        params={"message_id": w.lab_message(s), "decision": "apply"}, form={}), _lab(w, s))),
    # -- web: people
    Case("GET", "/web/me", lambda w, s, p: (Req(), _own_person(w, p)), one_side=True),
    Case("GET", "/web/me/pass", lambda w, s, p: (Req(), _own_person(w, p)), one_side=True),
    Case("GET", "/web/venue", _list(), one_side=True),
    Case("POST", "/web/venue", _list(Req(form={"pass": "SP1:NOTAPASS"})), one_side=True),
    Case("GET", "/web/checkpoint", lambda w, s, p: (Req(), _own_checkpoint(w, p)),
         one_side=True),
    Case("POST", "/web/checkpoint", lambda w, s, p: (Req(form={
        "scanned": w.code(w.person[s])}), _own_checkpoint(w, p)), one_side=True),
    Case("GET", "/web/area", lambda w, s, p: (Req(), _own_area(p)), one_side=True),
    Case("POST", "/web/area/find", lambda w, s, p: (Req(form={
        "id_kind": "resident", "id_number": w.id_number[s]}), _person(w, s))),
    Case("POST", "/web/overrides/{override_id}/{decision}", lambda w, s, p: (Req(
        params={"override_id": w.override(s), "decision": "approve"}, form={}),
        _person(w, s))),
    Case("GET", "/web/people/{person_id}", on_person()),
    Case("POST", "/web/people/{person_id}/exemption", on_person(form={
        "reason": "other", "until": "2022-09-05"})),
    Case("POST", "/web/exemptions/{exemption_id}/revoke", lambda w, s, p: (Req(
        params={"exemption_id": w.exemption(s)}, form={"person_id": w.person[s]}),
        _person(w, s))),
    Case("POST", "/web/people/{person_id}/override", on_person(form={
        "colour": "yellow", "reason": "matrix", "legal_basis": "matrix test",
        "expires_at": "2022-09-01T12:00"})),
    # -- web: roster, alerts, zones
    Case("GET", "/web/roster", lambda w, s, p: (
        Req(query={"region": w.grid[s]}), _roster_area(w, s, p))),
    Case("POST", "/web/roster/{person_id}/outcome", on_person(form={
        "outcome": "reached", "region": ""})),
    Case("POST", "/web/roster/{person_id}/phone", on_person(form={"region": ""})),
    Case("GET", "/web/roster.xlsx", lambda w, s, p: (
        Req(query={"region": w.grid[s]}), _roster_area(w, s, p))),
    Case("GET", "/web/alerts", _list(), one_side=True,
         shows=lambda w, s: ([w.alert[s]], Target(region=w.grid2[s]))),
    Case("POST", "/web/alerts/{alert_id}/{action}", lambda w, s, p: (Req(
        params={"alert_id": w.alert[s], "action": "acknowledge"}, form={}),
        Target(region=w.grid2[s]))),
    Case("GET", "/web/zones", _list(), one_side=True),
    Case("POST", "/web/zones", lambda w, s, p: (Req(form={
        "kind": "precaution", "name": w.uid("zone "), "areas": w.grid[s],
        "planned_end": "2022-09-05T12:00"}), _area(w, s))),
    Case("POST", "/web/zones/{zone_id}/{action}", lambda w, s, p: (Req(
        params={"zone_id": w.new_zone(s), "action": "lift"}, form={"reason": "matrix"}),
        _area(w, s))),
    # -- web: command centre, site, admin
    Case("GET", "/web/dashboard", lambda w, s, p: (Req(), _own_area(p)), one_side=True),
    Case("GET", "/web/dashboard.json", lambda w, s, p: (Req(), _own_area(p)), one_side=True),
    Case("GET", "/web/site", lambda w, s, p: (Req(), _own_site(p)), one_side=True),
    Case("GET", "/web/admin", _list(), one_side=True),
    Case("POST", "/web/admin/{what}", lambda w, s, p: (Req(params={"what": "user"}, form={
        "role": "courier", "username": w.uid("webuser"), "password": "matrix-password-1"}),
        Target()), one_side=True),
]

_CASES = {(c.method, c.path): c for c in CASES}


# -- the live application's routes ---------------------------------------------------------------


def _walk(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, BaseRoute]]:
    """Every route of the application with its full path, through included routers (which this
    FastAPI keeps as routes of their own)."""
    for r in routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:
            yield from _walk(inner.routes, prefix + r.include_context.prefix)  # type: ignore[attr-defined]
        else:
            yield prefix, r


def _live_routes(app: Any) -> tuple[dict[tuple[str, str], Action | None], list[str]]:
    """(method, path) -> declared action of every API route; the paths of the other routes."""
    api: dict[tuple[str, str], Action | None] = {}
    other: list[str] = []
    for prefix, r in _walk(list(app.routes)):
        if isinstance(r, APIRoute):
            for m in (r.methods or set()) - {"HEAD", "OPTIONS"}:
                api[(m, prefix + r.path)] = declared_action(r.openapi_extra)
        else:
            other.append(prefix + str(getattr(r, "path", r)))
    return api, other


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path,
         ) -> tuple[dict[tuple[str, str], Action | None], list[str]]:
    tmp = tmp_path_factory.mktemp("routes")
    shutil.copy(sqlite_template, tmp / "r.db")
    platform = bootstrap(Settings(database_url=f"sqlite:///{tmp / 'r.db'}", environment="test",
                                  secret_key="routes", sms_file=tmp / "sms", key_file=tmp / "k",
                                  pass_key_dir=tmp / "keys"), clock=FixedClock(START),
                         migrate=False)
    try:
        return _live_routes(create_app(platform))
    finally:
        platform.close()


def test_every_route_declares_an_action(
        live: tuple[dict[tuple[str, str], Action | None], list[str]]) -> None:
    api, other = live
    undeclared = sorted(f"{m} {p}" for (m, p), a in api.items() if a is None)
    assert not undeclared, "routes without a declared action (openapi_extra=acts(...)): " + \
        ", ".join(undeclared)
    unlisted = sorted(set(other) - PUBLIC_NON_API)
    assert not unlisted, f"routes that are not API routes and not listed as public: {unlisted}"
    assert len(api) > 100  # the walk found the included routers' routes


def test_every_route_has_a_case(
        live: tuple[dict[tuple[str, str], Action | None], list[str]]) -> None:
    api, _ = live
    missing = sorted(f"{m} {p}" for m, p in api if (m, p) not in _CASES)
    assert not missing, f"routes with no case in the access matrix: {missing}"
    gone = sorted(f"{m} {p}" for m, p in _CASES if (m, p) not in api)
    assert not gone, f"cases for routes the application no longer has: {gone}"


# -- the matrix ----------------------------------------------------------------------------------


def _expected(action: Action, p: Principal, obj: Obj) -> tuple[bool, set[int]]:
    """(allowed, the statuses a refusal may have)."""
    if isinstance(obj, _NoObject):
        return False, {403, 404}
    rule = POLICY[action]
    if allows(p, action, obj):
        return True, set()
    if p.role in rule.who and rule.hide:
        return False, {404}
    return False, {403}


#: The reasons an item of a batch is refused for access (the policy's, and the station's own).
ACCESS_REASONS = {"wrong_role", "wrong_scope", "not_in_scope", "wrong_site"}


def _items(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, dict):
        return list(body.get("results", [body]))
    return list(body)


def _batch_refused(r: Any) -> bool | None:
    """Whether every item of a 200 batch answer was refused for access (None: some were,
    some were not)."""
    items = _items(r.json())
    refused = [i.get("status") == "rejected" and i.get("reason") in ACCESS_REASONS
               for i in items]
    return all(refused) if all(refused) or not any(refused) else None


def _send(w: World, case: Case, user: str, req: Req) -> Any:
    token = req.session or w.tokens[user]
    path = case.path
    for k, v in req.params.items():
        path = path.replace("{" + k + "}", v)
    headers = dict(req.headers)
    cookies = dict(req.cookies)
    form = req.form
    if path.startswith("/web") or path == "/":
        if not (case.method == "POST" and case.path == "/web/login"):
            cookies["hs_session"] = token
        csrf = _csrf(w, token)
        if form is not None and "csrf" not in form:
            form = {**form, "csrf": csrf}
        headers = {k: csrf if v == "<csrf>" else v for k, v in headers.items()}
    else:
        headers["Authorization"] = f"Bearer {token}"
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    w.client.cookies.clear()
    return w.client.request(case.method, path, params=req.query or None, json=req.json,
                            data=form, files=req.files, headers=headers,
                            follow_redirects=False)


def _csrf(w: World, token: str) -> str:
    request = Request({"type": "http", "app": w.client.app, "method": "GET", "path": "/",
                       "headers": [(b"cookie", f"hs_session={token}".encode())]})
    return csrf_token(request)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.method} {c.path}" for c in CASES])
def test_route_answers_as_the_policy_says(world: World, case: Case, live: tuple[
        dict[tuple[str, str], Action | None], list[str]]) -> None:
    action = live[0].get((case.method, case.path))
    assert action is not None, f"{case.method} {case.path}: no declared action"
    wrong: list[str] = []
    for user, p in world.users.items():
        for side in SIDES[:1] if case.one_side else SIDES:
            req, obj = case.make(world, side, p)
            allowed, refusals = _expected(action, p, obj)
            r = _send(world, case, user, req)
            got = r.status_code
            ok = (got < 400 or got == 409) if allowed else got in refusals
            if case.batch and got == 200:
                # a batch answers 200 and refuses items: all for a denial, none when allowed
                ok = _batch_refused(r) is (not allowed)
            if ok and case.shows is not None and got == 200:
                for other in SIDES:
                    texts, where = case.shows(world, other)
                    seen = [t for t in texts if t in r.text]
                    if seen and not allows(p, action, where):
                        wrong.append(f"{case.method} {case.path} [{action.value}] {user}: "
                                     f"shows side {other}'s {seen} outside their scope")
            if not ok:
                want = "allowed" if allowed else "/".join(map(str, sorted(refusals)))
                wrong.append(f"{case.method} {case.path} [{action.value}] {user} on {side}: "
                             f"expected {want}, got {got} {r.text[:160]!r}")
    assert not wrong, f"{len(wrong)} answers differ from the policy:\n" + "\n".join(wrong)


def test_the_world_has_what_the_cases_need(world: World) -> None:
    """The objects are really in their districts (so an out-of-scope answer is about scope)."""
    for side in SIDES:
        d = DISTRICT[side]
        assert world.grid[side].startswith(d) and world.id_number[side]
        assert len(world.household_codes[side]) == 3
        coverage = world.platform.rosters.coverage(SYSTEM, region=d, level=Level.GRID)
        assert coverage is not None
