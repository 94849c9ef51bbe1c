"""The web pages say why, in the page's words, on SQLite and PostgreSQL (the test client, no
browser): a box of another site refused when it is scanned at the station, a box collected
twice names who collected it and when, a results file's commit counts what was recorded and
what was rejected, and the language switch returns to the same page with its query."""

from __future__ import annotations

import html
import re
from urllib.parse import unquote

from fastapi.testclient import TestClient

from hesuan.domain.local_time import short
from tests.helpers import Api, Station, barcodes, boxes, web_sign_in


def _client(api: Api) -> TestClient:
    return TestClient(api.client.app, base_url="https://testserver")


def _sealed_box(api: Api, site: str, serial: int) -> tuple[str, str]:
    """A tube of 2 people packed into a sealed box at ``site`` (through the API)."""
    st = Station(api.city.sites[site], api.clock)
    tube, box = next(barcodes(serial)), next(boxes(serial))
    people = api.people(limit=2, where="groups = '' AND id NOT IN (SELECT person_id FROM "
                                       "samples)")
    events = st.fill(tube, [api.code(p) for p in people], mode=5)
    events += [st.ev("seal_tube", barcode=tube), st.ev("box_tube", barcode=tube, box_code=box),
               st.ev("seal_box", box_code=box)]
    r = api.client.post("/scans/batch", json={"events": events}, headers=api.h("admin"))
    assert r.json()["rejected"] == 0, r.text
    return tube, box


def _alert(page: str) -> str:
    m = re.search(r'<p class="alert bad" role="alert">(.*?)</p>', page, re.S)
    assert m, page[:3000]
    return html.unescape(m.group(1)).strip()


def test_a_box_of_another_site_is_refused_when_scanned(api: Api) -> None:
    first = next(iter(api.city.sites))
    other = next(k for k in api.city.sites if k not in (first, "first_landing"))
    st = Station(api.city.sites[other], api.clock)
    tube, box = next(barcodes(981_001)), next(boxes(981_001))
    person = api.people(limit=1)[0]
    events = [st.ev("open_tube", barcode=tube, mode=1),
              st.ev("sample", barcode=tube, code=api.code(person)),
              st.ev("box_tube", barcode=tube, box_code=box)]
    r = api.client.post("/scans/batch", json={"events": events}, headers=api.h("admin"))
    assert r.json()["rejected"] == 0, r.text

    client = _client(api)
    csrf = web_sign_in(client, "sampler")
    r = client.post("/web/station", data={"csrf": csrf, "scan": box, "mode": "5", "tube": "",
                                          "box": "", "event_id": ""})
    assert 'class="panel bad"' in r.text, r.text[:2000]
    prompt = re.search(r'<div id="prompt">(.*?)</div>', r.text, re.S)
    assert prompt and "箱" in prompt.group(1) and "其他采样点" in prompt.group(1), r.text[:2000]
    assert 'name="box" id="box" value=""' in r.text  # not packing it
    # the JavaScript station asks the same before packing
    j = client.get(f"/web/station/boxes/{box}.json", headers={"X-CSRF-Token": csrf})
    assert j.status_code == 409
    assert j.json()["error"]["code"] == "wrong_site"
    assert j.json()["error"]["field"] == "box_code"
    assert "箱" in j.json()["text"]
    fresh = next(boxes(981_002))
    ok = client.get(f"/web/station/boxes/{fresh}.json")
    assert ok.status_code == 200 and ok.json() == {"box_code": fresh, "tubes": 0}


def test_collecting_a_box_twice_says_who_collected_it_and_when(api: Api) -> None:
    _, box = _sealed_box(api, next(iter(api.city.sites)), 982_001)
    client = _client(api)
    csrf = web_sign_in(client, "courier")
    first = client.post("/web/courier/handover", data={"csrf": csrf, "box_code": box,
                                                       "event_id": ""})
    assert 'role="status"' in first.text
    at = short(api.clock.now())
    again = client.post("/web/courier/handover", data={"csrf": csrf, "box_code": box,
                                                       "event_id": ""})
    said = _alert(again.text)
    assert "courier" in said and at in said and "取走" in said, said
    # the API's message names them too
    r = api.client.post(f"/boxes/{box}/handover", headers=api.h("courier"), json={
        "event_id": Station("x", api.clock).ev("x")["event_id"],
        "at": api.clock.now().isoformat()})
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "box_not_ready"
    assert "courier" in err["message"] and "in_transit" in err["message"]
    assert api.clock.now().isoformat()[:16] in err["message"], err["message"]


def test_a_courier_whose_count_is_not_the_boxs_is_told_so(api: Api) -> None:
    _, box = _sealed_box(api, next(iter(api.city.sites)), 984_001)
    client = _client(api)
    csrf = web_sign_in(client, "courier")
    wrong = client.post("/web/courier/handover", data={"csrf": csrf, "box_code": box,
                                                       "counted": "7", "event_id": ""})
    said = _alert(wrong.text)
    assert "数量与该箱不符" in said, said
    right = client.post("/web/courier/handover", data={"csrf": csrf, "box_code": box,
                                                       "counted": "1", "event_id": ""})
    assert 'role="status"' in right.text and box in right.text


def test_a_results_commit_counts_recorded_and_rejected_rows(api: Api) -> None:
    tube, box = _sealed_box(api, next(iter(api.city.sites)), 983_001)
    st = Station("x", api.clock)
    api.client.post(f"/boxes/{box}/handover", headers=api.h("courier"), json={
        "event_id": st.ev("x")["event_id"], "at": api.clock.now().isoformat()})
    api.client.post(f"/boxes/{box}/receive", headers=api.h("lab"), json={
        "event_id": st.ev("x")["event_id"], "lab_id": api.city.labs["lab1"],
        "at": api.clock.now().isoformat(), "tube_barcodes": [tube]})
    unknown = next(barcodes(983_900))
    csv = f"barcode,result\n{tube},negative\n{unknown},negative\n12345,negative\n"
    client = _client(api)
    csrf = web_sign_in(client, "lab")
    r = client.post("/web/lab/results/commit", data={"csrf": csrf, "csv": csv})
    said = re.search(r'id="committed">(.*?)</p>', r.text, re.S)
    assert said, r.text[:3000]
    text = html.unescape(said.group(1))
    assert "已录入 1 个" in text and "拒收 2 行" in text, text
    rows = re.findall(r"<tr><td class=\"num\">(\d+)</td><td class=\"mono\">([^<]*)</td>"
                      r"<td>([^<]*)</td><td>([^<]*)</td></tr>", r.text)
    assert [(n, bc) for n, bc, _, _ in rows] == [("3", unknown), ("4", "12345")]
    assert all(why.strip() for _, _, _, why in rows), rows


def test_the_language_switch_keeps_the_page_and_its_query(api: Api) -> None:
    client = _client(api)
    web_sign_in(client, "officer")
    path = f"/web/roster?region={api.city.grids[0]}&which=sampled"
    page = client.get(path).text
    link = re.search(r'<a href="(/web/lang/en\?next=[^"]+)"', page)
    assert link, page[:2000]
    r = client.get(html.unescape(link.group(1)), follow_redirects=False)
    assert r.status_code == 303
    assert unquote(r.headers["location"]) == path
    back = re.search(r'<a href="(/web/lang/zh_CN\?next=[^"]+)"',
                     client.get(r.headers["location"]).text)
    assert back
    r = client.get(html.unescape(back.group(1)), follow_redirects=False)
    assert unquote(r.headers["location"]) == path
