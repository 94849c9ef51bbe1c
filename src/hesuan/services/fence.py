"""Fence alerts (F13): checkpoint and venue scans against zones and statuses — from scans, never
from phone tracking.

A venue or checkpoint device posts scans (a person's sampling code or status pass, the place,
the time), singly or in batches of up to 1,000 with client-made event ids (a replayed scan is a
duplicate and changes nothing). Each scan is resolved to the person, evaluated by the pure rules
of ``domain.fence`` against the person's materialised status, the kept times of its facts (a
scan uploaded late is judged as the status stood when it was made) and the active zones the
place lies in, and any alert is written de-duplicated — one per person, rule and local day (a
later scan the same day bumps the alert's scan count). Alerts are routed to the grid worker of
the person's home grid and the health officers over it (their inboxes), acknowledged, and
closed with an outcome. Scans are the only location data kept, and they are purged on the venue
schedule.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from dataclasses import field as dc_field
from datetime import datetime, timedelta
from typing import Any

from hesuan.domain.access import Action, Principal, Target, allows, area_for, authorize
from hesuan.domain.errors import (
    Conflict,
    HesuanError,
    InvalidInput,
    NotFound,
    RuleViolation,
)
from hesuan.domain.fence import (
    ARRIVAL_FOLLOW_UP,
    AlertOutcome,
    AlertStatus,
    PlaceKind,
    ScanPlace,
    alert_day,
    evaluate,
)
from hesuan.domain.instants import iso_utc
from hesuan.domain.passes import Verdict
from hesuan.services.context import Deps, write_retrying
from hesuan.services.fence_ports import (
    CheckpointRow,
    FenceAlertHandling,
    FenceAlertRow,
    FenceScanRow,
    NewFenceAlert,
    PlaceRow,
    PlaceScan,
)
from hesuan.services.passes import PassService
from hesuan.services.ports import UnitOfWork, WriteRace
from hesuan.services.zones import ZoneService

__all__ = ["CheckpointKind", "FenceService", "ScanInput", "ScanOutcome"]

_MAX_AHEAD = timedelta(minutes=10)
_MAX_AGE = timedelta(days=7)
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{3,19}$")


class CheckpointKind(enum.StrEnum):
    STATION = "station"  # 火车站
    AIRPORT = "airport"  # 机场
    HIGHWAY = "highway"  # 高速路口
    COMPOUND_GATE = "compound_gate"  # 小区卡口


@dataclass(frozen=True, slots=True)
class ScanInput:
    event_id: str
    place_kind: PlaceKind
    place_id: str
    at: datetime
    code: str | None = None  # a sampling code (采样码) token
    pass_text: str | None = None  # a status pass (SP1:…)


@dataclass(frozen=True, slots=True)
class ScanOutcome:
    event_id: str
    status: str  # accepted | duplicate | rejected
    reason: str | None = None
    message: str | None = None
    field: str | None = None
    alerts: list[str] = dc_field(default_factory=list)  # rules fired


class FenceService:
    def __init__(self, deps: Deps, zones: ZoneService, passes: PassService) -> None:
        self._d = deps
        self._zones = zones
        self._passes = passes

    # -- checkpoints ---------------------------------------------------------------------------

    def add_checkpoint(self, actor: Principal, code: str, name: str, kind: CheckpointKind,
                       region_code: str, lat: float | None = None,
                       lng: float | None = None) -> str:
        """Register a checkpoint (交通卡口 / 小区卡口); devices scan as the VENUE role with the
        checkpoint's id as their scope."""
        authorize(actor, Action.REGISTER_CHECKPOINT, Target(region=region_code),
                  field="region_code")
        code = code.strip().upper()
        if not _CODE.match(code):
            raise InvalidInput("code must be 4-20 letters, digits or dashes", code="bad_code",
                               field="code")
        if not 1 <= len(name.strip()) <= 100:
            raise InvalidInput("name must be 1-100 characters", code="bad_name", field="name")
        if (lat is None) != (lng is None) or (lat is not None and not -90 <= lat <= 90) or (
                lng is not None and not -180 <= lng <= 180):
            raise InvalidInput("lat and lng go together, in degrees", code="bad_coordinates",
                               field="lat")
        now = self._d.clock.now()
        cid = self._d.new_id()
        with self._d.uow() as uow:
            if uow.places.region(region_code) is None:
                raise NotFound("region_code: no such region", code="unknown_region",
                               field="region_code")
            try:
                uow.fence.add_checkpoint(CheckpointRow(cid, code, name.strip(), kind.value,
                                                       region_code, lat, lng, now))
            except WriteRace:  # the unique code
                raise Conflict("code: a checkpoint with this code exists",
                               code="checkpoint_code_used", field="code") from None
            uow.audit_log.append(now, actor.username, "checkpoint.register", f"checkpoint:{cid}",
                      {"code": code, "kind": kind.value})
            uow.commit()
        return cid

    def checkpoints(self, actor: Principal) -> list[CheckpointRow]:
        """The checkpoints in the caller's area (a device: its own), by code."""
        authorize(actor, Action.READ_CHECKPOINTS)
        with self._d.uow(readonly=True) as uow:
            rows = uow.fence.checkpoints()
        return [r for r in rows if allows(actor, Action.READ_CHECKPOINTS,
                                          Target(region=r.region_code, venue=r.id))]

    def checkpoint_scans(self, actor: Principal, checkpoint_id: str,
                         limit: int = 20) -> list[PlaceScan]:
        """The checkpoint's latest scans, newest first: when, by code or pass, and the fence
        rules each broke (its device's recent list; nothing about the people)."""
        with self._d.uow(readonly=True) as uow:
            place = uow.fence.places([(PlaceKind.CHECKPOINT.value, checkpoint_id)]).get(
                (PlaceKind.CHECKPOINT.value, checkpoint_id))
            if place is None:
                raise NotFound("checkpoint_id: no such checkpoint", code="unknown_place",
                               field="checkpoint_id")
            authorize(actor, Action.READ_CHECKPOINT_SCANS,
                      Target(region=place.region_code, venue=place.id), field="checkpoint_id")
            return uow.fence.place_scans(PlaceKind.CHECKPOINT.value, checkpoint_id, limit)

    # -- scans ---------------------------------------------------------------------------------

    def scan(self, actor: Principal, scans: Sequence[ScanInput],
             checked: Mapping[str, Verdict] | None = None) -> list[ScanOutcome]:
        """Record scans and raise the alerts they call for. Per-scan outcomes; a rejected scan
        never blocks the rest. ``checked``: passes the caller has just verified (a venue's
        check, a checkpoint's page), by text: not verified (nor audited) twice."""
        if len(scans) > self._d.limits.batch_max:
            raise InvalidInput(f"scans: a batch holds at most {self._d.limits.batch_max}",
                               code="batch_too_large", field="scans")
        now = self._d.clock.now()
        people: dict[str, str | None] = {}
        pass_hash: dict[str, str | None] = {}
        for s in scans:
            if s.code is not None and s.code not in people:
                people[s.code] = self._d.codes.verify(s.code)
            elif s.code is None and s.pass_text is not None and s.pass_text not in pass_hash:
                if checked is not None and s.pass_text in checked:
                    pass_hash[s.pass_text] = checked[s.pass_text].pass_hash
                    continue
                try:
                    v = self._passes.verify(actor, s.pass_text)
                except HesuanError:
                    pass_hash[s.pass_text] = None
                else:
                    pass_hash[s.pass_text] = v.pass_hash
        active = self._zones.active()
        return write_retrying(
            self._d, lambda uow: self._run(uow, actor, scans, now, people, pass_hash, active))

    def _run(self, uow: UnitOfWork, actor: Principal, scans: Sequence[ScanInput],
             now: datetime, people: dict[str, str | None], pass_hash: dict[str, str | None],
             active: Sequence[Any]) -> list[ScanOutcome]:
        by_hash = uow.fence.person_for_pass_hash(h for h in pass_hash.values() if h)
        pid_of: dict[str, str | None] = {}
        for s in scans:
            if s.code is not None:
                pid_of[s.event_id] = people.get(s.code)
            elif s.pass_text is not None:
                h = pass_hash.get(s.pass_text)
                pid_of[s.event_id] = by_hash.get(h) if h else None
        known = uow.fence.known_scans(s.event_id for s in scans)
        places = uow.fence.places((s.place_kind.value, s.place_id) for s in scans)
        # the status rules judge each scan at its time (a device offline uploads its scans
        # late): what they read since the earliest scan (one refused for its time aside)
        since = max(min((s.at for s in scans if s.at.tzinfo is not None), default=now),
                    now - _MAX_AGE)
        facts = uow.fence.scan_facts((p for p in pid_of.values() if p), since)
        arrivals = {pid: f.person.arrival_at for pid, f in facts.items()
                    if f.person.arrival_at is not None
                    and now - f.person.arrival_at < ARRIVAL_FOLLOW_UP + timedelta(days=1)}
        tests = uow.fence.tests_since(list(arrivals), {p: a for p, a in arrivals.items() if a})
        for pid in arrivals:
            facts[pid].person = replace(facts[pid].person, tests_since_arrival=tuple(
                tests.get(pid, ())))
        starts = {z.id: z.starts_at for z in active}
        for held in facts.values():
            if held.person.zone_id in starts:
                held.person = replace(held.person, zone_starts_at=starts[held.person.zone_id])
        zones_of: dict[tuple[str, str], frozenset[str]] = {}
        outcomes: list[ScanOutcome] = []
        scan_rows: list[FenceScanRow] = []
        alert_rows: list[NewFenceAlert] = []
        seen: set[str] = set()
        for s in scans:
            if s.event_id in known or s.event_id in seen:
                outcomes.append(ScanOutcome(s.event_id, "duplicate"))
                continue
            try:
                place = self._check(actor, s, places, now)
                found = pid_of.get(s.event_id)
                if found is None:
                    raise InvalidInput("the code or pass does not identify a person (forged, "
                                       "altered, or an unknown pass)", code="unknown_person",
                                       field="code" if s.code is not None else "pass")
            except HesuanError as exc:
                outcomes.append(ScanOutcome(s.event_id, "rejected", exc.code, exc.message,
                                            exc.field))
                continue
            seen.add(s.event_id)
            pid = found
            key = (place.kind, place.id)
            if key not in zones_of:
                zones_of[key] = self._zones.zones_at(place, active)
            f = facts.get(pid)
            fired = [] if f is None else evaluate(
                f.person, ScanPlace(PlaceKind(place.kind), place.id, zones_of[key]), s.at)
            day = alert_day(s.at).isoformat()
            for rule, detail in fired:
                assert f is not None
                alert_rows.append(NewFenceAlert(
                    id=self._d.new_id(), person_id=pid, rule=rule.value, day=day,
                    grid_code=f.grid_code, raised_at=now, last_scan_at=s.at, scans=1,
                    place_kind=place.kind, place_id=place.id, place_name=place.name[:100],
                    detail=detail | {"first_scan_at": iso_utc(s.at),
                                     "routed_to": {"grid": f.grid_code,
                                                   "district": f.grid_code[:6]}},
                    status=AlertStatus.OPEN.value))
            scan_rows.append(FenceScanRow(s.event_id, place.kind, place.id, pid,
                                          "code" if s.code is not None else "pass", s.at, now,
                                          actor.user_id, len(fired)))
            outcomes.append(ScanOutcome(s.event_id, "accepted",
                                        alerts=[r.value for r, _ in fired]))
        uow.fence.record_scans(scan_rows)
        new = uow.fence.upsert_fence_alerts(alert_rows)
        if scan_rows:
            uow.audit_log.append(now, actor.username, "fence.scans", f"place:{actor.scope or '*'}",
                      {"accepted": len(scan_rows), "alerts_new": new})
        return outcomes

    def _check(self, actor: Principal, s: ScanInput, places: dict[tuple[str, str], PlaceRow],
               now: datetime) -> PlaceRow:
        try:
            uuid.UUID(s.event_id)
        except ValueError:
            raise InvalidInput("event_id must be a UUID made by the device",
                               code="bad_event_id", field="event_id") from None
        place = places.get((s.place_kind.value, s.place_id))
        if place is None:
            raise NotFound(f"place_id: no such {s.place_kind}", code="unknown_place",
                           field="place_id")
        # a device scans as its place (venue or checkpoint); an officer within their region
        authorize(actor, Action.RECORD_PLACE_SCANS,
                  Target(region=place.region_code, venue=s.place_id), field="place_id")
        if s.at.tzinfo is None:
            raise InvalidInput("at must carry a timezone", code="naive_time", field="at")
        if s.at > now + _MAX_AHEAD or s.at < now - _MAX_AGE:
            raise InvalidInput("at must be within the last 7 days and not in the future",
                               code="bad_time", field="at")
        if (s.code is None) == (s.pass_text is None):
            raise InvalidInput("give exactly one of code (sampling code) and pass",
                               code="missing_code", field="code")
        return place

    # -- the alert inbox -------------------------------------------------------------------------

    def alerts(self, actor: Principal, *, statuses: Sequence[str] = ("open", "acknowledged"),
               region: str | None = None, limit: int = 200) -> list[FenceAlertRow]:
        """A grid worker's alerts (their grid), or an officer's (their region)."""
        authorize(actor, Action.READ_FENCE_ALERTS)
        for st in statuses:
            if st not in {a.value for a in AlertStatus}:
                raise InvalidInput("status must be open, acknowledged or closed",
                                   code="bad_status", field="status")
        prefix = area_for(actor, Action.READ_FENCE_ALERTS, region)
        with self._d.uow(readonly=True) as uow:
            rows = uow.fence.fence_alerts(prefix, None, statuses, limit)
        with self._d.uow() as uow:  # who was stopped where and when: the read is audited
            uow.audit_log.append(self._d.clock.now(), actor.username, "fence_alerts.read",
                                 f"region:{prefix}", {"alerts": len(rows)})
            uow.commit()
        return rows

    def _mine(self, uow: UnitOfWork, actor: Principal, alert_id: str) -> FenceAlertRow:
        # read for update: of two hands closing it at once, the second finds it closed
        a = uow.fence.fence_alert(alert_id, for_update=True)
        hidden = NotFound("no such alert in your area", code="unknown_alert", field="alert_id")
        if a is None:
            raise hidden
        authorize(actor, Action.HANDLE_FENCE_ALERT, Target(region=a.grid_code),
                  hidden=hidden)
        return a

    def acknowledge(self, actor: Principal, alert_id: str, note: str | None = None) -> None:
        now = self._d.clock.now()
        with self._d.uow() as uow:
            a = self._mine(uow, actor, alert_id)
            if a.status != AlertStatus.OPEN.value:
                raise RuleViolation(f"the alert is already {a.status}",
                                    code="alert_not_open", field="alert_id")
            uow.fence.update_fence_alert(alert_id, FenceAlertHandling(
                AlertStatus.ACKNOWLEDGED.value, note or a.note or None,
                acknowledged_by=actor.username, acknowledged_at=now))
            uow.audit_log.append(now, actor.username, "fence.acknowledge", f"alert:{alert_id}", {})
            uow.commit()

    def close(self, actor: Principal, alert_id: str, outcome: AlertOutcome,
              note: str | None = None) -> None:
        if note is not None and len(note) > 200:
            raise InvalidInput("note must be at most 200 characters", code="bad_note",
                               field="note")
        now = self._d.clock.now()
        with self._d.uow() as uow:
            a = self._mine(uow, actor, alert_id)
            if a.status == AlertStatus.CLOSED.value:
                raise RuleViolation("the alert is already closed", code="alert_closed",
                                    field="alert_id")
            # closing an alert no one acknowledged acknowledges it too, by the same hand
            first = a.acknowledged_at is None
            uow.fence.update_fence_alert(alert_id, FenceAlertHandling(
                AlertStatus.CLOSED.value, note or a.note,
                acknowledged_by=actor.username if first else None,
                acknowledged_at=now if first else None,
                closed_by=actor.username, closed_at=now, outcome=outcome.value))
            uow.audit_log.append(now, actor.username, "fence.close", f"alert:{alert_id}",
                      {"outcome": outcome.value})
            uow.commit()

