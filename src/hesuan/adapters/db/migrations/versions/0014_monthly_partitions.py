"""monthly partitions of samples, station events and the result log (PostgreSQL)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 18:30:00
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from alembic import op
from sqlalchemy import Connection

from hesuan.adapters.db import partitions

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

#: How far back the months made start at most: from the oldest row's month, or this many
#: before the current one if that is older (older rows go to the default partition, whose
#: expired rows the retention pass deletes).
_MONTHS_BACK = 12

#: Per table: its columns (the partitioned form: ``station_events.event_id`` collated "C"),
#: its primary key, the column whose earliest value dates its oldest key, its indexes and its
#: foreign keys, by name.
_TABLES = {
    "samples": (
        "tube_id varchar(32) NOT NULL, person_id varchar(32) NOT NULL, "
        "event_id varchar(36) NOT NULL, sampled_at bigint NOT NULL, recall_id varchar(32)",
        "tube_id, person_id", "sampled_at",
        {"ix_samples_person": "person_id"},
        {"fk_samples_tube_id_tubes": "(tube_id) REFERENCES tubes (id)",
         "fk_samples_person_id_people": "(person_id) REFERENCES people (id)"}),
    "station_events": (
        'event_id varchar(36) COLLATE "C" NOT NULL, kind varchar(16) NOT NULL, '
        "site_id varchar(32), actor varchar(32) NOT NULL, client_at bigint NOT NULL, "
        "received_at bigint NOT NULL, digest varchar(32)",
        "event_id", "client_at",
        {"ix_station_events_received_at": "received_at"}, {}),
    "result_log": (
        "id varchar(32) NOT NULL, tube_id varchar(32) NOT NULL, lab_id varchar(32) NOT NULL, "
        "result varchar(10) NOT NULL, ct json, previous varchar(10), reason text, "
        "actor varchar(32) NOT NULL, at bigint NOT NULL",
        "id", "at",
        {"ix_result_log_tube_id": "tube_id"}, {}),
}


def upgrade() -> None:
    """On PostgreSQL, each of the three tables becomes partitioned by range of its time-led
    key: a partition per month from the oldest row's (at most ``_MONTHS_BACK`` back) to
    ``partitions.MONTHS_AHEAD`` ahead, and the default; the rows copied over, the indexes,
    key and foreign keys under their names. One transaction (the migrations'). SQLite: none."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    now = partitions.month_of(datetime.now(UTC))
    for table in _TABLES:
        _rebuild(bind, table, now)


def downgrade() -> None:
    """Back to plain tables (PostgreSQL), rows and names kept."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table in _TABLES:
        _rebuild(bind, table, None)


def _rebuild(bind: Connection, table: str, now: date | None) -> None:
    """``table`` anew with its rows: partitioned by month around ``now`` (the current month),
    or plain when None."""
    columns, key, dated_by, indexes, foreign = _TABLES[table]
    old = f"{table}_old"
    sql = bind.exec_driver_sql
    sql(f"ALTER TABLE {table} RENAME TO {old}")
    sql(f"ALTER TABLE {old} RENAME CONSTRAINT pk_{table} TO pk_{old}")
    for name in indexes:
        sql(f"ALTER INDEX {name} RENAME TO {name}_old")
    if now is not None:
        by = next(t.key for t in partitions.PARTITIONED if t.table == table)
        sql(f"CREATE TABLE {table} ({columns}, CONSTRAINT pk_{table} PRIMARY KEY ({key})) "
            f"PARTITION BY RANGE ({by})")
        first = partitions.add_months(now, -_MONTHS_BACK)
        oldest = sql(f"SELECT min({dated_by}) FROM {old}").scalar_one()
        if oldest is None:
            first = now
        else:
            first = max(first, partitions.month_of(datetime.fromtimestamp(oldest / 1000, UTC)))
            first = min(first, now)
        partitions.ensure(bind, partitions.months(
            first, partitions.add_months(now, partitions.MONTHS_AHEAD)), [table])
    else:
        plain = columns.replace(' COLLATE "C"', "")
        sql(f"CREATE TABLE {table} ({plain}, CONSTRAINT pk_{table} PRIMARY KEY ({key}))")
    names = ", ".join(c.split()[0] for c in columns.split(", "))
    sql(f"INSERT INTO {table} ({names}) SELECT {names} FROM {old}")
    sql(f"DROP TABLE {old}")
    for name, column in indexes.items():
        sql(f"CREATE INDEX {name} ON {table} ({column})")
    for name, ref in foreign.items():
        sql(f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY {ref}")
