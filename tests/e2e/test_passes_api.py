"""Signed status passes through the HTTP API and the CLI, on SQLite and PostgreSQL: issue, check
online (``POST /verify``) and offline (trust list + revocation list), revocation by a later
positive result and by an officer, key rotation, and who may do what."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

from typer.testing import CliRunner

from hesuan.adapters.passes.verifier import OfflineVerifier, RevocationList, TrustList
from hesuan.domain.access import Role
from hesuan.entrypoints.cli.app import app as cli_app
from hesuan.services.auth import SYSTEM
from hesuan.sim.example import DEMO_PASSWORD
from tests.helpers import Api, Station, barcodes, boxes


def _user(api: Api, name: str, role: Role, scope: str | None) -> None:
    if role is Role.VENUE and scope == "venue-1":  # a venue's device names its venue
        scope = api.platform.venues.register(SYSTEM, "CS-140105-0101", "柳巷商场", "140105")
    api.platform.auth.create_user(SYSTEM, name, DEMO_PASSWORD, role, scope)


def _issue(api: Api, pid: str, user: str = "officer") -> dict[str, Any]:
    r = api.client.post(f"/people/{pid}/pass", headers=api.h(user))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _verify(api: Api, text: str, user: str = "gate") -> dict[str, Any]:
    r = api.client.post("/verify", headers=api.h(user), json={"pass": text})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _offline(api: Api) -> tuple[OfflineVerifier, TrustList]:
    """What a venue device downloads: root key (once), trust list, revocation list."""
    root = base64.b64decode(api.client.get("/passes/root-key", headers=api.h("gate"))
                            .json()["public_key"])
    trust = TrustList.load(api.client.get("/passes/trust-list", headers=api.h("gate")).content,
                           [root])
    revoked = RevocationList.load(
        api.client.get("/passes/revocations", headers=api.h("gate")).content, trust)
    return OfflineVerifier(trust, revoked.hashes), trust


def _sample_and_result(api: Api, people: list[str], result: str, n: int) -> None:
    st = Station(api.city.sites["140105"], api.clock)
    tube = next(barcodes(n))
    r = api.client.post("/scans/batch", headers=api.h("sampler"), json={
        "events": st.fill(tube, [api.code(p) for p in people], mode=10 if len(people) > 1 else 1)})
    assert r.json()["rejected"] == 0, r.text
    box = next(boxes(n))
    r = api.client.post("/scans/batch", headers=api.h("sampler"), json={"events": [
        st.ev("box_tube", box_code=box, barcode=tube), st.ev("seal_box", box_code=box)]})
    assert r.json()["rejected"] == 0, r.text
    api.clock.advance(timedelta(minutes=30))
    assert api.client.post(f"/boxes/{box}/handover", headers=api.h("courier"), json={
        "event_id": st.ev("x")["event_id"], "at": api.clock.now().isoformat()}).status_code == 200
    api.clock.advance(timedelta(minutes=30))
    assert api.client.post(f"/boxes/{box}/receive", headers=api.h("lab"), json={
        "event_id": st.ev("x")["event_id"], "lab_id": api.city.labs["lab1"],
        "at": api.clock.now().isoformat(), "tube_barcodes": [tube]}).status_code == 200
    api.clock.advance(timedelta(hours=1))
    r = api.client.post(f"/labs/{api.city.labs['lab1']}/results", headers=api.h("lab"),
                        json={"results": [{"barcode": tube, "result": result}]})
    assert r.json()["results"][0]["status"] == "accepted", r.text


def test_issue_and_verify_online_and_offline(api: Api) -> None:
    _user(api, "gate", Role.VENUE, "venue-1")
    pid = api.people(limit=1)[0]
    issued = _issue(api, pid)
    text = issued["pass"]
    assert text.startswith("SP1:") and issued["status"] == "green"
    assert issued["expires_at"] > issued["issued_at"]

    v = _verify(api, text)
    assert v["valid"] is True and v["status"] == "green" and v["reason_code"] is None
    assert "*" in v["masked_name"] and len(v["id_last4"]) == 4
    assert set(v) == {"valid", "status", "masked_name", "id_last4", "reason_code", "reason",
                      "issued_at", "expires_at", "key_id"}

    offline, _ = _offline(api)
    assert offline.verify(text, api.clock.now()).valid

    bad = _verify(api, text[:-3] + ("AAA" if text[-3:] != "AAA" else "BBB"))
    assert bad["valid"] is False and bad["reason_code"] in ("bad_signature", "malformed")
    assert bad["masked_name"] is None
    assert _verify(api, "SP1:garbage!")["reason_code"] == "malformed"
    assert api.client.post("/verify", json={"pass": text}).status_code == 401
    assert api.client.post("/verify", headers=api.h("gate"), json={}).status_code == 422

    api.clock.advance(timedelta(hours=25))
    api._tokens.clear()  # sign in again: tokens live 12 h
    expired = _verify(api, text)
    assert (expired["valid"], expired["reason_code"]) == (False, "expired")
    assert expired["status"] == "green"

    n = api.count(f"SELECT count(*) FROM passes WHERE person_id = '{pid}'")
    assert n == 1
    assert api.count("SELECT count(*) FROM audit_log WHERE action = 'pass.issue'") == 1

    svg = api.client.post(f"/people/{pid}/pass.svg", headers=api.h("officer"))
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")


def test_a_later_positive_result_revokes_the_pass(api: Api) -> None:
    _user(api, "gate", Role.VENUE, "venue-1")
    people = api.people(limit=10)
    passes = {p: _issue(api, p)["pass"] for p in people[:2]}
    assert all(_verify(api, t)["valid"] for t in passes.values())

    _sample_and_result(api, people, "positive", 10)  # a positive pool: all 10 待复核
    api.clock.advance(timedelta(minutes=1))  # past the online revocation refresh
    for t in passes.values():
        v = _verify(api, t)
        assert (v["valid"], v["reason_code"], v["status"]) == (False, "revoked", "green")
    offline, _ = _offline(api)
    assert all(offline.verify(t, api.clock.now()).failure == "revoked" for t in passes.values())

    fresh = _issue(api, people[0])
    assert fresh["status"] == "yellow"
    assert _verify(api, fresh["pass"])["valid"] is True

    # the single-tube re-test is positive: the yellow pass is overtaken too, a red one stands
    _sample_and_result(api, people[:1], "positive", 20)
    api.clock.advance(timedelta(minutes=1))
    assert _verify(api, fresh["pass"])["reason_code"] == "revoked"
    red = _issue(api, people[0])
    assert red["status"] == "red" and _verify(api, red["pass"])["valid"] is True
    _sample_and_result(api, people[:1], "positive", 30)
    api.clock.advance(timedelta(minutes=1))
    assert _verify(api, red["pass"])["valid"] is True  # still true: red stays red


def test_any_change_that_makes_a_green_pass_untrue_revokes_it(api: Api) -> None:
    """An approved red override, a high-risk arrival, an invalid tube: each made the person's
    status red, pop-up or yellow while their green pass went on verifying as valid for up to
    a day (only a positive result revoked it)."""
    _user(api, "gate", Role.VENUE, "venue-1")
    _user(api, "officer2", Role.HEALTH_OFFICER, "1401")
    overridden, arrived, *invalid = api.people(limit=12)
    passes = {p: _issue(api, p)["pass"] for p in (overridden, arrived, invalid[0])}
    assert all(_verify(api, t)["valid"] for t in passes.values())

    oid = api.client.post(f"/people/{overridden}/overrides", headers=api.h("officer"), json={
        "colour": "red", "reason": "close contact", "legal_basis": "传染病防治法 第三十九条",
        "expires_at": (api.clock.now() + timedelta(days=7)).isoformat()}).json()["id"]
    r = api.client.post(f"/overrides/{oid}/approve", headers=api.h("officer2"))
    assert r.status_code == 204, r.text
    r = api.client.post("/arrivals", headers=api.h("officer"), json={
        "person_id": arrived, "checkpoint_site_id": api.city.sites["first_landing"],
        "origin_region": "3101", "origin_risk": "high",
        "arrived_at": api.clock.now().isoformat()})
    assert r.status_code in (200, 201), r.text
    _sample_and_result(api, invalid, "invalid", 40)
    api.clock.advance(timedelta(minutes=1))  # past the online revocation refresh
    for pid, text in passes.items():
        v = _verify(api, text)
        assert (v["valid"], v["reason_code"]) == (False, "revoked"), pid
        assert _issue(api, pid)["status"] != "green", pid


def test_who_may_issue_revoke_and_rotate(api: Api) -> None:
    _user(api, "gate", Role.VENUE, "venue-1")
    me, other = api.people(limit=2)
    _user(api, "self", Role.RESIDENT, me)
    own = _issue(api, me, user="self")
    assert _verify(api, own["pass"], user="self")["valid"]
    assert api.client.post(f"/people/{other}/pass", headers=api.h("self")).status_code == 404
    assert api.client.post(f"/people/{me}/pass", headers=api.h("sampler")).status_code == 403
    assert api.client.post(f"/people/{me}/pass", headers=api.h("gate")).status_code == 403
    assert api.client.post("/people/nobody/pass", headers=api.h("officer")).status_code == 404

    # revocation by a health officer; nobody else
    assert api.client.post(f"/people/{me}/pass/revoke", headers=api.h("gate"),
                           json={"reason": "x"}).status_code == 403
    r = api.client.post(f"/people/{me}/pass/revoke", headers=api.h("officer"),
                        json={"reason": "misissued"})
    assert r.json() == {"revoked": 1}
    assert _verify(api, own["pass"])["reason_code"] == "revoked"

    # rotation: admin only; old passes stay valid, new ones carry the new key id
    before = _issue(api, other)
    assert api.client.post("/passes/rotate-key", headers=api.h("officer")).status_code == 403
    kid = api.client.post("/passes/rotate-key", headers=api.h("admin")).json()["key_id"]
    after = _issue(api, other)
    assert after["key_id"] == kid != before["key_id"]
    assert _verify(api, before["pass"])["valid"] and _verify(api, after["pass"])["valid"]
    _, trust = _offline(api)
    assert {k.hex() for k in trust.keys} == {kid, before["key_id"]}


def test_cli_verifies_offline_with_only_the_trust_list(api: Api, tmp_path: Any,
                                                      monkeypatch: Any) -> None:
    pid = api.people(limit=1)[0]
    text = api.platform.passes.issue(SYSTEM, pid)
    keys = api.platform.settings.pass_key_dir
    device = tmp_path / "device"
    device.mkdir()
    (device / "trust-list.cose").write_bytes((keys / "trust-list.cose").read_bytes())
    (device / "root.pub").write_text((keys / "root.pub").read_text())
    monkeypatch.setenv("HESUAN_PASS_KEY_DIR", str(tmp_path / "nowhere"))
    runner = CliRunner()
    at = api.clock.now().isoformat()
    args = ["verify", text, "--trust-list", str(device / "trust-list.cose"),
            "--root-key", str(device / "root.pub"), "--at", at]
    ok = runner.invoke(cli_app, args)
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.startswith("VALID green")
    out = runner.invoke(cli_app, [*args, "--json"])
    body = json.loads(out.stdout)
    assert body["valid"] is True and body["status"] == "green"
    # times as every report the CLI prints writes them: ISO 8601 UTC with Z (docs/REPORTS.md)
    assert body["issued_at"].endswith("Z") and body["expires_at"].endswith("Z"), body
    # the last two characters changed (a pass that already ends in "00" gets "11")
    forged = text[:-2] + ("11" if text.endswith("00") else "00")
    tampered = runner.invoke(cli_app, ["verify", forged, *args[2:]])
    assert tampered.exit_code == 1 and "INVALID" in tampered.stdout
    late = runner.invoke(cli_app, [*args[:-1], (api.clock.now() + timedelta(days=2)).isoformat()])
    assert late.exit_code == 1 and "(expired)" in late.stdout
    missing = runner.invoke(cli_app, ["verify", text])
    assert missing.exit_code == 2
    # the note beside a valid verdict: no revocation list, then one two hours old
    assert ok.stderr == "note: revocations not checked\n"
    assert body["revocations_as_of"] is None
    assert body["revocations_note"] == "revocations not checked"
    (device / "revocations.cose").write_bytes(
        api.client.get("/passes/revocations", headers=api.h("officer")).content)
    held = [*args[:-1], (api.clock.now() + timedelta(hours=2)).isoformat(),
            "--revocations", str(device / "revocations.cose")]
    old = runner.invoke(cli_app, held)
    assert old.exit_code == 0 and old.stdout.startswith("VALID green"), old.output
    assert "min old: passes revoked since are not caught; update the lists" in old.stderr
    fresh = json.loads(runner.invoke(cli_app, [*args, "--revocations",
                                               str(device / "revocations.cose"),
                                               "--json"]).stdout)
    assert fresh["revocations_note"] is None and fresh["revocations_as_of"].endswith("Z")
    # a revocation list dated after the check's time cannot be used
    early = [*args[:-1], (api.clock.now() - timedelta(hours=1)).isoformat(),
             "--revocations", str(device / "revocations.cose")]
    refused = runner.invoke(cli_app, early)
    assert refused.exit_code == 2 and "dated in the future" in refused.output
    # the device's trust list is from before a rotation: a true pass of the new key is not
    # valid to it, and the device is told its list is behind, not only that the key is unknown
    api.clock.advance(timedelta(hours=1, minutes=5))
    assert api.client.post("/passes/rotate-key", headers=api.h("admin")).status_code == 200
    newer = api.platform.passes.issue(SYSTEM, pid)
    behind = runner.invoke(cli_app, ["verify", newer, *args[2:-1], api.clock.now().isoformat()])
    assert behind.exit_code == 1 and "INVALID (unknown_key)" in behind.stdout, behind.output
    assert behind.stderr.startswith("note: trust list as of "), behind.output
    assert "update the lists" in behind.stderr, behind.output
    told = json.loads(runner.invoke(cli_app, ["verify", newer, *args[2:-1],
                                              api.clock.now().isoformat(), "--json"]).stdout)
    assert told["trust_list_as_of"].endswith("Z") and "update the lists" in told[
        "trust_list_note"], told
