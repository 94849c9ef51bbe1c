"""The in-memory database the fake repositories share: one ``Tables`` of typed rows (the ports'
own row types where one holds a whole stored row, a record of this module where the table has
more columns than any port shows), and the status facts of a person's row as the SQL adapter
reads them.

A unit of work copies the committed ``Tables`` when it begins and works on its copy; its commit
puts the copy back (``FakeDatabase.tables``), and whatever it wrote without committing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hesuan.domain.cadence import Policy
from hesuan.domain.json import JsonObject
from hesuan.domain.results import TestState
from hesuan.domain.status import (
    DEFAULT_GRACE,
    DEFAULT_RULE_ID,
    DEFAULT_RULE_VERSION,
    FALLBACK_COLOUR,
    HOLDING_ZONES,
    Facts,
    Rule,
    Status,
)
from hesuan.services.outbox_ports import AlertRow
from hesuan.services.people_ports import LabRow, NewPerson, RegionRow, SiteRow
from hesuan.services.retention_ports import ClosureRow
from hesuan.services.sampling_ports import (
    BoxRecord,
    RejectedResult,
    SampleRow,
    StationEventRow,
)
from hesuan.services.status_ports import (
    ArrivalRow,
    ExemptionRow,
    IssuedPass,
    OverrideRow,
    VenueCheckRow,
)
from hesuan.services.teams_ports import Assignment
from hesuan.services.zones_ports import RegionShape, ZoneEvent, ZoneRecord

__all__ = ["AuditRecord", "FakeDatabase", "OutboxRecord", "PassRecord", "PersonStatus",
           "PolicyVersion", "RecallRecord", "ResultLogEntry", "RuleVersion", "Tables",
           "TubeRecord", "absent", "at_ms", "ms", "not_due", "nothing_special", "overdue_at",
           "plain", "plain_overdue", "status_facts", "write_status", "zoned_plain"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms(at: datetime) -> int:
    """An instant as epoch milliseconds (as the SQL adapter stores it)."""
    return (at - _EPOCH) // timedelta(milliseconds=1)


def at_ms(value: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=value)


@dataclass(slots=True)
class PersonStatus:
    """A person's ``person_status`` row: the materialised status and the facts it comes from."""

    person_id: str
    updated_at: datetime
    test_state: str = TestState.NONE.value
    last_sampled_at: datetime | None = None
    last_tube_id: str | None = None
    last_result: str | None = None
    last_result_at: datetime | None = None
    last_result_sampled_at: datetime | None = None
    last_negative_at: datetime | None = None
    open_recall_id: str | None = None
    next_due_at: datetime | None = None
    colour: str = "green"
    reasons: str = "not_yet_tested"
    rule_id: str = DEFAULT_RULE_ID
    rule_version: int = DEFAULT_RULE_VERSION
    evidence: JsonObject | None = None
    status_at: datetime | None = None
    status_valid_until: datetime | None = None
    policy_id: str | None = None
    policy_version: int | None = None
    interval: timedelta | None = None
    grace: timedelta | None = None
    lead: timedelta | None = None
    overdue_action: str | None = None
    reminded_due_at: datetime | None = None
    exempt_until: datetime | None = None
    exempt_reason: str | None = None
    override_id: str | None = None
    override_colour: str | None = None
    override_until: datetime | None = None
    override_reason: str | None = None
    arrival_at: datetime | None = None
    arrival_risk: str | None = None
    zone_id: str | None = None
    zone_kind: str | None = None
    zone_colour: str | None = None

    def stale(self, now: datetime) -> bool:
        """``status_valid_until <= now`` (a row with no end is never stale)."""
        return self.status_valid_until is not None and self.status_valid_until <= now


@dataclass(slots=True)
class TubeRecord:
    """A ``tubes`` row, along the whole chain: sampled, boxed, received, resulted."""

    id: str
    barcode: str
    site_id: str
    window: int | None
    capacity: int
    count: int
    priority: bool
    status: str
    opened_at: datetime
    opened_by: str | None
    first_sampled_at: datetime | None = None
    sealed_at: datetime | None = None
    box_id: str | None = None
    lab_id: str | None = None
    received_at: datetime | None = None
    result: str | None = None
    ct: dict[str, float] | None = None
    resulted_at: datetime | None = None
    notified_at: datetime | None = None
    investigation: str | None = None
    investigation_closed_at: datetime | None = None


