"""The lab stage through the HTTP API, on SQLite and PostgreSQL: received tubes scanned onto a
plate with its controls, the instrument's export file uploaded, the preliminary decisions read
back, the release refused to the importer and done by a second lab user, the people reached."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hesuan.domain.access import Role
from hesuan.services.auth import SYSTEM
from hesuan.sim.example import DEMO_PASSWORD
from tests.helpers import Api, Station, barcodes, boxes
from tests.integration.lab_bench import NEG, POS, cfx_csv


def _ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json() if r.content else None


def test_a_plate_built_imported_and_released_over_http(api: Api) -> None:
    lab_id = api.city.labs["lab1"]
    api.platform.auth.create_user(SYSTEM, "lab2nd", DEMO_PASSWORD, Role.LAB, lab_id)
    st = Station(api.city.sites["140105"], api.clock)
    people = api.people(limit=2)
    bc = barcodes(500)
    tubes = [next(bc), next(bc)]
    events: list[dict[str, Any]] = []
    for tube, pid in zip(tubes, people, strict=True):
        events += [st.ev("open_tube", barcode=tube, mode=1),
                   st.ev("sample", barcode=tube, code=api.code(pid))]
    box = next(boxes(300))
    events += [st.ev("box_tube", box_code=box, barcode=b) for b in tubes]
    events.append(st.ev("seal_box", box_code=box))
    assert _ok(api.client.post("/scans/batch", headers=api.h("sampler"),
                               json={"events": events}))["rejected"] == 0
    _ok(api.client.post(f"/boxes/{box}/handover", headers=api.h("courier"), json={
        "event_id": st.ev("x")["event_id"], "at": api.clock.now().isoformat()}))
    api.clock.advance(timedelta(minutes=30))
    _ok(api.client.post(f"/boxes/{box}/receive", headers=api.h("lab"), json={
        "event_id": st.ev("x")["event_id"], "lab_id": lab_id,
        "at": api.clock.now().isoformat(), "tube_barcodes": tubes}))

    queue = _ok(api.client.get(f"/labs/{lab_id}/queue", headers=api.h("lab")))
    assert [i["state"] for i in queue["items"]] == ["waiting", "waiting"]
    plate = _ok(api.client.post(f"/labs/{lab_id}/plates", headers=api.h("lab"),
                                json={"size": 96}), 201)
    assert (plate["status"], plate["assay"]) == ("building", "orf1ab-n@1")
    wells = f"/plates/{plate['id']}/wells"
    _ok(api.client.post(wells, headers=api.h("lab"), json={
        "well": "A1", "control": "positive_control"}), 201)
    _ok(api.client.post(wells, headers=api.h("lab"), json={
        "well": "A2", "control": "negative_control"}), 201)
    for well, tube in zip(("B1", "B2"), tubes, strict=True):
        _ok(api.client.post(wells, headers=api.h("lab"), json={"well": well, "barcode": tube}),
            201)
    r = api.client.post(wells, headers=api.h("lab"), json={"well": "B3", "barcode": tubes[0]})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "tube_on_plate")
    _ok(api.client.post(f"/plates/{plate['id']}/ready", headers=api.h("lab")))

    data = cfx_csv({"A1": ("Pos Ctrl", "PC", POS), "A2": ("Neg Ctrl", "NC", NEG),
                    "B1": ("Unkn", tubes[0], NEG), "B2": ("Unkn", tubes[1], POS)})
    preview = _ok(api.client.post(f"/plates/{plate['id']}/run/preview", headers=api.h("lab"),
                                  files={"file": ("cq.csv", data, "text/csv")}))
    assert preview["plate"]["status"] == "ready"
    run = _ok(api.client.post(f"/plates/{plate['id']}/run", headers=api.h("lab"),
                              files={"file": ("cq.csv", data, "text/csv")}))
    assert run["wells"] == preview["wells"]
    assert run["qc_passed"] and run["decisions"] == {"release": 2, "rerun": 0, "recall": 0}
    assert [(w["well"], w["outcome"], w["result"]) for w in run["wells"]
            if w["kind"] == "tube"] == [("B1", "negative", "negative"),
                                         ("B2", "positive", "positive")]
    r = api.client.post(f"/plates/{plate['id']}/run", headers=api.h("lab"),
                        files={"file": ("cq.csv", data, "text/csv")})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "duplicate_run_file")
    r = api.client.post(f"/plates/{plate['id']}/release", headers=api.h("lab"))
    assert (r.status_code, r.json()["error"]["code"]) == (409, "second_person_required")
    released = _ok(api.client.post(f"/plates/{plate['id']}/release", headers=api.h("lab2nd")))
    assert released["released"] == {"negative": 1, "positive": 1, "invalid": 0}
    assert released["people_notified"] == 2

    view = _ok(api.client.get(f"/plates/{plate['id']}", headers=api.h("lab")))
    assert view["plate"]["status"] == "released"
    assert view["run_file"]["sha256"] == run["run_file"]["sha256"]
    assert all(w["result_log_id"] for w in view["results"] if w["kind"] == "tube")
    r = api.client.get(f"/plates/{plate['id']}/run-file", headers=api.h("lab"))
    assert r.status_code == 200 and r.content == data
    person = _ok(api.client.get(f"/people/{people[1]}/status", headers=api.h("officer")))
    assert person["colour"] == "red"
    assert _ok(api.client.get(f"/labs/{lab_id}/queue", headers=api.h("lab")))["total"] == 0

