"""Storage for cadence and status: policies, the materialised status, exemptions, overrides,
arrivals, the sweep's reads and the bulk recompute: three repositories of ``SqlUnitOfWork``
(cadence, statuses, overrides).

Set-based throughout: assigning policies is one UPDATE built from the domain's precedence; the
common case of the recompute ("nothing special, not yet due") is one UPDATE; only people with
special facts are decided one by one by the pure engine in the service.

Imports: SQLAlchemy, ``hesuan.adapters.db.schema``, ``hesuan.domain``, ``hesuan.services.ports``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, or_, select, text
from sqlalchemy import update as sa_update

from hesuan.adapters.db import sql_helpers, status_sql
from hesuan.adapters.db.repository import SqlRepository
from hesuan.adapters.db.schema import (
    arrivals,
    exemptions,
    from_ms,
    overrides,
    people,
    person_status,
    policies,
    status_rules,
    to_ms,
)
from hesuan.adapters.db.sql_helpers import cached_text
from hesuan.adapters.db.sql_helpers import from_ms_or_none as _dt
from hesuan.domain.cadence import OverdueAction, Policy, ScopeKind, in_precedence
from hesuan.domain.local_time import short
from hesuan.domain.notices import reminder_goes_at
from hesuan.domain.status import FALLBACK_COLOUR, Colour, Facts, OverrideState, Rule, Status
from hesuan.services.status_ports import (
    ArrivalRow,
    ExemptionRow,
    OverrideRow,
    RecallState,
    StatusRow,
)

__all__ = ["SqlCadence", "SqlOverrides", "SqlStatuses"]

_FACT_COLUMNS = (
    "ps.person_id, ps.test_state, ps.last_sampled_at, ps.last_result, ps.last_result_at, "
    "r.due_at, ps.next_due_at, ps.grace_ms, ps.overdue_action, ps.exempt_until, "
    "ps.exempt_reason, ps.override_colour, ps.override_until, ps.override_reason, "
    "ps.arrival_at, ps.arrival_risk, ps.zone_kind, ps.zone_colour, ps.zone_id, "
    "ps.last_result_sampled_at, r.reason"
)
#: The facts of people, with their open recall; a WHERE clause follows.
_FACTS_WHERE = (f"SELECT {_FACT_COLUMNS} FROM person_status ps LEFT JOIN recalls r "
                "ON r.id = ps.open_recall_id AND r.status = 'open' WHERE ")
# The set-based fast paths decide people with no special facts as the engine would (green
# while not past due + grace: ``_PLAIN``; the overdue rule after: ``_PLAIN_OVERDUE``).
_PLAIN = status_sql.PLAIN
_PLAIN_OVERDUE = status_sql.PLAIN_OVERDUE

#: What separates the group codes in ``people.groups``.
_GROUPS_SEP = ","


# Whom the fast paths of this refresh decided: the plain (always run), and the plain overdue
# when the overdue rule's path ran (it is not run when that rule is off or not single).
# Only when that path ran: a row written at ``now`` by an earlier decision in the same instant
# is not the overdue path's work.
_FAST_DECIDED = {False: f"({_PLAIN})",
                 True: f"(({_PLAIN}) OR ({_PLAIN_OVERDUE}) AND ps.status_at = :now)"}
# The facts of the given people (``:vals``) who are still stale: the ones the fast paths just
# decided are skipped (the engine would decide the same); special facts are always decided.
# By (PostgreSQL, the overdue path ran).
_GIVEN_FACTS = {(pg, ran): (
    f"{_FACTS_WHERE}(ps.status_valid_until <= :now OR NOT {_FAST_DECIDED[ran]}) "
    + "AND " + sql_helpers.one_of("ps.person_id", pg))
    for pg in (False, True) for ran in (False, True)}




def _facts(r: Any) -> Facts:
    return Facts(
        test_state=r[1], last_sampled_at=_dt(r[2]), last_result=r[3], last_result_at=_dt(r[4]),
        open_recall_due=_dt(r[5]), next_due_at=_dt(r[6]),
        grace=timedelta(milliseconds=r[7] if r[7] is not None else status_sql.DEFAULT_GRACE_MS),
        overdue_action=r[8] or FALLBACK_COLOUR.value, exempt_until=_dt(r[9]), exempt_reason=r[10],
        override_colour=r[11], override_until=_dt(r[12]), override_reason=r[13],
        arrival_at=_dt(r[14]), arrival_risk=r[15], zone_kind=r[16], zone_colour=r[17],
        zone_id=r[18], last_result_sampled_at=_dt(r[19]), open_recall_reason=r[20],
    )


def _override(r: Any) -> OverrideRow:
    return OverrideRow(**{**r._mapping, "status": OverrideState(r.status)})


def _policy(r: Any) -> Policy:
    return Policy(r.id, r.version, ScopeKind(r.scope_kind), r.scope,
                  timedelta(milliseconds=r.interval_ms), timedelta(milliseconds=r.grace_ms),
                  timedelta(milliseconds=r.lead_ms), OverdueAction(r.overdue_action),
                  r.valid_from, r.valid_to, r.name)


class SqlCadence(SqlRepository):
    """Testing policies and status rules, each versioned."""

    def current_policies(self) -> list[Policy]:
        rows = self.conn.execute(select(policies).where(policies.c.superseded_at.is_(None))
                                 .order_by(policies.c.scope_kind, policies.c.scope)).all()
        return [_policy(r) for r in rows]

    def policy_history(self, policy_id: str) -> list[Policy]:
        rows = self.conn.execute(select(policies).where(policies.c.id == policy_id)
                                 .order_by(policies.c.version)).all()
        return [_policy(r) for r in rows]

    def save_policy(self, p: Policy, actor: str, now: datetime) -> None:
        current = and_(policies.c.id == p.id, policies.c.superseded_at.is_(None))
        if p.valid_from > now:
            # a version that starts later: the one in force ends when it starts, not now
            self.conn.execute(sa_update(policies).where(
                current, or_(policies.c.valid_to.is_(None), policies.c.valid_to > p.valid_from))
                .values(valid_to=p.valid_from))
        else:
            self.conn.execute(sa_update(policies).where(current).values(superseded_at=now))
        self.conn.execute(insert(policies), {
            "id": p.id, "version": p.version, "scope_kind": p.scope_kind.value,
            "scope": p.scope, "name": p.name, "interval_ms": _ms(p.interval),
            "grace_ms": _ms(p.grace), "lead_ms": _ms(p.reminder_lead),
            "overdue_action": p.overdue_action.value, "valid_from": p.valid_from,
            "valid_to": p.valid_to, "created_by": actor, "created_at": now})

    def assign_policies(self, policies: Sequence[Policy], now: datetime,
                        person_ids: Sequence[str] | None = None) -> int:
        """Give every person (or ``person_ids``) the policy that applies to them
        (:func:`cadence.in_precedence` among ``policies``, the current ones) and the due time it
        sets, in one set-based UPDATE that writes only the people whose policy or policy
        version changes; they are marked for a status recompute. Returns their number."""
        params: dict[str, Any] = {"now": to_ms(now)}
        if person_ids is not None:  # only these people
            if not person_ids:
                return 0
            params["vals"] = sql_helpers.vals(list(person_ids), self._pg)
        whens: list[str] = []
        for p in in_precedence(policies, now):
            cover = self._covers(p, len(whens), params)
            if cover is None:
                continue
            i = len(whens)
            whens.append(cover)
            params |= {f"id{i}": p.id, f"v{i}": p.version, f"iv{i}": _ms(p.interval),
                       f"g{i}": _ms(p.grace), f"l{i}": _ms(p.reminder_lead),
                       f"a{i}": p.overdue_action.value, f"start{i}": to_ms(p.valid_from)}

        if not whens:
            return int(self.conn.execute(cached_text(
                "UPDATE person_status SET policy_id = NULL, policy_version = NULL, "
                "interval_ms = NULL, grace_ms = NULL, lead_ms = NULL, overdue_action = NULL, "
                f"next_due_at = CASE WHEN {status_sql.follow_up_open()} THEN next_due_at END, "
                "status_valid_until = :now WHERE policy_id IS NOT NULL"
                + ("" if person_ids is None
                   else " AND " + sql_helpers.one_of("person_id", self._pg))),
                params).rowcount)
        # The winning policy's number is worked out once per person (the conditions are the
        # costly part: up to one per policy), in a materialised CTE so that no planner
        # copies the expression into every column; the columns then pick by that number.
        pick = " ".join(f"WHEN {w} THEN {i}" for i, w in enumerate(whens))

        def col(prefix: str) -> str:
            arms = " ".join(f"WHEN {i} THEN :{prefix}{i}" for i in range(len(whens)))
            return f"CASE pick.k {arms} ELSE NULL END"

        iv, start = col("iv"), col("start")
        sql = (
            "WITH pick AS MATERIALIZED (SELECT p.id AS pid, p.created_at AS registered, "
            f"CASE {pick} ELSE NULL END AS k FROM people p"
            + ("" if person_ids is None else " WHERE " + sql_helpers.one_of("p.id", self._pg))
            + ") "
            f"UPDATE person_status SET policy_id = {col('id')}, "
            f"policy_version = {col('v')}, interval_ms = {iv}, grace_ms = {col('g')}, "
            f"lead_ms = {col('l')}, overdue_action = {col('a')}, "
            # an arrival's open follow-up keeps its due time (``domain.arrivals``); the first
            # due time for people never sampled: ``domain.cadence.first_due``
            f"next_due_at = CASE WHEN {status_sql.follow_up_open('person_status.')} "
            "THEN person_status.next_due_at WHEN pick.k IS NULL THEN NULL "
            "  WHEN person_status.last_sampled_at IS NULL THEN "
            f"{status_sql.first_due(start, 'pick.registered', iv)} "
            f"  ELSE person_status.last_sampled_at + ({iv}) END, "
            "status_valid_until = :now "
            "FROM pick WHERE pick.pid = person_status.person_id AND ("
            f"COALESCE(person_status.policy_id, '') <> COALESCE({col('id')}, '') OR "
            f"COALESCE(person_status.policy_version, 0) <> COALESCE({col('v')}, 0))")
        return self._changed(text(sql), params)

    def _covers(self, p: Policy, i: int, params: dict[str, Any]) -> str | None:
        """``Policy.applies_to`` as a condition on ``people p`` (parameter ``:s{i}``), or None
        for a policy that covers nobody. Exact comparisons, never LIKE: ``_`` and ``%`` in a
        code are plain characters, and case matters, as in the domain."""
        if p.scope_kind is ScopeKind.GROUP:
            # ``people.groups`` holds the group codes joined by ``,``: a member's list, with a
            # ``,`` added at both ends, contains ``,code,``; a code with a ``,`` is nobody's
            if _GROUPS_SEP in p.scope or not p.scope:
                return None
            params[f"s{i}"] = f"{_GROUPS_SEP}{p.scope}{_GROUPS_SEP}"
            find = "strpos" if self._pg else "instr"
            return f"{find}(',' || p.groups || ',', :s{i}) > 0"
        # a region covers the grids whose code starts with its code
        params[f"s{i}"] = p.scope
        return f"substr(p.grid_code, 1, {len(p.scope)}) = :s{i}"

    def current_rules(self) -> list[Rule]:
        rows = sql_helpers.fetch(self.conn,
                                 "SELECT id, version, predicate, reason, colour, enabled "
                            "FROM status_rules WHERE superseded_at IS NULL ORDER BY position", {})
        return [Rule(r[0], r[1], r[2], r[3], Colour(r[4]) if r[4] else None, bool(r[5]))
                for r in rows]

    def save_rule(self, rule: Rule, position: int, actor: str, now: datetime) -> None:
        self.conn.execute(sa_update(status_rules).where(
            status_rules.c.id == rule.id, status_rules.c.superseded_at.is_(None))
            .values(superseded_at=now))
        self.conn.execute(insert(status_rules), {
            "id": rule.id, "version": rule.version, "position": position,
            "predicate": rule.predicate, "reason": rule.reason,
            "colour": rule.colour.value if rule.colour else None, "enabled": rule.enabled,
            "changed_by": actor, "changed_at": now})


class SqlStatuses(SqlRepository):
    """The materialised status: the sweep's reads, the bulk recompute, reminders and arrivals."""

    def _whom(self, everyone: bool, person_ids: Sequence[str] | None,
              params: dict[str, Any], parked: bool = False) -> str:
        """Which rows a fast path decides: everyone, the given people, the stale, or those
        parked among them at ``now``."""
        if everyone:
            return "1 = 1"
        if person_ids is not None:
            params["vals"] = sql_helpers.vals(person_ids, self._pg)
            return sql_helpers.one_of("person_id", self._pg)
        return "status_valid_until = :now" if parked else "status_valid_until <= :now"

    @staticmethod
    def _at_most(where: str, limit: int | None, params: dict[str, Any]) -> str:
        """``where``, or — with a ``limit`` — the first ``limit`` rows it holds."""
        if limit is None:
            return where
        params["lim"] = int(limit)
        return f"person_id IN (SELECT person_id FROM person_status WHERE {where} LIMIT :lim)"

    def refresh_plain(self, now: datetime, everyone: bool = False,
                      person_ids: Sequence[str] | None = None,
                      limit: int | None = None, *, parked: bool = False) -> int:
        """Set the status of every stale person (or of the given people) with no special facts
        in one statement: green, valid until their due time plus grace (what the engine
        decides for such facts)."""
        params: dict[str, Any] = {"now": to_ms(now)}
        whom = self._at_most(
            f"{self._whom(everyone, person_ids, params, parked)} AND {_PLAIN}", limit, params)
        decided = ", ".join(f"{k} = {v}" for k, v in status_sql.DEFAULT_STATUS.items())
        return sql_helpers.execute(self.conn, (
            f"UPDATE person_status SET {decided}, reasons = {status_sql.default_reason()}, "
            f"status_at = :now, status_valid_until = {status_sql.valid_until_due()} "
            f"WHERE {whom}"), params)

    def refresh_overdue(self, now: datetime, rule_id: str, rule_version: int,
                        colour: str | None, everyone: bool = False,
                        person_ids: Sequence[str] | None = None,
                        limit: int | None = None, *, parked: bool = False) -> int:
        """The second common case in one statement: stale (or given) people with nothing
        special who are past due + grace get the overdue rule's colour (or their policy's
        overdue action) and no time-based expiry, as the engine decides."""
        params: dict[str, Any] = {"now": to_ms(now), "colour": colour, "rid": rule_id,
                                  "rv": rule_version, "reason": status_sql.REASON_OF["overdue"]}
        whom = self._at_most(
            f"{self._whom(everyone, person_ids, params, parked)} AND {_PLAIN_OVERDUE}", limit,
            params)
        return sql_helpers.execute(self.conn, (
            f"UPDATE person_status SET colour = {status_sql.overdue_colour(':colour')}, "
            "reasons = :reason, "
            "rule_id = :rid, rule_version = :rv, evidence = NULL, status_at = :now, "
            f"status_valid_until = NULL WHERE {whom}"), params)

    def stale_facts(self, now: datetime, limit: int, person_ids: Sequence[str] | None = None,
                    in_results: bool = False, overdue_ran: bool = False,
                    ) -> list[tuple[str, Facts]]:
        """Facts of people whose status must be decided again: the given ones (those of them
        still stale after the fast paths, or with special facts), or those whose
        status ran out (``status_valid_until <= now``), optionally only members of the tubes in
        the current results batch."""
        params: dict[str, Any] = {"now": to_ms(now), "lim": limit}
        where = "ps.status_valid_until <= :now"
        if in_results:
            # the few stale people first (index on status_valid_until: the fan-out decided the
            # plain members itself), then whether each is in the batch (by person, then tube);
            # not a scan of all samples, nor a list of every member of the batch
            where += (" AND EXISTS (SELECT 1 FROM samples s CROSS JOIN tmp_results t "
                      "WHERE s.person_id = ps.person_id AND t.tube_id = s.tube_id)")
        if person_ids is not None:
            return [(r[0], _facts(r)) for r in sql_helpers.fetch_in(
                self.conn, _GIVEN_FACTS[self._pg,
                                        overdue_ran], person_ids, self._pg, params, chunk=5000)]
        return [(r[0], _facts(r)) for r in sql_helpers.fetch(
            self.conn, _FACTS_WHERE + where + " ORDER BY ps.status_valid_until LIMIT :lim",
            params)]

    def special_facts(self, now: datetime, after: str, limit: int,
                      overdue_ran: bool = False) -> list[tuple[str, Facts]]:
        """Facts of everyone the set-based fast paths do not decide, in person-id order after
        ``after`` (for deciding everyone afresh, page by page)."""
        rows = self.conn.execute(cached_text(
            f"{_FACTS_WHERE}ps.person_id > :after AND NOT {_FAST_DECIDED[overdue_ran]} "
            "ORDER BY ps.person_id LIMIT :lim"),
            {"now": to_ms(now), "after": after, "lim": limit})
        return [(r[0], _facts(r)) for r in rows]

    def facts_of(self, person_id: str) -> Facts | None:
        r = self.conn.execute(cached_text(_FACTS_WHERE + "ps.person_id = :pid"),
                              {"pid": person_id}).first()
        return None if r is None else _facts(r)

    def write_statuses(self, rows: Sequence[tuple[str, Status]], now: datetime) -> None:
        if not rows:
            return
        ct = "CAST(:ev AS json)" if self._pg else ":ev"

        sql_helpers.executemany(self.conn, (
            "UPDATE person_status SET colour = :c, reasons = :r, rule_id = :rid, "
            f"rule_version = :rv, evidence = {ct}, status_at = :now, status_valid_until = :vu "
            "WHERE person_id = :pid"),
            [{"c": s.colour.value, "r": ",".join(s.reasons)[:120], "rid": s.rule_id,
              "rv": s.rule_version, "ev": json.dumps(s.evidence), "now": to_ms(now),
              "vu": None if s.valid_until is None else to_ms(s.valid_until), "pid": pid}
             for pid, s in rows])

    def status_row(self, person_id: str) -> StatusRow | None:
        ps = person_status.c
        r = self.conn.execute(select(
            ps.colour, ps.reasons, ps.rule_id, ps.rule_version, ps.evidence, ps.status_at,
            ps.status_valid_until, ps.next_due_at, ps.policy_id, ps.policy_version,
            ps.exempt_until, ps.exempt_reason, ps.override_id, ps.override_until,
            ps.override_reason, ps.test_state, ps.last_sampled_at, ps.open_recall_id)
            .where(ps.person_id == person_id)).first()
        return None if r is None else StatusRow(**r._mapping)

    def recall_state(self, person_id: str, recall_id: str) -> RecallState | None:
        r = self.conn.execute(text(
            f"SELECT r.reason, {status_sql.recall_answered(':p', 'r.id')} FROM recalls r "
            "WHERE r.id = :r"), {"p": person_id, "r": recall_id}).first()
        return None if r is None else RecallState(r[0], bool(r[1]))

    def sweep_lock(self) -> bool:
        """Only one sweep at a time. SQLite: the write transaction already serialises us.
        PostgreSQL: a transaction-scoped advisory lock; a second sweep skips instead of
        waiting."""
        if not self._pg:
            return True
        return bool(self.conn.execute(cached_text("SELECT pg_try_advisory_xact_lock(74110002)"))
                    .scalar())

    _REMIND = ("next_due_at > :now AND next_due_at <= :horizon AND next_due_at - lead_ms <= :now "
               "AND (reminded_due_at IS NULL OR reminded_due_at <> next_due_at) "
               f"AND {status_sql.REMINDABLE}")

    def due_for_reminder(self, now: datetime, max_lead_ms: int,
                         limit: int) -> list[tuple[str, int]]:
        """People inside their reminder lead not yet reminded for this due time. The range on
        the indexed ``next_due_at`` (bounded by the longest lead) keeps the read to the due."""
        n = to_ms(now)
        rows = self.conn.execute(cached_text(
            f"SELECT person_id, next_due_at FROM person_status WHERE {self._REMIND} LIMIT :lim"),
            {"now": n, "horizon": n + max_lead_ms, "lim": limit}).all()
        return [(r[0], r[1]) for r in rows]

    def mark_all_reminded(self, now: datetime, max_lead_ms: int,
                          person_ids: Sequence[str] | None = None) -> int:
        """Record the reminder for every person ``due_for_reminder`` returned: all of them
        (when that read was not cut short by its limit), or those of ``person_ids``; one
        statement either way."""
        n = to_ms(now)
        params: dict[str, Any] = {"now": n, "horizon": n + max_lead_ms}
        where = self._REMIND
        if person_ids is not None:
            params["vals"] = sql_helpers.vals(person_ids, self._pg)
            where = f"{where} AND {sql_helpers.one_of('person_id', self._pg)}"
        return sql_helpers.execute(self.conn, (
            f"UPDATE person_status SET reminded_due_at = next_due_at WHERE {where}"), params)

    def enqueue_reminders(self, rows: Sequence[tuple[str, str, int]], now: datetime) -> None:
        """Reminder SMS into the outbox: one per person per due time (the de-duplication key),
        so a sweep run twice, or two sweeps at once, never queue a second one; sent from
        ``notices.reminder_goes_at`` (not at night)."""
        n, goes = to_ms(now), to_ms(reminder_goes_at(now))
        dues = {d: _local(d) for d in {d for _, _, d in rows}}
        if self._pg:  # COPY into a temporary table, then one INSERT ... SELECT
            raw: Any = self.conn.connection.driver_connection
            with raw.cursor() as cur:
                cur.execute("CREATE TEMP TABLE IF NOT EXISTS tmp_outbox (id varchar(32), "
                            "dedup_key varchar(120), person_id varchar(32), params text) "
                            "ON COMMIT DELETE ROWS")
                texts_pg = {d: json.dumps({"due": v, "due_ms": d}) for d, v in dues.items()}
                with cur.copy("COPY tmp_outbox (id, dedup_key, person_id, params) "
                              "FROM STDIN") as cp:
                    for mid, pid, d in rows:
                        cp.write_row((mid, f"reminder:{pid}:{d}", pid, texts_pg[d]))
                cur.execute(
                    "INSERT INTO outbox (id, dedup_key, person_id, tube_id, template, params, "
                    "created_at, next_attempt_at, attempts) SELECT id, dedup_key, person_id, "
                    "NULL, 'reminder', params::json, %(n)s, %(goes)s, 0 FROM tmp_outbox "
                    "ON CONFLICT (dedup_key) DO NOTHING", {"n": n, "goes": goes})
                cur.execute("DELETE FROM tmp_outbox")
            return
        texts = {d: json.dumps({"due": v, "due_ms": d}) for d, v in dues.items()}
        stmt = text(  # SQLite: the driver's executemany loop is the fastest path
            "INSERT INTO outbox (id, dedup_key, person_id, tube_id, template, params, "
            "created_at, next_attempt_at, attempts) VALUES (:id, :key, :pid, NULL, 'reminder', "
            ":params, :now, :goes, 0) ON CONFLICT (dedup_key) DO NOTHING")
        self.conn.execute(stmt, [{"id": mid, "key": f"reminder:{pid}:{d}", "pid": pid,
                                  "params": texts[d], "now": n, "goes": goes}
                                 for mid, pid, d in rows])

    def add_arrival(self, row: ArrivalRow, first_due: datetime) -> None:
        self.conn.execute(insert(arrivals), asdict(row))
        self.conn.execute(sa_update(person_status)
                          .where(person_status.c.person_id == row.person_id)
                          .values(arrival_at=row.arrived_at, arrival_risk=row.origin_risk,
                                  next_due_at=first_due, reminded_due_at=None,
                                  status_valid_until=row.arrived_at))


