"""The web pages without JavaScript (plain form posts, as progressive enhancement promises), on
SQLite and PostgreSQL: sign in with the login form's CSRF token, run the sampling station one
scan per request, build, import and release a plate, and see a form without its token
refused."""

from __future__ import annotations

import base64
import re
from datetime import timedelta

from fastapi.testclient import TestClient

from hesuan.domain.access import Role
from hesuan.domain.sampling import make_box_code, make_tube_barcode
from hesuan.services.auth import SYSTEM
from hesuan.sim.example import DEMO_PASSWORD
from tests.helpers import Api, Station, web_sign_in
from tests.integration.lab_bench import NEG, POS, cfx_csv


def _state(html: str) -> dict[str, str]:
    return {k: re.search(rf'name="{k}" (?:id="{k}" )?value="([^"]*)"', html).group(1)  # type: ignore[union-attr]
            for k in ("tube", "box", "event_id")}


def test_station_without_javascript(api: Api) -> None:
    client = TestClient(api.client.app, base_url="https://testserver")
    csrf = web_sign_in(client, "sampler")
    people = api.people(limit=3)
    tube = make_tube_barcode(950_001)
    html = client.get("/web/station").text
    steps = [tube, api.code(people[0]), api.code(people[1]), tube]
    for scan in steps:
        st = _state(html)
        r = client.post("/web/station", data={"csrf": csrf, "scan": scan, "mode": "5",
                                              "action": "scan", **st})
        assert r.status_code == 200
        assert 'class="panel good"' in r.text, r.text[:2000]
        html = r.text
    assert _state(html)["tube"] == ""  # sealed: the station has no open tube
    assert api.count(f"SELECT count(*) FROM samples s JOIN tubes t ON t.id = s.tube_id "
                     f"WHERE t.barcode = '{tube}'") == 2
    assert api.count(f"SELECT status FROM tubes WHERE barcode = '{tube}'") == "sealed"
    # the same form posted twice (same event id) changes nothing
    st = _state(html)
    again = {"csrf": csrf, "scan": make_tube_barcode(950_002), "mode": "5", **st}
    client.post("/web/station", data=again)
    client.post("/web/station", data=again)
    assert api.count(f"SELECT count(*) FROM tubes WHERE barcode = "
                     f"'{make_tube_barcode(950_002)}'") == 1
    # a forged code is refused with the reason in plain words
    r = client.post("/web/station", data={"csrf": csrf, "scan": "HS1:forged", "mode": "5",
                                          "tube": make_tube_barcode(950_002), "box": "",
                                          "event_id": ""})
    assert 'class="panel bad"' in r.text


def test_a_sealed_box_is_reopened_from_the_station(api: Api) -> None:
    """A box refused at its hand-over for its count could only be reopened through the API;
    the station's staff reopen it on their page, which then packs into it, and seal it again
    from there."""
    from tests.helpers import barcodes, boxes

    station = Station(api.city.sites["140105"], api.clock)
    tubes, box = [next(barcodes(955_001 + i)) for i in range(2)], next(boxes(955_001))
    people = api.people(limit=10)
    events = [e for i, t in enumerate(tubes)
              for e in station.fill(t, [api.code(p) for p in people[5 * i:5 * i + 5]], mode=5)]
    events += [*(station.ev("box_tube", barcode=t, box_code=box) for t in tubes),
               station.ev("seal_box", box_code=box)]
    r = api.client.post("/scans/batch", json={"events": events}, headers=api.h("sampler"))
    assert r.json()["rejected"] == 0, r.text
    client = TestClient(api.client.app, base_url="https://testserver")
    csrf = web_sign_in(client, "sampler")
    assert 'action="/web/station/reopen"' in client.get("/web/station").text
    r = client.post("/web/station/reopen", data={"csrf": csrf, "box_code": box.lower(),
                                                 "take_out": f" {tubes[1]} ", "event_id": ""})
    assert r.status_code == 200 and 'class="panel good"' in r.text, r.text[:2000]
    assert _state(r.text)["box"] == box  # packing into it
    assert api.count(f"SELECT status FROM boxes WHERE code = '{box}'") == "open"
    assert api.count(f"SELECT count(*) FROM tubes WHERE box_id IS NOT NULL AND barcode IN "
                     f"('{tubes[0]}', '{tubes[1]}')") == 1
    r = client.post("/web/station", data={"csrf": csrf, "action": "seal_box", "mode": "5",
                                          **_state(r.text)})
    assert 'class="panel good"' in r.text, r.text[:2000]
    assert api.count(f"SELECT tube_count FROM boxes WHERE code = '{box}'") == 1
    r = client.post("/web/station/reopen", data={"csrf": csrf, "box_code": "BX-NOSUCH",
                                                 "take_out": "", "event_id": ""})
    assert 'class="panel bad"' in r.text


