"""The deployment test's client (``scripts/deploy-test.sh`` runs it): a short round through
nginx over TLS, against two app processes on the primary and a streaming replica.

1. Seeds the example city straight into the primary (``HESUAN_*`` from the environment).
2. Through nginx: a tube of ten is sampled, boxed, handed over, received and resulted.
3. The turnaround report, through nginx, says it was read from the replica and how old its
   data is; the replica's own transaction count rises with the report calls, and the report
   shows the round once the replica has replayed it.
4. Four stations send single scans at once while one app process is killed (SIGKILL): every
   scan answered ``accepted`` (or ``duplicate``, a resend of one accepted earlier) is in the
   primary's ``station_events`` afterwards.

Prints a JSON summary; exits non-zero on the first check that fails.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg

from hesuan.bootstrap import bootstrap
from hesuan.config import Settings
from hesuan.domain.sampling import make_box_code, make_tube_barcode
from hesuan.sim.example import DEMO_PASSWORD, seed_example_city

STATIONS = 4  # concurrent single-scan senders during the kill
PER_TUBE = 10


def now() -> str:
    return datetime.now(UTC).isoformat()


def check(ok: bool, what: str) -> None:
    if not ok:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)


class Client:
    def __init__(self, base: str, cafile: str) -> None:
        self.base, self.cafile = base, cafile
        self.http = httpx.Client(base_url=base, verify=cafile, timeout=30)
        self.tokens: dict[str, str] = {}

    def h(self, user: str) -> dict[str, str]:
        if user not in self.tokens:
            r = self.http.post("/auth/token", json={"username": user, "password": DEMO_PASSWORD})
            check(r.status_code == 200, f"sign-in of {user}: {r.status_code} {r.text[:200]}")
            self.tokens[user] = r.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def post(self, path: str, user: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.http.post(path, headers=self.h(user), json=body)
        check(r.status_code == 200, f"POST {path}: {r.status_code} {r.text[:300]}")
        out: dict[str, Any] = r.json()
        return out


def ev(site: str, kind: str, **kw: Any) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "kind": kind, "site_id": site, "at": now(), **kw}


def round_through_nginx(c: Client, site: str, lab: str, codes: list[str]) -> str:
    tube, box = make_tube_barcode(1), make_box_code(1)
    events = [ev(site, "open_tube", barcode=tube, mode=PER_TUBE)] + [
        ev(site, "sample", barcode=tube, code=code) for code in codes]
    out = c.post("/scans/batch", "sampler", {"events": events})
    check(out["accepted"] == len(events), f"round's scans: {out}")
    out = c.post("/scans/batch", "sampler", {"events": [
        ev(site, "box_tube", box_code=box, barcode=tube), ev(site, "seal_box", box_code=box)]})
    check(out["accepted"] == 2, f"boxing: {out}")
    c.post(f"/boxes/{box}/handover", "courier", {"event_id": str(uuid.uuid4()), "at": now()})
    receipt = c.post(f"/boxes/{box}/receive", "lab", {
        "event_id": str(uuid.uuid4()), "lab_id": lab, "at": now(), "tube_barcodes": [tube]})
    check(receipt.get("discrepancy") is False, f"receipt: {receipt}")
    res = c.post(f"/labs/{lab}/results", "lab",
                 {"results": [{"barcode": tube, "result": "negative"}]})
    check(res["results"][0]["status"] == "accepted", f"result: {res}")
    return tube


def replica_commits(replica_dsn: str) -> int:
    with psycopg.connect(replica_dsn, autocommit=True) as conn:
        row = conn.execute("SELECT xact_commit FROM pg_stat_database "
                           "WHERE datname = current_database()").fetchone()
    assert row is not None
    return int(row[0])


def reports_from_replica(c: Client, replica_dsn: str) -> dict[str, Any]:
    before = replica_commits(replica_dsn)
    calls, deadline = 0, time.monotonic() + 20
    while True:
        r = c.http.get("/reports/turnaround", headers=c.h("officer"))
        calls += 1
        check(r.status_code == 200, f"turnaround: {r.status_code} {r.text[:200]}")
        check(r.headers.get("hesuan-read-from") == "replica",
              f"turnaround read from {r.headers.get('hesuan-read-from')}")
        age = float(r.headers["hesuan-read-age"])
        received = r.json()["since_first_sample"]["resulted"]["n"]
        if received >= 1:
            break
        check(time.monotonic() < deadline, "the replica never showed the round's result")
        time.sleep(0.2)
    after = replica_commits(replica_dsn)
    # each report is a transaction on the replica (besides this script's own two)
    check(after - before >= calls + 1, f"replica commits {before} -> {after} for {calls} calls")
    return {"report_calls": calls, "replica_commits": after - before, "read_age_s": age}


def scans_while_killing(c: Client, site: str, codes: list[str], victim: int,
                        ) -> dict[str, Any]:
    answered: dict[str, str] = {}  # event id -> accepted | duplicate
    retried = [0]
    sent = [0]
    lock = threading.Lock()
    killed = threading.Event()
    kill_after = len(codes) // 3
    token = c.h("sampler")

    def send(http: httpx.Client, event: dict[str, Any]) -> None:
        for _attempt in range(50):
            try:
                r = http.post("/scans", headers=token, json=event)
            except httpx.TransportError:
                r = None
            if r is not None and r.status_code == 200:
                status = r.json()["status"]
                check(status in ("accepted", "duplicate"), f"scan answered {r.text[:200]}")
                with lock:
                    answered[event["event_id"]] = status
                    sent[0] += 1
                    if sent[0] >= kill_after and not killed.is_set():
                        os.kill(victim, signal.SIGKILL)
                        killed.set()
                return
            with lock:
                retried[0] += 1
            time.sleep(0.1)  # the same event again: a replay is stored once
        check(False, f"scan {event['event_id']} never answered")

    def station(n: int, people: list[str]) -> None:
        with httpx.Client(base_url=c.base, verify=c.cafile, timeout=30) as http:
            for start in range(0, len(people), PER_TUBE):
                tube = make_tube_barcode(1000 * (n + 1) + start)
                send(http, ev(site, "open_tube", barcode=tube, mode=PER_TUBE))
                for code in people[start:start + PER_TUBE]:
                    send(http, ev(site, "sample", barcode=tube, code=code))

    share = len(codes) // STATIONS
    threads = [threading.Thread(target=station, args=(n, codes[n * share:(n + 1) * share]))
               for n in range(STATIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(killed.is_set(), "the app process was not killed during the scans")
    return {"scans_answered": len(answered), "retried": retried[0], "answered": answered}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--cafile", required=True)
    ap.add_argument("--replica-dsn", required=True)
    ap.add_argument("--primary-dsn", required=True)
    ap.add_argument("--kill-pid", type=int, required=True)
    ap.add_argument("--people", type=int, default=300)
    args = ap.parse_args()

    platform = bootstrap(Settings(), migrate=False)
    city = seed_example_city(platform, people=args.people)
    with platform.deps.uow(readonly=True) as uow:  # people in no key group: pooled tubes
        ids = [r[0] for r in uow.conn.exec_driver_sql(  # type: ignore[attr-defined]
            "SELECT id FROM people WHERE groups = '' ORDER BY id")]
    codes = [platform.deps.codes.sign(p) for p in ids]
    platform.close()
    site = city.users["sampler"][1]  # the sampler's own site
    assert site is not None
    lab = city.labs["lab1"]

    c = Client(args.base, args.cafile)
    tube = round_through_nginx(c, site, lab, codes[:PER_TUBE])
    reports = reports_from_replica(c, args.replica_dsn)
    scans = scans_while_killing(c, site, codes[PER_TUBE:], args.kill_pid)

    answered = scans.pop("answered")
    with psycopg.connect(args.primary_dsn) as conn:
        stored = {r[0] for r in conn.execute(
            "SELECT event_id FROM station_events WHERE event_id = ANY(%s)",
            (list(answered),))}
    lost = set(answered) - stored
    check(not lost, f"{len(lost)} accepted scans are not in the database: {sorted(lost)[:5]}")
    print(json.dumps({"round_tube": tube, **reports, **scans, "lost": 0}))


if __name__ == "__main__":
    main()