class SqlOverrides(SqlRepository):
    """Exemptions and status overrides (requested, then decided by a second officer)."""

    def add_exemption(self, row: ExemptionRow) -> None:
        self.conn.execute(insert(exemptions), asdict(row))
        self._hold_exemption(row.person_id, row.created_at)

    def _hold_exemption(self, person_id: str, now: datetime) -> None:
        """The person's status row holds, of their exemptions in force, the one that runs
        longest (a shorter one added or revoked beside it changes nothing); marked stale."""
        e = exemptions.c
        longest = self.conn.execute(select(e.until, e.reason).where(
            e.person_id == person_id, e.revoked_at.is_(None), e.until > now)
            .order_by(e.until.desc()).limit(1)).first()
        self.conn.execute(sa_update(person_status)
                          .where(person_status.c.person_id == person_id)
                          .values(exempt_until=None if longest is None else longest[0],
                                  exempt_reason=None if longest is None else longest[1],
                                  status_valid_until=now))

    def active_exemption_person(self, exemption_id: str) -> str | None:
        r = self.conn.execute(select(exemptions.c.person_id).where(
            exemptions.c.id == exemption_id, exemptions.c.revoked_at.is_(None))).first()
        return None if r is None else str(r[0])

    def revoke_exemption(self, exemption_id: str, now: datetime) -> str | None:
        r = self.conn.execute(select(exemptions.c.person_id).where(
            exemptions.c.id == exemption_id, exemptions.c.revoked_at.is_(None))).first()
        if r is None:
            return None
        self.conn.execute(sa_update(exemptions).where(exemptions.c.id == exemption_id)
                          .values(revoked_at=now))
        self._hold_exemption(str(r[0]), now)
        return str(r[0])

    def exemptions_of(self, person_id: str) -> list[ExemptionRow]:
        return [ExemptionRow(**r._mapping) for r in self.conn.execute(
            select(exemptions).where(exemptions.c.person_id == person_id)
            .order_by(exemptions.c.created_at.desc()))]

    def add_override(self, row: OverrideRow) -> None:
        self.conn.execute(insert(overrides), asdict(row) | {"status": row.status.value})

    def override(self, override_id: str, *, for_update: bool = False) -> OverrideRow | None:
        stmt = select(overrides).where(overrides.c.id == override_id)
        if for_update:
            stmt = stmt.with_for_update()
        r = self.conn.execute(stmt).first()
        return None if r is None else _override(r)

    def decide_override(self, request: OverrideRow, status: OverrideState, by: str,
                        now: datetime) -> None:
        o = request
        self.conn.execute(sa_update(overrides).where(overrides.c.id == o.id)
                          .values(status=status.value, decided_by=by, decided_at=now))
        if status is OverrideState.APPROVED:
            self.conn.execute(sa_update(person_status)
                              .where(person_status.c.person_id == o.person_id)
                              .values(override_id=o.id, override_colour=o.colour,
                                      override_until=o.expires_at,
                                      override_reason=o.reason, status_valid_until=now))

    def overrides_of(self, person_id: str) -> list[OverrideRow]:
        return [_override(r) for r in self.conn.execute(
            select(overrides).where(overrides.c.person_id == person_id)
            .order_by(overrides.c.requested_at.desc()))]

    def pending_overrides(self, limit: int, region_prefix: str) -> list[OverrideRow]:
        q = select(overrides).where(overrides.c.status == OverrideState.REQUESTED.value)
        if region_prefix:
            q = q.join(people, people.c.id == overrides.c.person_id).where(
                people.c.grid_code.startswith(region_prefix, autoescape=True))
        return [_override(r) for r in self.conn.execute(
            q.order_by(overrides.c.requested_at).limit(limit))]


def _local(ms: int) -> str:
    """A due time as residents read it, in local time."""
    return short(from_ms(ms))


def _ms(d: timedelta) -> int:
    return int(d.total_seconds() * 1000)
