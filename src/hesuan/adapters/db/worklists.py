"""The reads behind the work lists (``services.worklists_ports.WorklistQueries``) in
SQLAlchemy Core: one bounded, indexed query per list, on SQLite and PostgreSQL alike, each row
made the port's dataclass. Read-only.

Imports: SQLAlchemy, ``hesuan.adapters.db.schema``, ``hesuan.services``, the standard library.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Engine,
    and_,
    exists,
    func,
    literal_column,
    select,
    text,
    type_coerce,
)

from hesuan.adapters.db import status_sql
from hesuan.adapters.db.engine import reading
from hesuan.adapters.db.schema import (
    boxes,
    exemptions,
    labs,
    people,
    person_status,
    recalls,
    regions,
    sites,
    to_ms,
    tubes,
    users,
    venues,
)
from hesuan.domain.results import Result
from hesuan.services.worklists_ports import (
    AreaExemption,
    AreaRecall,
    BoxInTransit,
    ChainCounts,
    LabBox,
    OpenBox,
    OpenTube,
    SamplesInHour,
    SealedBox,
    SealedTube,
    SiteDay,
    StatusCounts,
    TubeTally,
    UserSummary,
)

__all__ = ["SqlWorklists"]

_HOUR_MS = 3_600_000


def _ms(column: Any) -> Any:
    """A timestamp column as its stored epoch milliseconds (for arithmetic in SQL)."""
    return type_coerce(column, BigInteger)


def _hour(column: Any) -> Any:
    return (_ms(column) // _HOUR_MS).label("h")


def _at_sites_in(site_id: Any, prefix: str) -> tuple[Any, ...]:
    """Rows of sites under a region code prefix (none needed for '' = everywhere)."""
    if not prefix:
        return ()
    return (site_id.in_(select(sites.c.id).where(sites.c.region_code.startswith(
        prefix, autoescape=True))),)


def _in_area(prefix: str) -> Any:
    """People whose home grid is under a region code prefix ('' = everyone), as a range on
    the indexed grid code (region codes are digits, so every code under the prefix sorts
    between ``prefix`` and ``prefix + ':'``): for reading an area's people."""
    if not prefix:
        return text("1 = 1")
    return and_(people.c.grid_code >= prefix, people.c.grid_code < prefix + ":")


def _of_area(prefix: str) -> Any:
    """The same test, deliberately not indexable: for filtering a short list (recalls,
    exemptions) by the area of its people, so that the list drives the query."""
    if not prefix:
        return text("1 = 1")
    return func.substr(people.c.grid_code, 1, len(prefix)) == prefix


def _holds_priority() -> Any:
    """Whether a box holds a priority tube (优先送检): its lists put such boxes first."""
    t = tubes.c
    return (exists().where(t.box_id == boxes.c.id, t.priority.is_(True))
            .correlate(boxes).label("priority"))


