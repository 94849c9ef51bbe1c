"""Fake repositories of cadence and status (``adapters/db/status_store.py`` in memory): policies
and rules, the materialised status with its set-based fast paths, the sweep's reads and
reminders, arrivals, exemptions and overrides. Where the adapter decides many people in one
statement, the fake decides each of them with the domain's engine (``domain.status.decide``)
and stores the result as that statement does."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TypeVar

from hesuan.domain.arrivals import follow_up_open
from hesuan.domain.cadence import Policy, choose_policy, first_due
from hesuan.domain.local_time import short
from hesuan.domain.notices import reminder_goes_at
from hesuan.domain.sampling import RESULT_TO_COME
from hesuan.domain.status import (
    DEFAULT_RULES,
    Colour,
    Facts,
    OverrideState,
    Rule,
    Status,
    decide,
    remindable,
)
from hesuan.services.status_ports import (
    ArrivalRow,
    ExemptionRow,
    OverrideRow,
    RecallState,
    StatusRow,
)
from tests.fakes.base import FakeRepository
from tests.fakes.database import (
    OutboxRecord,
    PersonStatus,
    PolicyVersion,
    RuleVersion,
    at_ms,
    ms,
    plain,
    plain_overdue,
    status_facts,
    write_status,
)

__all__ = ["FakeCadence", "FakeOverrides", "FakeStatuses"]

T = TypeVar("T")

_OVERDUE_REASON = next(r.reason for r in DEFAULT_RULES if r.predicate == "overdue")


class FakeCadence(FakeRepository):
    """``CadenceRepository``: policies and rules, each versioned."""

    def current_policies(self) -> list[Policy]:
        current = [v.policy for v in self.t.policies if v.superseded_at is None]
        return sorted(current, key=lambda p: (p.scope_kind.value, p.scope))

    def policy_history(self, policy_id: str) -> list[Policy]:
        return sorted((v.policy for v in self.t.policies if v.policy.id == policy_id),
                      key=lambda p: p.version)

    def save_policy(self, p: Policy, actor: str, now: datetime) -> None:
        for v in self.t.policies:
            if v.policy.id == p.id and v.superseded_at is None:
                if p.valid_from <= now:
                    v.superseded_at = now
                elif v.policy.valid_to is None or v.policy.valid_to > p.valid_from:
                    # a version that starts later: the one in force ends when it starts
                    v.policy = dataclasses.replace(v.policy, valid_to=p.valid_from)
        self.t.policies.append(PolicyVersion(p, actor, now))

    def assign_policies(self, policies: Sequence[Policy], now: datetime,
                        person_ids: Sequence[str] | None = None) -> int:
        """Everyone (or ``person_ids``) gets the policy ``cadence.choose_policy`` picks, and
        the due time it sets; those whose policy or version changes are marked stale."""
        moved = 0
        for pid, person in self.t.people.items():
            if person_ids is not None and pid not in person_ids:
                continue
            row = self.t.statuses[pid]
            groups = frozenset(g for g in person.groups.split(",") if g)
            p = choose_policy(policies, person.grid_code, groups, now).policy
            if ((row.policy_id or "", row.policy_version or 0)
                    == ((p.id, p.version) if p else ("", 0))):
                continue
            moved += 1
            row.status_valid_until = now
            if p is None:
                row.policy_id = row.policy_version = None
                row.interval = row.grace = row.lead = row.overdue_action = None
                if not follow_up_open(row.arrival_at, row.next_due_at, now):
                    row.next_due_at = None
                continue
            row.policy_id, row.policy_version = p.id, p.version
            row.interval, row.grace, row.lead = p.interval, p.grace, p.reminder_lead
            row.overdue_action = p.overdue_action.value
            row.next_due_at = (
                row.next_due_at if follow_up_open(row.arrival_at, row.next_due_at, now)
                else row.last_sampled_at + p.interval if row.last_sampled_at is not None
                else first_due(p.valid_from, self.t.registered.get(pid, p.valid_from),
                               p.interval))
        return moved

    def current_rules(self) -> list[Rule]:
        current = [v for v in self.t.rules if v.superseded_at is None]
        return [v.rule for v in sorted(current, key=lambda v: v.position)]

    def save_rule(self, rule: Rule, position: int, actor: str, now: datetime) -> None:
        for v in self.t.rules:
            if v.rule.id == rule.id and v.superseded_at is None:
                v.superseded_at = now
        self.t.rules.append(RuleVersion(rule, position, actor, now))


class FakeStatuses(FakeRepository):
    """``StatusRepository``."""

    def _whom(self, now: datetime, everyone: bool, person_ids: Sequence[str] | None,
              parked: bool = False) -> list[PersonStatus]:
        """Everyone, the given people, the stale, or those parked among them at ``now``."""
        rows = self.t.statuses
        if everyone:
            return list(rows.values())
        if person_ids is not None:
            return [rows[p] for p in dict.fromkeys(person_ids) if p in rows]
        if parked:
            return [r for r in rows.values() if r.status_valid_until == now]
        return [r for r in rows.values() if r.stale(now)]

    def refresh_plain(self, now: datetime, everyone: bool = False,
                      person_ids: Sequence[str] | None = None,
                      limit: int | None = None, *, parked: bool = False) -> int:
        n = 0
        for row in self._whom(now, everyone, person_ids, parked):
            if limit is not None and n >= limit:
                break
            if plain(row, now):
                write_status(row, decide(status_facts(row, self.t), now), now, None)
                n += 1
        return n

    def refresh_overdue(self, now: datetime, rule_id: str, rule_version: int,
                        colour: str | None, everyone: bool = False,
                        person_ids: Sequence[str] | None = None,
                        limit: int | None = None, *, parked: bool = False) -> int:
        rule = Rule(rule_id, rule_version, "overdue", _OVERDUE_REASON,
                    None if colour is None else Colour(colour))
        n = 0
        for row in self._whom(now, everyone, person_ids, parked):
            if limit is not None and n >= limit:
                break
            if plain_overdue(row, now):
                write_status(row, decide(status_facts(row, self.t), now, [rule]), now, None)
                n += 1
        return n

    def _fast_decided(self, row: PersonStatus, now: datetime, overdue_ran: bool) -> bool:
        """Whom the fast paths of a refresh at ``now`` decided."""
        return plain(row, now) or (overdue_ran and plain_overdue(row, now)
                                   and row.status_at == now)

    def stale_facts(self, now: datetime, limit: int, person_ids: Sequence[str] | None = None,
                    in_results: bool = False, overdue_ran: bool = False,
                    ) -> list[tuple[str, Facts]]:
        if person_ids is not None:
            rows = [r for r in self._whom(now, False, person_ids)
                    if r.stale(now) or not self._fast_decided(r, now, overdue_ran)]
            return [(r.person_id, status_facts(r, self.t)) for r in rows]
        rows = [r for r in self.t.statuses.values() if r.stale(now)]
        if in_results:
            staged = self.scratch.staged_tube_ids()
            members = {s.person_id for s in self.t.samples.values() if s.tube_id in staged}
            rows = [r for r in rows if r.person_id in members]
        rows.sort(key=lambda r: r.status_valid_until or now)
        return [(r.person_id, status_facts(r, self.t)) for r in rows[:limit]]

    def special_facts(self, now: datetime, after: str, limit: int,
                      overdue_ran: bool = False) -> list[tuple[str, Facts]]:
        rows = sorted((r for r in self.t.statuses.values()
                       if r.person_id > after and not self._fast_decided(r, now, overdue_ran)),
                      key=lambda r: r.person_id)
        return [(r.person_id, status_facts(r, self.t)) for r in rows[:limit]]

    def facts_of(self, person_id: str) -> Facts | None:
        row = self.t.statuses.get(person_id)
        return None if row is None else status_facts(row, self.t)

    def write_statuses(self, rows: Sequence[tuple[str, Status]], now: datetime) -> None:
        for pid, s in rows:
            write_status(self.t.statuses[pid], s, now, s.evidence)

    def recall_state(self, person_id: str, recall_id: str) -> RecallState | None:
        recall = self.t.recalls.get(recall_id)
        if recall is None:
            return None
        return RecallState(recall.reason, any(
            s.person_id == person_id and s.recall_id == recall_id
            and self.t.tubes[s.tube_id].status in RESULT_TO_COME
            for s in self.t.samples.values()))

    def status_row(self, person_id: str) -> StatusRow | None:
        r = self.t.statuses.get(person_id)
        if r is None:
            return None
        return StatusRow(
            colour=r.colour, reasons=r.reasons, rule_id=r.rule_id, rule_version=r.rule_version,
            evidence=r.evidence, status_at=r.status_at, status_valid_until=r.status_valid_until,
            next_due_at=r.next_due_at, policy_id=r.policy_id, policy_version=r.policy_version,
            exempt_until=r.exempt_until, exempt_reason=r.exempt_reason,
            override_id=r.override_id, override_until=r.override_until,
            override_reason=r.override_reason, test_state=r.test_state,
            last_sampled_at=r.last_sampled_at, open_recall_id=r.open_recall_id)

    def sweep_lock(self) -> bool:
        return True

    def _to_remind(self, now: datetime, max_lead_ms: int) -> list[PersonStatus]:
        """People inside their reminder lead, not yet reminded for this due time, to be
        reminded (``domain.status.remindable``)."""
        horizon = now + timedelta(milliseconds=max_lead_ms)
        return [r for r in self.t.statuses.values()
                if r.next_due_at is not None and now < r.next_due_at <= horizon
                and r.lead is not None and r.next_due_at - r.lead <= now
                and r.reminded_due_at != r.next_due_at
                and remindable(status_facts(r, self.t), now)]

    def due_for_reminder(self, now: datetime, max_lead_ms: int,
                         limit: int) -> list[tuple[str, int]]:
        return [(r.person_id, ms(r.next_due_at)) for r in self._to_remind(now, max_lead_ms)
                if r.next_due_at is not None][:limit]

    def mark_all_reminded(self, now: datetime, max_lead_ms: int,
                          person_ids: Sequence[str] | None = None) -> int:
        which = None if person_ids is None else set(person_ids)
        rows = [r for r in self._to_remind(now, max_lead_ms)
                if which is None or r.person_id in which]
        for r in rows:
            r.reminded_due_at = r.next_due_at
        return len(rows)

    def enqueue_reminders(self, rows: Sequence[tuple[str, str, int]], now: datetime) -> None:
        """One reminder per person per due time (the de-duplication key)."""
        for mid, pid, due in rows:
            key = f"reminder:{pid}:{due}"
            self.t.outbox.setdefault(key, OutboxRecord(
                mid, key, pid, None, "reminder", {"due": short(at_ms(due)), "due_ms": due}, now,
                reminder_goes_at(now)))

    def add_arrival(self, row: ArrivalRow, first_due: datetime) -> None:
        self.t.arrivals[row.id] = row
        s = self.t.statuses[row.person_id]
        s.arrival_at, s.arrival_risk = row.arrived_at, row.origin_risk
        s.next_due_at, s.reminded_due_at = first_due, None
        s.status_valid_until = row.arrived_at


class FakeOverrides(FakeRepository):
    """``OverrideRepository``: exemptions and two-officer overrides, on the status row."""

    def add_exemption(self, row: ExemptionRow) -> None:
        self.t.exemptions[row.id] = row
        self._hold_exemption(row.person_id, row.created_at)

    def _hold_exemption(self, person_id: str, now: datetime) -> None:
        in_force = [e for e in self.t.exemptions.values() if e.person_id == person_id
                    and e.revoked_at is None and e.until > now]
        longest = max(in_force, key=lambda e: e.until, default=None)
        s = self.t.statuses[person_id]
        s.exempt_until = None if longest is None else longest.until
        s.exempt_reason = None if longest is None else longest.reason
        s.status_valid_until = now

    def active_exemption_person(self, exemption_id: str) -> str | None:
        e = self.t.exemptions.get(exemption_id)
        return None if e is None or e.revoked_at is not None else e.person_id

    def revoke_exemption(self, exemption_id: str, now: datetime) -> str | None:
        pid = self.active_exemption_person(exemption_id)
        if pid is None:
            return None
        self.t.exemptions[exemption_id] = replace(self.t.exemptions[exemption_id],
                                                  revoked_at=now)
        self._hold_exemption(pid, now)
        return pid

    def exemptions_of(self, person_id: str) -> list[ExemptionRow]:
        return _newest_first((e for e in self.t.exemptions.values()
                              if e.person_id == person_id), lambda e: e.created_at)

    def add_override(self, row: OverrideRow) -> None:
        self.t.overrides[row.id] = row

    def override(self, override_id: str, *, for_update: bool = False) -> OverrideRow | None:
        return self.t.overrides.get(override_id)

    def decide_override(self, request: OverrideRow, status: OverrideState, by: str,
                        now: datetime) -> None:
        o = self.t.overrides[request.id] = replace(self.t.overrides[request.id],
                                                    status=status, decided_by=by,
                                                    decided_at=now)
        if status is OverrideState.APPROVED:
            s = self.t.statuses[o.person_id]
            s.override_id, s.override_colour = o.id, o.colour
            s.override_until, s.override_reason = o.expires_at, o.reason
            s.status_valid_until = now

    def overrides_of(self, person_id: str) -> list[OverrideRow]:
        return _newest_first((o for o in self.t.overrides.values()
                              if o.person_id == person_id), lambda o: o.requested_at)

    def pending_overrides(self, limit: int, region_prefix: str) -> list[OverrideRow]:
        rows = [o for o in self.t.overrides.values() if o.status == OverrideState.REQUESTED
                and self.t.people[o.person_id].grid_code.startswith(region_prefix)]
        return sorted(rows, key=lambda o: o.requested_at)[:limit]


def _newest_first(rows: Iterable[T], at: Callable[[T], datetime]) -> list[T]:
    return sorted(rows, key=at, reverse=True)
