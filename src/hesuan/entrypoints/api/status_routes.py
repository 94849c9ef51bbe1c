"""HTTP routes for cadence and status: policies, the sweep, a person's status in plain words,
exemptions, the two-officer override, arrivals, and the status rules.

Imports: FastAPI, pydantic, ``hesuan.entrypoints.api.deps``, ``hesuan.services``,
``hesuan.domain``.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from hesuan.domain.access import Action, Role
from hesuan.domain.cadence import OverdueAction, Policy, ScopeKind
from hesuan.domain.errors import NotFound
from hesuan.domain.status import Colour, Rule
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.api.deps import Me, PlatformDep
from hesuan.entrypoints.api.schemas import Instant
from hesuan.services.explain import explain
from hesuan.services.status import PolicyInput, SweepReport
from hesuan.services.status_ports import OverrideRow, VenueCheckRow, VenueRow
from hesuan.services.venues import VenueCheck

__all__ = ["router"]

router = APIRouter(tags=["status"])


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PolicyIn(_In):
    scope_kind: ScopeKind
    scope: str = Field(min_length=2, max_length=20)
    interval_hours: float = Field(gt=0, le=720)
    grace_hours: float = Field(default=24, ge=0, le=168)
    reminder_lead_hours: float = Field(default=12, ge=0, le=720)
    overdue_action: OverdueAction = OverdueAction.YELLOW
    valid_from: Instant | None = None
    valid_to: Instant | None = None
    name: str = Field(default="", max_length=100)
    id: str | None = Field(default=None, max_length=32, description="new version of this policy")


class PolicyOut(BaseModel):
    id: str
    version: int
    scope_kind: str
    scope: str
    name: str
    interval_hours: float
    grace_hours: float
    reminder_lead_hours: float
    overdue_action: str
    valid_from: datetime
    valid_to: datetime | None


def _policy_out(p: Policy) -> PolicyOut:
    return PolicyOut(id=p.id, version=p.version, scope_kind=p.scope_kind.value, scope=p.scope,
                     name=p.name, interval_hours=p.interval.total_seconds() / 3600,
                     grace_hours=p.grace.total_seconds() / 3600,
                     reminder_lead_hours=p.reminder_lead.total_seconds() / 3600,
                     overdue_action=p.overdue_action.value, valid_from=p.valid_from,
                     valid_to=p.valid_to)


class ExemptionIn(_In):
    reason: Literal["infant", "bedridden", "away", "in_hospital", "other"]
    until: Instant
    note: str | None = Field(default=None, max_length=200)


class OverrideIn(_In):
    colour: Colour
    reason: str = Field(min_length=1, max_length=200)
    legal_basis: str = Field(min_length=1, max_length=200)
    expires_at: Instant


class ArrivalIn(_In):
    person_id: str = Field(min_length=1, max_length=32)
    checkpoint_site_id: str = Field(min_length=1, max_length=32)
    origin_region: str = Field(min_length=2, max_length=6)
    origin_risk: Literal["low", "medium", "high"]
    arrived_at: Instant


class RuleChangeIn(_In):
    enabled: bool | None = None
    colour: Colour | None = None


class Id(BaseModel):
    id: str


@router.get("/policies", openapi_extra=acts(Action.READ_POLICIES))
def list_policies(me: Me, platform: PlatformDep) -> list[PolicyOut]:
    return [_policy_out(p) for p in platform.status.policies(me)]


@router.post("/policies", status_code=201, openapi_extra=acts(Action.SET_POLICY))
def set_policy(me: Me, platform: PlatformDep, body: PolicyIn) -> PolicyOut:
    return _policy_out(platform.status.set_policy(me, PolicyInput(
        scope_kind=body.scope_kind, scope=body.scope,
        interval=timedelta(hours=body.interval_hours), grace=timedelta(hours=body.grace_hours),
        reminder_lead=timedelta(hours=body.reminder_lead_hours),
        overdue_action=body.overdue_action, valid_from=body.valid_from, valid_to=body.valid_to,
        name=body.name, id=body.id)))


@router.get("/people/{person_id}/policy", openapi_extra=acts(Action.READ_STATUS))
def explain_policy(me: Me, platform: PlatformDep, person_id: str) -> dict[str, Any]:
    choice = platform.status.explain_policy(me, person_id)
    return {"policy": None if choice.policy is None else _policy_out(choice.policy),
            "explanation": choice.explanation}


def _status_body(platform: Any, me: Any, person_id: str, lang: str) -> dict[str, Any]:
    read = platform.status.status_of(me, person_id)
    body = asdict(explain(read, lang))
    person = platform.people.get(me, person_id) if me.role is not Role.RESIDENT else None
    grid = person.grid_code if person else None
    body |= {"person_id": person_id, "next_due_at": read.next_due_at,
             "exemptions": [asdict(e) for e in read.exemptions],
             "overrides": [{"id": o.id, "colour": o.colour, "reason": o.reason,
                            "legal_basis": o.legal_basis, "expires_at": o.expires_at,
                            "status": o.status} for o in read.overrides]}
    if grid:
        body["nearest_open_sites"] = [asdict(x) for x in platform.places.nearest_open(grid)]
    return body


@router.get("/people/{person_id}/status", openapi_extra=acts(Action.READ_STATUS))
def person_status(me: Me, platform: PlatformDep, person_id: str,
                  lang: Literal["zh", "en"] = "zh") -> dict[str, Any]:
    """The status decided now from the person's facts, with reasons in plain words, what to do
    next, the rule and version that set it, its evidence and validity."""
    return _status_body(platform, me, person_id, lang)


@router.get("/me/status", openapi_extra=acts(Action.READ_STATUS))
def my_status(me: Me, platform: PlatformDep,
              lang: Literal["zh", "en"] | None = None) -> dict[str, Any]:
    """A resident's own status, and the nearest sites open now."""
    if me.role is not Role.RESIDENT or not me.scope:
        raise NotFound("only a resident account has its own status", code="not_a_resident")
    person = platform.people.get(me, me.scope)
    body = _status_body(platform, me, me.scope, lang or person.language)
    body["nearest_open_sites"] = [asdict(x) for x in platform.places.nearest_open(
        person.grid_code)]
    return body


