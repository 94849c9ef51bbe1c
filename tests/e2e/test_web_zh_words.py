"""Every role's pages in Chinese (the default) over the example city, after a pooled tube went
through the chain and tested positive (so that lists, recalls and re-tests are not empty), on
SQLite and PostgreSQL: no page shows a raw value of the domain's enums or of a stored state
(``open``, ``door_to_door``, ``first_landing``...) or a 32-hex id where the thing has a name.

What a page shows as typed by people or as a code to be scanned or typed — usernames, tube and
box codes, ids in an "Id" column — is marked ``translate="no"`` (the HTML attribute for content
that is not to be translated) and is not read here."""

from __future__ import annotations

import enum
import importlib
import pkgutil
import re
from datetime import timedelta
from html.parser import HTMLParser

from fastapi.testclient import TestClient

import hesuan.domain
from tests.helpers import Api, Station, barcodes, boxes, web_sign_in

#: States stored as plain strings (not enums) that pages show.
_STORED_STATES = {"open", "resolved", "closed", "sealed", "in_transit", "received", "boxed",
                  "pending", "approved", "rejected", "active", "expired", "revoked"}
_HEX_ID = re.compile(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
         "track", "wbr"}


def _raw_values() -> set[str]:
    """Every value of every string enum the domain defines, and the stored states."""
    values = set(_STORED_STATES)
    for mod in pkgutil.iter_modules(hesuan.domain.__path__):
        module = importlib.import_module(f"hesuan.domain.{mod.name}")
        for obj in vars(module).values():
            if (isinstance(obj, type) and issubclass(obj, enum.StrEnum)
                    and obj.__module__ == module.__name__):
                values |= {str(v.value) for v in obj}
    return {v for v in values if re.fullmatch(r"[a-z][a-z0-9_]*", v)}


class _Visible(HTMLParser):
    """The text a reader sees: no scripts, styles or ``translate="no"`` content."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[bool] = []  # per open element: hidden from this reading
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            return
        hidden = (tag in ("script", "style", "template")
                  or dict(attrs).get("translate") == "no"
                  or (bool(self.stack) and self.stack[-1]))
        self.stack.append(hidden)

    def handle_endtag(self, tag: str) -> None:
        if tag not in _VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not (self.stack and self.stack[-1]):
            self.text.append(data)


def _visible(page: str) -> str:
    p = _Visible()
    p.feed(page)
    return " ".join(p.text)


def _positive_pool_with_the_resident(api: Api) -> None:
    """The resident and four others sampled into a 5-in-1 tube at a fixed site, boxed,
    collected, received and tested positive: they have open re-tests."""
    resident = api.city.users["resident"][1]
    assert resident is not None
    others = api.people(limit=4, where=f"groups = '' AND id <> '{resident}'")
    st = Station(api.city.sites[next(iter(api.city.sites))], api.clock)
    tube, box = next(barcodes(990_001)), next(boxes(990_001))
    events = st.fill(tube, [api.code(p) for p in [resident, *others]], mode=5)
    events += [st.ev("box_tube", barcode=tube, box_code=box), st.ev("seal_box", box_code=box)]
    sampled = api.client.post("/scans/batch", json={"events": events},
                              headers=api.h("sampler")).json()
    assert sampled["rejected"] == 0, sampled
    api.clock.advance(timedelta(minutes=30))
    api.client.post(f"/boxes/{box}/handover", headers=api.h("courier"), json={
        "event_id": st.ev("x")["event_id"], "at": api.clock.now().isoformat()})
    api.clock.advance(timedelta(minutes=30))
    api.client.post(f"/boxes/{box}/receive", headers=api.h("lab"), json={
        "event_id": st.ev("x")["event_id"], "lab_id": api.city.labs["lab1"],
        "at": api.clock.now().isoformat(), "tube_barcodes": [tube]})
    r = api.client.post(f"/labs/{api.city.labs['lab1']}/results", headers=api.h("lab"),
                        json={"results": [{"barcode": tube, "result": "positive",
                                           "ct": {"ORF1ab": 28.0, "N": 29.5}}]})
    assert r.status_code == 200, r.text


def _pages(api: Api) -> dict[str, list[str]]:
    return {
        "sampler": ["/web/station"],
        "sitelead": ["/web/site", "/web/station"],
        "courier": ["/web/courier"],
        "lab": ["/web/lab", "/web/lab/plates", "/web/lab/review", "/web/lab/corrections",
                "/web/lab/messages"],
        "resident": ["/web/me", "/web/me/pass"],
        "grid": ["/web/roster", "/web/area", "/web/alerts", "/web/zones", "/web/venue"],
        "officer": ["/web/dashboard", "/web/area", "/web/zones", "/web/alerts", "/web/venue",
                    "/web/lab/messages",
                    f"/web/roster?region={api.city.grids[0]}",
                    f"/web/people/{api.city.users['resident'][1]}"],
        "admin": ["/web/admin", "/web/dashboard", "/web/area", "/web/zones"],
    }


def _a_team_on_shift(api: Api) -> None:
    """The site lead's site has a team: a swabber on at a window, a registrar off."""
    site = api.city.sites["140105"]
    team = api.client.post("/teams", headers=api.h("officer"), json={
        "name": "小店一队", "kind": "sampling", "place_kind": "site", "place_id": site}).json()
    ids = [api.client.post("/staff", headers=api.h("sitelead"), json={
        "name": name, "role": role, "team_id": team["id"]}).json()["id"]
        for name, role in (("采样员甲", "swabber"), ("登记员乙", "registrar"))]
    r = api.client.post("/shifts/start", headers=api.h("sitelead"), json={
        "staff_id": ids[0], "place_id": site, "window": 1})
    assert r.status_code == 201, r.text


def test_no_page_shows_a_raw_value_or_an_id_in_chinese(api: Api) -> None:
    _positive_pool_with_the_resident(api)
    _a_team_on_shift(api)
    raw = _raw_values()
    assert {"open", "door_to_door", "first_landing", "fixed", "hospital", "courier",
            "region"} <= raw
    client = TestClient(api.client.app, base_url="https://testserver")
    found: dict[str, set[str]] = {}
    for user, paths in _pages(api).items():
        web_sign_in(client, user)
        for path in paths:
            r = client.get(path)
            assert r.status_code == 200, (user, path, r.text[:500])
            text = _visible(r.text)
            words = set(re.findall(r"[A-Za-z][A-Za-z0-9_]*", text)) & raw
            ids = set(_HEX_ID.findall(text))
            if words or ids:
                found[f"{user} {path}"] = words | ids
    assert not found, "\n".join(f"{k}: {sorted(v)}" for k, v in found.items())


def test_due_is_the_people_due_for_testing(api: Api) -> None:
    """应检 (to be tested), not 截止 (a deadline), where "Due" counts people."""
    client = TestClient(api.client.app, base_url="https://testserver")
    web_sign_in(client, "officer")
    for path in ("/web/dashboard", "/web/area"):
        page = client.get(path).text
        heads = re.findall(r"<th[^>]*>([^<]*)</th>", page)
        assert "应检" in heads and "截止" not in heads, (path, heads)
    web_sign_in(client, "grid")
    tabs = client.get("/web/roster").text
    assert re.search(r'which=due"[^>]*>应检</a>', tabs), tabs[:3000]
