"""Analytics reports over a testing round: coverage (应检尽检), positive pools and their recalls,
and prevalence from pool results with the pool size to recommend.

* **Coverage** by district, street, community and grid: people due (everyone living there),
  sampled within the round's window, exempt (an exemption in force and not sampled), and
  outstanding (due − sampled − exempt).
* **Positives**: every positive pooled tube of the window with its recalls (召回复核) and their
  outcomes; only masked names leave the service, and the read is audited.
* **Prevalence** per district and for the city: routine pools (no recall re-samples; not
  first-landing or hospital sites) tested and positive by pool size, the estimate with its 95%
  interval and the recommended pool size (``domain.pooling``).

The round's window ends at ``as_of`` — by default the latest sample recorded, so a report on a
simulated or restored round describes that round — and starts one cadence plus grace
(72 h + 24 h) earlier: who was sampled in that window is covered.
All counting is set-based SQL in the adapter behind the ``AnalyticsQueries`` port
(``analytics_ports``).

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from hesuan.domain.access import Action, Principal, area_for
from hesuan.domain.errors import InvalidInput
from hesuan.domain.pooling import (
    ALLOWED_POOL_SIZES,
    PoolCounts,
    estimate_prevalence,
    recommend_pool_size,
)
from hesuan.domain.regions import LEVEL_CODE_LENGTH, Level
from hesuan.services.analytics_ports import AnalyticsQueries, PositivePool
from hesuan.services.context import Deps

__all__ = ["ROUND_WINDOW", "AnalyticsService", "Coverage", "CoverageRow", "PoolTally",
           "Positives", "Prevalence", "PrevalenceRow"]

#: Sampled within the cadence (72 h) plus the grace before a status changes (24 h).
ROUND_WINDOW = timedelta(hours=96)
_LEVELS: tuple[Level, ...] = (Level.DISTRICT, Level.STREET, Level.COMMUNITY, Level.GRID)


@dataclass(frozen=True, slots=True)
class CoverageRow:
    """One region's people in the round: due (everyone living there), sampled in the window,
    exempt (an exemption in force, not sampled), outstanding (due − sampled − exempt, not
    below 0) and coverage (sampled / due, to four places; None with nobody due). On the total,
    ``code`` is the area's (None for the whole city) and ``name`` is None."""

    code: str | None
    name: str | None
    parent_code: str | None
    due: int
    sampled: int
    exempt: int
    outstanding: int
    coverage: float | None


@dataclass(frozen=True, slots=True)
class Coverage:
    """The coverage report (应检尽检, docs/schemas/coverage): the total and a row per region
    of each level down to the one asked for (the levels below it empty), by code.
    ``source``: counted ``live``, or read from the coverage ``snapshot`` (``RosterService``)."""

    as_of: datetime
    since: datetime
    window_hours: float
    region: str | None
    total: CoverageRow
    districts: list[CoverageRow]
    streets: list[CoverageRow]
    communities: list[CoverageRow]
    grids: list[CoverageRow]
    source: Literal["live", "snapshot"] = "live"

    def rows(self, level: Level) -> list[CoverageRow]:
        """The rows of one level: district, street, community or grid."""
        return {Level.DISTRICT: self.districts, Level.STREET: self.streets,
                Level.COMMUNITY: self.communities, Level.GRID: self.grids}[level]


@dataclass(frozen=True, slots=True)
class Positives:
    """The positive pools of the round (docs/schemas/positives), newest result first, with
    their recalls, and the tallies of recalls by status (``resolved_<outcome>`` once
    resolved) and of pools by investigation (``none``: no investigation)."""

    as_of: datetime
    since: datetime
    region: str | None
    positive_pools: int
    investigations: dict[str, int]
    recalls: int
    recalls_by_status: dict[str, int]
    pools: list[PositivePool]


@dataclass(frozen=True, slots=True)
class PoolTally:
    """Routine pools of one size: how many were tested, how many positive."""

    tested: int
    positive: int


@dataclass(frozen=True, slots=True)
class PrevalenceRow:
    """Prevalence of a district (or the city: ``code`` None) from its routine pools: the
    pools by size (its text), the estimate with its 95 % interval (``domain.pooling``), the
    size most people were pooled in, and the size to recommend (None without an estimate)."""

    code: str | None
    name: str | None
    pools: dict[str, PoolTally]
    pools_tested: int
    pools_positive: int
    people_tested: int
    p_hat: float | None
    ci95: tuple[float, float] | None
    method: str
    main_pool_size: int | None
    recommended_pool_size: int | None


@dataclass(frozen=True, slots=True)
class Prevalence:
    """The prevalence report (docs/schemas/prevalence): the city's and each district's."""

    as_of: datetime
    since: datetime
    region: str | None
    allowed_pool_sizes: list[int]
    city: PrevalenceRow
    districts: list[PrevalenceRow]