@dataclass(slots=True)
class RecallRecord:
    id: str
    person_id: str
    pool_tube_id: str
    reason: str
    status: str  # open | resolved | cancelled
    opened_at: datetime
    due_at: datetime
    resolved_at: datetime | None = None
    resolving_tube_id: str | None = None
    outcome: str | None = None


@dataclass(frozen=True, slots=True)
class ResultLogEntry:
    id: str
    tube_id: str
    lab_id: str
    result: str
    ct: dict[str, float] | None
    previous: str | None
    reason: str | None
    actor: str
    at: datetime


@dataclass(slots=True)
class OutboxRecord:
    id: str
    dedup_key: str
    person_id: str
    tube_id: str | None
    template: str
    params: JsonObject
    created_at: datetime
    next_attempt_at: datetime
    attempts: int = 0
    claimed_at: datetime | None = None
    sent_at: datetime | None = None
    last_error: str | None = None


@dataclass(slots=True)
class PassRecord:
    """An issued pass and its revocation."""

    issued: IssuedPass
    revoked_at: datetime | None = None
    revoke_reason: str | None = None

    def live(self, now: datetime) -> bool:
        return self.revoked_at is None and self.issued.expires_at > now


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at: datetime
    actor: str
    action: str
    subject: str
    detail: JsonObject


@dataclass(slots=True)
class PolicyVersion:
    policy: Policy
    created_by: str
    created_at: datetime
    superseded_at: datetime | None = None


@dataclass(slots=True)
class RuleVersion:
    rule: Rule
    position: int
    changed_by: str
    changed_at: datetime
    superseded_at: datetime | None = None


@dataclass(slots=True)
class Tables:
    """Every stored thing the fakes know, by key."""

    regions: dict[str, RegionRow] = field(default_factory=dict)
    sites: dict[str, SiteRow] = field(default_factory=dict)
    labs: dict[str, LabRow] = field(default_factory=dict)
    people: dict[str, NewPerson] = field(default_factory=dict)
    registered: dict[str, datetime] = field(default_factory=dict)  # people.created_at
    assignments: dict[str, Assignment] = field(default_factory=dict)  # door-to-door teams
    statuses: dict[str, PersonStatus] = field(default_factory=dict)
    #: person id → the open tube they are in (``open_slots``)
    open_slots: dict[str, str] = field(default_factory=dict)
    tubes: dict[str, TubeRecord] = field(default_factory=dict)
    #: (tube id, person id) → the sample
    samples: dict[tuple[str, str], SampleRow] = field(default_factory=dict)
    station_events: dict[str, StationEventRow] = field(default_factory=dict)
    boxes: dict[str, BoxRecord] = field(default_factory=dict)
    result_log: list[ResultLogEntry] = field(default_factory=list)
    #: (lab id, barcode, reason) → the row
    rejected_results: dict[tuple[str, str, str], RejectedResult] = field(default_factory=dict)
    recalls: dict[str, RecallRecord] = field(default_factory=dict)
    #: by dedup key
    outbox: dict[str, OutboxRecord] = field(default_factory=dict)
    #: (kind, subject id) → the alert
    alerts: dict[tuple[str, str], AlertRow] = field(default_factory=dict)
    audit: list[AuditRecord] = field(default_factory=list)
    policies: list[PolicyVersion] = field(default_factory=list)
    rules: list[RuleVersion] = field(default_factory=list)
    exemptions: dict[str, ExemptionRow] = field(default_factory=dict)
    overrides: dict[str, OverrideRow] = field(default_factory=dict)
    arrivals: dict[str, ArrivalRow] = field(default_factory=dict)
    #: by the pass's id hash
    passes: dict[str, PassRecord] = field(default_factory=dict)
    venue_checks: dict[str, VenueCheckRow] = field(default_factory=dict)
    region_geo: dict[str, RegionShape] = field(default_factory=dict)
    zones: dict[str, ZoneRecord] = field(default_factory=dict)
    zone_events: dict[str, ZoneEvent] = field(default_factory=dict)
    closures: dict[str, ClosureRow] = field(default_factory=dict)


