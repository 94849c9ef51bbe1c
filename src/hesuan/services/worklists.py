"""Work lists for the people at each link of the chain, as the web pages show them: the boxes a
courier is to collect or is carrying, the boxes a lab received, a sampling site's tubes and
boxes of the day, a results file checked before it is committed, open recalls and exemptions in
an officer's area, the command centre's counts, and the user list for the admin.

Every list is read-only, scoped by the caller's role (checked here, as everywhere in the service
layer), and set-based: one bounded query per list (``WorklistQueries``, in
``worklists_ports``), never a loop over rows.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hesuan.domain.access import Action, Principal, Role, Target, authorize, region_prefix
from hesuan.domain.errors import HesuanError, InvalidInput, NotFound
from hesuan.domain.opening import SiteState, site_state
from hesuan.domain.results import Result, check_ct
from hesuan.domain.sampling import check_tube_barcode
from hesuan.domain.spreadsheets import ROW_NUMBER
from hesuan.services.context import Deps
from hesuan.services.lab import parse_result_row
from hesuan.services.people_ports import SiteRow
from hesuan.services.targets import site_target
from hesuan.services.worklists_ports import (
    AreaExemption,
    AreaRecall,
    BoxInTransit,
    ChainCounts,
    LabBox,
    SamplesInHour,
    SealedBox,
    SiteDay,
    StatusCounts,
    UserSummary,
    WorklistQueries,
)

__all__ = ["CommandCentre", "CourierBox", "CourierBoxes", "PreviewRow", "RecallOnList",
           "ResultsPreview", "SiteOverview", "WorklistService"]


@dataclass(frozen=True, slots=True)
class CourierBox:
    """A box on a courier's list, with its age since its first tube was sealed (None when no
    tube's seal is known) and whether it is past the transport limit."""

    box: SealedBox | BoxInTransit
    age_min: int | None
    late: bool


@dataclass(frozen=True, slots=True)
class CourierBoxes:
    """The courier's page: boxes waiting to be collected, boxes in their hands, and the
    transport limit in minutes."""

    to_collect: list[CourierBox]
    in_transit: list[CourierBox]
    limit_min: float


@dataclass(frozen=True, slots=True)
class SiteOverview:
    """A site and its day: the figures cover ``since`` to ``until`` — the last 12 hours while
    the site is open, its last opening while it is closed — and ``state`` is whether it is open
    now (its status and its hours)."""

    site: SiteRow
    day: SiteDay
    state: SiteState
    since: datetime
    until: datetime


@dataclass(frozen=True, slots=True)
class RecallOnList:
    """An open recall on an area's list, and whether it is past its due time with no sample
    taken for it."""

    recall: AreaRecall
    overdue: bool


@dataclass(frozen=True, slots=True)
class CommandCentre:
    """The command centre's figures at ``as_of``: samples per hour and the chain's counts."""

    as_of: datetime
    samples_per_hour: list[SamplesInHour]
    chain: ChainCounts


@dataclass(frozen=True, slots=True)
class PreviewRow:
    row: int
    barcode: str
    result: str
    verdict: str  # new | duplicate | correction | rejected
    reason: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class ResultsPreview:
    rows: int
    new: int
    duplicate: int
    corrections: int
    rejected: int
    positives: int
    items: list[PreviewRow]

    @property
    def committable(self) -> bool:
        return self.new + self.corrections > 0


