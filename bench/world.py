"""Bench set-up (never measured): a fresh database per backend holding a synthetic city of N
people (``hesuan.sim.city.generate_city``: real districts, households, key groups), plus a
bench lab, bench sampling sites with one sampler each, two lab users and a courier; the station
event streams the HTTP benchmarks send; and the "received by the lab" state of a testing round
that the result fan-out starts from.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, make_url, select, text

from hesuan.adapters.db.bulk import read_roster
from hesuan.adapters.db.schema import sites as sites_table
from hesuan.bootstrap import Platform, bootstrap, new_id
from hesuan.config import Settings
from hesuan.domain.access import Principal, Role
from hesuan.domain.event_ids import RANDOM_BITS, time_ordered_id
from hesuan.domain.people import SINGLE_TUBE_GROUPS
from hesuan.domain.sampling import SiteKind, make_box_code, make_tube_barcode
from hesuan.services.places import LabInput, SiteInput
from hesuan.sim.city import generate_city
from hesuan.sim.example import OPERATOR

__all__ = ["PASSWORD", "SECRET", "TUBES_PER_BOX", "TUBE_SIZE", "World", "fresh_database_url"]

SECRET = "hesuan-bench-secret"
PASSWORD = "bench-password-2022"
CITY_SEED = 20220829
TUBE_SIZE = 10  # 10-in-1 pools (10混1)
TUBES_PER_BOX = 80
_KEY_GROUPS = frozenset(g.value for g in SINGLE_TUBE_GROUPS)


def fresh_database_url(backend: str, workdir: Path, pg_url: str) -> str:
    """An empty database for the bench: a new SQLite file, or the PostgreSQL database named in
    ``pg_url`` dropped and created again (its name must contain "bench", so the test
    database of the other suites is never touched)."""
    if backend == "sqlite":
        db = workdir / "hesuan_bench.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{db}"
    url = make_url(pg_url)
    name = url.database or ""
    if "bench" not in name:
        raise SystemExit(f"refusing to recreate PostgreSQL database {name!r}: the bench only "
                         f"drops databases whose name contains 'bench'")
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.render_as_string(hide_password=False)


@dataclass
class World:
    """The seeded platform of one backend and the counters that keep bench data unique."""

    backend: str
    database_url: str
    workdir: Path
    platform: Platform
    lab_id: str
    sites: list[str]
    users: dict[str, Principal]  # bench-sampler-K (site K), bench-lab, bench-reviewer, ...
    people: list[str]  # person ids (the city's roster)
    poolable: list[int]  # indexes of people who may go into pooled tubes (no key group)
    _codes: dict[int, str] = field(default_factory=dict)
    _next_person: int = 0
    _next_tube: int = 0
    _next_box: int = 0
    setup_s: dict[str, float] = field(default_factory=dict)
    #: How the bench's stations make event ids: "v7" (time-ordered, as ours do) or "v4"
    event_ids: str = "v7"

    # -- creation --------------------------------------------------------------------------

    @classmethod
    def create(cls, backend: str, database_url: str, workdir: Path, people: int,
               sites: int, log: Any = print) -> World:
        settings = Settings(database_url=database_url, secret_key=SECRET,
                            environment="development", key_file=workdir / "secret.key",
                            pass_key_dir=workdir / "keys",
                            sms_file=workdir / "sms.jsonl")
        t0 = time.perf_counter()
        platform = bootstrap(settings, migrate=True, fast_passwords=True)
        report = generate_city(platform, people, CITY_SEED)
        t1 = time.perf_counter()
        with platform.engine.connect() as c:
            regions = [r[0] for r in c.execute(
                select(sites_table.c.region_code).order_by(sites_table.c.id).limit(sites))]
        lab_id = platform.places.add_lab(OPERATOR, LabInput("基准测试实验室", "1401", 2_000_000))
        site_ids = [platform.places.add_site(OPERATOR, SiteInput(
            name=f"基准采样点{k + 1}", kind=SiteKind.FIXED, region_code=regions[k % len(regions)],
            windows=8, opening_hours="00:00-24:00")) for k in range(sites)]
        users: dict[str, Principal] = {}
        for k, sid in enumerate(site_ids):
            name = f"bench-sampler-{k + 1}"
            uid = platform.auth.create_user(OPERATOR, name, PASSWORD, Role.SAMPLER, sid)
            users[name] = Principal(uid, name, Role.SAMPLER, sid)
        # the lab's two users: the one who builds plates and imports runs, the one who
        # reviews and releases them (two-person release)
        for name in ("bench-lab", "bench-reviewer"):
            uid = platform.auth.create_user(OPERATOR, name, PASSWORD, Role.LAB, lab_id)
            users[name] = Principal(uid, name, Role.LAB, lab_id)
        uid = platform.auth.create_user(OPERATOR, "bench-courier", PASSWORD, Role.COURIER)
        users["bench-courier"] = Principal(uid, "bench-courier", Role.COURIER)
        _analyze(platform)
        roster = read_roster(platform.engine)
        ids = [r[0] for r in roster]
        poolable = [i for i, r in enumerate(roster)
                    if not (set(r[3].split(",")) & _KEY_GROUPS)]
        w = cls(backend, database_url, workdir, platform, lab_id, site_ids, users, ids, poolable)
        w.setup_s = {"city_s": round(t1 - t0, 1), "people": report.people,
                     "city_people_per_s": round(report.people_per_second)}
        log(f"{backend}: city of {report.people:,} people in {t1 - t0:.1f} s "
            f"({len(poolable):,} poolable, {report.people - len(poolable):,} key groups)")
        return w

    def close(self) -> None:
        self.platform.close()

    # -- allocation ------------------------------------------------------------------------

    def take_people(self, n: int) -> list[int]:
        """Indexes of the next ``n`` poolable people (wrapping around the population)."""
        out = [self.poolable[(self._next_person + i) % len(self.poolable)] for i in range(n)]
        self._next_person += n
        return out

    def code(self, idx: int) -> str:
        """The sampling-code token of person ``idx`` (what the window scans)."""
        c = self._codes.get(idx)
        if c is None:
            c = self._codes[idx] = self.platform.deps.codes.sign(self.people[idx])
        return c

    def tube_barcode(self) -> str:
        self._next_tube += 1
        return make_tube_barcode(9_000_000_000 + self._next_tube)  # clear of the city's

    def box_code(self) -> str:
        self._next_box += 1
        return make_box_code(900_000_000 + self._next_box)

    def vacuum(self) -> None:
        _analyze(self.platform)

    def sampler(self, k: int) -> Principal:
        return self.users[f"bench-sampler-{k + 1}"]

    # -- station event streams -------------------------------------------------------------

    def station_stream(self, site_id: str, people: list[int], *, boxed: bool,
                       start: datetime | None = None) -> Iterator[dict[str, Any]]:
        """What one station sends: for each tube ``open_tube``, ten ``sample`` scans (the tube
        seals itself when full), then ``box_tube``; every 80 tubes ``seal_box``.
        With ``boxed=False`` the tubes are only opened and filled (window scans)."""
        at = start or datetime.now(UTC) - timedelta(minutes=5)
        step = timedelta(milliseconds=1)
        box: str | None = None
        in_box = 0
        for first in range(0, len(people) - len(people) % TUBE_SIZE, TUBE_SIZE):
            barcode = self.tube_barcode()
            yield _ev(self.event_ids, "open_tube", site_id, at, barcode=barcode,
                      mode=TUBE_SIZE, window=1)
            for idx in people[first:first + TUBE_SIZE]:
                at += step
                yield _ev(self.event_ids, "sample", site_id, at, barcode=barcode,
                          code=self.code(idx))
            if boxed:
                if box is None:
                    box, in_box = self.box_code(), 0
                yield _ev(self.event_ids, "box_tube", site_id, at, barcode=barcode, box_code=box)
                in_box += 1
                if in_box == TUBES_PER_BOX:
                    yield _ev(self.event_ids, "seal_box", site_id, at, box_code=box)
                    box = None
        if boxed and box is not None:
            yield _ev(self.event_ids, "seal_box", site_id, at, box_code=box)

    # -- a testing round, received by the lab (fan-out set-up) -----------------------------

    def received_round(self) -> tuple[list[str], int]:
        """Everyone sampled (10-in-1, key groups single and priority), tubes sealed, boxed,
        handed over and received by the bench lab: the state a lab's results file meets.
        Written with bulk SQL (the same rows the station, courier and lab calls write, with
        ids made as they make them: time-led tube and box ids, time-ordered event ids;
        sampling 1 M people through the services would take the bench most of an hour).
        Returns the tube barcodes and the number of people."""
        now = datetime.now(UTC)
        ms = int(now.timestamp() * 1000)
        sampled, sealed, received = ms - 3_600_000, ms - 3_000_000, ms - 600_000
        site, sampler = self.sites[0], self.sampler(0).user_id
        courier = self.users["bench-courier"].user_id
        pools = [self.poolable[i:i + TUBE_SIZE] for i in range(0, len(self.poolable), TUBE_SIZE)]
        pooled = set(self.poolable)
        singles = [[i] for i in range(len(self.people)) if i not in pooled]
        tube_rows: list[tuple[object, ...]] = []
        sample_rows: list[tuple[str, str, str, int]] = []
        box_rows: list[list[Any]] = []
        barcodes: list[str] = []
        box_id, in_box = "", TUBES_PER_BOX
        for members in pools + singles:
            if in_box == TUBES_PER_BOX:
                box_id, in_box = new_id(), 0
                box_rows.append([box_id, self.box_code(), site, "received", sampled, sealed, 0,
                                 sealed, courier, sealed, self.lab_id, received, 0, False])
            in_box += 1
            box_rows[-1][6] += 1
            box_rows[-1][12] += 1
            tid, barcode = new_id(), self.tube_barcode()
            barcodes.append(barcode)
            single = len(members) == 1
            tube_rows.append((tid, barcode, site, 1, 1 if single else TUBE_SIZE, len(members),
                              single, "received", sampled, sampler, sampled, sealed, box_id,
                              self.lab_id, received))
            sample_rows.extend((tid, self.people[i], _ms_id(sampled + k), sampled + k)
                               for k, i in enumerate(members))
        c = self.platform.engine.connect()
        try:
            with c.begin():
                _many(c, "boxes (id, code, site_id, status, opened_at, sealed_at, tube_count, "
                      "first_tube_sealed_at, courier_id, handed_over_at, lab_id, received_at, "
                      "received_count, discrepancy)", [tuple(r) for r in box_rows])
                _many(c, "tubes (id, barcode, site_id, \"window\", capacity, count, priority, "
                      "status, opened_at, opened_by, first_sampled_at, sealed_at, box_id, "
                      "lab_id, received_at)", tube_rows)
                _many(c, "samples (tube_id, person_id, event_id, sampled_at)", sample_rows)
                c.execute(text(
                    "WITH s AS MATERIALIZED (SELECT s.person_id, s.tube_id, s.sampled_at "
                    "FROM tubes t CROSS JOIN samples s WHERE t.lab_id = :lab "
                    "AND t.status = 'received' AND s.tube_id = t.id) "
                    "UPDATE person_status SET last_sampled_at = s.sampled_at, "
                    "last_tube_id = s.tube_id, updated_at = :now, test_state = CASE WHEN "
                    "person_status.test_state IN ('none', 'negative', 'sampled') THEN 'sampled' "
                    "ELSE person_status.test_state END FROM s "
                    "WHERE person_status.person_id = s.person_id"),
                    {"now": ms, "lab": self.lab_id})
        finally:
            c.close()
        _analyze(self.platform)
        return barcodes, len(sample_rows)


def _analyze(platform: Platform) -> None:
    """PostgreSQL: ``VACUUM ANALYZE`` after a bulk load — what autovacuum does in production,
    and this machine's server runs with ``autovacuum = off`` (CI settings): without it every
    fan-out round leaves millions of dead status rows and the next round measures the bloat.
    (SQLite: nothing; the platform never runs ANALYZE there.)"""
    if platform.engine.dialect.name == "postgresql":
        with platform.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM ANALYZE")


def _many(conn: Any, target: str, rows: list[tuple[Any, ...]]) -> None:
    """Plain driver ``executemany`` in chunks (set-up only)."""
    n = target.count(",") + 1
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {target} VALUES ({', '.join([mark] * n)})"
    for i in range(0, len(rows), 50_000):
        conn.exec_driver_sql(sql, rows[i:i + 50_000])


def _ms_id(ms: int) -> str:
    """A station's time-ordered event id for an event at ``ms`` (epoch milliseconds)."""
    return time_ordered_id(datetime.fromtimestamp(ms / 1000, UTC), secrets.randbits(RANDOM_BITS))


def _ev(ids: str, kind: str, site_id: str, at: datetime, **extra: Any) -> dict[str, Any]:
    # the id a station makes as the event happens: time-ordered (``hesuan.domain.event_ids``),
    # or random (UUIDv4), which any station may send and which costs the server more
    eid = (time_ordered_id(at, secrets.randbits(RANDOM_BITS)) if ids == "v7"
           else str(uuid.uuid4()))
    return {"event_id": eid, "kind": kind, "site_id": site_id,
            "at": at.isoformat()} | extra
