"""Results from a lab's own system over HTTP, on SQLite and PostgreSQL: an HL7 v2 message posted
as ``application/hl7-v2`` answered with its ACK, a FHIR Bundle posted to ``/fhir`` answered with
an OperationOutcome, the inbox read by state, a local code mapped through the lab's interop
setting and the message applied again, another discarded with a reason; the same on the lab's
inbox page, without JavaScript."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import Api, web_sign_in
from tests.integration.lab_bench import Bench

pytest.importorskip("hl7")

FIXTURES = Path(__file__).parent.parent / "fixtures" / "interop" / "reportstream"
HL7 = {"Content-Type": "application/hl7-v2"}


def _ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def _oru(barcode: str, obx: str, control: str) -> bytes:
    msh = ("MSH|^~\\&|LIS|城东检测实验室^12D0000001^CLIA|HESUAN|CITY|20240605120000||"
           f"ORU^R01^ORU_R01|{control}|P|2.5.1|||NE|NE|CHN|UNICODE UTF-8")
    return "\r".join((msh, "OBR|1|ORD-1|FIL-1|94531-1^SARS-CoV-2 RNA panel^LN", obx,
                      f"SPM|1|{barcode}")).encode("utf-8")


def test_lab_messages_over_http(api: Api) -> None:
    b = Bench(api.platform, api.clock, api.city)
    lab_id, lab = api.city.labs["lab1"], api.h("lab")
    tube, local, other = b.tubes(3)
    # an HL7 message: its ACK
    r = api.client.post(f"/labs/{lab_id}/messages", headers={**lab, **HL7}, content=_oru(
        tube, "OBX|1|CWE|94500-6^SARS-CoV-2 RNA^LN||260373001^Detected^SCT||||||F", "M-1"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/hl7-v2")
    assert "MSA|AA|M-1" in r.text
    # a local code: AE, in the inbox until the lab maps it
    r = api.client.post(f"/labs/{lab_id}/messages", headers={**lab, "Content-Type": "text/plain"},
                        content=_oru(local, "OBX|1|ST|COV2^新冠核酸^L||阴性||||||F", "M-2"))
    assert "MSA|AE|M-2" in r.text and "unmapped_code" in r.text
    (unclear,) = _ok(api.client.get(f"/labs/{lab_id}/messages", headers=lab,
                                    params={"state": "unclear"}))
    assert unclear["specimens"][0]["reason"] == "unmapped_code"
    setting = _ok(api.client.put(f"/labs/{lab_id}/interop", headers=lab,
                                 json={"tests": {"COV2": "94500-6"}}))
    assert setting["tests"] == {"COV2": "94500-6"}
    assert _ok(api.client.get(f"/labs/{lab_id}/interop", headers=lab)) == setting
    applied = _ok(api.client.post(f"/lab-messages/{unclear['id']}/apply", headers=lab))
    assert applied["state"] == "applied"
    # a FHIR Bundle (its filler order number set to a tube's barcode): an OperationOutcome
    _ok(api.client.put(f"/labs/{lab_id}/interop", headers=lab,
                       json={"id_order": ["filler_order"]}))
    bundle = (FIXTURES / "sample_AL_20240624-0001.fhir").read_bytes().replace(
        b"0bab3f94-feb4-4915-939d-1adc5da201f3", other.encode())
    r = api.client.post("/fhir", headers={**lab, "Content-Type": "application/fhir+json"},
                        content=bundle)
    assert _ok(r)["issue"][0]["severity"] == "information"
    assert r.headers["content-type"].startswith("application/fhir+json")
    r = api.client.post("/fhir", headers={**lab, "Content-Type": "application/fhir+json"},
                        content=b"{")
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"
    # the unreadable one is kept; discarded with a reason
    (garbage,) = _ok(api.client.get(f"/labs/{lab_id}/messages", headers=lab,
                                    params={"state": "unclear"}))
    out = _ok(api.client.post(f"/lab-messages/{garbage['id']}/discard", headers=lab,
                              json={"reason": "not a message"}))
    assert (out["state"], out["reason"]) == ("discarded", "not a message")
    assert _ok(api.client.get(f"/lab-messages/{garbage['id']}", headers=lab))["state"] \
        == "discarded"
    assert {r[0] for r in b.rows("SELECT result FROM tubes WHERE barcode IN (:a, :b, :c)",
                                 a=tube, b=local, c=other)} == {"positive", "negative"}


def test_the_inbox_page_without_javascript(api: Api) -> None:
    b = Bench(api.platform, api.clock, api.city)
    lab_id, lab = api.city.labs["lab1"], api.h("lab")
    unmapped, preliminary = b.tubes(2)
    for tube, obx, control in ((unmapped, "OBX|1|ST|COV2^新冠核酸^L||阴性||||||F", "W-1"), (
            preliminary, "OBX|1|CWE|94500-6^SARS-CoV-2 RNA^LN||260373001^Detected^SCT||||||P",
            "W-2")):
        r = api.client.post(f"/labs/{lab_id}/messages", headers={**lab, **HL7},
                            content=_oru(tube, obx, control))
        assert f"MSA|AE|{control}" in r.text
    ids = {m["control_id"]: m["id"] for m in _ok(api.client.get(
        f"/labs/{lab_id}/messages", headers=lab))}
    client = TestClient(api.client.app, base_url="https://testserver")
    csrf = web_sign_in(client, "lab")
    page = client.get("/web/lab/messages")
    assert page.status_code == 200 and "unmapped_code" in page.text and "preliminary" in page.text
    assert 'href="/web/lab/messages"' in client.get("/web/lab").text
    api.platform.lab_messages.configure(b.lab_user(1), lab_id, tests={"COV2": "94500-6"})
    r = client.post(f"/web/lab/messages/{ids['W-1']}/apply", data={"csrf": csrf})
    assert r.status_code == 200 and 'id="applied"' in r.text and 'data-state="applied"' in r.text
    r = client.post(f"/web/lab/messages/{ids['W-2']}/discard", data={"csrf": csrf})
    assert r.status_code == 200 and 'id="decide-error"' in r.text  # a reason is required
    r = client.post(f"/web/lab/messages/{ids['W-2']}/discard",
                    data={"csrf": csrf, "reason": "the final result follows"})
    assert r.status_code == 200 and 'id="discarded"' in r.text
    assert f'data-apply="{ids["W-2"]}"' not in r.text  # out of the inbox
    # the region's health officer reads the lab's inbox, without the forms
    web_sign_in(client, "officer")
    for page in (client.get("/web/lab/messages"),
                 client.get("/web/lab/messages", params={"lab": lab_id})):
        assert page.status_code == 200 and "W-1" in page.text and "data-apply" not in page.text


def test_a_refused_message_says_so_and_is_only_discarded(api: Api) -> None:
    """A lab trying its link with a training message gets AR (the ACK, over HTTP); its inbox
    page says the message was refused, nothing of it applied, and offers no "Apply again"
    (it would refuse it again), only the discard; in Chinese too."""
    b = Bench(api.platform, api.clock, api.city)
    lab_id, lab = api.city.labs["lab1"], api.h("lab")
    (tube,) = b.tubes(1)
    training = _oru(tube, "OBX|1|CWE|94500-6^SARS-CoV-2 RNA^LN||260373001^Detected^SCT||||||F",
                    "T-1").replace(b"|T-1|P|", b"|T-1|T|")
    r = api.client.post(f"/labs/{lab_id}/messages", headers={**lab, **HL7}, content=training)
    assert "MSA|AR|T-1" in r.text and "202^Unsupported processing id" in r.text
    (m,) = _ok(api.client.get(f"/labs/{lab_id}/messages", headers=lab,
                              params={"state": "unclear"}))
    client = TestClient(api.client.app, base_url="https://testserver")
    csrf = web_sign_in(client, "lab")
    page = client.get("/web/lab/messages")
    assert page.status_code == 200 and f'data-refused="{m["id"]}"' in page.text
    assert f'data-apply="{m["id"]}"' not in page.text
    assert f'data-discard="{m["id"]}"' in page.text
    assert "已拒收" in client.get("/web/lab/messages", headers={"Accept-Language": "zh-CN"}).text
    r = client.post(f"/web/lab/messages/{m['id']}/discard",
                    data={"csrf": csrf, "reason": "the lab's link check"})
    assert r.status_code == 200 and 'id="discarded"' in r.text
