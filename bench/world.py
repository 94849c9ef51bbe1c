"""Bench set-up (never measured): a fresh database per backend, the example city's regions, one
lab, bench sites with a sampler each, a courier, and N people; and the station event streams the
benchmarks send.

People are prepared the way ``PeopleService`` prepares them (valid resident ID numbers, the
vault's encryption and lookup hashes, masked names) and written with the store's
``insert_people`` in chunks, which is much faster than going through the import validation.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, make_url, text

from hesuan.bootstrap import Platform, bootstrap
from hesuan.config import Settings
from hesuan.domain.access import Principal, Role
from hesuan.domain.people import mask_name
from hesuan.domain.sampling import SiteKind, make_box_code, make_tube_barcode
from hesuan.services.places import LabInput, SiteInput
from hesuan.services.ports import NewPerson
from hesuan.sim.example import OPERATOR, make_name, make_resident_id, seed_regions

__all__ = ["PASSWORD", "SECRET", "World", "fresh_database_url"]

SECRET = "hesuan-bench-secret"
PASSWORD = "bench-password-2022"
TUBE_SIZE = 10  # 10-in-1 pools (10混1)
TUBES_PER_BOX = 80


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
    users: dict[str, Principal]  # bench-sampler-K (site K), bench-lab, bench-courier
    people: list[str]  # person ids, in insertion order
    codes: list[str]  # sampling-code token per person (same order)
    _next_person: int = 0
    _next_tube: int = 1
    _next_box: int = 1
    setup_s: dict[str, float] = field(default_factory=dict)

    # -- creation --------------------------------------------------------------------------

    @classmethod
    def create(cls, backend: str, database_url: str, workdir: Path, people: int,
               sites: int, log: Any = print) -> World:
        import time

        settings = Settings(database_url=database_url, secret_key=SECRET,
                            environment="development", key_file=workdir / "secret.key",
                            sms_file=workdir / "sms.jsonl")
        t0 = time.perf_counter()
        platform = bootstrap(settings, migrate=True, fast_passwords=True)
        grids = seed_regions(platform)
        lab_id = platform.places.add_lab(OPERATOR, LabInput("基准测试实验室", "1401", 2_000_000))
        site_ids = [platform.places.add_site(OPERATOR, SiteInput(
            name=f"基准采样点{k + 1}", kind=SiteKind.FIXED, region_code=grids[k % len(grids)][:9],
            windows=8, opening_hours="00:00-24:00")) for k in range(sites)]
        users: dict[str, Principal] = {}
        for k, sid in enumerate(site_ids):
            name = f"bench-sampler-{k + 1}"
            uid = platform.auth.create_user(OPERATOR, name, PASSWORD, Role.SAMPLER, sid)
            users[name] = Principal(uid, name, Role.SAMPLER, sid)
        uid = platform.auth.create_user(OPERATOR, "bench-lab", PASSWORD, Role.LAB, lab_id)
        users["bench-lab"] = Principal(uid, "bench-lab", Role.LAB, lab_id)
        uid = platform.auth.create_user(OPERATOR, "bench-courier", PASSWORD, Role.COURIER)
        users["bench-courier"] = Principal(uid, "bench-courier", Role.COURIER)
        t1 = time.perf_counter()
        ids = _insert_people(platform, grids, people, log)
        t2 = time.perf_counter()
        codes = [platform.deps.codes.sign(pid) for pid in ids]
        w = cls(backend, database_url, workdir, platform, lab_id, site_ids, users, ids, codes)
        w.setup_s = {"seed_city_s": round(t1 - t0, 2), "insert_people_s": round(t2 - t1, 2),
                     "people_per_s": round(people / (t2 - t1)) if people else 0}
        return w

    def close(self) -> None:
        self.platform.close()

    # -- allocation ------------------------------------------------------------------------

    def take_people(self, n: int) -> list[int]:
        """Indexes of the next ``n`` people (wrapping around the population)."""
        out = [(self._next_person + i) % len(self.people) for i in range(n)]
        self._next_person += n
        return out

    def tube_barcode(self) -> str:
        self._next_tube += 1
        return make_tube_barcode(self._next_tube)

    def box_code(self) -> str:
        self._next_box += 1
        return make_box_code(self._next_box)

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
            yield _ev("open_tube", site_id, at, barcode=barcode, mode=TUBE_SIZE, window=1)
            for idx in people[first:first + TUBE_SIZE]:
                at += step
                yield _ev("sample", site_id, at, barcode=barcode, code=self.codes[idx])
            if boxed:
                if box is None:
                    box, in_box = self.box_code(), 0
                yield _ev("box_tube", site_id, at, barcode=barcode, box_code=box)
                in_box += 1
                if in_box == TUBES_PER_BOX:
                    yield _ev("seal_box", site_id, at, box_code=box)
                    box = None
        if boxed and box is not None:
            yield _ev("seal_box", site_id, at, box_code=box)


def _ev(kind: str, site_id: str, at: datetime, **extra: Any) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "kind": kind, "site_id": site_id,
            "at": at.isoformat()} | extra


def _insert_people(platform: Platform, grids: list[str], n: int, log: Any) -> list[str]:
    """N synthetic residents with valid, unique ID numbers, written in chunks."""
    vault, new_id = platform.deps.vault, platform.deps.new_id
    rng = random.Random(20220829)
    names = [make_name(rng) for _ in range(997)]
    ids: list[str] = []
    chunk: list[NewPerson] = []
    base = date(1950, 1, 1)
    now = datetime.now(UTC)

    def flush() -> None:
        with platform.deps.uow() as uow:
            uow.insert_people(chunk, now)
            uow.commit()
        chunk.clear()

    for i in range(n):
        grid = grids[i % len(grids)]
        born = base + timedelta(days=i // 1000)  # (birth date, serial) is unique per person
        id_number = make_resident_id(grid[:6], born, i % 1000)
        name = names[i % len(names)]
        phone = f"13{i:09d}"
        pid = new_id()
        ids.append(pid)
        chunk.append(NewPerson(
            id=pid, id_kind="resident", id_hash=vault.lookup_hash(f"resident:{id_number}"),
            id_enc=vault.encrypt(id_number), id_last4=id_number[-4:], name_enc=vault.encrypt(name),
            name_masked=mask_name(name), phone_enc=vault.encrypt(phone),
            phone_hash=vault.lookup_hash(f"phone:{phone}"), grid_code=grid,
            household_id=f"{grid}{i // 3:06d}"[:32], address=f"{1 + i % 12}号楼{1 + i % 3}单元",
            groups="", birth_year=born.year, language="zh"))
        if len(chunk) >= 10_000:
            flush()
            if (i + 1) % 200_000 == 0:
                log(f"    {i + 1:,} people")
    if chunk:
        flush()
    return ids
