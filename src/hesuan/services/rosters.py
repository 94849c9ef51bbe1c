"""Grid rosters (F11 应检尽检、不漏一人): the grid worker's list and the coverage roll-up.

* **Coverage** (``coverage``) is the analytics report's (``AnalyticsService.coverage``: due,
  sampled, exempt, outstanding and coverage by district, street, community and grid; people, not
  tubes). For the current round it is served from a *snapshot* of per-grid counts, refreshed
  set-based in the background (``refresh_snapshot``, by the scheduler), so that a city-wide
  roll-up reads a few thousand grid rows instead of joining millions of people; any other round,
  or ``live=True``, is counted live.
* **Lists** (``people``): for a grid (the grid worker's own) or any area an officer covers, the
  people due, sampled, exempt or outstanding in the round, with masked names, addresses to the
  building/unit, the masked phone and the last one-tap outcome. The phone is revealed on demand
  (``reveal_phone``), and that read is audited.
* **Outcomes** (``record_outcome``): reached / refused / away / needs door-to-door.
* **Excel** (``export_xlsx``): the roll-up and the outstanding list, for the grid worker to print.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from hesuan.domain.access import Action, Principal, area_for, authorize
from hesuan.domain.errors import InvalidInput
from hesuan.domain.instants import iso_utc
from hesuan.domain.people import mask_phone
from hesuan.domain.regions import Level
from hesuan.domain.rosters import (
    NAME_SEARCH_LIMIT,
    PAGE_SIZE,
    ROSTER_LISTS,
    Counts,
    Outcome,
    classify,
    name_key,
    roster_query,
)
from hesuan.services.analytics import ROUND_WINDOW, AnalyticsService, Coverage
from hesuan.services.analytics_ports import CoverageCounts, PositivePool, RoutinePoolCount
from hesuan.services.context import Deps
from hesuan.services.ports import UnitOfWorkFactory
from hesuan.services.rosters_ports import RosterOutcomeRow, RosterPerson
from hesuan.services.targets import no_such_person, person_target

__all__ = ["CoverageSnapshot", "RosterEntry", "RosterPage", "RosterService"]

#: A snapshot older than this is not served (the live count is).
SNAPSHOT_MAX_AGE = timedelta(minutes=30)
#: How often the scheduler refreshes it.
SNAPSHOT_REFRESH = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class RosterEntry:
    """A person on the grid worker's list: masked name and phone, address to the building or
    unit, household, their class in the round (``RosterClass``: sampled, exempt, outstanding),
    last sample, exemption, colour, zone and the last one-tap outcome."""

    person_id: str
    name: str
    grid_code: str
    household_id: str | None
    address: str | None
    phone: str | None
    roster_class: str
    last_sampled_at: datetime | None
    exempt_until: datetime | None
    exempt_reason: str | None
    colour: str
    zone_kind: str | None
    outcome: str | None
    outcome_at: datetime | None


@dataclass(frozen=True, slots=True)
class RosterPage:
    """A page of a list (``which``: a class, ``due`` for everyone, ``found`` for a search) of
    an area for the round ``(since, as_of]``."""

    region: str
    which: str
    since: datetime
    as_of: datetime
    count: int
    offset: int
    people: list[RosterEntry]


@dataclass(frozen=True, slots=True)
class CoverageSnapshot:
    """A coverage snapshot just stored: its grids and people, the round's end it counts to,
    and the seconds spent counting and in all."""

    grids: int
    people: int
    as_of: datetime
    count_seconds: float
    seconds: float


class _SnapshotQueries:
    """The analytics report's queries answered from a coverage snapshot."""

    def __init__(self, grids: dict[str, Counts], as_of: datetime,
                 names: dict[str, str]) -> None:
        self._grids = grids
        self._as_of = as_of
        self._names = names

    def latest_sample_at(self) -> datetime | None:
        return self._as_of

    def coverage_by_grid(self, prefix: str, since: datetime,
                         as_of: datetime) -> list[CoverageCounts]:
        return [CoverageCounts(g, c.due, c.sampled, c.exempt)
                for g, c in sorted(self._grids.items()) if g.startswith(prefix)]

    def region_names(self, codes: Sequence[str]) -> dict[str, str]:
        return {c: self._names[c] for c in codes if c in self._names}

    def positive_pools(self, prefix: str, since: datetime, as_of: datetime,
                       limit: int) -> list[PositivePool]:  # pragma: no cover - not used
        raise NotImplementedError

    def routine_pool_counts(self, prefix: str, since: datetime,
                            as_of: datetime) -> list[RoutinePoolCount]:
        raise NotImplementedError  # pragma: no cover - not used




