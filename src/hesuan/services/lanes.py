"""The two lanes at a site — registration (登记) and swabbing (采样) — and the live queue,
throughput, time per sample and wait estimate (F2, F5).

Two new station event kinds, with client-made ids like every scan (a replayed event is a
duplicate and changes nothing):

* ``register`` — the registrar scans a person's sampling code and binds them to the next tube
  (its barcode; the tube must be open at the site). The person joins the queue. The pooling
  rules are checked now (capacity counting people already bound, key groups and recalls in single
  tubes, never two open tubes), so a swab never fails on them later.
* ``swab`` — the swabber marks one bound person (their code) or a whole tube (its barcode)
  swabbed. Each swab is recorded as the spine's ``sample`` event (same tube, same chain: the
  tube seals itself when full, its box, lab and result follow), with an id derived from the swab
  event's id, so replaying a swab is a duplicate all the way down.

The spine's events (``open_tube``, ``sample``, ``seal_tube``, ``box_tube``, ``seal_box``) pass
through in order in the same batch, so a station sends one ordered batch; the single-lane flow
(``/scans``) stays valid for small sites.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from hesuan.domain.access import Action, Principal, Target, allows
from hesuan.domain.errors import HesuanError, InvalidInput, NotFound, RuleViolation
from hesuan.domain.event_ids import canonical_event_id
from hesuan.domain.lanes import LAPSING_REASONS, RATE_WINDOW, site_load
from hesuan.domain.people import parse_groups
from hesuan.domain.sampling import (
    PersonFacts,
    TubeStatus,
    admit_person,
    check_event_time,
    check_not_before,
    check_tube_barcode,
)
from hesuan.services.context import Deps
from hesuan.services.lanes_ports import LaneEntry, LaneLapse, LaneSwab
from hesuan.services.people_ports import SiteRow
from hesuan.services.ports import UnitOfWork
from hesuan.services.sampling import (
    BoundPerson,
    EventKind,
    EventOutcome,
    LaneTube,
    SamplingService,
    StationEvent,
    run_station_batch,
)
from hesuan.services.sampling_ports import StationEventRow

__all__ = ["LANE_KINDS", "LaneEvent", "LaneService", "NotSwabbed", "SiteLoadNow", "SwabOutcome"]

LANE_KINDS = ("register", "swab")
_NS = uuid.UUID("5d2f1b9e-8c3a-4d61-9b7e-2a6f0c4e8d13")
_HISTORY = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class LaneEvent:
    event_id: str
    kind: str  # register | swab | any spine kind
    site_id: str
    at: datetime
    barcode: str | None = None
    code: str | None = None
    window: int | None = None
    mode: int | None = None
    box_code: str | None = None


@dataclass(frozen=True, slots=True)
class NotSwabbed:
    """One bound to a tube whom a swab did not take: their name as the window may show it, why
    (an error code), and where their registration stands: waiting for a swab sent again
    (``waiting``), or lapsed so that they are registered to a tube they may go into
    (``lapsed``, ``domain.lanes.LAPSING_REASONS``)."""

    name: str
    reason: str
    registration: Literal["waiting", "lapsed"]


@dataclass(frozen=True, slots=True)
class SwabOutcome(EventOutcome):
    """A swab's answer: the event's, with those bound whom it did not take."""

    not_swabbed: tuple[NotSwabbed, ...] = ()


def derived_id(event_id: str, person_id: str) -> str:
    """The id of the spine ``sample`` event a swab becomes (stable across replays)."""
    return str(uuid.uuid5(_NS, f"{event_id}:{person_id}"))


@dataclass(frozen=True, slots=True)
class SiteLoadNow:
    """A site's live numbers (docs/schemas/sites): the site, its windows and those staffed,
    then its load (``domain.lanes.SiteLoad``: queue, swabs in the rate window, the windows
    that swabbed, swabs per minute, seconds per sample p50/p90, the wait for someone arriving
    now and what that is based on)."""

    site_id: str
    name: str
    kind: str
    status: str
    windows: int
    staffed_windows: int
    swabs_per_min_per_staffed_window: float | None
    as_of: datetime
    queue: int | None
    swabs: int
    window_minutes: float
    open_windows: int
    swabs_per_min: float
    swabs_per_min_per_window: float | None
    sample_seconds_p50: float | None
    sample_seconds_p90: float | None
    wait_minutes: float | None
    basis: str


class LaneService:
    def __init__(self, deps: Deps, sampling: SamplingService) -> None:
        self._d = deps
        self._sampling = sampling

    # -- events --------------------------------------------------------------------------------

    def submit(self, actor: Principal, events: Sequence[LaneEvent]) -> list[EventOutcome]:
        return run_station_batch(self._d, actor, len(events),
                                 lambda uow, now: self._run(uow, actor, events, now))

    def _run(self, uow: UnitOfWork, actor: Principal, events: Sequence[LaneEvent],
             now: datetime) -> list[EventOutcome]:
        outcomes: list[EventOutcome] = []
        i = 0
        while i < len(events):
            j = i
            lane = events[i].kind in LANE_KINDS
            while j < len(events) and (events[j].kind in LANE_KINDS) == lane:
                j += 1
            run = events[i:j]
            if lane:
                outcomes += self._lane_run(uow, actor, run, now)
            else:
                spine: list[StationEvent] = []
                for e in run:
                    try:
                        kind = EventKind(e.kind)
                    except ValueError:
                        spine = []
                        break
                    spine.append(StationEvent(e.event_id, kind, e.site_id, e.at, e.barcode,
                                              e.mode, e.code, e.box_code, e.window))
                if len(spine) == len(run):
                    outcomes += self._sampling.run_in(uow, actor, spine, now)
                else:
                    outcomes += [self._spine_one(uow, actor, e, now) for e in run]
            i = j
        return outcomes

    def _spine_one(self, uow: UnitOfWork, actor: Principal, e: LaneEvent,
                   now: datetime) -> EventOutcome:
        try:
            kind = EventKind(e.kind)
        except ValueError:
            kinds = ", ".join([*LANE_KINDS, *(k.value for k in EventKind)])
            return EventOutcome(e.event_id, "rejected", "bad_kind", f"kind must be one of "
                                f"{kinds}", "kind")
        return self._sampling.run_in(uow, actor, [StationEvent(
            e.event_id, kind, e.site_id, e.at, e.barcode, e.mode, e.code, e.box_code,
            e.window)], now)[0]

    def _lane_run(self, uow: UnitOfWork, actor: Principal, sent: Sequence[LaneEvent],
                  now: datetime) -> list[EventOutcome]:
        # an id is one value whatever its spelling: looked up and stored in its one form,
        # answered as sent
        run = [replace(e, event_id=_canonical(e.event_id)) for e in sent]
        known = uow.station.known_events(e.event_id for e in run)
        sites = {s.id: s for s in uow.places.sites({e.site_id for e in run})}
        results: dict[int, EventOutcome] = {}
        swabs: list[tuple[int, LaneEvent, list[LaneEntry]]] = []
        seen: set[str] = set()
        events_rows: list[tuple[int, StationEventRow]] = []
        for n, e in enumerate(run):
            if e.event_id in known or e.event_id in seen:
                results[n] = EventOutcome(e.event_id, "duplicate")
                continue
            try:
                _check(actor, e, sites, now, self._d.limits.offline_window)
                if e.kind == "register":
                    results[n] = self._register(uow, e)
                else:
                    swabs.append((n, e, self._bound(uow, e)))
            except HesuanError as exc:
                results[n] = EventOutcome(e.event_id, "rejected", exc.code, exc.message,
                                          exc.field)
                continue
            seen.add(e.event_id)
            events_rows.append((n, StationEventRow(e.event_id, e.kind, e.site_id, actor.user_id,
                                                   e.at, now)))
        if swabs:
            self._swab(uow, actor, swabs, results, now)
        uow.lanes.record_lane_events([r for n, r in events_rows if results[n].status == "accepted"])
        return [replace(results[n], event_id=e.event_id) for n, e in enumerate(sent)]

    def _register(self, uow: UnitOfWork, e: LaneEvent) -> EventOutcome:
        if not e.code:
            raise InvalidInput("code is required: scan the person's sampling code",
                               code="missing_code", field="code")
        pid = self._d.codes.verify(e.code)
        if pid is None:
            raise InvalidInput("code: the sampling code is forged, altered or unreadable",
                               code="forged_code", field="code")
        barcode = check_tube_barcode(e.barcode or "")
        tube = uow.station.tubes_by_barcode([barcode], for_update=True).get(barcode)
        if tube is None:
            raise NotFound("barcode: open the tube (open_tube) before binding people to it",
                           code="unknown_tube", field="barcode")
        check_not_before(e.at, tube.opened_at, "opened_for_registration")
        if uow.lanes.pending_for_people([pid], for_update=True):
            raise RuleViolation("code: this person is already registered and waiting to be "
                                "swabbed", code="already_registered", field="code")
        facts = uow.people.person_facts([pid]).get(pid)
        admit_person(tube, None if facts is None else PersonFacts(
            pid, parse_groups(facts.groups.split(",")), facts.open_tube_id,
            bool(facts.open_recall_id)), e.site_id)
        uow.lanes.add_lane_entries([LaneEntry(e.event_id, e.site_id, e.window, barcode, pid, e.at)])
        assert facts is not None
        return EventOutcome(e.event_id, "accepted",
                            tube=LaneTube(barcode, tube.count + tube.waiting + 1, tube.capacity,
                                          TubeStatus.OPEN.value),
                            person=BoundPerson(facts.name_masked))

    def _bound(self, uow: UnitOfWork, e: LaneEvent) -> list[LaneEntry]:
        """The registrations a swab answers, none of them stamped after it."""
        got = self._waiting(uow, e)
        for entry in got:
            check_not_before(e.at, entry.registered_at, "registered")
        return got

    def _waiting(self, uow: UnitOfWork, e: LaneEvent) -> list[LaneEntry]:
        if e.code:
            pid = self._d.codes.verify(e.code)
            if pid is None:
                raise InvalidInput("code: the sampling code is forged, altered or unreadable",
                                   code="forged_code", field="code")
            got = uow.lanes.lane_pending(e.site_id, person_ids=[pid])
            if not got:
                raise RuleViolation("code: this person is not registered at this site "
                                    "(register first)", code="not_registered", field="code")
            return got
        if e.barcode:
            got = uow.lanes.lane_pending(e.site_id, barcodes=[check_tube_barcode(e.barcode)])
            if not got:
                raise RuleViolation("barcode: no one is waiting on this tube",
                                    code="nobody_bound", field="barcode")
            return got
        raise InvalidInput("swab: give the person's code or the tube's barcode",
                           code="missing_code", field="code")

    def _swab(self, uow: UnitOfWork, actor: Principal,
              swabs: list[tuple[int, LaneEvent, list[LaneEntry]]],
              results: dict[int, EventOutcome], now: datetime) -> None:
        spine: list[StationEvent] = []
        owner: dict[str, tuple[int, LaneEntry]] = {}
        for n, e, entries in swabs:
            for entry in entries:
                sid = derived_id(e.event_id, entry.person_id)
                owner[sid] = (n, entry)
                spine.append(StationEvent(sid, EventKind.SAMPLE, e.site_id, e.at,
                                          entry.barcode, None,
                                          self._d.codes.sign(entry.person_id), None,
                                          e.window if e.window is not None else entry.window))
        outs = self._sampling.run_in(uow, actor, spine, now)
        done: list[LaneSwab] = []
        per: dict[int, list[EventOutcome]] = {}
        for o in outs:
            n, entry = owner[o.event_id]
            per.setdefault(n, []).append(o)
            if o.status in ("accepted", "duplicate"):
                e = next(x for m, x, _ in swabs if m == n)
                done.append(LaneSwab(entry.event_id, e.at, e.event_id,
                                     e.window if e.window is not None else entry.window))
        uow.lanes.mark_swabbed(done)
        # those bound whom the swabs did not take, unless another swab of the batch took them
        swabbed = {x.registration_id for x in done}
        barred = [(entry, o) for o in outs if o.status == "rejected"
                  and (entry := owner[o.event_id][1]).event_id not in swabbed]
        missed = self._not_swabbed(uow, barred, now) if barred else {}
        for n, e, _ in swabs:
            got = per.get(n, [])
            ok = [o for o in got if o.status in ("accepted", "duplicate")]
            left = tuple(missed[o.event_id] for o in got if o.event_id in missed)
            if ok:
                results[n] = SwabOutcome(
                    e.event_id, "accepted", tube=ok[-1].tube, person=ok[-1].person,
                    message=None if not left else "not swabbed: " + "; ".join(
                        f"{x.name} ({x.reason}, registration {x.registration})"
                        for x in left),
                    not_swabbed=left)
            else:
                first = next((o for o in got if o.status == "rejected"), None)
                results[n] = SwabOutcome(e.event_id, "rejected",
                                         first.reason if first else "nobody_bound",
                                         first.message if first else None,
                                         first.field if first else None, not_swabbed=left)

    def _not_swabbed(self, uow: UnitOfWork, barred: list[tuple[LaneEntry, EventOutcome]],
                     now: datetime) -> dict[str, NotSwabbed]:
        """Those bound whom a swab did not take, by their sample event's id: named as the
        window may show them, with why and where their registration stands; one whose person
        may no longer go into its tube lapses."""
        facts = uow.people.person_facts([entry.person_id for entry, _ in barred])
        uow.lanes.lapse([LaneLapse(entry.event_id, now, o.reason) for entry, o in barred
                         if o.reason in LAPSING_REASONS])
        return {o.event_id: NotSwabbed(
            f.name_masked if (f := facts.get(entry.person_id)) is not None else "",
            o.reason or "", "lapsed" if o.reason in LAPSING_REASONS else "waiting")
            for entry, o in barred}

    # -- live numbers ------------------------------------------------------------------------

    def load(self, actor: Principal, site_ids: Sequence[str] | None = None) -> list[SiteLoadNow]:
        """Per site: the queue, swabs per minute (per open and per staffed window), the time
        per sample p50/p90, and the wait for someone arriving now with what it is based on.
        Sites are public (residents look for a short queue); any signed-in user may read."""
        now = self._d.clock.now()
        with self._d.uow(readonly=True) as uow:
            sites = uow.places.sites(site_ids)
            ids = [s.id for s in sites]
            queues = uow.lanes.queue_lengths(ids, now - _HISTORY)
            swabs = uow.lanes.recent_swabs(ids, now - _HISTORY, now)
            staffed: dict[str, set[int | None]] = {}
            for sh in uow.teams.shifts_on(ids):
                staffed.setdefault(sh.place_id, set()).add(sh.window)
        out = []
        for s in sites:
            load = site_load(swabs.get(s.id, []), queues.get(s.id), now, RATE_WINDOW)
            windows = len({w for w in staffed.get(s.id, set()) if w is not None})
            out.append(SiteLoadNow(
                site_id=s.id, name=s.name, kind=s.kind, status=s.status, windows=s.windows,
                staffed_windows=windows,
                swabs_per_min_per_staffed_window=(round(load.swabs_per_min / windows, 2)
                                                  if windows else None),
                as_of=now, queue=load.queue, swabs=load.swabs,
                window_minutes=load.window_minutes, open_windows=load.open_windows,
                swabs_per_min=load.swabs_per_min,
                swabs_per_min_per_window=load.swabs_per_min_per_window,
                sample_seconds_p50=load.sample_seconds_p50,
                sample_seconds_p90=load.sample_seconds_p90, wait_minutes=load.wait_minutes,
                basis=load.basis))
        return out


def _canonical(event_id: str) -> str:
    """The id's one form; as sent when it is no UUID (``_check`` rejects it)."""
    try:
        return canonical_event_id(event_id)
    except InvalidInput:
        return event_id


def _check(actor: Principal, e: LaneEvent, sites: Mapping[str, SiteRow], now: datetime,
           offline_window: timedelta) -> None:
    canonical_event_id(e.event_id)  # bad_event_id
    if e.site_id not in sites:
        raise NotFound("site_id: no such site", code="unknown_site", field="site_id")
    if not allows(actor, Action.RECORD_STATION_EVENTS, Target(site=e.site_id)):
        raise RuleViolation("site_id: you may only record events at your own site",
                            code="wrong_site", field="site_id")
    check_event_time(e.at, now, offline_window)
