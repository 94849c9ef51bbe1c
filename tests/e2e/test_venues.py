"""Venue checks (四要素): the pass is verified, four checks recorded without personal data,
forgotten after the venue retention by the retention pass."""

from __future__ import annotations

from datetime import timedelta

from hesuan.domain.access import Principal, Role
from hesuan.services.auth import SYSTEM
from hesuan.sim.example import DEMO_PASSWORD
from tests.helpers import Api

OFFICER = Principal("o1", "officer", Role.HEALTH_OFFICER, "1401")


def test_venue_check_records_four_checks_and_is_purged(api: Api) -> None:
    vid = api.platform.venues.register(OFFICER, "CS-140105-0001", "柳巷商场", "140105")
    api.platform.auth.create_user(SYSTEM, "mall", DEMO_PASSWORD, Role.VENUE, vid)
    pid = api.city.users["resident"][1]
    r = api.client.post(f"/people/{pid}/pass", headers=api.h("resident"))
    assert r.status_code == 200, r.text
    text = r.json()["pass"]
    ok = api.client.post(f"/venues/{vid}/checks", headers=api.h("mall"), json={
        "pass": text, "temperature_c": 36.5, "mask": True,
        "certificate": True})
    assert ok.status_code == 200, ok.text
    assert ok.json()["admitted"] is True and ok.json()["colour"] == "green"
    fever = api.client.post(f"/venues/{vid}/checks", headers=api.h("mall"), json={
        "pass": text, "temperature_c": 37.8, "mask": True,
        "certificate": True}).json()
    assert fever["admitted"] is False and "temperature" in fever["why"]
    forged = api.client.post(f"/venues/{vid}/checks", headers=api.h("mall"), json={
        "pass": text[:-4] + "AAAA", "temperature_c": 36.5, "mask": True,
        "certificate": True}).json()
    assert forged["admitted"] is False and forged["pass_valid"] is False
    # the four checks are each the staff's to record: a check without the certificate's was
    # recorded as passed (certificate_ok true), the pass taken as the bearer's own
    no_certificate = api.client.post(f"/venues/{vid}/checks", headers=api.h("mall"), json={
        "pass": text, "temperature_c": 36.5, "mask": True})
    assert no_certificate.status_code == 422, no_certificate.text
    assert no_certificate.json()["error"]["field"] == "certificate"
    other = api.client.post(f"/venues/{vid}/checks", headers=api.h("sampler"), json={
        "pass": text, "temperature_c": 36.5, "mask": True,
        "certificate": True})
    assert other.status_code == 403
    stored = api.client.get(f"/venues/{vid}/checks", headers=api.h("mall")).json()
    assert len(stored) == 3 and set(stored[0]) >= {"temperature_ok", "code_ok", "admitted"}
    assert not {"name", "person_id", "pass_id"} & set(stored[0])
    api.clock.advance(timedelta(days=15))
    assert api.platform.retention.run(SYSTEM).venue_checks == 3


def test_a_venue_check_is_one_pass_check_in_the_audit_log(api: Api) -> None:
    """A venue's check verified the pass twice (the venue, then the fence's scan): the audit
    log counted two pass checks for one bearer at one door."""
    vid = api.platform.venues.register(OFFICER, "CS-140105-0002", "钟楼街", "140105")
    api.platform.auth.create_user(SYSTEM, "street", DEMO_PASSWORD, Role.VENUE, vid)
    pid = api.city.users["resident"][1]
    text = api.client.post(f"/people/{pid}/pass", headers=api.h("resident")).json()["pass"]
    api.platform.passes.flush_checks()
    ok = api.client.post(f"/venues/{vid}/checks", headers=api.h("street"), json={
        "pass": text, "temperature_c": 36.5, "mask": True, "certificate": True})
    assert ok.status_code == 200, ok.text
    assert api.platform.passes.flush_checks() == 1
