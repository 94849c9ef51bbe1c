"""Ports of cadence and status: the repositories of policies and rules, the materialised
status, exemptions and overrides, issued passes and venues (parts of the ``UnitOfWork``,
implemented by ``adapters/db``).

Imports: standard library and ``hesuan.domain`` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from hesuan.domain.cadence import Policy
from hesuan.domain.json import JsonObject
from hesuan.domain.status import Facts, OverrideState, Rule, Status

__all__ = ["ArrivalRow", "CadenceRepository", "ExemptionRow", "IssuedPass", "OverrideRepository",
           "OverrideRow", "PassRepository", "RecallState", "StatusRepository", "StatusRow",
           "VenueCheckRow", "VenueRepository", "VenueRow"]


@dataclass(frozen=True, slots=True)
class IssuedPass:
    id_hash: str
    person_id: str
    key_id: str
    colour: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class RecallState:
    """An open recall as a person's status words need it: why it was opened (``recalls``
    reason: a positive pool, an invalid or rejected sample, a cancelled result) and whether
    a sample was taken for it."""

    reason: str
    answered: bool


@dataclass(frozen=True, slots=True)
class StatusRow:
    """A person's materialised status, with the facts it is read with (due time, policy,
    exemption, override, test state)."""

    colour: str
    reasons: str  # the reason codes joined by ","
    rule_id: str
    rule_version: int
    evidence: JsonObject | None
    status_at: datetime | None
    status_valid_until: datetime | None
    next_due_at: datetime | None
    policy_id: str | None
    policy_version: int | None
    exempt_until: datetime | None
    exempt_reason: str | None
    override_id: str | None
    override_until: datetime | None
    override_reason: str | None
    test_state: str
    last_sampled_at: datetime | None
    open_recall_id: str | None


@dataclass(frozen=True, slots=True)
class ArrivalRow:
    """An arrival registered at a checkpoint (落地)."""

    id: str
    person_id: str
    checkpoint_site_id: str
    origin_region: str
    origin_risk: str
    arrived_at: datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class ExemptionRow:
    id: str
    person_id: str
    reason: str
    note: str | None
    until: datetime
    set_by: str
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OverrideRow:
    """A manual status requested by one health officer, decided by another."""

    id: str
    person_id: str
    colour: str
    reason: str
    legal_basis: str
    expires_at: datetime
    status: OverrideState
    requested_by: str
    requested_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class VenueRow:
    id: str
    code: str
    name: str
    region_code: str
    lat: float | None
    lng: float | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class VenueCheckRow:
    """The four checks at a venue's door and the decision (nothing about the person)."""

    id: str
    venue_id: str
    at: datetime
    colour: str | None
    pass_valid: bool
    temperature_ok: bool
    code_ok: bool
    certificate_ok: bool
    mask_ok: bool
    admitted: bool
    checked_by: str


class CadenceRepository(Protocol):
    """Testing policies and status rules, versioned."""

    def current_policies(self) -> list[Policy]: ...

    def policy_history(self, policy_id: str) -> list[Policy]: ...

    def save_policy(self, p: Policy, actor: str, now: datetime) -> None: ...

    def assign_policies(self, policies: Sequence[Policy], now: datetime,
                        person_ids: Sequence[str] | None = None) -> int:
        """Give everyone (or ``person_ids``) the policy ``cadence.choose_policy`` picks among
        ``policies``, and the due time it sets."""

    def current_rules(self) -> list[Rule]: ...

    def save_rule(self, rule: Rule, position: int, actor: str, now: datetime) -> None: ...