class AnalyticsService:
    def __init__(self, deps: Deps, queries: AnalyticsQueries) -> None:
        self._d = deps
        self._q = queries

    # -- the window and the scope ----------------------------------------------------------

    def _window(self, as_of: datetime | None, window: timedelta) -> tuple[datetime, datetime]:
        if as_of is not None and as_of.tzinfo is None:
            raise InvalidInput("as_of must carry a timezone", code="naive_time", field="as_of")
        if window <= timedelta(0):
            raise InvalidInput("window must be positive", code="bad_window", field="window")
        end = as_of or self._q.latest_sample_at() or self._d.clock.now()
        return end - window, end


    # -- coverage --------------------------------------------------------------------------

    def coverage(self, actor: Principal, *, region: str | None = None,
                 as_of: datetime | None = None, window: timedelta = ROUND_WINDOW,
                 level: Level = Level.GRID) -> Coverage:
        if level not in _LEVELS:
            raise InvalidInput("level must be district, street, community or grid",
                               code="bad_level", field="level")
        prefix = area_for(actor, Action.READ_COVERAGE, region)
        since, end = self._window(as_of, window)
        grids = self._q.coverage_by_grid(prefix, since, end)
        depth = _LEVELS.index(level) + 1
        totals: dict[Level, dict[str, list[int]]] = {lv: defaultdict(lambda: [0, 0, 0])
                                                     for lv in _LEVELS[:depth]}
        city = [0, 0, 0]
        for g in grids:
            for lv in _LEVELS[:depth]:
                acc = totals[lv][g.grid_code[:LEVEL_CODE_LENGTH[lv]]]
                acc[0] += g.due
                acc[1] += g.sampled
                acc[2] += g.exempt
            city[0] += g.due
            city[1] += g.sampled
            city[2] += g.exempt
        codes = [c for lv in _LEVELS[:depth] for c in totals[lv]]
        names = self._q.region_names(codes)
        rows = {lv: [_coverage_row(code, names.get(code), _parent(code, lv), *acc)
                     for code, acc in sorted(totals.get(lv, {}).items())] for lv in _LEVELS}
        return Coverage(
            as_of=end, since=since, window_hours=window.total_seconds() / 3600,
            region=prefix or None, total=_coverage_row(prefix or None, None, None, *city),
            districts=rows[Level.DISTRICT], streets=rows[Level.STREET],
            communities=rows[Level.COMMUNITY], grids=rows[Level.GRID])

    # -- positives -------------------------------------------------------------------------

    def positives(self, actor: Principal, *, region: str | None = None,
                  as_of: datetime | None = None, window: timedelta = ROUND_WINDOW,
                  limit: int = 1000) -> Positives:
        prefix = area_for(actor, Action.READ_POSITIVE_POOLS, region)
        since, end = self._window(as_of, window)
        pools = self._q.positive_pools(prefix, since, end, limit)
        recalls = [r for p in pools for r in p.recalls]
        by_status: dict[str, int] = defaultdict(int)
        for r in recalls:
            key = r.status if r.status != "resolved" else f"resolved_{r.outcome}"
            by_status[key] += 1
        investigations: dict[str, int] = defaultdict(int)
        for p in pools:
            investigations[p.investigation or "none"] += 1
        with self._d.uow() as uow:
            uow.audit_log.append(self._d.clock.now(), actor.username, "report.positives",
                      f"region:{prefix or '*'}", {"pools": len(pools), "recalls": len(recalls)})
            uow.commit()
        return Positives(
            as_of=end, since=since, region=prefix or None, positive_pools=len(pools),
            investigations=dict(sorted(investigations.items())), recalls=len(recalls),
            recalls_by_status=dict(sorted(by_status.items())), pools=pools)

    # -- prevalence ------------------------------------------------------------------------

    def prevalence(self, actor: Principal, *, region: str | None = None,
                   as_of: datetime | None = None, window: timedelta = ROUND_WINDOW,
                   allowed: Sequence[int] = ALLOWED_POOL_SIZES) -> Prevalence:
        prefix = area_for(actor, Action.READ_PREVALENCE, region)
        since, end = self._window(as_of, window)
        rows = self._q.routine_pool_counts(prefix, since, end)
        by_district: dict[str, dict[int, list[int]]] = defaultdict(
            lambda: defaultdict(lambda: [0, 0]))
        city: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        for district, size, tested, positive in rows:
            for acc in (by_district[district][size], city[size]):
                acc[0] += tested
                acc[1] += positive
        names = self._q.region_names(sorted(by_district))
        return Prevalence(
            as_of=end, since=since, region=prefix or None,
            allowed_pool_sizes=sorted(set(allowed)),
            city=_prevalence_row(None, None, city, allowed),
            districts=[_prevalence_row(code, names.get(code), counts, allowed)
                       for code, counts in sorted(by_district.items())])


def _coverage_row(code: str | None, name: str | None, parent: str | None, due: int,
                  sampled: int, exempt: int) -> CoverageRow:
    return CoverageRow(code, name, parent, due, sampled, exempt,
                       max(due - sampled - exempt, 0), round(sampled / due, 4) if due else None)


def _parent(code: str, level: Level) -> str | None:
    i = _LEVELS.index(level)
    return code[:LEVEL_CODE_LENGTH[_LEVELS[i - 1]]] if i > 0 else code[:4]


def _prevalence_row(code: str | None, name: str | None, counts: dict[int, list[int]],
                    allowed: Sequence[int]) -> PrevalenceRow:
    pools = [PoolCounts(k, t, x) for k, (t, x) in sorted(counts.items())]
    est = estimate_prevalence(pools)
    current = max(pools, key=lambda c: c.tested * c.size).size if pools else None
    return PrevalenceRow(
        code=code, name=name,
        pools={str(c.size): PoolTally(c.tested, c.positive) for c in pools},
        pools_tested=est.pools_tested, pools_positive=est.pools_positive,
        people_tested=est.people_tested, p_hat=est.p_hat,
        ci95=None if est.lower is None or est.upper is None else (est.lower, est.upper),
        method=est.method, main_pool_size=current,
        recommended_pool_size=(None if est.upper is None
                               else recommend_pool_size(est.upper, allowed)))
