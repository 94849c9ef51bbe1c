"""Newcomers: a person registered while the city's policies and zones stand takes their place
in them at once, as those already there did when the policies were set and the zones drawn —
the policy that covers them and its first due time (``domain.cadence.first_due``: from their
registration) and the zones over their home, strictest last; their status is decided by the next
refresh, and live when read. So a newcomer is due, reminded and overdue as their neighbours are,
and held by a zone over their home.

``apply_zone`` is how a zone's people join it, for a zone drawn (``services/zones.py``) and for
newcomers alike; ``apply_zone_cadences`` keeps the zones' cadences over a policy's change.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from hesuan.domain.zones import Area, ZoneKind, ZoneStatus, areas_overlap, rank
from hesuan.services.people_ports import NewPerson
from hesuan.services.ports import UnitOfWork
from hesuan.services.zones_ports import ZoneRecord

__all__ = ["apply_zone", "apply_zone_cadences", "settle_newcomers"]


def apply_zone(uow: UnitOfWork, z: ZoneRecord, now: datetime,
               person_ids: Sequence[str] | None = None) -> int:
    """The zone's people (of ``person_ids`` only, when given) join it, and take its cadence:
    those never sampled first due one cadence after the zone's start or their later
    registration (``domain.cadence.first_due``). Returns the number who joined."""
    status_kind = z.kind if z.kind in (ZoneKind.SEALED, ZoneKind.CONTROLLED) else None
    joined = uow.zones.apply_zone_members(z.id, status_kind, z.rules.colour, rank(z.kind), now,
                                          person_ids)
    if z.rules.cadence_hours:
        uow.zones.apply_zone_cadence(z.id, _ms(z.rules.cadence_hours), z.starts_at, now,
                                     person_ids)
    return joined


def apply_zone_cadences(uow: UnitOfWork, now: datetime) -> None:
    """A step of a policy change's unit of work: the active zones' cadences hold over the
    intervals the policies just gave their people."""
    for z in _weakest_first(uow.zones.all([ZoneStatus.ACTIVE.value], "", 100_000)):
        if z.rules.cadence_hours:
            uow.zones.apply_zone_cadence(z.id, _ms(z.rules.cadence_hours), z.starts_at, now)


def _ms(hours: float) -> int:
    return int(hours * 3_600_000)


def _weakest_first(zones: Sequence[ZoneRecord]) -> list[ZoneRecord]:
    """The order zones are applied in, so that the strictest holds."""
    return sorted(zones, key=lambda z: (rank(z.kind), z.starts_at, z.id))


def settle_newcomers(uow: UnitOfWork, people: Sequence[NewPerson], now: datetime) -> None:
    """A step of the registering unit of work: ``people`` (those not stored, already known, are
    no one's) take their policy and due time, and the zones over their homes' grids (weakest
    first, so the strictest holds); both mark them for the status refresh."""
    if not people:
        return
    ids = [p.id for p in people]
    uow.cadence.assign_policies(uow.cadence.current_policies(), now, ids)
    homes = [Area(g) for g in {p.grid_code for p in people}]
    covering = [z for z in uow.zones.all([ZoneStatus.ACTIVE.value], "", 100_000)
                if areas_overlap(z.areas, homes)]
    for z in _weakest_first(covering):
        apply_zone(uow, z, now, ids)
    for zid, n in uow.zones.zone_member_counts([z.id for z in covering]).items():
        uow.zones.set_people(zid, n)  # the zones' people, newcomers counted