def test_forms_need_their_csrf_token(api: Api) -> None:
    client = TestClient(api.client.app, base_url="https://testserver")
    web_sign_in(client, "sampler")
    r = client.post("/web/station", data={"scan": make_tube_barcode(950_010), "mode": "5"})
    assert r.status_code == 403
    assert api.count(f"SELECT count(*) FROM tubes WHERE barcode = "
                     f"'{make_tube_barcode(950_010)}'") == 0
    client.cookies.clear()
    r = client.post("/web/login", data={"username": "sampler", "password": DEMO_PASSWORD})
    assert r.status_code == 403


def test_every_page_renders_for_its_role(api: Api) -> None:
    """Each role's pages on this backend (the work-list SQL runs on SQLite and PostgreSQL),
    after a tube has gone through the chain so that the lists are not empty."""
    from tests.helpers import Station, barcodes, boxes

    site = api.city.sites["140105"]
    station = Station(site, api.clock)
    tube, box = next(barcodes(960_001)), next(boxes(960_001))
    events = station.fill(tube, [api.code(p) for p in api.people(limit=5)], mode=5)
    events += [station.ev("box_tube", barcode=tube, box_code=box),
               station.ev("seal_box", box_code=box)]
    r = api.client.post("/scans/batch", json={"events": events}, headers=api.h("sampler"))
    assert r.json()["rejected"] == 0, r.text
    client = TestClient(api.client.app, base_url="https://testserver")
    pages = {
        "sampler": ["/web/station"],
        "sitelead": ["/web/site", "/web/station"],
        "courier": ["/web/courier"],
        "lab": ["/web/lab", "/web/lab/plates", "/web/lab/review"],
        "resident": ["/web/me", "/web/me/pass"],
        "grid": ["/web/roster", "/web/area", "/web/alerts", "/web/zones", "/web/venue",
                 "/web/roster.xlsx"],
        "officer": ["/web/dashboard", "/web/dashboard.json", "/web/area", "/web/zones",
                    "/web/alerts", f"/web/roster?region={api.city.grids[0]}",
                    f"/web/people/{api.people(limit=1)[0]}"],
        "admin": ["/web/admin", "/web/dashboard"],
    }
    for user, paths in pages.items():
        web_sign_in(client, user)
        for path in paths:
            r = client.get(path)
            assert r.status_code == 200, (user, path, r.text[:1000])
    web_sign_in(client, "courier")
    assert box in client.get("/web/courier").text


