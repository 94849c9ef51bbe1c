"""Storage of history that expires: the daily aggregates and the set-based expiry of each kind of
personal data (docs/RETENTION.md). A repository of ``SqlUnitOfWork``: every method is one
statement, whatever the number of rows, or on PostgreSQL a handful per monthly partition.

On PostgreSQL samples and station events are partitioned by month (``partitions``): a month
wholly past the cutoff whose every row has expired goes by dropping its partition (its rows
counted first), the other expired rows by the one DELETE, as on SQLite.

Imports: SQLAlchemy, ``hesuan.adapters.db``, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, text

from hesuan.adapters.db import partitions
from hesuan.adapters.db.repository import SqlRepository
from hesuan.adapters.db.schema import daily_aggregates, to_ms
from hesuan.adapters.db.sql_helpers import cached_text
from hesuan.adapters.db.status_sql import lit
from hesuan.domain.local_time import SHANGHAI
from hesuan.domain.results import Result
from hesuan.services.lab_messages_ports import MessageState
from hesuan.services.retention_ports import DailyAggregate

__all__ = ["SqlRetention"]

#: Local time's offset from UTC, in milliseconds: a sample's local day is that of its instant
#: plus this.
_OFFSET_MS = int(SHANGHAI.utcoffset(None).total_seconds() * 1000)

#: The local date (YYYY-MM-DD) of a stored instant, by backend (True: PostgreSQL).
_LOCAL_DAY = {
    False: f"date((s.sampled_at + {_OFFSET_MS}) / 1000, 'unixepoch')",
    True: f"to_char(to_timestamp((s.sampled_at + {_OFFSET_MS}) / 1000.0) AT TIME ZONE 'UTC', "
          "'YYYY-MM-DD')",
}

#: Samples whose tube's result came before :before (the samples a pass forgets).
_EXPIRING = "t.resulted_at IS NOT NULL AND t.resulted_at < :before"

#: The first instant (epoch ms) of the local day of ``s.sampled_at``.
_DAY_START = f"((s.sampled_at + {_OFFSET_MS}) / 86400000 * 86400000 - {_OFFSET_MS})"

#: A routine sample of the same person and local day as ``s`` that this pass keeps: that
#: person is counted in ``sampled`` by the pass that forgets the last of the day's routine
#: samples, so once, however many passes their tubes' results spread them over.
_KEPT_THAT_DAY = (
    "EXISTS (SELECT 1 FROM samples o JOIN tubes ot ON ot.id = o.tube_id "
    "WHERE o.person_id = s.person_id AND o.recall_id IS NULL "
    f"AND o.sampled_at >= {_DAY_START} AND o.sampled_at < {_DAY_START} + 86400000 "
    "AND (ot.resulted_at IS NULL OR ot.resulted_at >= :before))")

_AGGREGATE = (
    "INSERT INTO daily_aggregates (day, district, people, sampled, resulted, positive, "
    "in_positive_pools, turnaround_n, turnaround_sum_s, turnaround_max_s) "
    "SELECT {day}, substr(pe.grid_code, 1, 6), MAX(n.people), "
    # the people sampled in routine testing (a recall's re-sample is the same person again),
    # each once a day: not while another of their routine samples of that day is kept
    "count(DISTINCT CASE WHEN s.recall_id IS NULL{counted} THEN s.person_id END), "
    "SUM(CASE WHEN t.result IN ({negative}, {positive}) THEN 1 ELSE 0 END), "
    "SUM(CASE WHEN t.result = {positive} AND t.capacity = 1 THEN 1 ELSE 0 END), "
    "SUM(CASE WHEN t.result = {positive} AND t.capacity > 1 THEN 1 ELSE 0 END), "
    "SUM(CASE WHEN t.resulted_at IS NOT NULL THEN 1 ELSE 0 END), "
    "COALESCE(SUM((t.resulted_at - s.sampled_at) / 1000), 0), "
    "COALESCE(MAX((t.resulted_at - s.sampled_at) / 1000), 0) "
    "FROM samples s JOIN tubes t ON t.id = s.tube_id JOIN people pe ON pe.id = s.person_id "
    "JOIN (SELECT substr(grid_code, 1, 6) AS district, count(*) AS people FROM people "
    "  GROUP BY substr(grid_code, 1, 6)) n ON n.district = substr(pe.grid_code, 1, 6) "
    "WHERE {where} GROUP BY {day}, substr(pe.grid_code, 1, 6) "
    "ON CONFLICT (day, district) DO UPDATE SET people = excluded.people, "
    "sampled = daily_aggregates.sampled + excluded.sampled, "
    "resulted = daily_aggregates.resulted + excluded.resulted, "
    "positive = daily_aggregates.positive + excluded.positive, "
    "in_positive_pools = daily_aggregates.in_positive_pools + excluded.in_positive_pools, "
    "turnaround_n = daily_aggregates.turnaround_n + excluded.turnaround_n, "
    "turnaround_sum_s = daily_aggregates.turnaround_sum_s + excluded.turnaround_sum_s, "
    "turnaround_max_s = {greatest}(daily_aggregates.turnaround_max_s, excluded.turnaround_max_s)")

_AGGREGATE_SQL = {(pg, everything): _AGGREGATE.format(
    day=_LOCAL_DAY[pg], where="true" if everything else _EXPIRING,
    counted="" if everything else " AND NOT " + _KEPT_THAT_DAY,
    greatest="GREATEST" if pg else "max", negative=lit(Result.NEGATIVE.value),
    positive=lit(Result.POSITIVE.value))
    for pg in (False, True) for everything in (False, True)}

_EXPIRE_SAMPLES = ("DELETE FROM samples WHERE tube_id IN "
                   "(SELECT t.id FROM tubes t WHERE " + _EXPIRING + ")")

#: The other kinds: one DELETE each, of the rows unneeded before :before.
_EXPIRE = {
    "lane_entries": "DELETE FROM lane_entries WHERE registered_at < :before",
    "recalls": "DELETE FROM recalls WHERE resolved_at IS NOT NULL AND resolved_at < :before",
    "station_events": "DELETE FROM station_events WHERE received_at < :before",
    "sms": "DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < :before",
    "lab_reports": "DELETE FROM elr_outbox WHERE sent_at IS NOT NULL AND sent_at < :before",
    "passes": "DELETE FROM passes WHERE expires_at < :before",
    "venue_checks": "DELETE FROM venue_checks WHERE at < :before",
    "fence_scans": "DELETE FROM fence_scans WHERE at < :before",
    "arrivals": "DELETE FROM arrivals WHERE arrived_at < :before",
    "lab_messages": ("DELETE FROM lab_messages WHERE COALESCE(decided_at, received_at) < "
                     ":before AND state IN ("
                     + ", ".join(f"'{m.value}'" for m in (MessageState.APPLIED,
                                                          MessageState.DISCARDED)) + ")"),
}


#: Whether a month partition still holds a row that has not expired before :before (its key
#: range :lo to :hi). Samples: a tube of the range with samples in the partition and no result
#: before the cutoff (found by the tubes' key, a tenth of the samples); station events: one
#: received since.
_STILL_NEEDED = {
    "samples": ("SELECT EXISTS (SELECT 1 FROM tubes t WHERE t.id >= :lo AND t.id < :hi AND "
                "(t.resulted_at IS NULL OR t.resulted_at >= :before) AND "
                "EXISTS (SELECT 1 FROM {part} s WHERE s.tube_id = t.id))"),
    "station_events": "SELECT EXISTS (SELECT 1 FROM {part} WHERE received_at >= :before)",
}

#: How long a pass waits for a partitioned table's lock: to drop a month (it deletes the rows
#: instead) or to attach one (a later pass attaches it).
_LOCK_WAIT_MS = 2000


class SqlRetention(SqlRepository):

    _locked: bool | None = None  # the partitioned tables locked (None: not tried yet)

    def prepare(self, now: datetime) -> None:
        if self._pg and partitions.partitioned(self.conn, "samples"):
            partitions.keep_ahead(self.conn, now, _LOCK_WAIT_MS)

    def aggregate_samples(self, resulted_before: datetime | None) -> int:
        everything = resulted_before is None
        params = {} if resulted_before is None else {"before": to_ms(resulted_before)}
        counted = self.conn.execute(cached_text(
            "SELECT count(*) FROM samples s JOIN tubes t ON t.id = s.tube_id WHERE "
            + ("true" if everything else _EXPIRING)), params).scalar_one()
        if counted:
            self.conn.execute(cached_text(_AGGREGATE_SQL[self._pg, everything]), params)
        return int(counted)

    def mark_recall_resamples(self, resulted_before: datetime | None) -> int:
        everything = resulted_before is None
        params = {} if resulted_before is None else {"before": to_ms(resulted_before)}
        return int(self.conn.execute(cached_text(
            "UPDATE tubes SET recall_resample = TRUE WHERE NOT recall_resample AND id IN "
            "(SELECT s.tube_id FROM samples s JOIN tubes t ON t.id = s.tube_id WHERE "
            "s.recall_id IS NOT NULL AND " + ("1 = 1" if everything else _EXPIRING) + ")"),
            params).rowcount)

    def expire_samples(self, resulted_before: datetime) -> int:
        self.mark_recall_resamples(resulted_before)  # what prevalence reads of them
        dropped = self._drop_expired("samples", resulted_before)
        return dropped + self._delete(_EXPIRE_SAMPLES, resulted_before)

    def expire_lane_entries(self, before: datetime) -> int:
        return self._delete(_EXPIRE["lane_entries"], before)

    def expire_recalls(self, resolved_before: datetime) -> int:
        return self._delete(_EXPIRE["recalls"], resolved_before)

    def expire_station_events(self, received_before: datetime) -> int:
        dropped = self._drop_expired("station_events", received_before)
        return dropped + self._delete(_EXPIRE["station_events"], received_before)

    def expire_sms(self, sent_before: datetime) -> int:
        return self._delete(_EXPIRE["sms"], sent_before)

    def expire_lab_reports(self, sent_before: datetime) -> int:
        return self._delete(_EXPIRE["lab_reports"], sent_before)

    def expire_passes(self, expired_before: datetime) -> int:
        return self._delete(_EXPIRE["passes"], expired_before)

    def expire_arrivals(self, before: datetime) -> int:
        return self._delete(_EXPIRE["arrivals"], before)

    def expire_lab_messages(self, settled_before: datetime) -> int:
        return self._delete(_EXPIRE["lab_messages"], settled_before)

    def expire_venue_checks(self, before: datetime) -> int:
        return self._delete(_EXPIRE["venue_checks"], before)

    def expire_fence_scans(self, before: datetime) -> int:
        return self._delete(_EXPIRE["fence_scans"], before)

    def aggregates(self, since: str | None = None) -> list[DailyAggregate]:
        a = daily_aggregates
        stmt = select(a).order_by(a.c.day, a.c.district)
        if since is not None:
            stmt = stmt.where(a.c.day >= since)
        return [DailyAggregate(r[0], r[1], *(int(v) for v in r[2:]))
                for r in self.conn.execute(stmt)]

    def _drop_expired(self, table: str, before: datetime) -> int:
        """PostgreSQL: drop the month partitions of ``table`` wholly before ``before`` whose
        every row has expired; the rows they held. Checked again once the tables are locked
        (nothing can be added to a partition then); when the lock is not had in
        ``_LOCK_WAIT_MS``, nothing is dropped and the DELETE takes the rows."""
        if not self._pg or not partitions.partitioned(self.conn, table):
            return 0
        dropped = 0
        for p in partitions.partitions(self.conn, table):
            if p.end > before or self._still_needed(p, before):
                continue
            if self._locked is None:
                self._locked = partitions.lock_parents(self.conn, _STILL_NEEDED, _LOCK_WAIT_MS)
            if not self._locked:
                break
            if not self._still_needed(p, before):
                dropped += partitions.drop(self.conn, p)
        return dropped

    def _still_needed(self, p: partitions.Partition, before: datetime) -> bool:
        lo, hi = p.bounds
        return bool(self.conn.execute(
            text(_STILL_NEEDED[p.table].format(part=p.name)),
            {"lo": lo, "hi": hi, "before": to_ms(before)}).scalar_one())

    def _delete(self, sql: str, before: datetime) -> int:
        return int(self.conn.execute(cached_text(sql), {"before": to_ms(before)}).rowcount)