class SqlWorklists:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _rows(self, stmt: Any) -> list[Sequence[Any]]:
        with reading(self._engine) as c:
            return list(c.execute(stmt))

    # -- courier ---------------------------------------------------------------------------

    def boxes_to_collect(self, limit: int) -> list[SealedBox]:
        b = boxes.c
        priority = _holds_priority()
        return [SealedBox(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in self._rows(
            select(b.code, sites.c.name, b.tube_count, b.sealed_at, b.first_tube_sealed_at,
                   priority)
            .join(sites, sites.c.id == b.site_id).where(b.status == "sealed")
            .order_by(priority.desc(), b.first_tube_sealed_at).limit(limit))]

    def boxes_in_transit(self, courier_id: str | None, limit: int) -> list[BoxInTransit]:
        b = boxes.c
        priority = _holds_priority()
        stmt = (select(b.code, sites.c.name, b.tube_count, b.handed_over_at,
                       b.first_tube_sealed_at, priority)
                .join(sites, sites.c.id == b.site_id).where(b.status == "in_transit"))
        if courier_id is not None:
            stmt = stmt.where(b.courier_id == courier_id)
        return [BoxInTransit(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in self._rows(
            stmt.order_by(priority.desc(), b.first_tube_sealed_at).limit(limit))]

    # -- lab -------------------------------------------------------------------------------

    def lab_boxes(self, lab_id: str, since: datetime, limit: int, offset: int = 0,
                  code: str | None = None) -> list[LabBox]:
        b = boxes.c
        which = [b.code == code] if code else []
        return [LabBox(code, site, tube_count, received_count, received_at, _barcodes(missing),
                       _barcodes(extra), bool(discrepancy))
                for code, site, tube_count, received_count, received_at, missing, extra,
                discrepancy in self._rows(
            select(b.code, sites.c.name, b.tube_count, b.received_count, b.received_at,
                   b.missing, b.extra, b.discrepancy)
            .join(sites, sites.c.id == b.site_id)
            .where(b.lab_id == lab_id, b.status == "received", b.received_at >= since, *which)
            .order_by(b.received_at.desc(), b.code).limit(limit).offset(offset))]

    # -- site ------------------------------------------------------------------------------

    def site_tubes(self, site_id: str, since: datetime) -> SiteDay:
        t, b = tubes.c, boxes.c
        with reading(self._engine) as c:
            open_tubes = [OpenTube(*r) for r in c.execute(
                select(t.barcode, t.count, t.capacity, t.priority, t.window, t.opened_at)
                .where(t.site_id == site_id, t.status == "open").order_by(t.opened_at)
                .limit(100))]
            sealed = [SealedTube(*r) for r in c.execute(
                select(t.barcode, t.count, t.capacity, t.priority, t.sealed_at)
                .where(t.site_id == site_id, t.status == "sealed").order_by(t.sealed_at)
                .limit(200))]
            open_boxes = [OpenBox(code, opened_at, int(n)) for code, opened_at, n in c.execute(
                select(b.code, b.opened_at,
                       select(func.count()).where(t.box_id == b.id).scalar_subquery()
                       .label("tubes"))
                .where(b.site_id == site_id, b.status == "open").order_by(b.opened_at)
                .limit(50))]
            by_status = {r[0]: TubeTally(int(r[1]), int(r[2] or 0)) for r in c.execute(
                select(t.status, func.count(), func.sum(t.count))
                .where(t.site_id == site_id, t.opened_at >= since).group_by(t.status))}
            hours = [SamplesInHour(int(h) * _HOUR_MS, int(n)) for h, n in c.execute(
                select(_hour(t.first_sampled_at), func.sum(t.count))
                .where(t.site_id == site_id, t.first_sampled_at >= since)
                .group_by(text("h")).order_by(text("h")))]
        return SiteDay(open_tubes, sealed, open_boxes, by_status, hours)

    # -- command centre --------------------------------------------------------------------

    def samples_per_hour(self, since: datetime, region_prefix: str) -> list[SamplesInHour]:
        t = tubes.c
        with reading(self._engine) as c:
            return [SamplesInHour(int(h) * _HOUR_MS, int(n)) for h, n in c.execute(
                select(_hour(t.first_sampled_at), func.sum(t.count))
                .where(t.first_sampled_at >= since, *_at_sites_in(t.site_id, region_prefix))
                .group_by(text("h")).order_by(text("h")))]

    def status_counts(self, region_prefix: str) -> StatusCounts:
        ps = person_status.c
        stmt = select(ps.colour, ps.reasons, func.count()).group_by(ps.colour, ps.reasons)
        if region_prefix and self._anyone_outside(region_prefix):
            stmt = stmt.join(people, people.c.id == ps.person_id).where(
                _in_area(region_prefix))
        colours: dict[str, int] = defaultdict(int)
        reasons: dict[str, int] = defaultdict(int)
        total = 0
        with reading(self._engine) as c:
            for colour, reason_list, n in c.execute(stmt):
                colours[colour] += n
                total += n
                for r in (reason_list or "").split(","):
                    if r:
                        reasons[r] += n
        return StatusCounts(total, dict(colours), dict(reasons))

    def _anyone_outside(self, prefix: str) -> bool:
        """Whether anyone lives outside the area (two probes of the grid-code index): when
        nobody does, an area's counts need not look at where people live."""
        g = people.c.grid_code
        with reading(self._engine) as c:
            return any(c.execute(select(g).where(cond).limit(1)).first() is not None
                       for cond in (g < prefix, g >= prefix + ":"))

    def district_status(self) -> dict[str, StatusCounts]:
        ps, p = person_status.c, people.c
        district = func.substr(p.grid_code, 1, 6)
        people_in: dict[str, int] = defaultdict(int)
        colours: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        reasons: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        overdue_at: dict[str, datetime] = {}
        with reading(self._engine) as c:
            for code, colour, reason_list, n, decided in c.execute(
                    select(district.label("d"), ps.colour, ps.reasons, func.count(),
                           func.max(ps.status_at))
                    .join(people, p.id == ps.person_id)
                    .group_by(text("d"), ps.colour, ps.reasons)):
                people_in[code] += n
                colours[code][colour] += n
                split = [r for r in (reason_list or "").split(",") if r]
                for r in split:
                    reasons[code][r] += n
                if "overdue" in split and decided is not None:
                    overdue_at[code] = max(overdue_at.get(code, decided), decided)
        return {k: StatusCounts(n, dict(colours[k]), dict(reasons[k]), overdue_at.get(k))
                for k, n in people_in.items()}

    def chain_counts(self, now: datetime, transport_limit: timedelta,
                     lab_limit: timedelta, region_prefix: str) -> ChainCounts:
        t, b, r = tubes.c, boxes.c, recalls.c
        n = to_ms(now)
        tlim = int(transport_limit.total_seconds() * 1000)
        llim = int(lab_limit.total_seconds() * 1000)
        in_area = {tubes: _at_sites_in(t.site_id, region_prefix),
                   boxes: _at_sites_in(b.site_id, region_prefix),
                   recalls: () if not region_prefix else (r.person_id.in_(
                       select(people.c.id).where(_in_area(region_prefix))),)}
        with reading(self._engine) as c:
            def one(stmt: Any) -> int:
                table = stmt.get_final_froms()[0]
                return int(c.execute(stmt.where(*in_area[table])).scalar_one() or 0)

            return ChainCounts(
                boxes_to_collect=one(select(func.count()).where(b.status == "sealed")),
                boxes_in_transit=one(select(func.count()).where(b.status == "in_transit")),
                late_boxes=one(select(func.count()).where(
                    b.first_tube_sealed_at.is_not(None),
                    func.coalesce(_ms(b.received_at), n) > _ms(b.first_tube_sealed_at) + tlim)),
                box_discrepancies=one(select(func.count()).where(b.discrepancy.is_(True))),
                awaiting_result=one(select(func.count()).where(t.status == "received")),
                late_results=one(select(func.count()).where(
                    t.received_at.is_not(None),
                    func.coalesce(_ms(t.resulted_at), n) > _ms(t.received_at) + llim)),
                positive_pools=one(select(func.count()).where(
                    t.result == Result.POSITIVE.value, t.capacity > 1)),
                positive_singles=one(select(func.count()).where(
                    t.result == Result.POSITIVE.value, t.capacity == 1)),
                pools_for_review=one(select(func.count()).where(t.investigation == "review")),
                recalls_open=one(select(func.count()).where(r.status == "open")),
                recalls_overdue=one(select(func.count()).where(
                    r.status == "open", r.due_at < now, text("NOT " + status_sql.recall_answered(
                        "recalls.person_id", "recalls.id")))),
            )

    # -- area lists ------------------------------------------------------------------------

    def recalls(self, region_prefix: str, now: datetime, overdue_only: bool,
                limit: int) -> list[AreaRecall]:
        r, p = recalls.c, people.c
        answered = status_sql.recall_answered("recalls.person_id", "recalls.id")
        stmt = (select(r.id, r.person_id, p.name_masked, p.grid_code, p.address, r.reason,
                       r.opened_at, r.due_at, literal_column(answered).label("answered"))
                .join(people, p.id == r.person_id)
                .where(r.status == "open", _of_area(region_prefix)))
        if overdue_only:  # a recall answered by its sample waits for the lab, not the person
            stmt = stmt.where(r.due_at < now, text(f"NOT {answered}"))
        out: list[AreaRecall] = []
        for row in self._rows(stmt.order_by(r.due_at, r.id).limit(limit)):
            rid, pid, name, grid, address, reason, opened, due, answered_ = row
            out.append(AreaRecall(rid, pid, name, grid, address, reason, opened, due,
                                  bool(answered_)))
        return out

    def exemptions(self, region_prefix: str, now: datetime, limit: int) -> list[AreaExemption]:
        e, p = exemptions.c, people.c
        return [AreaExemption(*row) for row in self._rows(
            select(e.id, e.person_id, p.name_masked, p.grid_code, e.reason, e.note, e.until,
                   e.set_by)
            .join(people, p.id == e.person_id)
            .where(e.revoked_at.is_(None), e.until > now, _of_area(region_prefix))
            .order_by(e.until).limit(limit))]

    # -- admin -----------------------------------------------------------------------------

    def users(self) -> list[UserSummary]:
        u = users.c
        named = func.coalesce(sites.c.name, labs.c.name, regions.c.name, venues.c.name)
        return [UserSummary(id_, username, role, scope, bool(active), created_at, name)
                for id_, username, role, scope, active, created_at, name in self._rows(
            select(u.id, u.username, u.role, u.scope, u.active, u.created_at, named)
            .outerjoin(sites, sites.c.id == u.scope).outerjoin(labs, labs.c.id == u.scope)
            .outerjoin(regions, regions.c.code == u.scope)
            .outerjoin(venues, venues.c.id == u.scope)
            .order_by(u.role, u.username).limit(1000))]


def _barcodes(value: Any) -> tuple[str, ...] | None:
    """A box's list of tube barcodes as stored (JSON), as a tuple."""
    return None if value is None else tuple(str(x) for x in value)

