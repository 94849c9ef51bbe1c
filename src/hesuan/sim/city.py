"""The synthetic city (``hesuan city generate``): a population the size of the source city's six
urban districts, deterministic from a seed, written into an empty database.

What it makes: the plan (``city_plan``: regions down to grids inside the real district
boundaries, sampling sites each serving a block of grids of its community, first-landing points,
hospital sites and door-to-door teams, labs, couriers); the people (``population``: households,
valid synthetic ID numbers, names, phones, ages and groups); a venue and a highway checkpoint;
and a demo account for every role.

Scale: the layout is small; the people are planned as numpy arrays, turned into rows by worker
processes and streamed into the database through ``adapters.db.bulk``.

Imports: standard library, ``hesuan.bootstrap``, ``hesuan.adapters``, ``hesuan.services``,
``hesuan.domain``, ``hesuan.sim``.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hesuan.adapters.db import bulk
from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.domain.errors import InvalidInput, RuleViolation
from hesuan.domain.programme import check_open
from hesuan.domain.regions import Level
from hesuan.domain.sampling import SiteKind
from hesuan.services.fence import CheckpointKind
from hesuan.services.places import LabInput
from hesuan.sim.city_plan import CATCHMENT_KINDS, CityPlan, person_id, plan_city, stable_id
from hesuan.sim.example import DEMO_PASSWORD
from hesuan.sim.population import RowJob, household_homes, person_rows, plan_population

__all__ = ["CityExists", "CityReport", "check_password", "generate_city"]

OPERATOR = Principal(user_id="citygen", username="citygen", role=Role.ADMIN)


@dataclass(slots=True)
class CityReport:
    people: int
    households: int
    districts: int
    streets: int
    communities: int
    grids: int
    sites: int
    labs: int
    couriers: int
    users: dict[str, tuple[str, str | None]]
    seconds: float
    people_seconds: float

    @property
    def people_per_second(self) -> float:
        return self.people / self.people_seconds if self.people_seconds else 0.0


class CityExists(RuleViolation):
    """The database already holds people: generate a city only into an empty one."""

    default_code = "city_exists"


def check_password(environment: str, password: str) -> None:
    """Refuse the published demo password for a production city's accounts."""
    if environment == "production" and password == DEMO_PASSWORD:
        raise InvalidInput("the demo password is published: a production city's accounts need "
                           "another (--password)", code="demo_password", field="password")


def generate_city(platform: Platform, people: int, seed: int, *, workers: int | None = None,
                  chunk: int = 50_000, progress: Callable[[int, int], None] | None = None,
                  password: str = DEMO_PASSWORD) -> CityReport:
    """Make the city in the platform's (empty) database. ``progress(done, total)`` is called as
    people are stored. ``workers``: processes preparing rows (default: one per CPU; 0 or 1 runs
    in this process). The testing policies (DESIGN.md defaults) start at the platform clock's
    now: bootstrap with a ``FixedClock`` at the first round's start. ``password``: the demo
    accounts'; a production platform refuses the published demo password (``InvalidInput``),
    before anything is written."""
    global _FORK_JOB
    check_password(platform.settings.environment, password)
    started = time.perf_counter()
    if bulk.people_count(platform.engine):
        raise CityExists("the database already holds people; use --fresh to start anew")
    with platform.deps.uow(readonly=True) as uow:  # a closed programme takes no one again
        check_open(uow.programme.closed())
    plan = plan_city(people, seed)
    now = platform.deps.clock.now()
    platform.places.add_regions(OPERATOR, plan.regions)
    bulk.insert_sites(platform.engine, [
        {"id": s.id, "name": s.name, "kind": s.kind, "region_code": s.region_code, "lat": s.lat,
         "lng": s.lng, "opening_hours": s.opening_hours, "windows": s.windows, "status": "open",
         "created_at": now} for s in plan.sites])
    for lab in plan.labs:
        platform.places.add_lab(OPERATOR, LabInput(lab.name, lab.region_code,
                                                   lab.daily_capacity, id=lab.id))
    pop = plan_population(plan)
    n = pop.size
    job = RowJob(pop, platform.deps.vault, int(now.timestamp() * 1000),
                 None if platform.engine.dialect.name == "sqlite"
                 else platform.engine.url.render_as_string(hide_password=False))
    n_workers = (os.cpu_count() or 1) if workers is None else workers
    t_people = time.perf_counter()
    done = 0
    with bulk.BulkPeopleLoader(platform.engine) as loader:
        shard_dir = (Path(tempfile.mkdtemp(prefix="hesuan-city-",
                                           dir=_shard_parent(platform)))
                     if loader.sqlite else None)
        try:
            _FORK_JOB = job
            for count, shard in _run(_slices(n, chunk, shard_dir), n_workers):
                if shard is not None:
                    loader.load_shard(Path(shard))
                done += count
                if progress is not None:
                    progress(done, n)
            # the testing policies, assigned to everyone while the secondary indexes are still
            # off (their columns are what the assignment writes)
            platform.status.seed_defaults(OPERATOR, start=now)
        finally:
            _FORK_JOB = None
            if shard_dir is not None:
                shutil.rmtree(shard_dir, ignore_errors=True)
    bulk.insert_households(platform.engine, household_homes(plan, pop))
    people_seconds = time.perf_counter() - t_people
    users = _make_users(platform, plan, password, n)  # after the people: an account's scope
    with platform.deps.uow() as uow:
        uow.audit_log.append(platform.deps.clock.now(), OPERATOR.username, "city.generate",
                             "city", {"seed": seed, "people": n, "grids": len(plan.grids),
                                      "sites": len(plan.sites), "labs": len(plan.labs)})
        uow.commit()
    levels = [r.level for r in plan.regions]
    return CityReport(
        people=n, households=int(pop.household[-1]) + 1 if n else 0,
        districts=levels.count(Level.DISTRICT), streets=levels.count(Level.STREET),
        communities=levels.count(Level.COMMUNITY), grids=levels.count(Level.GRID),
        sites=len(plan.sites), labs=len(plan.labs), couriers=plan.couriers, users=users,
        seconds=time.perf_counter() - started, people_seconds=people_seconds)