@router.post("/people/{person_id}/exemptions", status_code=201,
             openapi_extra=acts(Action.SET_EXEMPTION))
def add_exemption(me: Me, platform: PlatformDep, person_id: str, body: ExemptionIn) -> Id:
    return Id(id=platform.status.exempt(me, person_id, body.reason, body.until, body.note))


@router.delete("/exemptions/{exemption_id}", status_code=204,
               openapi_extra=acts(Action.REVOKE_EXEMPTION))
def revoke_exemption(me: Me, platform: PlatformDep, exemption_id: str) -> None:
    platform.status.revoke_exemption(me, exemption_id)


@router.post("/people/{person_id}/overrides", status_code=201,
             openapi_extra=acts(Action.REQUEST_OVERRIDE))
def request_override(me: Me, platform: PlatformDep, person_id: str, body: OverrideIn) -> Id:
    return Id(id=platform.status.request_override(me, person_id, body.colour, body.reason,
                                                  body.legal_basis, body.expires_at))


@router.get("/overrides", openapi_extra=acts(Action.READ_OVERRIDES))
def pending_overrides(me: Me, platform: PlatformDep) -> list[OverrideRow]:
    return platform.status.pending_overrides(me)


@router.post("/overrides/{override_id}/approve", status_code=204,
             openapi_extra=acts(Action.DECIDE_OVERRIDE))
def approve_override(me: Me, platform: PlatformDep, override_id: str) -> None:
    platform.status.decide_override(me, override_id, approve=True)


@router.post("/overrides/{override_id}/reject", status_code=204,
             openapi_extra=acts(Action.DECIDE_OVERRIDE))
def reject_override(me: Me, platform: PlatformDep, override_id: str) -> None:
    platform.status.decide_override(me, override_id, approve=False)


@router.post("/arrivals", status_code=201, openapi_extra=acts(Action.REGISTER_ARRIVAL))
def register_arrival(me: Me, platform: PlatformDep, body: ArrivalIn) -> Id:
    return Id(id=platform.status.register_arrival(
        me, body.person_id, body.checkpoint_site_id, body.origin_region, body.origin_risk,
        body.arrived_at))


@router.post("/sweep", openapi_extra=acts(Action.RUN_SWEEP))
def run_sweep(me: Me, platform: PlatformDep,
              limit: int = Query(default=200_000, ge=1, le=5_000_000)) -> SweepReport:
    return platform.status.sweep(me, limit)


@router.get("/rules", openapi_extra=acts(Action.READ_STATUS_RULES))
def list_rules(me: Me, platform: PlatformDep) -> list[Rule]:
    return platform.status.list_rules(me)


@router.patch("/rules/{rule_id}", openapi_extra=acts(Action.CHANGE_STATUS_RULES))
def change_rule(me: Me, platform: PlatformDep, rule_id: str,
                body: RuleChangeIn) -> Rule:
    return platform.status.change_rule(me, rule_id, enabled=body.enabled, colour=body.colour)


class VenueIn(_In):
    code: str = Field(min_length=4, max_length=20)
    name: str = Field(min_length=1, max_length=100)
    region_code: str = Field(min_length=2, max_length=15)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lng: float | None = Field(default=None, ge=-180, le=180)


class VenueCheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    pass_text: str = Field(min_length=1, max_length=4096, alias="pass")
    temperature_c: float = Field(ge=30, le=45)
    mask: bool
    # the certificate seen (the pass's masked name and ID digits the bearer's): staff say so
    certificate: bool


@router.post("/venues", status_code=201, tags=["venues"], openapi_extra=acts(Action.REGISTER_VENUE))
def register_venue(me: Me, platform: PlatformDep, body: VenueIn) -> Id:
    return Id(id=platform.venues.register(me, body.code, body.name, body.region_code,
                                          body.lat, body.lng))


@router.get("/venues", tags=["venues"], openapi_extra=acts(Action.READ_VENUES))
def list_venues(me: Me, platform: PlatformDep) -> list[VenueRow]:
    return platform.venues.venues(me)


@router.post("/venues/{venue_id}/checks", tags=["venues"], openapi_extra=acts(Action.CHECK_IN))
def venue_check(me: Me, platform: PlatformDep, venue_id: str,
                body: VenueCheckIn) -> VenueCheck:
    """The four checks at a venue's door: the signed pass is verified, and only the colour, the
    four results and the decision are kept (purged after the retention period)."""
    return platform.venues.check(me, venue_id, body.pass_text, body.temperature_c, body.mask,
                                 body.certificate)


@router.get("/venues/{venue_id}/checks", tags=["venues"],
            openapi_extra=acts(Action.READ_VENUE_CHECKS))
def venue_checks(me: Me, platform: PlatformDep, venue_id: str) -> list[VenueCheckRow]:
    return platform.venues.recent_checks(me, venue_id)