def test_a_plate_without_javascript(api: Api) -> None:
    """The plate builder, the run's preview and import, and the release as plain form posts:
    a tube scanned into the suggested well, a control by its label, errors re-rendered in place,
    the preview storing nothing, the importer refused the release and a second user releasing
    it from the review queue."""
    lab_id = api.city.labs["lab1"]
    api.platform.auth.create_user(SYSTEM, "lab2web", DEMO_PASSWORD, Role.LAB, lab_id)
    st = Station(api.city.sites["140105"], api.clock)
    person = api.people(limit=1)[0]
    tube, box = make_tube_barcode(970_001), make_box_code(970_001)
    events = [st.ev("open_tube", barcode=tube, mode=1),
              st.ev("sample", barcode=tube, code=api.code(person)),
              st.ev("box_tube", barcode=tube, box_code=box), st.ev("seal_box", box_code=box)]
    assert api.client.post("/scans/batch", headers=api.h("sampler"),
                           json={"events": events}).json()["rejected"] == 0
    api.client.post(f"/boxes/{box}/handover", headers=api.h("courier"), json={
        "event_id": st.ev("x")["event_id"], "at": api.clock.now().isoformat()})
    api.clock.advance(timedelta(minutes=20))
    api.client.post(f"/boxes/{box}/receive", headers=api.h("lab"), json={
        "event_id": st.ev("x")["event_id"], "lab_id": lab_id,
        "at": api.clock.now().isoformat(), "tube_barcodes": [tube]})

    client = TestClient(api.client.app, base_url="https://testserver")
    csrf = web_sign_in(client, "lab")
    assert f'data-barcode="{tube}" data-state="waiting"' in client.get("/web/lab").text
    r = client.post("/web/lab/plates", data={"csrf": csrf, "size": "96"},
                    follow_redirects=False)
    assert r.status_code == 303
    page = r.headers["location"]
    plate_id = page.rsplit("/", 1)[1]
    assert 'id="well" name="well" value="A1"' in client.get(page).text

    def post(path: str, **data: str) -> str:
        r = client.post(f"{page}/{path}", data={"csrf": csrf, **data})
        assert r.status_code == 200, r.text[:500]
        return str(r.text)

    assert 'id="placed" data-well="A1"' in post("wells", well="A1", scan="PC")
    assert 'id="placed" data-well="B1"' in post("wells", well="B1", scan=tube)
    html = post("wells", well="C1", scan=tube)  # twice: refused, in plain words
    assert 'id="error"' in html and "该采样管已在本板上" in html
    html = post("ready")  # no negative control yet
    assert 'id="error"' in html and 'data-control="negative_control"' in html
    assert 'class="control missing" data-control="negative_control"' in html
    assert 'id="placed" data-well="C1"' in post("wells", well="C1", control="negative_control")
    assert 'id="made-ready"' in post("ready")

    data = cfx_csv({"A1": ("Pos Ctrl", "PC", POS), "C1": ("Neg Ctrl", "NC", NEG),
                    "B1": ("Unkn", tube, NEG)})
    r = client.post(f"{page}/run/preview", data={"csrf": csrf},
                    files={"file": ("cq.csv", data, "text/csv")})
    assert r.status_code == 200 and 'id="commit"' in r.text, r.text[:1000]
    assert 'data-well="B1" data-outcome="negative" data-decision="release"' in r.text
    assert api.count("SELECT count(*) FROM run_files") == 0
    carried = re.search(r'name="data" value="([^"]+)"', r.text)
    assert carried is not None and base64.b64decode(carried.group(1)) == data
    html = post("run", name="cq.csv", data=carried.group(1))
    assert 'id="imported"' in html and 'data-bar="built_the_plate"' in html
    assert 'id="release-button"' not in html
    html = post("release")  # the builder and importer: refused, said so
    assert 'id="error"' in html and api.count(
        f"SELECT status FROM plates WHERE id = '{plate_id}'") == "imported"

    csrf = web_sign_in(client, "lab2web")
    assert f'data-plate="{plate_id}" data-bar=""' in client.get("/web/lab/review").text
    html = post("release")
    assert 'id="released"' in html and 'data-status="released"' in html
    assert api.count(f"SELECT result FROM tubes WHERE barcode = '{tube}'") == "negative"


def _box_of_singles(api: Api, serial: int, people: list[str]) -> tuple[str, list[str]]:
    """A box handed to the courier, holding one single tube per person: (box, tubes)."""
    st = Station(api.city.sites["140105"], api.clock)
    box = make_box_code(serial)
    tubes = [make_tube_barcode(serial + i) for i in range(len(people))]
    events = []
    for tube, person in zip(tubes, people, strict=True):
        events += [st.ev("open_tube", barcode=tube, mode=1),
                   st.ev("sample", barcode=tube, code=api.code(person)),
                   st.ev("box_tube", barcode=tube, box_code=box)]
    events.append(st.ev("seal_box", box_code=box))
    r = api.client.post("/scans/batch", headers=api.h("sampler"), json={"events": events})
    assert r.json()["rejected"] == 0, r.text
    api.client.post(f"/boxes/{box}/handover", headers=api.h("courier"), json={
        "event_id": st.ev("x")["event_id"], "at": api.clock.now().isoformat()})
    api.clock.advance(timedelta(minutes=20))
    return box, tubes