#: The job of a forked worker process (set in the parent just before the pool forks).
_FORK_JOB: RowJob | None = None


def _write_slice(task: tuple[int, int, str | None]) -> tuple[int, str | None]:
    lo, hi, shard = task
    job = _FORK_JOB
    assert job is not None
    rows = person_rows(job, lo, hi)
    if shard is None:
        assert job.pg_url is not None
        bulk.copy_people_pg(job.pg_url, rows)
        return len(rows), None
    w = bulk.ShardWriter(Path(shard))
    w.write(rows)
    w.close()
    return len(rows), shard


def _slices(n: int, chunk: int, shard_dir: Path | None) -> list[tuple[int, int, str | None]]:
    return [(lo, min(n, lo + chunk),
             None if shard_dir is None else str(shard_dir / f"people-{lo:09d}.db"))
            for lo in range(0, n, chunk)]


def _shard_parent(platform: Platform) -> str | None:
    db = platform.engine.url.database
    return str(Path(db).resolve().parent) if db and db != ":memory:" else None


def _run(tasks: list[tuple[int, int, str | None]],
         workers: int) -> Iterator[tuple[int, str | None]]:
    if workers <= 1 or len(tasks) <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        for t in tasks:
            yield _write_slice(t)
        return
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(min(workers, len(tasks))) as pool:
        yield from pool.imap(_write_slice, tasks)


def _make_users(platform: Platform, plan: CityPlan, password: str,
                people: int) -> dict[str, tuple[str, str | None]]:
    """A demo account for every role (all with ``password``; the resident's in a city of
    ``people`` who are more than none), plus the couriers."""
    routine = next(s for s in plan.sites if s.kind in CATCHMENT_KINDS)
    landing = next(s for s in plan.sites if s.kind == SiteKind.FIRST_LANDING.value)
    venue_id = platform.venues.register(OPERATOR, f"CS-{routine.region_code[:6]}-0001",
                                        "柳巷商业街（演示场所）", routine.region_code)
    # the district's highway exit (交通卡口): its device's scans go to the fence rules
    checkpoint_id = platform.fence.add_checkpoint(
        OPERATOR, f"GS-{routine.region_code[:6]}-01", "高速出口（演示卡口）",
        CheckpointKind.HIGHWAY, routine.region_code[:6])
    accounts: dict[str, tuple[Role, str | None]] = {
        "admin": (Role.ADMIN, None),
        "officer": (Role.HEALTH_OFFICER, "1401"),
        "officer_xiaodian": (Role.HEALTH_OFFICER, "140105"),
        "sitelead": (Role.SITE_LEAD, routine.id),
        "sampler": (Role.SAMPLER, routine.id),
        "landing": (Role.SAMPLER, landing.id),
        "courier": (Role.COURIER, None),
        "lab": (Role.LAB, plan.labs[0].id),
        "grid": (Role.GRID_WORKER, plan.grids[0].code),
        "venue": (Role.VENUE, venue_id),
        "checkpoint": (Role.VENUE, checkpoint_id),  # the checkpoint's scanning device
        "province": (Role.PROVINCE, None),  # the provincial view's feed: daily aggregates
    }
    if people:
        accounts["resident"] = (Role.RESIDENT, person_id(plan.seed, 0))
    for username, (role, scope) in accounts.items():
        platform.auth.create_user(OPERATOR, username, password, role, scope)
    # the courier fleet shares one password hash (one argon2 run, not hundreds)
    now = platform.deps.clock.now()
    shared = platform.deps.passwords.hash(password)
    bulk.insert_users(platform.engine, [
        {"id": stable_id(plan.seed, f"courier:{i}"), "username": f"courier{i + 1:03d}",
         "password_hash": shared, "role": Role.COURIER.value, "scope": None, "active": True,
         "created_at": now} for i in range(plan.couriers)])
    return {u: (r.value, s) for u, (r, s) in accounts.items()}
