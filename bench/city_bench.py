"""City scale, as an operator runs it: ``python -m bench.city_bench --people N
[--backend sqlite|postgres] [--round-hours H] [--requests R]``.

Each step is the real command in its own process (``hesuan city generate``, ``hesuan simulate``,
``hesuan serve``), timed on the wall clock, while a sampler thread reads the resident set size
of the step's whole process tree from ``/proc`` every 0.2 s and keeps each process's peak:

1. **generate** the synthetic city (issue 3 floor: 5.4 M people stored in ≤ 3 min on SQLite);
2. **round** (with ``--round-hours``): a simulated testing round through the real services,
   ``--tick 60`` as the demo runs it; on a PostgreSQL server with autovacuum off (this
   machine's), ``bench/autovacuum.py`` does its work meanwhile;
3. **snapshot**: the coverage snapshot (``hesuan roster snapshot``), what the scheduler inside
   ``serve`` keeps fresh;
4. **serve**: the server on the city, signed in as the demo officer, admin, resident and
   venue; ``--requests`` requests to each of the heavy read paths (the command centre and its
   JSON, coverage by district, the coverage roster, turnaround and reconciliation reports, a
   person's status, a pass issued and checked); server time per request, and the server's
   peak RSS over all of it (issue 3 floor: ≤ 500 MB serving a 5.4 M-person city: nothing loads
   the population into memory).

Results: ``bench/results/city-<people>-<backend>.json`` and a table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict

import httpx

from bench.autovacuum import AutovacuumStandIn, server_autovacuum_on
from bench.machine import describe
from bench.server import Server, process_tree
from bench.world import fresh_database_url

ROOT = Path(__file__).resolve().parents[1]
HESUAN = [sys.executable, "-c", "from hesuan.entrypoints.cli import main; main()"]
PASSWORD = "hesuan-demo-2022"  # the synthetic city's demo accounts (hesuan.sim.example)
RSS_FLOOR_MB = 500.0
GENERATE_FLOOR_S = 180.0
SECRET = "hesuan-city-bench"


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Peaks(TypedDict):
    """The largest resident memory seen: the main process's, its children's largest (None
    without children), and how many processes were seen."""

    main_peak_rss_mb: float
    children_peak_rss_mb: float | None
    processes: int


class RssSampler:
    """Peak RSS of every process in a tree, sampled every ``every`` seconds."""

    def __init__(self, root: int, every: float = 0.2) -> None:
        self.root = root
        self.peaks: dict[int, float] = {}
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in process_tree(self.root):
                self.peaks[pid] = max(self.peaks.get(pid, 0.0), _rss_mb(pid))
            self._stop.wait(self._every)

    def stop(self) -> Peaks:
        self._stop.set()
        self._thread.join()
        others = [v for pid, v in self.peaks.items() if pid != self.root]
        return {"main_peak_rss_mb": round(self.peaks.get(self.root, 0.0), 1),
                "children_peak_rss_mb": round(max(others), 1) if others else None,
                "processes": len(self.peaks)}


def _step(args: list[str], env: dict[str, str], log: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    with log.open("ab") as out:
        proc = subprocess.Popen([*HESUAN, *args], env=env, stdout=out, stderr=subprocess.STDOUT,
                                cwd=ROOT)
        sampler = RssSampler(proc.pid)
        code = proc.wait()
    rss = sampler.stop()
    # a failed step keeps its figures (the simulator exits 1 when reconciliation finds more
    # than the injected faults, after hours of a 5.4 M round); the caller decides what next
    return {"wall_s": round(time.perf_counter() - t0, 1), "exit_code": code} | rss


class StepFailed(RuntimeError):
    """A step exited non-zero; the results file was written with what was measured."""


def _serve(url: str, work: Path, requests: int) -> dict[str, Any]:
    with Server(url, SECRET, work) as srv:
        sampler = RssSampler(srv.pid)
        base = f"http://127.0.0.1:{srv.port}"
        idle_mb = _rss_mb(srv.pid)
        timings: dict[str, list[float]] = {}
        with httpx.Client(base_url=base, timeout=600) as api:
            def token(user: str) -> dict[str, str]:
                return {"Authorization": f"Bearer {srv.login(user, PASSWORD)}"}

            officer, admin, resident = token("officer"), token("admin"), token("resident")
            venue = token("venue")
            me = api.get("/me/status", headers=resident)
            me.raise_for_status()
            person = me.json()["person_id"]
            # the web cookies are Secure, which httpx keeps off plain http: carry them by hand
            page = httpx.get(f"{base}/web/login")
            form = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert form is not None, "no CSRF token on the login page"
            login = httpx.post(f"{base}/web/login", cookies=dict(page.cookies),
                               data={"username": "officer", "password": PASSWORD,
                                     "csrf": form.group(1), "next": ""})
            if login.status_code != 303:
                raise RuntimeError(f"web login: HTTP {login.status_code} {login.text[:300]}")
            web = httpx.Client(base_url=base, timeout=600, cookies=dict(login.cookies))

            rss_after: dict[str, float] = {}

            def timed(name: str, call: Any) -> None:
                for _ in range(requests):
                    t = time.perf_counter()
                    r = call()
                    if r.status_code != 200:
                        raise RuntimeError(f"{name}: HTTP {r.status_code} {r.text[:300]}")
                    timings.setdefault(name, []).append(1000 * (time.perf_counter() - t))
                rss_after[name] = round(_rss_mb(srv.pid), 1)

            timed("GET /web/dashboard (command centre)", lambda: web.get("/web/dashboard"))
            timed("GET /web/dashboard.json", lambda: web.get("/web/dashboard.json"))
            timed("GET /rosters/coverage?level=district",
                  lambda: api.get("/rosters/coverage", params={"level": "district"},
                                  headers=officer))
            timed("GET /web/area (officer, city)", lambda: web.get("/web/area"))
            timed("GET /reports/turnaround", lambda: api.get("/reports/turnaround",
                                                             headers=officer))
            timed("GET /reports/reconcile", lambda: api.get("/reports/reconcile",
                                                            headers=admin))
            timed("GET /people/{id}/status", lambda: api.get(f"/people/{person}/status",
                                                             headers=officer))
            issued = api.post(f"/people/{person}/pass", headers=resident)
            issued.raise_for_status()
            text = issued.json()["pass"]
            timed("POST /verify", lambda: api.post("/verify", json={"pass": text},
                                                  headers=venue))
            web.close()
        peak = sampler.stop()
        return {"idle_rss_mb": round(idle_mb, 1), "peak_rss_mb": peak["main_peak_rss_mb"],
                "rss_floor_mb": RSS_FLOOR_MB, "meets_rss_floor": peak["main_peak_rss_mb"]
                <= RSS_FLOOR_MB,
                "requests_ms": {k: {"median": round(statistics.median(v), 1),
                                    "max": round(max(v), 1), "n": len(v),
                                    "rss_after_mb": rss_after[k]}
                                for k, v in timings.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--people", type=int, default=1_000_000)
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/"
                                        "hesuan_bench_city")
    ap.add_argument("--round-hours", type=float, default=0.0,
                    help="simulated hours of a testing round after generating (0: none)")
    ap.add_argument("--requests", type=int, default=3, help="requests per read path")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--serve-only", action="store_true",
                    help="reuse the city already in --workdir (SQLite) and only measure serving")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results",
                    help="directory for city-<people>-<backend>.json")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="hesuan-city-bench-",
                                                 dir=ROOT / "var" if (ROOT / "var").is_dir()
                                                 else None))
    work = work.resolve()  # the server runs elsewhere: a relative SQLite path would miss
    work.mkdir(parents=True, exist_ok=True)
    path = args.out / f"city-{args.people}-{args.backend}.json"
    if args.serve_only:
        url = (f"sqlite:///{work / 'hesuan_bench.db'}" if args.backend == "sqlite"
               else args.pg_url)
    else:
        url = fresh_database_url(args.backend, work, args.pg_url)
    env = os.environ.copy() | {
        "HESUAN_DATABASE_URL": url, "HESUAN_SECRET_KEY": SECRET,
        "HESUAN_ENVIRONMENT": "development", "HESUAN_KEY_FILE": str(work / "secret.key"),
        "HESUAN_PASS_KEY_DIR": str(work / "keys"), "HESUAN_SMS_SENDER": "file",
        "HESUAN_SMS_FILE": str(work / "sms.jsonl")}
    start = (datetime.now(UTC) - timedelta(hours=max(args.round_hours, 24) + 24)).replace(
        minute=0, second=0, microsecond=0)
    log = work / "city-bench.log"
    result: dict[str, Any] = {"people": args.people, "backend": args.backend,
                              "machine": describe(url if args.backend == "postgres" else None),
                              "started_at": datetime.now(UTC).isoformat(timespec="seconds")}
    if args.serve_only and path.exists():  # keep the figures of the steps not re-run
        result = json.loads(path.read_text()) | result
    if not args.serve_only:
        print(f"generating {args.people:,} people ({args.backend}) ...", flush=True)
        gen = _step(["city", "generate", "--people", str(args.people), "--seed", "1",
                     "--start", start.isoformat()], env, log)
        if gen["exit_code"] != 0:
            raise StepFailed(f"hesuan city generate exited {gen['exit_code']}; see {log}")
        gen["people_per_s"] = round(args.people / gen["wall_s"])
        gen["floor_s"] = GENERATE_FLOOR_S
        gen["meets_floor"] = gen["wall_s"] <= GENERATE_FLOOR_S
        result["generate"] = gen
        print(f"  {gen}", flush=True)
    if args.round_hours and not args.serve_only:
        print(f"simulating a {args.round_hours:g} h round ...", flush=True)
        # what a production server's autovacuum would do meanwhile (bench/autovacuum.py)
        standin = (AutovacuumStandIn(url, log=lambda m: print(m, flush=True))
                   if args.backend == "postgres" and not server_autovacuum_on(url) else None)
        if standin is not None:
            standin.start()
        try:
            result["round"] = _step(["simulate", "--start", start.isoformat(), "--hours",
                                     str(args.round_hours), "--tick", "60", "--seed", "1"],
                                    env, log) | {"hours": args.round_hours}
        finally:
            if standin is not None:
                standin.stop()
        if standin is not None:
            result["round"]["autovacuum_stand_in"] = standin.passes
        print(f"  {result['round']}", flush=True)
        if result["round"]["exit_code"] != 0:
            _write(args.out, path, result)
            raise StepFailed(f"hesuan simulate exited {result['round']['exit_code']} (its "
                             f"summary and reconciliation are in {log}); wrote {path}")
    # the scheduler inside `serve` keeps the coverage snapshot fresh every few minutes; the
    # bench turns the scheduler off, so it takes the snapshot itself, as an operator can
    print("coverage snapshot ...", flush=True)
    result["roster_snapshot"] = _step(["roster", "snapshot"], env, log)
    if result["roster_snapshot"]["exit_code"] != 0:
        raise StepFailed(f"hesuan roster snapshot exited "
                         f"{result['roster_snapshot']['exit_code']}; see {log}")
    print(f"  {result['roster_snapshot']}", flush=True)
    print("serving ...", flush=True)
    result["serve"] = _serve(url, work, args.requests)
    print(json.dumps(result["serve"], indent=2), flush=True)
    _write(args.out, path, result)


def _write(out: Path, path: Path, result: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