class WorklistService:
    def __init__(self, deps: Deps, queries: WorklistQueries) -> None:
        self._d = deps
        self._q = queries

    # -- courier ---------------------------------------------------------------------------

    def courier_boxes(self, actor: Principal, limit: int = 200) -> CourierBoxes:
        """Boxes waiting to be collected and boxes this courier carries, with their age since
        the first tube was sealed and whether they are late for the lab (4 h by default)."""
        authorize(actor, Action.READ_BOXES_TO_COLLECT)
        now = self._d.clock.now()
        mine = None if actor.role is Role.ADMIN else actor.user_id
        return CourierBoxes(self._aged(self._q.boxes_to_collect(limit), now),
                            self._aged(self._q.boxes_in_transit(mine, limit), now),
                            self._d.limits.transport.total_seconds() / 60)

    def _aged(self, boxes: Iterable[SealedBox | BoxInTransit],
              now: datetime) -> list[CourierBox]:
        lim = self._d.limits.transport
        out = []
        for b in boxes:
            t0 = b.first_tube_sealed_at
            age = (now - t0) if t0 is not None else None
            out.append(CourierBox(b, None if age is None else int(age.total_seconds() // 60),
                                  age is not None and age > lim))
        return out

    # -- lab -------------------------------------------------------------------------------

    def lab_boxes(self, actor: Principal, lab_id: str, limit: int = 50, offset: int = 0,
                  code: str | None = None) -> list[LabBox]:
        """The boxes the lab received in the last 2 days, newest first, a page at a time
        (``offset``), or the one with this box ``code``."""
        authorize(actor, Action.READ_LAB_QUEUE, Target(lab=lab_id), field="lab_id")
        if offset < 0:
            raise InvalidInput("offset must be ≥ 0", code="bad_limit", field="offset")
        since = self._d.clock.now() - timedelta(days=2)
        return self._q.lab_boxes(lab_id, since, limit, offset,
                                 code.strip().upper() if code else None)

    def preview_results(self, actor: Principal, lab_id: str,
                        rows: Iterable[Mapping[str, Any]], limit: int = 100_000,
                        ) -> ResultsPreview:
        """Check a results file without writing anything: each row would be a new result, a
        duplicate, a correction, or rejected (with the reason) — the same rules as
        ``LabService.record``, read against the tubes as they are now."""
        authorize(actor, Action.RECORD_RESULTS, Target(lab=lab_id), field="lab_id")
        parsed: list[tuple[int, str, Result, str | None]] = []
        items: list[PreviewRow] = []
        total = 0
        for counted, raw in enumerate(rows, start=2):  # row 1 is the header
            n = int(raw.get(ROW_NUMBER, counted))  # as the sheet shows it, when known
            total += 1
            if total > limit:
                break
            barcode = str(raw.get("barcode") or "").strip()
            try:
                r = parse_result_row(raw)
                barcode = check_tube_barcode(r.barcode)
                result = Result.parse(r.result)
                check_ct(r.ct)
            except HesuanError as exc:
                items.append(PreviewRow(n, barcode, str(raw.get("result") or ""), "rejected",
                                        exc.code, exc.message))
                continue
            parsed.append((n, barcode, result, r.correction_reason))
        with self._d.uow(readonly=True) as uow:
            if uow.places.lab(lab_id) is None:
                raise NotFound("lab_id: no such lab", code="unknown_lab", field="lab_id")
            tubes = uow.results.tubes_for_results(b for _, b, _, _ in parsed)
        seen: dict[str, Result] = {}
        for n, barcode, result, reason in parsed:
            t = tubes.get(barcode)
            if t is None:
                items.append(PreviewRow(n, barcode, result.value, "rejected", "unknown_tube",
                                        "barcode: no tube with this barcode exists"))
                continue
            if t.lab_id != lab_id or t.status not in ("received", "resulted"):
                items.append(PreviewRow(n, barcode, result.value, "rejected", "not_received",
                                        "barcode: this lab has not received the tube"))
                continue
            current = seen.get(barcode) or (Result(t.result) if t.result else None)
            if current is None:
                verdict, why = "new", None
            elif current is result and reason is None:
                verdict, why = "duplicate", None
            elif reason is None:
                items.append(PreviewRow(
                    n, barcode, result.value, "rejected", "result_conflict",
                    f"result: the tube is already {current}; send a correction with a reason"))
                continue
            else:
                verdict, why = "correction", reason
            seen[barcode] = result
            items.append(PreviewRow(n, barcode, result.value, verdict, None, why))
        items.sort(key=lambda p: p.row)
        count = {v: sum(1 for p in items if p.verdict == v)
                 for v in ("new", "duplicate", "correction", "rejected")}
        positives = sum(1 for p in items if p.verdict in ("new", "correction")
                        and p.result == Result.POSITIVE.value)
        return ResultsPreview(total, count["new"], count["duplicate"], count["correction"],
                              count["rejected"], positives, items)

    # -- sampling site ---------------------------------------------------------------------

    def site_overview(self, actor: Principal, site_id: str) -> SiteOverview:
        """A site's day: open tubes, sealed tubes waiting for a box, open boxes, tubes by
        status and samples per hour over the last 12 hours while it is open, or over its last
        opening while it is closed (at night a lead reads how the day went, not zeros)."""
        now = self._d.clock.now()
        with self._d.uow(readonly=True) as uow:
            found = uow.places.sites([site_id])
        if not found:
            raise NotFound("site_id: no such site", code="unknown_site", field="site_id")
        site = found[0]
        authorize(actor, Action.READ_SITE_QUEUE, site_target(site), field="site_id")
        state = site_state(site.opening_hours, site.status, now)
        since, until = ((now - timedelta(hours=12), now) if state.open
                        else (state.current.start, min(state.current.end, now)))
        return SiteOverview(site, self._q.site_tubes(site_id, since), state, since, until)

    # -- area lists (grid worker, health officer) ------------------------------------------

    def recalls(self, actor: Principal, overdue_only: bool = False,
                limit: int = 200) -> list[RecallOnList]:
        """Open recalls (复核) of people in the caller's area, most overdue first."""
        authorize(actor, Action.READ_RECALLS)
        now, area = self._d.clock.now(), region_prefix(actor)
        rows = self._q.recalls(area, now, overdue_only, limit)
        self._audit(actor, "recalls.read", area, len(rows))
        return [RecallOnList(r, r.due_at < now and not r.answered) for r in rows]

    def exemptions(self, actor: Principal, limit: int = 200) -> list[AreaExemption]:
        """Exemptions in force of people in the caller's area (their reasons and notes)."""
        authorize(actor, Action.READ_EXEMPTIONS)
        area = region_prefix(actor)
        rows = self._q.exemptions(area, self._d.clock.now(), limit)
        self._audit(actor, "exemptions.read", area, len(rows))
        return rows

    def _audit(self, actor: Principal, action: str, area: str, people: int) -> None:
        """A read of people's data on an area's list: who, which list, how many people."""
        with self._d.uow() as uow:
            uow.audit_log.append(self._d.clock.now(), actor.username, action,
                                 f"region:{area}", {"people": people})
            uow.commit()

    def status_counts(self, actor: Principal) -> StatusCounts:
        """People by status colour and by reason in the caller's area."""
        area = region_prefix(actor)
        authorize(actor, Action.READ_STATUS_COUNTS, Target(region=area))
        return self._q.status_counts(area)

    # -- command centre --------------------------------------------------------------------

    def command_centre(self, actor: Principal, hours: int = 24) -> CommandCentre:
        """Samples per hour over the last ``hours``, and counts across the chain (people by
        status come from ``district_status``)."""
        area = region_prefix(actor)
        authorize(actor, Action.READ_DASHBOARD, Target(region=area))
        now = self._d.clock.now()
        lim = self._d.limits
        return CommandCentre(now, self._q.samples_per_hour(now - timedelta(hours=hours), area),
                             self._q.chain_counts(now, lim.transport, lim.lab, area))

    def district_status(self, actor: Principal) -> dict[str, StatusCounts]:
        """People by status per district (for the command centre's map)."""
        area = region_prefix(actor)
        authorize(actor, Action.READ_DASHBOARD, Target(region=area))
        return {k: v for k, v in self._q.district_status().items()
                if k.startswith(area) or area.startswith(k)}

    # -- admin -----------------------------------------------------------------------------

    def users(self, actor: Principal) -> list[UserSummary]:
        authorize(actor, Action.LIST_USERS)
        return self._q.users()