class RosterService:
    def __init__(self, deps: Deps, analytics: AnalyticsService,
                 reads: UnitOfWorkFactory | None = None) -> None:
        self._d = deps
        self._analytics = analytics
        #: where the coverage snapshot is read (a replica may serve it); writes use ``deps``
        self._reads = reads or deps.uow

    # -- coverage ----------------------------------------------------------------------------

    def refresh_snapshot(self, actor: Principal) -> CoverageSnapshot:
        """Count the current round (the round window up to now) per grid and store it."""
        authorize(actor, Action.REFRESH_COVERAGE)
        now = self._d.clock.now()
        t0 = time.perf_counter()
        with self._d.uow(readonly=True) as uow:
            grids = uow.rosters.coverage_by_grid("", now - ROUND_WINDOW, now)
        counted = time.perf_counter() - t0
        with self._d.uow() as uow:
            uow.rosters.save_coverage_snapshot(grids, now - ROUND_WINDOW, now)
            uow.commit()
        return CoverageSnapshot(len(grids), sum(c.due for c in grids.values()), now,
                                round(counted, 3), round(time.perf_counter() - t0, 3))

    def refresh_snapshot_if_stale(self, actor: Principal,
                                  max_age: timedelta = SNAPSHOT_REFRESH
                                  ) -> CoverageSnapshot | None:
        """Refresh the snapshot when it is older than ``max_age`` (the scheduler's call)."""
        authorize(actor, Action.REFRESH_COVERAGE)
        now = self._d.clock.now()
        with self._d.uow(readonly=True) as uow:
            snap = uow.rosters.coverage_snapshot("9")  # no grid code starts with 9: the head only
        if snap is not None and timedelta(0) <= now - snap[2] < max_age:
            return None
        return self.refresh_snapshot(actor)

    def coverage(self, actor: Principal, *, region: str | None = None,
                 as_of: datetime | None = None, window: timedelta = ROUND_WINDOW,
                 level: Level = Level.GRID, live: bool = False) -> Coverage:
        """The coverage roll-up (the analytics report, its ``source`` ``snapshot`` or
        ``live``). The current round comes from the snapshot when one is fresh."""
        prefix = area_for(actor, Action.READ_COVERAGE, region)
        if not live and as_of is None and window == ROUND_WINDOW:
            now = self._d.clock.now()
            with self._reads(readonly=True) as uow:
                snap = uow.rosters.coverage_snapshot(prefix)
                if snap is not None and timedelta(0) <= now - snap[2] <= SNAPSHOT_MAX_AGE:
                    grids, _since, snap_as_of = snap
                    codes = {g[:n] for g in grids for n in (6, 9, 12, 15)}
                    names = uow.rosters.region_names(sorted(codes))
                    return replace(AnalyticsService(self._d, _SnapshotQueries(
                        grids, snap_as_of, names)).coverage(
                        actor, region=region, as_of=snap_as_of, window=window, level=level),
                        source="snapshot")
        # the round ending now, as the grid worker's list counts it (the analytics report's own
        # default, the city's latest sample, ends earlier overnight)
        return self._analytics.coverage(actor, region=region,
                                        as_of=as_of or self._d.clock.now(), window=window,
                                        level=level)

    # -- the grid worker's list ----------------------------------------------------------------

    def people(self, actor: Principal, *, region: str | None = None, which: str = "outstanding",
               as_of: datetime | None = None, window: timedelta = ROUND_WINDOW,
               limit: int = 500, offset: int = 0) -> RosterPage:
        """Who is due / sampled / exempt / outstanding in an area for the round ending at
        ``as_of`` (default now): masked names, address, household, masked phone, last
        outcome. A grid worker sees their own grid."""
        if which not in ROSTER_LISTS:
            raise InvalidInput(f"which must be one of {', '.join(ROSTER_LISTS)}", code="bad_which",
                               field="which")
        if not 1 <= limit <= 5000 or offset < 0:
            raise InvalidInput("limit must be 1-5000 and offset ≥ 0", code="bad_limit",
                               field="limit")
        prefix = area_for(actor, Action.READ_ROSTER, region)
        if not prefix:
            raise InvalidInput("region: choose an area (a district, street, community or grid)",
                               code="missing_region", field="region")
        now = self._d.clock.now()
        end = as_of or now
        since = end - window
        with self._d.uow() as uow:
            rows = uow.rosters.roster_people(prefix, since, end, which, limit, offset)
            uow.audit_log.append(now, actor.username, "roster.read", f"region:{prefix}",
                      {"which": which, "people": len(rows)})
            uow.commit()
        v = self._d.vault
        out = []
        for p in rows:
            phone = mask_phone(v.decrypt(p.phone_enc)) if p.phone_enc else None
            out.append(_person(p, phone, since, end))
        return RosterPage(prefix, which, since, end, len(out), offset, out)

    def find(self, actor: Principal, query: str, *, region: str | None = None,
             as_of: datetime | None = None, window: timedelta = ROUND_WINDOW,
             limit: int = PAGE_SIZE) -> RosterPage:
        """People of the caller's area found by ID number or phone (by their keyed hash, as
        they are stored) or by name (the area's names decrypted and compared, there being no
        index of names: only in a community or a grid). Whoever lives outside the area is not
        found. The same rows as ``people``; the search is audited, its text is not."""
        prefix = area_for(actor, Action.READ_ROSTER, region)
        if not prefix:
            raise InvalidInput("region: choose an area (a district, street, community or grid)",
                               code="missing_region", field="region")
        q = roster_query(query)
        if q.name is not None and len(prefix) < 12:
            raise InvalidInput("q: a name is looked for in a community or a grid; choose one, "
                               "or search by ID number or phone", code="name_needs_grid",
                               field="q")
        now = self._d.clock.now()
        end = as_of or now
        since = end - window
        v = self._d.vault
        with self._d.uow() as uow:
            found: dict[str, None] = {}
            for key in q.keys:
                found |= dict.fromkeys(uow.rosters.people_by_lookup(v.lookup_hash(key), prefix,
                                                                    limit))
            if q.name is not None:
                found |= dict.fromkeys(
                    pid for pid, enc in uow.rosters.encrypted_names(prefix, NAME_SEARCH_LIMIT)
                    if q.name in name_key(v.decrypt(enc)))
            rows = uow.rosters.roster_people_by_ids(list(found)[:limit])
            uow.audit_log.append(now, actor.username, "roster.find", f"region:{prefix}",
                                 {"by": "name" if q.name is not None else "number",
                                  "people": len(rows)})
            uow.commit()
        out = [_person(p, mask_phone(v.decrypt(p.phone_enc)) if p.phone_enc else None, since,
                       end) for p in rows]
        return RosterPage(prefix, "found", since, end, len(out), 0, out)

    def reveal_phone(self, actor: Principal, person_id: str) -> str | None:
        """The person's phone in full, for the grid worker to call; the read is audited."""
        now = self._d.clock.now()
        with self._d.uow() as uow:
            row = uow.people.person(person_id)
            if row is None:
                raise no_such_person()
            authorize(actor, Action.REVEAL_PHONE, person_target(row), hidden=no_such_person())
            uow.audit_log.append(now, actor.username, "person.reveal_phone",
                                 f"person:{person_id}", {})
            uow.commit()
        return self._d.vault.decrypt(row.phone_enc) if row.phone_enc else None

    def record_outcome(self, actor: Principal, person_id: str, outcome: Outcome,
                       note: str | None = None) -> str:
        """One tap on the list: reached / refused / away / needs door-to-door (audited)."""
        if note is not None and len(note) > 200:
            raise InvalidInput("note must be at most 200 characters", code="bad_note",
                               field="note")
        now = self._d.clock.now()
        oid = self._d.new_id()
        with self._d.uow() as uow:
            row = uow.people.person(person_id)
            if row is None:
                raise no_such_person()
            authorize(actor, Action.RECORD_ROSTER_OUTCOME, person_target(row),
                      hidden=no_such_person())
            uow.rosters.add_roster_outcome(RosterOutcomeRow(oid, person_id, row.grid_code,
                                                            outcome.value, note, actor.username,
                                                            now))
            uow.audit_log.append(now, actor.username, "roster.outcome", f"person:{person_id}",
                      {"outcome": outcome.value})
            uow.commit()
        return oid

    # -- Excel -------------------------------------------------------------------------------

    def export_xlsx(self, actor: Principal, *, region: str | None = None,
                    live: bool = False, list_limit: int = 5000) -> bytes:
        """A workbook: the roll-up (every level, with coverage) and, for an area of a
        community or smaller, the outstanding list with a blank column for the outcome."""
        from openpyxl import Workbook
        from openpyxl.styles import Font

        cov = self.coverage(actor, region=region, live=live)
        wb = Workbook()
        ws = wb.active
        assert ws is not None
        ws.title = "coverage 应检尽检"
        bold = Font(bold=True)
        _append_row(ws, ["as of", iso_utc(cov.as_of), "since", iso_utc(cov.since),
                         "source", cov.source])
        _append_row(ws, ["level", "code", "name", "due 应检", "sampled 已检", "exempt 免检",
                         "outstanding 未检", "coverage 覆盖率"])
        for c in ws[2]:
            c.font = bold
        rows = [("city" if cov.region is None else "area", cov.total)]
        for lv, level_rows in ((Level.DISTRICT, cov.districts), (Level.STREET, cov.streets),
                               (Level.COMMUNITY, cov.communities), (Level.GRID, cov.grids)):
            rows += [(lv.value, r) for r in level_rows]
        for level, r in rows:
            _append_row(ws, [level, r.code, r.name, r.due, r.sampled, r.exempt, r.outstanding,
                             r.coverage])
        for col, width in zip("ABCDEFGH", (10, 17, 28, 10, 10, 10, 12, 12), strict=True):
            ws.column_dimensions[col].width = width
        prefix = area_for(actor, Action.READ_COVERAGE, region)
        if len(prefix) >= 12:
            lst = self.people(actor, region=prefix, which="outstanding", limit=list_limit)
            wl = wb.create_sheet("outstanding 未检名单")
            _append_row(wl, ["grid 网格", "address 地址", "household 户", "name 姓名",
                             "phone 电话", "last sampled 上次采样", "status 状态",
                             "last outcome 上次结果", "outcome 本次结果"])
            for c in wl[1]:
                c.font = bold
            for p in lst.people:
                _append_row(wl, [p.grid_code, p.address, p.household_id, p.name, p.phone,
                                 str(p.last_sampled_at or ""), p.colour, p.outcome or "", ""])
            for col, width in zip("ABCDEFGHI", (17, 20, 18, 10, 14, 26, 8, 16, 16),
                                  strict=True):
                wl.column_dimensions[col].width = width
        buf = io.BytesIO()
        wb.save(buf)
        return buf.getvalue()


def _append_row(sheet: Any, values: list[Any]) -> None:
    """One row of a worksheet, every text cell written as text: a name, address or household
    typed as ``=HYPERLINK(...)`` (or starting with + - @) stays the characters typed, never a
    live formula (openpyxl reads a leading = as a formula; data type "s" and Excel's quote
    prefix keep it a string, also when the cell is edited)."""
    sheet.append(values)
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"
            cell.quotePrefix = True


def _person(p: RosterPerson, phone: str | None, since: datetime, end: datetime) -> RosterEntry:
    return RosterEntry(
        person_id=p.id, name=p.name_masked, grid_code=p.grid_code, household_id=p.household_id,
        address=p.address, phone=phone,
        roster_class=classify(p.last_sampled_at, p.exempt_until, since, end).value,
        last_sampled_at=p.last_sampled_at, exempt_until=p.exempt_until,
        exempt_reason=p.exempt_reason, colour=p.colour, zone_kind=p.zone_kind,
        outcome=p.outcome, outcome_at=p.outcome_at)
