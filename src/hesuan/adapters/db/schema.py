"""The relational schema, in SQLAlchemy Core (the hot paths are set-based Core statements).

Timestamps are stored as UTC epoch milliseconds (``Timestamp``) so that the same arithmetic
(durations, "older than") runs on SQLite and PostgreSQL; Python sees aware UTC datetimes.
IDs are made by the application (UUID hex). Personal data (ID number, phone, name) is stored
encrypted (``*_enc``) and found by keyed hash (``*_hash``).

Imports: SQLAlchemy and the standard library.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Dialect,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.types import TypeDecorator

from hesuan.domain.sampling import TubeStatus

__all__ = ["Timestamp", "from_ms", "metadata", "to_ms"]


def to_ms(value: datetime) -> int:
    if value.tzinfo is None:
        raise ValueError("naive datetime: every timestamp inside Hesuan must be aware UTC")
    return int(value.timestamp() * 1000)


def from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


class Timestamp(TypeDecorator[datetime]):
    """Aware UTC datetime stored as epoch milliseconds."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        if value is None or isinstance(value, int):
            return value
        return to_ms(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else from_ms(value)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(32)

regions = Table(
    "regions", metadata,
    Column("code", String(15), primary_key=True),
    Column("level", String(10), nullable=False),
    Column("name", String(100), nullable=False),
    Column("parent_code", String(15), index=True),
)

people = Table(
    "people", metadata,
    Column("id", ID, primary_key=True),
    Column("id_kind", String(10), nullable=False),
    Column("id_hash", LargeBinary(32), nullable=False, unique=True),
    Column("id_enc", LargeBinary, nullable=False),
    Column("id_last4", String(4), nullable=False),
    Column("name_enc", LargeBinary, nullable=False),
    Column("name_masked", String(40), nullable=False),
    Column("phone_enc", LargeBinary),
    Column("phone_hash", LargeBinary(32), index=True),
    Column("grid_code", String(15), nullable=False, index=True),
    Column("household_id", ID),
    Column("address", String(80)),
    Column("groups", String(80), nullable=False, default=""),
    Column("birth_year", SmallInteger),
    Column("language", String(2), nullable=False, default="zh"),
    Column("created_at", Timestamp, nullable=False),
)

#: Where a household lives (``people.household_id``), rounded to about 100 m: the distance to
#: the open sites on a resident's page is measured from it.
households = Table(
    "households", metadata,
    Column("id", ID, primary_key=True),
    Column("lat", Float, nullable=False),
    Column("lng", Float, nullable=False),
)

person_status = Table(
    "person_status", metadata,
    Column("person_id", ID, ForeignKey("people.id"), primary_key=True),
    Column("test_state", String(16), nullable=False, default="none"),
    Column("last_sampled_at", Timestamp),
    Column("last_tube_id", ID),
    Column("last_result", String(10)),
    Column("last_result_at", Timestamp),
    Column("last_result_sampled_at", Timestamp),
    Column("last_negative_at", Timestamp),
    Column("open_recall_id", ID),
    Column("next_due_at", Timestamp, index=True),
    Column("updated_at", Timestamp, nullable=False),
    # -- the materialised status (see domain.status) and the facts it is decided from
    Column("colour", String(8), nullable=False, server_default="green"),
    Column("reasons", String(120), nullable=False, server_default="not_yet_tested"),
    Column("rule_id", String(20), nullable=False, server_default="R-DEFAULT"),
    Column("rule_version", Integer, nullable=False, server_default="1"),
    Column("evidence", JSON),
    Column("status_at", Timestamp),
    Column("status_valid_until", Timestamp, index=True),
    Column("policy_id", ID),
    Column("policy_version", Integer),
    Column("interval_ms", BigInteger),
    Column("grace_ms", BigInteger),
    Column("lead_ms", BigInteger),
    Column("overdue_action", String(8)),
    Column("reminded_due_at", Timestamp),
    Column("exempt_until", Timestamp),
    Column("exempt_reason", String(20)),
    Column("override_id", ID),
    Column("override_colour", String(8)),
    Column("override_until", Timestamp),
    Column("override_reason", String(200)),
    Column("arrival_at", Timestamp),
    Column("arrival_risk", String(8)),
    Column("zone_id", ID),
    Column("zone_kind", String(12)),
    Column("zone_colour", String(8)),
)

# A person in an open tube holds a slot: the primary key makes "never in two open tubes" a
# database guarantee on both backends, not only an application check.
open_slots = Table(
    "open_slots", metadata,
    Column("person_id", ID, primary_key=True),
    Column("tube_id", ID, nullable=False, index=True),
)

sites = Table(
    "sites", metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("region_code", String(15), nullable=False, index=True),
    Column("lat", Float),
    Column("lng", Float),
    Column("opening_hours", String(40), nullable=False),
    Column("windows", SmallInteger, nullable=False),
    Column("status", String(12), nullable=False),
    Column("created_at", Timestamp, nullable=False),
)

labs = Table(
    "labs", metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("region_code", String(15), nullable=False),
    Column("daily_capacity", Integer, nullable=False),
    Column("created_at", Timestamp, nullable=False),
)

tubes = Table(
    "tubes", metadata,
    Column("id", ID, primary_key=True),
    Column("barcode", String(13), nullable=False, unique=True),
    Column("site_id", ID, ForeignKey("sites.id"), nullable=False),
    Column("window", SmallInteger),
    Column("capacity", SmallInteger, nullable=False),
    Column("count", SmallInteger, nullable=False),
    Column("priority", Boolean, nullable=False),
    Column("status", String(10), nullable=False),
    Column("opened_at", Timestamp, nullable=False),
    Column("opened_by", ID),
    Column("first_sampled_at", Timestamp),
    Column("sealed_at", Timestamp),
    Column("box_id", ID, index=True),
    Column("lab_id", ID, index=True),
    Column("received_at", Timestamp),
    Column("result", String(10)),
    Column("ct", JSON),
    Column("resulted_at", Timestamp),
    Column("notified_at", Timestamp),
    Column("investigation", String(8)),
    Column("investigation_closed_at", Timestamp),
    # held a recall's re-sample: marked before its samples are forgotten (retention, the close),
    # so that prevalence still counts routine pools only
    Column("recall_resample", Boolean, nullable=False, server_default=false()),
)

samples = Table(
    "samples", metadata,
    Column("tube_id", ID, ForeignKey("tubes.id"), primary_key=True),
    Column("person_id", ID, ForeignKey("people.id"), primary_key=True),
    Column("event_id", String(36), nullable=False),
    Column("sampled_at", Timestamp, nullable=False),
    Column("recall_id", ID),
    Index("ix_samples_person", "person_id"),
    # PostgreSQL: by month of the tube's id (``adapters/db/partitions.py``, migration 0014)
    postgresql_partition_by="RANGE (tube_id)",
)

station_events = Table(
    "station_events", metadata,
    # PostgreSQL: collated "C" (bytes), the order of the monthly partitions' bounds
    Column("event_id", String(36).with_variant(String(36, collation="C"), "postgresql"),
           primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("site_id", ID),
    Column("actor", ID, nullable=False),
    Column("client_at", Timestamp, nullable=False),
    Column("received_at", Timestamp, nullable=False),
    # the content the id was first accepted with (``domain.event_ids.content_digest``): the
    # same id with other content is a conflict, not a replay; None for delivery and lane events
    Column("digest", String(32)),
    # PostgreSQL: by month of the event's id (UUIDv7; others in the default partition)
    postgresql_partition_by="RANGE (event_id)",
)

boxes = Table(
    "boxes", metadata,
    Column("id", ID, primary_key=True),
    Column("code", String(12), nullable=False, unique=True),
    Column("site_id", ID, ForeignKey("sites.id"), nullable=False, index=True),
    Column("status", String(12), nullable=False, index=True),
    Column("opened_at", Timestamp, nullable=False),
    Column("sealed_at", Timestamp),
    Column("tube_count", Integer),
    Column("first_tube_sealed_at", Timestamp),
    Column("courier_id", ID),
    Column("handed_over_at", Timestamp),
    Column("lab_id", ID),
    Column("received_at", Timestamp),
    Column("received_count", Integer),
    Column("missing", JSON),
    Column("extra", JSON),
    Column("discrepancy", Boolean, nullable=False, default=False),
)

result_log = Table(
    "result_log", metadata,
    Column("id", ID, primary_key=True),
    Column("tube_id", ID, nullable=False, index=True),
    Column("lab_id", ID, nullable=False),
    Column("result", String(10), nullable=False),
    Column("ct", JSON),
    Column("previous", String(10)),
    Column("reason", Text),
    Column("actor", ID, nullable=False),
    Column("at", Timestamp, nullable=False),
    # PostgreSQL: by month of the entry's id (kept for good: no partition is dropped)
    postgresql_partition_by="RANGE (id)",
)

rejected_results = Table(
    "rejected_results", metadata,
    Column("id", ID, primary_key=True),
    Column("lab_id", ID, nullable=False),
    Column("barcode", String(40), nullable=False),
    Column("reason", String(40), nullable=False),
    Column("actor", ID, nullable=False),
    Column("at", Timestamp, nullable=False),
    UniqueConstraint("lab_id", "barcode", "reason", name="uq_rejected_results_lab_barcode"),
)

recalls = Table(
    "recalls", metadata,
    Column("id", ID, primary_key=True),
    Column("person_id", ID, ForeignKey("people.id"), nullable=False, index=True),
    Column("pool_tube_id", ID, nullable=False, index=True),
    Column("reason", String(16), nullable=False),
    Column("status", String(10), nullable=False, index=True),
    Column("opened_at", Timestamp, nullable=False),
    Column("due_at", Timestamp, nullable=False),
    Column("resolved_at", Timestamp),
    Column("resolving_tube_id", ID),
    Column("outcome", String(10)),
)

outbox = Table(
    "outbox", metadata,
    Column("id", ID, primary_key=True),
    Column("dedup_key", String(120), nullable=False, unique=True),
    Column("person_id", ID, nullable=False),
    Column("tube_id", ID, index=True),
    Column("template", String(40), nullable=False),
    Column("params", JSON, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("next_attempt_at", Timestamp, nullable=False),
    Column("attempts", SmallInteger, nullable=False, default=0),
    # set, and committed, before the message is handed to the sender: a claim without
    # ``sent_at`` is in flight, or in doubt once older than the claim timeout (docs/SMS.md)
    Column("claimed_at", Timestamp),
    Column("sent_at", Timestamp),
    Column("last_error", String(200)),
    Index("ix_outbox_pending", "sent_at", "next_attempt_at"),
)

#: Electronic lab reports to deliver (docs/INTEROP.md "Out"): one row per person a released
#: or corrected result reached, per format, keyed by the result-log entry, the person and the
#: format, so that the same report is never queued twice; claimed, sent and in doubt as the
#: outbox's messages are (docs/SMS.md "Exactly once").
elr_outbox = Table(
    "elr_outbox", metadata,
    Column("result_log_id", ID, primary_key=True),
    Column("person_id", ID, primary_key=True),
    Column("format", String(4), primary_key=True),
    Column("tube_id", ID, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("next_attempt_at", Timestamp, nullable=False),
    Column("attempts", SmallInteger, nullable=False, default=0),
    Column("claimed_at", Timestamp),
    Column("sent_at", Timestamp),
    Column("last_error", String(200)),
    Index("ix_elr_outbox_pending", "sent_at", "next_attempt_at"),
)

alerts = Table(
    "alerts", metadata,
    Column("id", ID, primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("subject_id", ID, nullable=False),
    Column("raised_at", Timestamp, nullable=False),
    Column("detail", JSON, nullable=False),
    Column("closed_at", Timestamp),
    UniqueConstraint("kind", "subject_id", name="uq_alerts_kind_subject"),
)

users = Table(
    "users", metadata,
    Column("id", ID, primary_key=True),
    Column("username", String(60), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("scope", String(32)),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", Timestamp, nullable=False),
)

tokens = Table(
    "tokens", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", ID, ForeignKey("users.id"), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
)

audit_log = Table(
    "audit_log", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", String(32), nullable=False),
    Column("actor", String(60), nullable=False),
    Column("action", String(40), nullable=False),
    Column("subject", String(80), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

#: One row: the last audit entry hashed with plain SHA-256 (written before the database had a
#: keyed chain: ``domain/audit.py``); 0 on a database created keyed. Like ``audit_log``, the
#: database refuses UPDATE and DELETE of it (migration 0006).
audit_meta = Table(
    "audit_meta", metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),  # always 1
    Column("legacy_upto", BigInteger, nullable=False),
)

#: Failed sign-ins (``domain/sign_in.py``): one row a failure, under a keyed hash of the account
#: or client address tried, so that every server process applies the same limits.
sign_in_failures = Table(
    "sign_in_failures", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key_hash", LargeBinary(32), nullable=False),
    Column("at", Timestamp, nullable=False),
    Index("ix_sign_in_failures_key", "key_hash", "at"),
    Index("ix_sign_in_failures_at", "at"),
)


policies = Table(
    "policies", metadata,
    Column("id", ID, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("scope_kind", String(8), nullable=False),
    Column("scope", String(20), nullable=False),
    Column("name", String(100), nullable=False),
    Column("interval_ms", BigInteger, nullable=False),
    Column("grace_ms", BigInteger, nullable=False),
    Column("lead_ms", BigInteger, nullable=False),
    Column("overdue_action", String(8), nullable=False),
    Column("valid_from", Timestamp, nullable=False),
    Column("valid_to", Timestamp),
    Column("created_by", String(60), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("superseded_at", Timestamp),
)

status_rules = Table(
    "status_rules", metadata,
    Column("id", String(20), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("position", SmallInteger, nullable=False),
    Column("predicate", String(30), nullable=False),
    Column("reason", String(30), nullable=False),
    Column("colour", String(8)),
    Column("enabled", Boolean, nullable=False),
    Column("changed_by", String(60), nullable=False),
    Column("changed_at", Timestamp, nullable=False),
    Column("superseded_at", Timestamp),
)

exemptions = Table(
    "exemptions", metadata,
    Column("id", ID, primary_key=True),
    Column("person_id", ID, ForeignKey("people.id"), nullable=False, index=True),
    Column("reason", String(20), nullable=False),
    Column("note", String(200)),
    Column("until", Timestamp, nullable=False),
    Column("set_by", String(60), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("revoked_at", Timestamp),
)

overrides = Table(
    "overrides", metadata,
    Column("id", ID, primary_key=True),
    Column("person_id", ID, ForeignKey("people.id"), nullable=False, index=True),
    Column("colour", String(8), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("legal_basis", String(200), nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Column("status", String(10), nullable=False),
    Column("requested_by", ID, nullable=False),
    Column("requested_at", Timestamp, nullable=False),
    Column("decided_by", ID),
    Column("decided_at", Timestamp),
)

arrivals = Table(
    "arrivals", metadata,
    Column("id", ID, primary_key=True),
    Column("person_id", ID, ForeignKey("people.id"), nullable=False, index=True),
    Column("checkpoint_site_id", ID, nullable=False),
    Column("origin_region", String(15), nullable=False),
    Column("origin_risk", String(8), nullable=False),
    Column("arrived_at", Timestamp, nullable=False),
    Column("created_by", String(60), nullable=False),
)

venues = Table(
    "venues", metadata,
    Column("id", ID, primary_key=True),
    Column("code", String(20), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    Column("region_code", String(15), nullable=False),
    Column("lat", Float),
    Column("lng", Float),
    Column("created_at", Timestamp, nullable=False),
)

venue_checks = Table(
    "venue_checks", metadata,
    Column("id", ID, primary_key=True),
    Column("venue_id", ID, nullable=False, index=True),
    Column("at", Timestamp, nullable=False, index=True),
    Column("colour", String(8)),
    Column("pass_valid", Boolean, nullable=False),
    Column("temperature_ok", Boolean, nullable=False),
    Column("code_ok", Boolean, nullable=False),
    Column("certificate_ok", Boolean, nullable=False),
    Column("mask_ok", Boolean, nullable=False),
    Column("admitted", Boolean, nullable=False),
    Column("checked_by", ID, nullable=False),
)

# Signed status passes issued (one row per pass; the pass itself is not stored). ``id_hash`` is
# the pass's name on the revocation list; rows are purged a day after the pass expires.
passes = Table(
    "passes", metadata,
    Column("id_hash", String(32), primary_key=True),
    Column("person_id", ID, ForeignKey("people.id"), nullable=False, index=True),
    Column("key_id", String(16), nullable=False),
    Column("colour", String(8), nullable=False),
    Column("issued_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False, index=True),
    Column("revoked_at", Timestamp),
    Column("revoke_reason", String(20)),
    Index("ix_passes_revoked", "revoked_at", "expires_at"),
)


# --- zones, rosters, fence alerts, door-to-door teams, site lanes, staff -----------------
# ``person_status.zone_id/zone_kind/zone_colour`` hold each person's strictest zone (the kind
# only where it changes the status: sealed, controlled); the tables below hold the zones
# themselves, their areas and history.

region_geo = Table(
    "region_geo", metadata,
    Column("code", String(15), primary_key=True),
    Column("lat", Float),
    Column("lng", Float),
    Column("geometry", JSON),  # GeoJSON geometry (district boundaries), or null for a point
    Column("source", String(80)),
    Column("updated_at", Timestamp, nullable=False),
)

zones = Table(
    "zones", metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("kind", String(12), nullable=False),
    Column("status", String(10), nullable=False, index=True),
    Column("starts_at", Timestamp, nullable=False),
    Column("planned_end", Timestamp),
    Column("ended_at", Timestamp),
    Column("rules", JSON, nullable=False),
    Column("geometry", JSON),
    Column("parent_id", ID, index=True),
    Column("note", String(200)),
    Column("people", Integer),
    Column("created_by", String(60), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("ended_by", String(60)),
    Column("end_reason", String(200)),
)

zone_areas = Table(
    "zone_areas", metadata,
    Column("zone_id", ID, ForeignKey("zones.id"), primary_key=True),
    Column("region_code", String(15), primary_key=True),
    Column("building", String(40), primary_key=True, server_default=""),
    Column("grid_lo", String(15), nullable=False),
    Column("grid_hi", String(15), nullable=False),
    Column("source", String(8), nullable=False),  # list | polygon
    Index("ix_zone_areas_region", "region_code"),
)

zone_events = Table(
    "zone_events", metadata,
    Column("id", ID, primary_key=True),
    Column("zone_id", ID, nullable=False, index=True),
    Column("action", String(12), nullable=False),
    Column("actor", String(60), nullable=False),
    Column("at", Timestamp, nullable=False),
    Column("detail", JSON, nullable=False),
)

roster_outcomes = Table(
    "roster_outcomes", metadata,
    Column("id", ID, primary_key=True),
    Column("person_id", ID, ForeignKey("people.id"), nullable=False),
    Column("grid_code", String(15), nullable=False, index=True),
    Column("outcome", String(20), nullable=False),
    Column("note", String(200)),
    Column("actor", String(60), nullable=False),
    Column("at", Timestamp, nullable=False),
    Index("ix_roster_outcomes_person", "person_id", "at"),
)

checkpoints = Table(
    "checkpoints", metadata,
    Column("id", ID, primary_key=True),
    Column("code", String(20), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("region_code", String(15), nullable=False),
    Column("lat", Float),
    Column("lng", Float),
    Column("created_at", Timestamp, nullable=False),
)

fence_scans = Table(
    "fence_scans", metadata,
    Column("event_id", String(36), primary_key=True),
    Column("place_kind", String(10), nullable=False),
    Column("place_id", ID, nullable=False),
    Column("person_id", ID),
    Column("via", String(6), nullable=False),
    Column("at", Timestamp, nullable=False, index=True),
    Column("received_at", Timestamp, nullable=False),
    Column("actor", ID, nullable=False),
    Column("alerts", SmallInteger, nullable=False),
    # a place's device lists its latest scans
    Index("ix_fence_scans_place", "place_id", "at"),
)

fence_alerts = Table(
    "fence_alerts", metadata,
    Column("id", ID, primary_key=True),
    Column("person_id", ID, ForeignKey("people.id"), nullable=False),
    Column("rule", String(20), nullable=False),
    Column("day", String(10), nullable=False),
    Column("grid_code", String(15), nullable=False, index=True),
    Column("raised_at", Timestamp, nullable=False),
    Column("last_scan_at", Timestamp, nullable=False),
    Column("scans", Integer, nullable=False),
    Column("place_kind", String(10), nullable=False),
    Column("place_id", ID, nullable=False),
    Column("place_name", String(100)),
    Column("detail", JSON, nullable=False),
    Column("status", String(12), nullable=False, index=True),
    Column("acknowledged_by", String(60)),
    Column("acknowledged_at", Timestamp),
    Column("closed_by", String(60)),
    Column("closed_at", Timestamp),
    Column("outcome", String(20)),
    Column("note", String(200)),
    UniqueConstraint("person_id", "rule", "day", name="uq_fence_alerts_person_rule_day"),
)

team_assignments = Table(
    "team_assignments", metadata,
    Column("id", ID, primary_key=True),
    Column("site_id", ID, ForeignKey("sites.id"), nullable=False, index=True),
    Column("zone_id", ID),
    Column("household_pool", Boolean, nullable=False),
    Column("status", String(10), nullable=False),
    Column("note", String(200)),
    Column("created_by", String(60), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("closed_at", Timestamp),
)

team_targets = Table(
    "team_targets", metadata,
    Column("assignment_id", ID, ForeignKey("team_assignments.id"), primary_key=True),
    Column("person_id", ID, ForeignKey("people.id"), primary_key=True),
    Index("ix_team_targets_person", "person_id"),
)

lane_entries = Table(
    "lane_entries", metadata,
    Column("event_id", String(36), primary_key=True),
    Column("site_id", ID, nullable=False),
    Column("window", SmallInteger),
    Column("barcode", String(13), nullable=False),
    Column("person_id", ID, nullable=False),
    Column("registered_at", Timestamp, nullable=False),
    Column("swabbed_at", Timestamp),
    Column("swab_event_id", String(36)),
    Column("swab_window", SmallInteger),
    # a registration whose person may no longer go into its tube, found at the swab
    Column("lapsed_at", Timestamp),
    Column("lapse_reason", String(40)),
    Index("ix_lane_entries_site", "site_id", "swabbed_at"),
    Index("ix_lane_entries_person", "person_id", "swabbed_at"),
)
# the registrations still waiting on a tube: its places they hold, read with the tube
Index("ix_lane_entries_waiting", lane_entries.c.barcode,
      sqlite_where=lane_entries.c.swabbed_at.is_(None),
      postgresql_where=lane_entries.c.swabbed_at.is_(None))

teams = Table(
    "teams", metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("place_kind", String(10), nullable=False),  # site | checkpoint | region
    Column("place_id", String(32), nullable=False),
    Column("created_at", Timestamp, nullable=False),
)

team_moves = Table(
    "team_moves", metadata,
    Column("id", ID, primary_key=True),
    Column("team_id", ID, ForeignKey("teams.id"), nullable=False, index=True),
    Column("from_kind", String(10)),
    Column("from_id", String(32)),
    Column("to_kind", String(10), nullable=False),
    Column("to_id", String(32), nullable=False),
    Column("note", String(200)),
    Column("actor", String(60), nullable=False),
    Column("at", Timestamp, nullable=False),
)

staff = Table(
    "staff", metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(60), nullable=False),
    Column("role", String(12), nullable=False),
    Column("team_id", ID, ForeignKey("teams.id"), index=True),
    Column("active", Boolean, nullable=False),
    Column("created_at", Timestamp, nullable=False),
)

shifts = Table(
    "shifts", metadata,
    Column("id", ID, primary_key=True),
    Column("staff_id", ID, ForeignKey("staff.id"), nullable=False),
    Column("place_kind", String(10), nullable=False),
    Column("place_id", String(32), nullable=False),
    Column("window", SmallInteger),
    Column("started_at", Timestamp, nullable=False),
    Column("ended_at", Timestamp),
    Column("ended_by", String(60)),
    Index("ix_shifts_staff", "staff_id", "started_at"),
    Index("ix_shifts_place", "place_id", "ended_at"),
)

# The latest coverage snapshot per grid (the current round), refreshed set-based in the
# background so that city-wide roll-ups read thousands of grid rows, not millions of people.
coverage_grid = Table(
    "coverage_grid", metadata,
    Column("grid_code", String(15), primary_key=True),
    Column("due", Integer, nullable=False),
    Column("sampled", Integer, nullable=False),
    Column("exempt", Integer, nullable=False),
    Column("since", Timestamp, nullable=False),
    Column("as_of", Timestamp, nullable=False),
)

# --- the lab stage (检): assays, plates, run files, the results of wells ----------------------
# A run is a plate: its wells (tubes scanned in, controls placed), the instrument's export file
# read onto it, each well's interpreted result and decision (preliminary until the plate is
# released), and who built, imported and released it (docs/LAB.md). A released result's
# ``result_log`` row is named by its well's ``result_log_id``: every released result traces to
# a plate, a well, a run file, the plate's controls and two people.

#: Assay (kit) definitions, versioned: a change is a new version, old versions stay as they
#: were. One version is current: new plates use it.
assays = Table(
    "assays", metadata,
    Column("id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("definition", JSON, nullable=False),
    Column("is_current", Boolean, nullable=False),
    Column("created_by", String(60), nullable=False),
    Column("created_at", Timestamp, nullable=False),
)

run_files = Table(
    "run_files", metadata,
    Column("id", ID, primary_key=True),
    Column("lab_id", ID, ForeignKey("labs.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("format", String(20), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("instrument", String(100)),
    Column("instrument_serial", String(60)),
    Column("software", String(100)),
    Column("run_name", String(200)),
    Column("uploaded_by", ID, nullable=False),
    Column("uploaded_at", Timestamp, nullable=False),
    # a file is imported once per lab: the same bytes again are refused
    UniqueConstraint("lab_id", "sha256", name="uq_run_files_lab_sha256"),
)

plates = Table(
    "plates", metadata,
    Column("id", ID, primary_key=True),
    Column("lab_id", ID, ForeignKey("labs.id"), nullable=False),
    Column("assay_id", String(64), nullable=False),
    Column("assay_version", Integer, nullable=False),
    Column("size", SmallInteger, nullable=False),
    Column("status", String(10), nullable=False),
    Column("created_by", ID, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("ready_by", ID),
    Column("ready_at", Timestamp),
    Column("run_file_id", ID, ForeignKey("run_files.id"), unique=True),
    Column("imported_by", ID),
    Column("imported_at", Timestamp),
    Column("qc_passed", Boolean),
    Column("released_by", ID),
    Column("released_at", Timestamp),
    ForeignKeyConstraint(["assay_id", "assay_version"], ["assays.id", "assays.version"],
                         name="fk_plates_assay_assays"),
    Index("ix_plates_lab_status", "lab_id", "status"),
)

#: The plate map: what each well holds, a tube (once per plate) or a control.
plate_wells = Table(
    "plate_wells", metadata,
    Column("plate_id", ID, ForeignKey("plates.id"), primary_key=True),
    Column("well", String(3), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("tube_id", ID, ForeignKey("tubes.id")),
    Column("placed_by", ID, nullable=False),
    Column("placed_at", Timestamp, nullable=False),
    UniqueConstraint("plate_id", "tube_id", name="uq_plate_wells_plate_tube"),
    Index("ix_plate_wells_tube", "tube_id"),
)

#: Each well of an imported run: its Ct per target (JSON, null: undetermined), what it showed
#: (a tube's call, or a control's passed / failed) with the reason and the evidence, the assay
#: version that interpreted it; for a tube its run of the sample (``attempt``; ``counted``: the
#: run counts towards the sample's re-runs) and the decision (release / rerun / recall) with
#: the result a release gives; ``result_log_id`` once released.
well_results = Table(
    "well_results", metadata,
    Column("plate_id", ID, ForeignKey("plates.id"), primary_key=True),
    Column("well", String(3), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("tube_id", ID, ForeignKey("tubes.id")),
    Column("sample_name", String(100)),
    Column("cts", JSON, nullable=False),
    Column("outcome", String(24), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("evidence", JSON, nullable=False),
    Column("assay_id", String(64), nullable=False),
    Column("assay_version", Integer, nullable=False),
    Column("attempt", SmallInteger),
    Column("counted", Boolean, nullable=False),
    Column("decision", String(8)),
    Column("result", String(10)),
    Column("result_log_id", ID),
    Index("ix_well_results_tube", "tube_id"),
    Index("ix_well_results_result_log", "result_log_id"),
)

#: A lab's settings that only an administrator changes (audited): one-person release.
lab_settings = Table(
    "lab_settings", metadata,
    Column("lab_id", ID, ForeignKey("labs.id"), primary_key=True),
    Column("one_person_release", Boolean, nullable=False),
    Column("set_by", String(60), nullable=False),
    Column("set_at", Timestamp, nullable=False),
)

#: Requests to correct or cancel a released result: requested by a lab user with a reason,
#: approved (and then applied) or declined by a second; ``previous`` the released result it
#: corrects, ``result`` the one it gives (None: a cancellation), ``result_log_id`` the result-log
#: entry its application wrote.
result_corrections = Table(
    "result_corrections", metadata,
    Column("id", ID, primary_key=True),
    Column("lab_id", ID, ForeignKey("labs.id"), nullable=False),
    Column("tube_id", ID, ForeignKey("tubes.id"), nullable=False),
    Column("kind", String(12), nullable=False),
    Column("previous", String(10), nullable=False),
    Column("result", String(10)),
    Column("ct", JSON),
    Column("reason", Text, nullable=False),
    Column("status", String(8), nullable=False),
    Column("requested_by", ID, nullable=False),
    Column("requested_at", Timestamp, nullable=False),
    Column("decided_by", ID),
    Column("decided_at", Timestamp),
    Column("decision_note", String(500)),
    Column("result_log_id", ID),
    Index("ix_result_corrections_lab_status", "lab_id", "status"),
    Index("ix_result_corrections_tube", "tube_id"),
    Index("ix_result_corrections_result_log", "result_log_id"),
)

#: Every message a lab's own system sent (HL7 v2 or FHIR, docs/INTEROP.md): its bytes (``raw``,
#: encrypted by the vault: they name a patient) and their SHA-256, how it came, who sent it
#: under which control id (a resend is the same message), its state (unprocessed, applied,
#: unclear, discarded), the outcome per specimen (a JSON list) and the acknowledgment it was
#: answered with (sent again, unchanged, to a resend). A resend is known within the lab that
#: receives it: two labs' systems may number their messages alike.
lab_messages = Table(
    "lab_messages", metadata,
    Column("id", ID, primary_key=True),
    Column("lab_id", ID, ForeignKey("labs.id"), nullable=False),
    Column("format", String(8), nullable=False),
    Column("via", String(8), nullable=False),
    Column("sending_facility", String(200), nullable=False),
    Column("control_id", String(200), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("received_by", ID, nullable=False),
    Column("received_at", Timestamp, nullable=False),
    Column("state", String(12), nullable=False),
    Column("specimens", JSON, nullable=False),
    Column("ack_code", String(2), nullable=False),
    Column("ack", LargeBinary, nullable=False),
    Column("reason", Text),
    Column("decided_by", ID),
    Column("decided_at", Timestamp),
    UniqueConstraint("lab_id", "sending_facility", "control_id",
                     name="uq_lab_messages_lab_id"),
    Index("ix_lab_messages_lab_state", "lab_id", "state", "received_at"),
)

#: A lab's interop setting: the specimen id sources that name its tubes, in order, and its own
#: test codes (to LOINC) and result codes or words (to a finding).
lab_interop_settings = Table(
    "lab_interop_settings", metadata,
    Column("lab_id", ID, ForeignKey("labs.id"), primary_key=True),
    Column("id_order", String(80), nullable=False),
    Column("tests", JSON, nullable=False),
    Column("values", JSON, nullable=False),
    Column("set_by", String(60), nullable=False),
    Column("set_at", Timestamp, nullable=False),
)

#: Specimens a lab rejected (at receipt or at the bench) with the reason's code; once a tube.
specimen_rejections = Table(
    "specimen_rejections", metadata,
    Column("tube_id", ID, ForeignKey("tubes.id"), primary_key=True),
    Column("lab_id", ID, ForeignKey("labs.id"), nullable=False),
    Column("code", String(24), nullable=False),
    Column("stage", String(8), nullable=False),
    Column("note", String(500)),
    Column("plate_id", ID),
    Column("rejected_by", ID, nullable=False),
    Column("rejected_at", Timestamp, nullable=False),
    Index("ix_specimen_rejections_lab", "lab_id", "rejected_at"),
)

#: What remains of the samples once they are forgotten (docs/RETENTION.md): per local day of
#: sampling and district, the district's people when they were counted (coverage's
#: denominator), the samples, those resulted, positive alone or in a positive pool, and the
#: turnaround from sample to result (count, sum, longest, in seconds). No personal data; kept
#: after the end of the programme.
daily_aggregates = Table(
    "daily_aggregates", metadata,
    Column("day", String(10), primary_key=True),
    Column("district", String(15), primary_key=True),
    Column("people", BigInteger, nullable=False),
    Column("sampled", BigInteger, nullable=False),
    Column("resulted", BigInteger, nullable=False),
    Column("positive", BigInteger, nullable=False),
    Column("in_positive_pools", BigInteger, nullable=False),
    Column("turnaround_n", BigInteger, nullable=False),
    Column("turnaround_sum_s", BigInteger, nullable=False),
    Column("turnaround_max_s", BigInteger, nullable=False),
)

#: Requests to close the programme: asked by one health officer, approved (and then carried
#: out) or not by a second; ``certificate`` the signed destruction certificate's document.
programme_closures = Table(
    "programme_closures", metadata,
    Column("id", ID, primary_key=True),
    Column("status", String(10), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("requested_by", String(60), nullable=False),
    Column("requested_at", Timestamp, nullable=False),
    Column("decided_by", String(60)),
    Column("decided_at", Timestamp),
    Column("certificate", JSON),
)

# One pending correction request per tube.
Index("uq_result_corrections_pending", result_corrections.c.tube_id, unique=True,
      sqlite_where=result_corrections.c.status == "pending",
      postgresql_where=result_corrections.c.status == "pending")

# One current assay version at a time.
Index("uq_assays_current", assays.c.is_current, unique=True,
      sqlite_where=assays.c.is_current, postgresql_where=assays.c.is_current)

# Zone members, for lifting a zone without scanning the population (partial: few have a zone).
Index("ix_person_status_zone", person_status.c.zone_id,
      sqlite_where=person_status.c.zone_id.isnot(None),
      postgresql_where=person_status.c.zone_id.isnot(None))

# Retention passes find what has expired without scanning whole tables (docs/RETENTION.md).
Index("ix_tubes_resulted_at", tubes.c.resulted_at)
Index("ix_station_events_received_at", station_events.c.received_at)

# Recent swabs of a site (queue and throughput figures) without scanning its whole history; also
# a site's tubes (its first column).
Index("ix_tubes_site_first_sampled", tubes.c.site_id, tubes.c.first_sampled_at)

# A result rewrites its tube's status and time, so the new row version gets an entry in each of
# the tubes' indexes (11 WAL records a tube in the fan-out). Two of them hold only the tubes a
# query looks for: the pools under investigation (few; ``investigation = …`` implies it is set,
# which both databases see), and on PostgreSQL the tubes still on their way (a tube at rest —
# resulted, rejected or cancelled — is found by its lab). SQLite uses a partial index only for a
# query that repeats its condition, so there the status index stays whole.
_AT_REST = [TubeStatus.RESULTED.value, TubeStatus.REJECTED.value, TubeStatus.CANCELLED.value]
Index("ix_tubes_status", tubes.c.status, postgresql_where=tubes.c.status.notin_(_AT_REST))
Index("ix_tubes_investigation", tubes.c.investigation,
      sqlite_where=tubes.c.investigation.isnot(None),
      postgresql_where=tubes.c.investigation.isnot(None))
