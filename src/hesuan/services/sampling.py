"""Station events at a sampling site (采): open a tube, sample a person, seal, box, seal a box.

Every event carries a client-made UUID and the client's time. A batch (up to 1,000 events, the
offline sync of a station) is processed in order in one transaction: each event is accepted,
a duplicate (its id was accepted before with the same content: nothing changes), or rejected
with a reason code — ``event_conflict`` when its id was accepted before with other content (the
first stands, and an alert is raised); a rejected event never blocks the rest, and nothing of
it is written. An id is one value whatever its spelling: lookups and rows use its canonical
form, answers the spelling the station sent.

A replay may arrive while its first request is still running. The rows a batch names (tubes,
boxes) are locked before its ids are looked up, so a replay that waited for the first request
finds that request's ids known; where no row is there to lock yet (a tube opened in the batch),
the event-id key decides: the second insert fails, and the retry finds the ids known.

Accepted events are durable once the call returns. The work is set-based: the batch reads what
it touches in a handful of queries, decides in memory with the pure domain rules, and writes in
a handful of bulk statements.

Single events from many windows at once (``submit_one``, on the API server's event loop) are
group-committed (合并提交): the events that arrive while one transaction is being written go
together into the next one, so a busy city pays for one transaction per group, not per scan, and
each caller still gets its answer only after its event is durable.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from hesuan.domain.access import Action, Principal, Target, allows, authorize
from hesuan.domain.errors import Conflict, HesuanError, InvalidInput, NotFound, RuleViolation
from hesuan.domain.event_ids import canonical_event_id, content_digest
from hesuan.domain.people import parse_groups
from hesuan.domain.sampling import (
    PersonFacts,
    SiteKind,
    TubeState,
    TubeStatus,
    admit_person,
    check_box_code,
    check_box_for_packing,
    check_event_time,
    check_not_before,
    check_opening,
    check_tube_barcode,
)
from hesuan.services.context import Deps, write_retrying
from hesuan.services.group_commit import GroupCommit
from hesuan.services.outbox_ports import AlertRow
from hesuan.services.people_ports import PersonFactsRow, SiteRow
from hesuan.services.ports import CodeSigner, UnitOfWork
from hesuan.services.sampling_ports import (
    BoxChangeRow,
    BoxRow,
    NewBoxRow,
    NewTubeRow,
    SampleRow,
    StationEventRow,
    StationWrites,
    TubeChangeRow,
)
from hesuan.services.status import StatusService

__all__ = ["BoundPerson", "BoxToPack", "EventKind", "EventOutcome", "LaneTube", "SampledPerson",
           "SamplingService", "SealedBox", "StationEvent", "TubeView", "run_station_batch"]


class EventKind(enum.StrEnum):
    OPEN_TUBE = "open_tube"
    SAMPLE = "sample"
    SEAL_TUBE = "seal_tube"
    BOX_TUBE = "box_tube"
    SEAL_BOX = "seal_box"


@dataclass(frozen=True, slots=True)
class StationEvent:
    event_id: str
    kind: EventKind
    site_id: str
    at: datetime
    barcode: str | None = None
    mode: int | None = None
    code: str | None = None
    box_code: str | None = None
    window: int | None = None


# The answers' parts are made once an accepted scan and are not frozen: a frozen dataclass's
# ``__init__`` sets each field through ``object.__setattr__``, four times the cost.
@dataclass(slots=True)
class TubeView:
    """The tube an accepted station event opened, filled, sealed or packed, as it now stands."""

    barcode: str
    count: int
    capacity: int
    status: str
    priority: bool


@dataclass(slots=True)
class SealedBox:
    """The box a ``seal_box`` event sealed (answered in an outcome's ``tube``)."""

    box_code: str
    tube_count: int


@dataclass(slots=True)
class LaneTube:
    """The tube a person was registered for in a lane (``LaneService``): how many are bound
    to it, the swabbed and the waiting."""

    barcode: str
    bound: int
    capacity: int
    status: str


@dataclass(slots=True)
class SampledPerson:
    """Who was sampled, as the window may show it: a masked name, and whether the sample
    answers their recall."""

    name: str
    recall: bool


@dataclass(slots=True)
class BoundPerson:
    """Who was registered in a lane, as the window may show it: a masked name."""

    name: str


@dataclass(frozen=True, slots=True)
class EventOutcome:
    event_id: str
    status: str  # accepted | duplicate | rejected
    reason: str | None = None
    message: str | None = None
    field: str | None = None
    tube: TubeView | SealedBox | LaneTube | None = None
    person: SampledPerson | BoundPerson | None = None


@dataclass(frozen=True, slots=True)
class BoxToPack:
    """A box a station may pack: its code and the tubes already in it."""

    box_code: str
    tubes: int


class _Batch:
    """In-memory state of one batch: what was loaded, and what the accepted events change."""

    def __init__(self, sites: dict[str, SiteRow], tubes: dict[str, TubeState],
                 boxes: dict[str, BoxRow], people: dict[str, PersonFactsRow]) -> None:
        self.sites = sites
        self.tubes = tubes  # by barcode
        self.existing_tube_ids = {t.id for t in tubes.values()}
        self.boxes = boxes  # by code
        self.existing_box_ids = {b.id for b in boxes.values()}
        self.people = people
        self.open_tube_of: dict[str, str | None] = {
            pid: f.open_tube_id for pid, f in people.items()
        }
        self.in_tube: dict[str, set[str]] = {}
        for pid, tid in self.open_tube_of.items():
            if tid is not None:
                self.in_tube.setdefault(tid, set()).add(pid)
        self.w = StationWrites()
        self.touched_tubes: set[str] = set()
        self.touched_boxes: set[str] = set()
        #: the tubes the batch opens: id → (window, opened at, opened by)
        self.opened_tubes: dict[str, tuple[int | None, datetime, str]] = {}
        #: (user, site) pairs whose events the access policy has let through in this batch
        self.sites_allowed: set[tuple[str, str]] = set()
        #: the boxes the batch packs first: id → opened at
        self.opened_boxes: dict[str, datetime] = {}
        #: the boxes the batch seals: id → sealed at
        self.sealed_boxes: dict[str, datetime] = {}


def run_station_batch(deps: Deps, actor: Principal, size: int,
                      run: Callable[[UnitOfWork, datetime], list[EventOutcome]],
                      ) -> list[EventOutcome]:
    """The frame of every station batch (single-lane, two-lane): role and size checks, one
    transaction, committed before the answer."""
    check_station_batch(deps, actor, size)
    return _in_transaction(deps, run)


def check_station_batch(deps: Deps, actor: Principal, size: int) -> None:
    """May ``actor`` send a station batch of ``size`` events?"""
    authorize(actor, Action.RECORD_STATION_EVENTS)
    if size > deps.limits.batch_max:
        raise InvalidInput(f"events: a batch holds at most {deps.limits.batch_max} events",
                           code="batch_too_large", field="events")


def _in_transaction(deps: Deps, run: Callable[[UnitOfWork, datetime], list[EventOutcome]],
                    ) -> list[EventOutcome]:
    now = deps.clock.now()
    return write_retrying(deps, lambda uow: run(uow, now))


#: One station event with the principal who sent it (a group commit mixes windows and sites).
_Item = tuple[Principal, StationEvent]


class _Scanned:
    """What a batch's events say before any of the store is read: the tubes and boxes they
    name (normalised), and the person each sampling code stands for (None: forged)."""

    __slots__ = ("barcodes", "box_codes", "person_of_code", "sealed_by_hand")

    def __init__(self, events: Iterable[StationEvent], codes: CodeSigner) -> None:
        self.barcodes: set[str] = set()
        self.box_codes: set[str] = set()
        self.sealed_by_hand: set[str] = set()  # the barcodes of the batch's seal_tube events
        self.person_of_code: dict[str, str | None] = {}
        for e in events:
            if e.barcode:
                barcode = e.barcode.strip().upper()
                self.barcodes.add(barcode)
                if e.kind is EventKind.SEAL_TUBE:
                    self.sealed_by_hand.add(barcode)
            if e.box_code:
                self.box_codes.add(e.box_code.strip().upper())
            if e.code is not None and e.code not in self.person_of_code:
                self.person_of_code[e.code] = codes.verify(e.code)


class SamplingService:
    def __init__(self, deps: Deps, status: StatusService) -> None:
        self._d = deps
        self._status = status
        self._group = GroupCommit(self._write_group, deps.limits.batch_max,
                                  deps.inline_writes, deps.limits.station_groups_at_once)

    def submit(self, actor: Principal, events: Sequence[StationEvent]) -> list[EventOutcome]:
        check_station_batch(self._d, actor, len(events))
        return self._write_group([(actor, e) for e in events])

    def box_to_pack(self, actor: Principal, site_id: str, box_code: str) -> BoxToPack:
        """Whether the station at ``site_id`` may start packing ``box_code`` (a new box, or
        its own open box), checked when the box is scanned rather than at its first tube."""
        authorize(actor, Action.RECORD_STATION_EVENTS, Target(site=site_id), field="site_id")
        code = check_box_code(box_code.strip().upper())
        with self._d.uow(readonly=True) as uow:
            box = uow.station.boxes_by_code([code], for_update=False).get(code)
        check_box_for_packing(box.site_id if box else None, box.status if box else None,
                              site_id)
        return BoxToPack(code, len(box.tube_ids) if box else 0)

    def _write_group(self, items: Sequence[_Item]) -> list[EventOutcome]:
        """``items`` in one transaction."""
        # the codes' MACs are checked before the write turn is taken: another worker process
        # writes meanwhile (they were 15 % of a batch's time under the turn)
        scanned = _Scanned((e for _, e in items), self._d.codes)
        return _in_transaction(self._d, lambda uow, now: self._run(uow, items, now, scanned))

    async def submit_one(self, actor: Principal, event: StationEvent) -> EventOutcome:
        """One event from a window, group-committed with the events other windows send at the
        same moment; durable when it returns, as with ``submit``. Runs on the caller's event
        loop (the API server's); the group's transaction runs on that loop when it is small and
        the store's write turn is free (SQLite), otherwise on a worker thread (``GroupCommit``)."""
        authorize(actor, Action.RECORD_STATION_EVENTS)
        return await self._group.submit((actor, event))

    def run_in(self, uow: UnitOfWork, actor: Principal, events: Sequence[StationEvent],
               now: datetime) -> list[EventOutcome]:
        """Process station events inside the caller's unit of work, which commits (the
        two-lane flow and door-to-door household visits build on this)."""
        authorize(actor, Action.RECORD_STATION_EVENTS)
        return self._run(uow, [(actor, e) for e in events], now,
                         _Scanned(events, self._d.codes))

    def _run(self, uow: UnitOfWork, items: Sequence[_Item], now: datetime,
             scanned: _Scanned) -> list[EventOutcome]:
        events = [e for _, e in items]
        # the rows the events name first, locked (PostgreSQL: FOR UPDATE): whatever is read
        # after them — the ids already known, where people are — is what the request this one
        # waited for committed, so a replay finds its ids known instead of judging its events
        # against their own effects (tube_sealed, box_sealed...)
        tube_rows = uow.station.tubes_by_barcode(scanned.barcodes, for_update=True)
        box_rows = uow.station.boxes_by_code(scanned.box_codes, for_update=True)
        if sealing := [t for bc, t in tube_rows.items() if bc in scanned.sealed_by_hand]:
            last = uow.station.last_sampled(t.id for t in sealing)
            for t in sealing:
                t.last_sampled_at = last.get(t.id)
        ids = [_canonical_or_none(e.event_id) for e in events]
        known = uow.station.known_events(i for i in ids if i is not None)
        person_of_code = scanned.person_of_code
        person_ids = {p for p in person_of_code.values() if p}
        b = _Batch(
            sites={s.id: s for s in uow.places.sites({e.site_id for e in events})},
            tubes=tube_rows,
            boxes=box_rows,
            people=uow.people.person_facts(person_ids),
        )
        outcomes: list[EventOutcome] = []
        seen: dict[str, str] = {}  # canonical id: digest, of the events accepted in this batch
        accepted: dict[tuple[str, str | None], list[int]] = {}  # per actor: events, samples
        for (actor, e), cid in zip(items, ids, strict=True):
            if cid is not None and (cid in known or cid in seen):
                first = known[cid] if cid in known else seen[cid]
                if first is None or first == _digest(e):
                    outcomes.append(EventOutcome(e.event_id, "duplicate"))
                else:
                    outcomes.append(_conflict(e))
                    self._alert_conflict(uow, actor, e, cid, now)
                continue
            try:
                if cid is None:
                    cid = canonical_event_id(e.event_id)  # raises: not a UUID
                self._check_site(actor, b, e, now)
                # rows keep the canonical id (a sample's own), answers the station's spelling
                tube, person = self._apply(
                    b, e if cid == e.event_id else replace(e, event_id=cid), person_of_code,
                    actor, now)
            except HesuanError as exc:
                outcomes.append(EventOutcome(e.event_id, "rejected", exc.code, exc.message,
                                             exc.field))
                continue
            digest = seen[cid] = _digest(e)
            b.w.events.append(StationEventRow(cid, e.kind.value, e.site_id, actor.user_id, e.at,
                                              now, digest))
            counts = accepted.setdefault((actor.username, actor.scope), [0, 0])
            counts[0] += 1
            counts[1] += e.kind is EventKind.SAMPLE
            outcomes.append(EventOutcome(e.event_id, "accepted", tube=tube, person=person))
        self._finish(b)
        if b.w.events:
            # a new sample clears 未检 at once: the write decides the common case itself,
            # the refresh the rest
            if left := uow.station.apply_station_writes(b.w, now):
                self._status.refresh(uow, now, person_ids=left)
            for (username, scope), (n_events, n_samples) in accepted.items():
                uow.audit_log.append(now, username, "station.batch", f"site:{scope or '*'}",
                          {"accepted": n_events, "samples": n_samples})
        return outcomes

    def _alert_conflict(self, uow: UnitOfWork, actor: Principal, e: StationEvent, cid: str,
                        now: datetime) -> None:
        """One open alert per id sent with content other than its first (a station fault or a
        forgery); its detail names the event, never the person."""
        uow.alerts.add(AlertRow(id=self._d.new_id(), kind="event_conflict",
                                subject_id=uuid.UUID(cid).hex, raised_at=now,
                                detail={"event_id": cid, "kind": e.kind.value,
                                        "site_id": e.site_id, "sent_by": actor.username}))

    # -- one event -------------------------------------------------------------------------

    def _check_site(self, actor: Principal, b: _Batch, e: StationEvent, now: datetime) -> None:
        # a batch is one station's events: the policy is asked once per sender and site
        if (actor.user_id, e.site_id) not in b.sites_allowed:
            if e.site_id not in b.sites:
                raise NotFound("site_id: no such site", code="unknown_site", field="site_id")
            if not allows(actor, Action.RECORD_STATION_EVENTS, Target(site=e.site_id)):
                raise RuleViolation("site_id: you may only record events at your own site",
                                    code="wrong_site", field="site_id")
            b.sites_allowed.add((actor.user_id, e.site_id))
        check_event_time(e.at, now, self._d.limits.offline_window)
        windows = b.sites[e.site_id].windows
        if e.window is not None and not 1 <= e.window <= windows:
            # the window feeds the site's load and its staff's posts: one it has not, nothing
            raise InvalidInput(f"window must be 1-{windows} at this site", code="bad_window",
                               field="window")

    def _apply(self, b: _Batch, e: StationEvent, person_of_code: dict[str, str | None],
               actor: Principal, now: datetime) -> tuple[TubeView | SealedBox,
                                                         SampledPerson | None]:
        """The event applied to the batch's state: the tube (or box) it leaves, and the person
        sampled if it is a sample."""
        if e.kind is EventKind.OPEN_TUBE:
            return self._open_tube(b, e, actor), None
        if e.kind is EventKind.SAMPLE:
            return self._sample(b, e, person_of_code)
        if e.kind is EventKind.SEAL_TUBE:
            tube = self._own_tube(b, e)
            if tube.status is not TubeStatus.OPEN:
                raise RuleViolation("barcode: the tube is already sealed", code="tube_sealed",
                                    field="barcode")
            if tube.count == 0:
                raise RuleViolation("barcode: an empty tube cannot be sealed",
                                    code="empty_tube", field="barcode")
            check_not_before(e.at, tube.first_sampled_at, "first_sampled")
            check_not_before(e.at, tube.last_sampled_at, "last_sampled")
            _seal(b, tube, e.at)
            return _tube_view(tube), None
        if e.kind is EventKind.BOX_TUBE:
            return self._box_tube(b, e), None
        return self._seal_box(b, e), None

    def _open_tube(self, b: _Batch, e: StationEvent, actor: Principal) -> TubeView:
        barcode = check_tube_barcode(e.barcode or "")
        if e.mode is None:
            raise InvalidInput("mode is required to open a tube (1, 5, 10 or 20)",
                               code="bad_mode", field="mode")
        priority = check_opening(e.mode, SiteKind(b.sites[e.site_id].kind))
        if barcode in b.tubes:
            raise Conflict("barcode: this tube barcode has already been used (一管一码)",
                           code="barcode_used", field="barcode")
        tube = TubeState(id=self._d.new_id(), barcode=barcode, site_id=e.site_id,
                         capacity=e.mode, priority=priority, status=TubeStatus.OPEN, count=0,
                         opened_at=e.at)
        b.tubes[barcode] = tube
        b.touched_tubes.add(tube.id)
        b.opened_tubes[tube.id] = (e.window, e.at, actor.user_id)
        return _tube_view(tube)

    def _own_tube(self, b: _Batch, e: StationEvent) -> TubeState:
        barcode = check_tube_barcode(e.barcode or "")
        tube = b.tubes.get(barcode)
        if tube is None:
            raise NotFound("barcode: no tube with this barcode has been opened",
                           code="unknown_tube", field="barcode")
        if tube.site_id != e.site_id:
            raise RuleViolation("barcode: the tube belongs to another site", code="wrong_site",
                                field="barcode")
        return tube

    def _sample(self, b: _Batch, e: StationEvent,
                person_of_code: dict[str, str | None]) -> tuple[TubeView, SampledPerson]:
        if not e.code:
            raise InvalidInput("code is required: scan the person's sampling code",
                               code="missing_code", field="code")
        person_id = person_of_code.get(e.code)
        if person_id is None:
            raise InvalidInput("code: the sampling code is forged, altered or unreadable",
                               code="forged_code", field="code")
        tube = b.tubes.get(check_tube_barcode(e.barcode or ""))
        f = b.people.get(person_id)
        registered = None if f is None else f.registered_barcode
        if registered in b.tubes and b.tubes[registered].status is not TubeStatus.OPEN:
            registered = None  # sealed earlier in this batch: the registration lapsed
        facts = None if f is None else PersonFacts(
            id=person_id, groups=parse_groups(f.groups.split(",")),
            open_tube_id=b.open_tube_of.get(person_id), has_open_recall=bool(f.open_recall_id),
            registered_barcode=registered)
        admission = admit_person(tube, facts, e.site_id)
        assert tube is not None and f is not None  # admit_person raised otherwise
        check_not_before(e.at, tube.opened_at, "opened")
        tube.count += 1
        if registered == tube.barcode:
            tube.waiting -= 1  # the place held for them is taken
        tube.priority = tube.priority or admission.priority
        if tube.first_sampled_at is None or e.at < tube.first_sampled_at:
            tube.first_sampled_at = e.at
        if tube.last_sampled_at is None or e.at > tube.last_sampled_at:
            tube.last_sampled_at = e.at
        b.open_tube_of[person_id] = tube.id
        b.in_tube.setdefault(tube.id, set()).add(person_id)
        b.touched_tubes.add(tube.id)
        recall_id = f.open_recall_id if tube.capacity == 1 else None
        b.w.samples.append(SampleRow(tube.id, person_id, e.event_id, e.at, recall_id))
        if admission.fills_tube:
            _seal(b, tube, e.at)
        return _tube_view(tube), SampledPerson(f.name_masked, recall_id is not None)

    def _box_tube(self, b: _Batch, e: StationEvent) -> TubeView:
        code = check_box_code(e.box_code or "")
        tube = self._own_tube(b, e)
        box = b.boxes.get(code)
        if box is not None:
            check_box_for_packing(box.site_id, box.status, e.site_id)
        if tube.status is TubeStatus.OPEN:
            raise RuleViolation("barcode: seal the tube before packing it into a box",
                                code="tube_not_sealed", field="barcode")
        if tube.box_id is not None:
            raise Conflict("barcode: the tube is already packed in a box (一管一箱)",
                           code="tube_in_box", field="barcode")
        if tube.status is not TubeStatus.SEALED:  # found in a box the lab received
            raise RuleViolation(f"barcode: the tube has reached a lab already ({tube.status}); "
                                "it is not packed again", code="tube_received", field="barcode")
        check_not_before(e.at, tube.sealed_at, "sealed")
        if box is None:
            box = BoxRow(id=self._d.new_id(), code=code, site_id=e.site_id, status="open",
                         tube_ids=[])
            b.boxes[code] = box
            b.opened_boxes[box.id] = e.at
        tube.box_id = box.id
        tube.status = TubeStatus.BOXED
        box.tube_ids.append(tube.id)
        if tube.sealed_at and (box.first_tube_sealed_at is None
                               or tube.sealed_at < box.first_tube_sealed_at):
            box.first_tube_sealed_at = tube.sealed_at
        if box.last_tube_at is None or e.at > box.last_tube_at:
            box.last_tube_at = e.at
        b.touched_tubes.add(tube.id)
        b.touched_boxes.add(box.id)
        return _tube_view(tube)

    def _seal_box(self, b: _Batch, e: StationEvent) -> SealedBox:
        code = check_box_code(e.box_code or "")
        box = b.boxes.get(code)
        if box is None:
            raise NotFound("box_code: no box with this code has been packed",
                           code="unknown_box", field="box_code")
        if box.site_id != e.site_id:
            raise RuleViolation("box_code: the box belongs to another site", code="wrong_site",
                                field="box_code")
        if box.status != "open":
            raise RuleViolation("box_code: the box is already sealed", code="box_sealed",
                                field="box_code")
        if not box.tube_ids:
            raise RuleViolation("box_code: an empty box cannot be sealed", code="empty_box",
                                field="box_code")
        check_not_before(e.at, box.last_tube_at, "packed")
        box.status = "sealed"
        b.touched_boxes.add(box.id)
        b.sealed_boxes[box.id] = e.at
        return SealedBox(box.code, len(box.tube_ids))

    # -- end of batch ----------------------------------------------------------------------

    def _finish(self, b: _Batch) -> None:
        """Turn the final in-memory state into the store's bulk writes."""
        w = b.w
        for t in b.tubes.values():
            if t.id not in b.touched_tubes:
                continue
            if (opened := b.opened_tubes.get(t.id)) is not None:
                window, opened_at, opened_by = opened
                w.new_tubes.append(NewTubeRow(
                    t.id, t.barcode, t.site_id, window, t.capacity, t.count, t.priority,
                    t.status.value, opened_at, opened_by, t.first_sampled_at, t.sealed_at,
                    t.box_id))
            else:
                w.tube_changes.append(TubeChangeRow(
                    t.count, t.priority, t.status.value, t.first_sampled_at, t.sealed_at,
                    t.box_id, t.id))
        for x in b.boxes.values():
            if x.id not in b.touched_boxes:
                continue
            tube_count = len(x.tube_ids) if x.status == "sealed" else None
            sealed_at = b.sealed_boxes.get(x.id)
            if (box_opened_at := b.opened_boxes.get(x.id)) is not None:
                w.new_boxes.append(NewBoxRow(x.id, x.code, x.site_id, x.status, box_opened_at,
                                             sealed_at, tube_count, x.first_tube_sealed_at))
            else:
                w.box_changes.append(BoxChangeRow(x.status, sealed_at, tube_count,
                                                  x.first_tube_sealed_at, x.id))


def _seal(b: _Batch, tube: TubeState, at: datetime) -> None:
    tube.status = TubeStatus.SEALED
    tube.sealed_at = at
    b.w.sealed_tube_ids.add(tube.id)
    b.touched_tubes.add(tube.id)
    for pid in b.in_tube.pop(tube.id, ()):
        b.open_tube_of[pid] = None


def _tube_view(t: TubeState) -> TubeView:
    return TubeView(t.barcode, t.count, t.capacity, t.status.value, t.priority)


def _canonical_or_none(event_id: str) -> str | None:
    try:
        return canonical_event_id(event_id)
    except InvalidInput:
        return None


def _digest(e: StationEvent) -> str:
    """What is kept of an event's content: the same id must come back with the same."""
    return content_digest(e.kind.value, e.site_id, e.at,
                          e.barcode and e.barcode.strip().upper(), e.mode, e.code,
                          e.box_code and e.box_code.strip().upper(), e.window)


def _conflict(e: StationEvent) -> EventOutcome:
    return EventOutcome(e.event_id, "rejected", "event_conflict",
                        "event_id: this id was accepted before with other content; the first "
                        "stands and the conflict is reported", "event_id")