class StatusRepository(Protocol):
    """The materialised status, the sweep's reads, reminders and arrivals."""

    def refresh_plain(self, now: datetime, everyone: bool = False,
                      person_ids: Sequence[str] | None = None,
                      limit: int | None = None, *, parked: bool = False) -> int:
        """The stale (everyone's, the given) with nothing special: decided as the engine
        would; ``limit``: at most that many of them (a part of a sweep); ``parked``: of the
        stale only those parked at ``now`` (``status_valid_until = now``)."""
        ...

    def refresh_overdue(self, now: datetime, rule_id: str, rule_version: int,
                        colour: str | None, everyone: bool = False,
                        person_ids: Sequence[str] | None = None,
                        limit: int | None = None, *, parked: bool = False) -> int:
        """The same of those past due + grace, by the overdue rule; the rest as above."""
        ...

    def stale_facts(self, now: datetime, limit: int, person_ids: Sequence[str] | None = None,
                    in_results: bool = False, overdue_ran: bool = False,
                    ) -> list[tuple[str, Facts]]:
        """Facts of people to decide again. ``overdue_ran``: ``refresh_overdue`` ran in this
        refresh, so the plain overdue it wrote at ``now`` are decided already."""
        ...

    def special_facts(self, now: datetime, after: str, limit: int,
                      overdue_ran: bool = False) -> list[tuple[str, Facts]]:
        """Facts of everyone the fast paths of this refresh did not decide (``overdue_ran``
        as for ``stale_facts``), in person-id order after ``after``."""
        ...

    def facts_of(self, person_id: str) -> Facts | None: ...

    def write_statuses(self, rows: Sequence[tuple[str, Status]], now: datetime) -> None: ...

    def status_row(self, person_id: str) -> StatusRow | None: ...

    def recall_state(self, person_id: str, recall_id: str) -> RecallState | None:
        """Why the recall was opened, and whether one of the person's samples was taken for it
        (its re-test or new sample: its result still to come while the recall is open)."""

    def sweep_lock(self) -> bool: ...

    def due_for_reminder(self, now: datetime, max_lead_ms: int,
                         limit: int) -> list[tuple[str, int]]: ...

    def mark_all_reminded(self, now: datetime, max_lead_ms: int,
                          person_ids: Sequence[str] | None = None) -> int:
        """Record the due time reminded of everyone ``due_for_reminder`` finds now, or of
        those of ``person_ids`` (the reminders just queued)."""
        ...

    def enqueue_reminders(self, rows: Sequence[tuple[str, str, int]], now: datetime) -> None: ...

    def add_arrival(self, row: ArrivalRow, first_due: datetime) -> None: ...


class OverrideRepository(Protocol):
    """Exemptions and status overrides."""

    def add_exemption(self, row: ExemptionRow) -> None: ...

    def active_exemption_person(self, exemption_id: str) -> str | None:
        """The person an exemption that is still in force belongs to."""
        ...

    def revoke_exemption(self, exemption_id: str, now: datetime) -> str | None: ...

    def exemptions_of(self, person_id: str) -> list[ExemptionRow]:
        """The person's exemptions, revoked ones too, newest first."""
        ...

    def add_override(self, row: OverrideRow) -> None: ...

    def override(self, override_id: str, *, for_update: bool = False) -> OverrideRow | None:
        """The request; ``for_update``: its row locked until the transaction ends."""

    def decide_override(self, request: OverrideRow, status: OverrideState, by: str,
                        now: datetime) -> None:
        """Decide ``request`` (as read for update); approved, it is the person's status."""
        ...

    def overrides_of(self, person_id: str) -> list[OverrideRow]:
        """The person's override requests, decided ones too, newest first."""
        ...

    def pending_overrides(self, limit: int, region_prefix: str) -> list[OverrideRow]:
        """Override requests awaiting a decision, of people whose grid starts with
        ``region_prefix``, oldest first."""
        ...


class PassRepository(Protocol):
    """The register of issued passes and their revocation."""

    def add_pass(self, row: IssuedPass, status_read_at: datetime) -> bool:
        """Record a pass; False (and revoked) if a positive result came after the status read."""

    def revoke_passes(self, person_ids: Sequence[str], now: datetime, reason: str,
                      keep_red: bool) -> int: ...

    def revoke_untrue_green(self, now: datetime, reason: str) -> int:
        """Revoke the live green passes of people whose status is not green now (after a
        change of the rules or policies that decide it); how many."""
        ...

    def revoked_pass_hashes(self, now: datetime) -> list[str]: ...


class VenueRepository(Protocol):
    """Venues and their pass checks."""

    def add_venue(self, row: VenueRow) -> None: ...

    def venue(self, venue_id: str) -> VenueRow | None: ...

    def venue_by_code(self, code: str) -> VenueRow | None: ...

    def all(self) -> list[VenueRow]:
        """Every venue, by name."""
        ...

    def add_venue_check(self, row: VenueCheckRow) -> None: ...

    def venue_checks(self, venue_id: str, limit: int) -> list[VenueCheckRow]:
        """The venue's last checks, newest first."""
        ...