def test_rejections_and_a_correction_without_javascript(api: Api) -> None:
    """Specimen rejection at receipt, at the bench (lab page) and from a plate being built (its
    well empties), and a correction requested by one lab user, refused to them for approval and
    approved by a second one, as plain form posts: the person's page shows the corrected
    result; the lab page shows the lab's report and the command centre its panel."""
    lab_id = api.city.labs["lab1"]
    api.platform.auth.create_user(SYSTEM, "lab2corr", DEMO_PASSWORD, Role.LAB, lab_id)
    people = api.people(limit=6)
    box, (leaked, kept, bench, on_plate, corrected) = _box_of_singles(api, 980_001, people[:5])
    client = TestClient(api.client.app, base_url="https://testserver")
    csrf = web_sign_in(client, "lab")

    # at receipt: the rejected tube counts as found, and is rejected in the receipt
    page = client.get("/web/lab").text
    assert 'id="receipt-rejections"' in page and "样本管渗漏" in page
    r = client.post("/web/lab/receive", data={
        "csrf": csrf, "box_code": box, "event_id": "", "tubes": f"{kept}\n{bench}\n"
        f"{on_plate}\n{corrected}", "reject_barcode": [leaked, "", ""],
        "reject_code": ["leaked", "", ""], "reject_note": ["", "", ""]})
    assert r.status_code == 200 and 'id="receipt-rejected"' in r.text, r.text[:2000]
    assert "管数相符" in r.text
    assert api.count(f"SELECT status FROM tubes WHERE barcode = '{leaked}'") == "rejected"
    assert f'data-barcode="{leaked}" data-state=' not in r.text  # out of the queue
    assert f'data-barcode="{kept}" data-state="waiting"' in r.text

    # at the bench: "other" needs a note, said in plain words; then rejected
    r = client.post("/web/lab/reject", data={"csrf": csrf, "barcode": bench, "code": "other"})
    assert 'id="reject-error"' in r.text and "请在备注中说明样本的问题" in r.text
    assert api.count(f"SELECT status FROM tubes WHERE barcode = '{bench}'") == "received"
    r = client.post("/web/lab/reject", data={"csrf": csrf, "barcode": bench, "code": "other",
                                             "note": "样本管破裂"})
    assert f'id="rejected" data-barcode="{bench}"' in r.text
    assert f'data-barcode="{bench}" data-state=' not in r.text
    assert f'data-barcode="{bench}" data-code="other"' in r.text  # the rejections list
    r = client.post("/web/lab/reject", data={"csrf": csrf, "barcode": bench, "code": "leaked"})
    assert 'id="reject-error"' in r.text  # not rejected twice

    # from a plate being built: the tube's well empties
    r = client.post("/web/lab/plates", data={"csrf": csrf, "size": "96"},
                    follow_redirects=False)
    plate = r.headers["location"]
    client.post(f"{plate}/wells", data={"csrf": csrf, "well": "A1", "scan": on_plate})
    plate_id = plate.rsplit("/", 1)[1]
    assert api.count(f"SELECT count(*) FROM plate_wells WHERE plate_id = '{plate_id}'") == 1
    r = client.post(f"{plate}/reject", data={"csrf": csrf, "barcode": on_plate,
                                             "code": "insufficient_volume"})
    assert r.status_code == 200 and f'id="rejected" data-barcode="{on_plate}"' in r.text
    assert api.count(f"SELECT count(*) FROM plate_wells WHERE plate_id = '{plate_id}'") == 0
    assert api.count(f"SELECT status FROM tubes WHERE barcode = '{on_plate}'") == "rejected"

    # a released result corrected by two people
    r = api.client.post(f"/labs/{lab_id}/results", headers=api.h("lab"), json={
        "results": [{"barcode": corrected, "result": "negative"}]})
    assert r.status_code == 200, r.text
    page = client.get(f"/web/lab/corrections?barcode={corrected[:9]}").text
    assert f'data-barcode="{corrected}" data-result="negative"' in page
    assert f'name="barcode" required inputmode="numeric" spellcheck="false" ' \
           f'value="{corrected}"' in page  # the one found fills the request form
    r = client.post("/web/lab/corrections", data={"csrf": csrf, "barcode": corrected,
                                                  "change": "positive", "reason": ""})
    assert 'id="request-error"' in r.text and "请说明更正或撤销结果的原因" in r.text
    r = client.post("/web/lab/corrections", data={"csrf": csrf, "barcode": corrected,
                                                  "change": "positive", "ct_ORF1ab": "24.5",
                                                  "ct_N": "25.1", "reason": "样本顺序错位"})
    found = re.search(r'id="requested" data-request="([^"]+)"', r.text)
    assert found is not None, r.text[:2000]
    request_id = found.group(1)
    assert 'data-own="1"' in r.text and f'data-approve="{request_id}"' not in r.text
    r = client.post(f"/web/lab/corrections/{request_id}/approve", data={"csrf": csrf})
    assert 'id="decide-error"' in r.text and "此更正由您申请" in r.text
    assert api.count(f"SELECT result FROM tubes WHERE barcode = '{corrected}'") == "negative"

    csrf = web_sign_in(client, "lab2corr")
    page = client.get("/web/lab/corrections").text
    assert f'data-approve="{request_id}"' in page and 'data-own="1"' not in page
    r = client.post(f"/web/lab/corrections/{request_id}/approve", data={"csrf": csrf})
    assert 'id="approved" data-applied="1"' in r.text, r.text[:2000]
    assert f'data-request="{request_id}" data-status="applied"' in r.text
    assert api.count(f"SELECT result FROM tubes WHERE barcode = '{corrected}'") == "positive"
    # the lab page's own form asks for a correction too: one person changes nothing
    r = client.post("/web/lab/result", data={"csrf": csrf, "barcode": corrected,
                                             "result": "negative", "correction_reason": "x"})
    assert 'id="manual-done" data-status="correction_requested"' in r.text, r.text[:3000]
    assert "另一名实验室人员" in r.text
    assert api.count(f"SELECT result FROM tubes WHERE barcode = '{corrected}'") == "positive"
    assert api.count("SELECT count(*) FROM result_corrections WHERE status = 'pending'") == 1

    # the person's page shows the corrected result, and why the others were recalled
    web_sign_in(client, "officer")
    person = client.get(f"/web/people/{people[4]}").text
    history = person[person.index('id="corrections"'):]
    assert "原为" in history and "阴性" in history and "阳性" in history
    assert "样本顺序错位" in history
    assert "样本管渗漏" in client.get(f"/web/people/{people[0]}").text

    # the lab's report on its page, and its panel in the command centre
    web_sign_in(client, "lab")
    page = client.get("/web/lab").text
    assert 'id="report"' in page and 'data-list="results_without_run_file"' in page
    assert 'data-count="rejected"><b>3</b>' in page
    web_sign_in(client, "officer")
    centre = client.get("/web/dashboard").text
    assert 'id="labs"' in centre and f'data-lab="{lab_id}"' in centre