@dataclass(slots=True)
class FakeDatabase:
    """The committed state, and how many units of work committed to it."""

    tables: Tables = field(default_factory=Tables)
    commits: int = 0


# -- the status facts of a row, as ``status_store`` reads them --------------------------------

#: The test states that no rule reads as a reason (positive and pending re-test are rules).
_QUIET_STATES = frozenset(s.value for s in TestState
                          if s not in (TestState.POSITIVE, TestState.PENDING_RETEST))


def status_facts(row: PersonStatus, t: Tables) -> Facts:
    """The engine's facts of a status row, with the due time of its open recall."""
    recall = t.recalls.get(row.open_recall_id) if row.open_recall_id else None
    return Facts(
        test_state=row.test_state, last_sampled_at=row.last_sampled_at,
        last_result=row.last_result, last_result_at=row.last_result_at,
        last_result_sampled_at=row.last_result_sampled_at,
        open_recall_due=recall.due_at if recall and recall.status == "open" else None,
        open_recall_reason=recall.reason if recall and recall.status == "open" else None,
        next_due_at=row.next_due_at,
        grace=DEFAULT_GRACE if row.grace is None else row.grace,
        overdue_action=row.overdue_action or FALLBACK_COLOUR.value,
        exempt_until=row.exempt_until, exempt_reason=row.exempt_reason,
        override_colour=row.override_colour, override_until=row.override_until,
        override_reason=row.override_reason, arrival_at=row.arrival_at,
        arrival_risk=row.arrival_risk, zone_kind=row.zone_kind, zone_colour=row.zone_colour,
        zone_id=row.zone_id)


def absent(row: PersonStatus) -> bool:
    """No exemption, override, arrival or zone (kept even once past: the row still has it)."""
    return (row.exempt_until is None and row.override_colour is None and row.arrival_at is None
            and row.zone_kind is None)


def _quiet(row: PersonStatus) -> bool:
    return row.test_state in _QUIET_STATES and row.open_recall_id is None


def overdue_at(row: PersonStatus) -> datetime | None:
    """When the row's due time plus grace passes (None: no due time)."""
    if row.next_due_at is None:
        return None
    return row.next_due_at + (DEFAULT_GRACE if row.grace is None else row.grace)


def nothing_special(row: PersonStatus) -> bool:
    """Facts for which only the overdue rule can match."""
    return _quiet(row) and absent(row)


def not_due(row: PersonStatus, now: datetime) -> bool:
    at = overdue_at(row)
    return at is None or at > now


def plain(row: PersonStatus, now: datetime) -> bool:
    """Nothing special and not past due + grace: the engine decides green (the default)."""
    return nothing_special(row) and not_due(row, now)


def plain_overdue(row: PersonStatus, now: datetime) -> bool:
    """Nothing special and past due + grace: the engine decides the overdue rule alone."""
    return nothing_special(row) and not not_due(row, now)


def zoned_plain(row: PersonStatus, now: datetime) -> bool:
    """Nothing special but a zone that holds its residents, not past due + grace."""
    return (_quiet(row) and row.exempt_until is None and row.override_colour is None
            and row.arrival_at is None and row.zone_kind in HOLDING_ZONES
            and row.zone_id is not None and not_due(row, now))


def write_status(row: PersonStatus, status: Status, now: datetime,
                 evidence: JsonObject | None) -> None:
    """The materialised status of ``row``: ``status`` decided at ``now``, with ``evidence`` as
    the path that decided it stores it (the set-based paths store none, but the zone's)."""
    row.colour = status.colour.value
    row.reasons = ",".join(status.reasons)[:120]
    row.rule_id = status.rule_id
    row.rule_version = status.rule_version
    row.evidence = evidence
    row.status_at = now
    row.status_valid_until = status.valid_until
