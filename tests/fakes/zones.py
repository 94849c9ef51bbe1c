"""Fake repository of zones (``adapters/db/zones_store.py`` in memory): zones, their areas and
history, grid centres, and the members' status rows, which the SQL adapter changes in a few
set-based statements and the fake row by row with the domain's own rules (``area_covers``,
``rank``, ``decide``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hesuan.domain.arrivals import follow_up_open
from hesuan.domain.cadence import first_due
from hesuan.domain.status import DEFAULT_RULES, Colour, Rule, decide
from hesuan.domain.zones import area_covers, rank
from hesuan.services.zones_ports import GeoPoint, RegionShape, ZoneEvent, ZoneRecord
from tests.fakes.base import FakeRepository, unused
from tests.fakes.database import PersonStatus, status_facts, write_status, zoned_plain

__all__ = ["FakeZones"]

_ZONE_REASON = next(r.reason for r in DEFAULT_RULES if r.predicate == "in_zone")
#: The order of a zone's life, for events within one instant.
_LIFE = {"designate": 0, "start": 1, "extend": 2}
_NEVER = datetime.min.replace(tzinfo=UTC)


class FakeZones(FakeRepository):
    """``ZoneRepository``."""

    # -- regions and geometry --------------------------------------------------------------

    def existing_regions(self, codes: Iterable[str]) -> set[str]:
        return {c for c in codes if c in self.t.regions}

    def upsert_region_geo(self, rows: Sequence[RegionShape]) -> int:
        self.t.region_geo.update((r.code, replace(r, name=None, level=None)) for r in rows)
        return len(rows)

    def region_geo(self, prefix: str, lengths: Sequence[int]) -> list[RegionShape]:
        unused("zones.region_geo")

    def grid_points(self, prefix: str) -> list[GeoPoint]:
        return [GeoPoint(r.code, r.lng, r.lat) for r in self.t.region_geo.values()
                if len(r.code) == 15 and r.code.startswith(prefix)
                and r.lat is not None and r.lng is not None]

    # -- zones -----------------------------------------------------------------------------

    def add_zone(self, zone: ZoneRecord, source: str) -> None:
        self.t.zones[zone.id] = replace(zone, areas=tuple(sorted(zone.areas)))

    def zone(self, zone_id: str, *, for_update: bool = False) -> ZoneRecord | None:
        return self.t.zones.get(zone_id)

    def all(self, statuses: Sequence[str] | None, prefix: str,
            limit: int) -> list[ZoneRecord]:
        zs = [z for z in self.t.zones.values()
              if (not statuses or z.status in statuses)
              and (not prefix or any(a.region_code.startswith(prefix)
                                     or prefix.startswith(a.region_code) for a in z.areas))]
        zs.sort(key=lambda z: z.id)
        zs.sort(key=lambda z: z.created_at or _NEVER, reverse=True)
        return zs[:limit]

    def _update(self, zone_id: str, **values: object) -> None:
        self.t.zones[zone_id] = replace(self.t.zones[zone_id], **values)  # type: ignore[arg-type]

    def set_status(self, zone_id: str, status: str) -> None:
        self._update(zone_id, status=status)

    def set_planned_end(self, zone_id: str, planned_end: datetime | None) -> None:
        self._update(zone_id, planned_end=planned_end)

    def set_people(self, zone_id: str, people: int) -> None:
        self._update(zone_id, people=people)

    def end_zone(self, zone_id: str, status: str, at: datetime, by: str, reason: str) -> None:
        self._update(zone_id, status=status, ended_at=at, end_reason=reason)

    def add_zone_event(self, event: ZoneEvent) -> None:
        self.t.zone_events[event.id] = event

    def zone_events(self, zone_id: str) -> list[ZoneEvent]:
        return sorted((e for e in self.t.zone_events.values() if e.zone_id == zone_id),
                      key=lambda e: (e.at, _LIFE.get(e.action, 3), e.id))

    def zones_due(self, now: datetime) -> tuple[list[str], list[str]]:
        zs = self.t.zones.values()
        start = sorted((z for z in zs if z.status == "scheduled" and z.starts_at <= now),
                       key=lambda z: z.starts_at)
        end = [z for z in zs if z.status == "active" and z.planned_end is not None
               and z.planned_end <= now]
        end.sort(key=lambda z: z.planned_end or now)
        return [z.id for z in start], [z.id for z in end]

    # -- members and their status ----------------------------------------------------------

    def _members(self, zone_ids: Iterable[str]) -> list[PersonStatus]:
        ids = set(zone_ids)
        return [r for r in self.t.statuses.values() if r.zone_id is not None and r.zone_id in ids]

    def clear_zone_members(self, zone_ids: Sequence[str], now: datetime) -> int:
        """The members leave these zones and are stale."""
        rows = self._members(zone_ids)
        for r in rows:
            r.zone_id = r.zone_kind = r.zone_colour = None
            r.status_valid_until = now
        return len(rows)

    def _area_rows(self, zone_ids: Iterable[str],
                   person_ids: Sequence[str] | None = None) -> list[PersonStatus]:
        areas = [a for z in zone_ids for a in self.t.zones[z].areas]
        return [self.t.statuses[pid] for pid, person in self.t.people.items()
                if (person_ids is None or pid in person_ids)
                and any(area_covers(a, person.grid_code, person.address) for a in areas)]

    def restore_cadence(self, zone_ids: Sequence[str], now: datetime) -> int:
        """The people of these zones' areas get their own policy's interval and the due time
        it sets, but an open follow-up keeps its due time."""
        own = {(v.policy.id, v.policy.version): v.policy for v in self.t.policies}
        rows = self._area_rows(zone_ids)
        for r in rows:
            policy = own.get((r.policy_id or "", r.policy_version or 0))
            r.interval = None if policy is None else policy.interval
            r.status_valid_until = now
            if follow_up_open(r.arrival_at, r.next_due_at, now):
                continue
            r.next_due_at = (None if policy is None else policy.interval + (
                r.last_sampled_at if r.last_sampled_at is not None
                else max(policy.valid_from, self.t.registered.get(r.person_id, _NEVER))))
        return len(rows)

    def apply_zone_members(self, zone_id: str, status_kind: str | None, colour: str | None,
                           rank: int, now: datetime,
                           person_ids: Sequence[str] | None = None) -> int:
        """The people of the zone's areas (of ``person_ids`` only, when given) not already in
        a stricter zone join it and are stale."""
        rows = [r for r in self._area_rows([zone_id], person_ids) if _member_rank(r) < rank]
        for row in rows:
            row.zone_id, row.zone_kind, row.zone_colour = zone_id, status_kind, colour
            row.status_valid_until = now
        return len(rows)

    def apply_zone_cadence(self, zone_id: str, cadence_ms: int, start: datetime,
                           now: datetime, person_ids: Sequence[str] | None = None) -> int:
        """The people of the zone's areas whose interval is longer take the zone's cadence,
        due from its start or their later sample, but an open follow-up keeps its due time."""
        cadence = timedelta(milliseconds=cadence_ms)
        rows = [r for r in self._area_rows([zone_id], person_ids)
                if r.interval is None or r.interval > cadence]
        for row in rows:
            row.interval = cadence
            row.status_valid_until = now
            if follow_up_open(row.arrival_at, row.next_due_at, now):
                continue
            row.next_due_at = (
                first_due(start, self.t.registered.get(row.person_id, start), cadence)
                if row.last_sampled_at is None
                else max(start, row.last_sampled_at) + cadence)
        return len(rows)

    def refresh_zoned(self, now: datetime, rule_id: str, rule_version: int,
                      colour: str | None) -> int:
        """Stale people whose only special fact is a zone that holds them: the zone rule."""
        rule = Rule(rule_id, rule_version, "in_zone", _ZONE_REASON,
                    None if colour is None else Colour(colour))
        n = 0
        for row in self.t.statuses.values():
            if row.stale(now) and zoned_plain(row, now):
                s = decide(status_facts(row, self.t), now, [rule])
                write_status(row, s, now, s.evidence)
                n += 1
        return n

    def revoke_zone_passes(self, zone_ids: Sequence[str], now: datetime) -> int:
        """Live green passes of people now in a sealed or controlled zone."""
        held = {r.person_id for r in self._members(zone_ids) if r.zone_kind is not None}
        return self._revoke(held, now, "zone", lambda colour: colour == "green")

    def nongreen_pass_holders(self, zone_ids: Sequence[str], now: datetime) -> list[str]:
        members = {r.person_id for r in self._members(zone_ids)}
        return list(dict.fromkeys(
            p.issued.person_id for p in self.t.passes.values()
            if p.issued.person_id in members and p.live(now) and p.issued.colour != "green"))

    def revoke_passes_now_green(self, person_ids: Sequence[str], now: datetime) -> int:
        green = {pid for pid in person_ids
                 if (row := self.t.statuses.get(pid)) is not None and row.colour == "green"}
        return self._revoke(green, now, "zone_lifted", lambda colour: colour != "green")

    def _revoke(self, people: set[str], now: datetime, reason: str,
                colour: Callable[[str], bool]) -> int:
        n = 0
        for p in self.t.passes.values():
            if p.issued.person_id in people and p.live(now) and colour(p.issued.colour):
                p.revoked_at, p.revoke_reason = now, reason
                n += 1
        return n

    def zone_member_counts(self, zone_ids: Sequence[str]) -> dict[str, int]:
        members = self._members(zone_ids)
        return {z: sum(1 for r in members if r.zone_id == z) for z in zone_ids}


def _member_rank(row: PersonStatus) -> int:
    """How strict the zone a person is in is (0: none; a zone that does not hold its residents
    leaves no kind on the row, and ranks as the least strict)."""
    if row.zone_id is None:
        return 0
    return rank(row.zone_kind) or 1