def test_the_station_page_queue_is_never_blocked_by_one_bad_scan(api: Api) -> None:
    """The page's offline queue syncs as a batch: a malformed scan (a time without a zone, an id
    of 40 characters, a time in the year 1) is rejected in its place and the rest are taken."""
    client = TestClient(api.client.app, base_url="https://testserver")
    csrf = web_sign_in(client, "sampler")
    site = api.city.sites["140105"]
    at = api.clock.now().isoformat()
    good = {"event_id": "0b9c5d1e-2222-4aaa-8bbb-000000000001", "kind": "open_tube",
            "site_id": site, "at": at, "barcode": make_tube_barcode(663001), "mode": 10}
    bad = [{**good, "event_id": "0b9c5d1e-2222-4aaa-8bbb-000000000002",
            "at": "2022-08-29T08:00:00"},
           {**good, "event_id": "x" * 40},
           {**good, "event_id": "0b9c5d1e-2222-4aaa-8bbb-000000000003",
            "at": "0001-01-01T00:00:00+00:00"}]
    r = client.post("/web/station/events.json", json={"events": [*bad, good]},
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    got = [(x["status"], x["reason"]) for x in r.json()["results"]]
    assert [s for s, _ in got] == ["rejected", "rejected", "rejected", "accepted"], got
    assert all(x["text"] for x in r.json()["results"][:3])
    # a body that is not a batch at all is still refused whole
    r = client.post("/web/station/events.json", json={"scans": []},
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422, r.text
