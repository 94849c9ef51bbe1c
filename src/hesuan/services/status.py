"""Cadence, the overdue sweep, status codes, exemptions, overrides and arrivals (F1, F10, F12,
F15, F18).

``StatusService.refresh`` is the one way a status changes: it decides the status of stale
people with the pure rule engine (``domain.status.decide``) — the common case in one set-based
statement, the rest one by one — and writes the result to the materialised status row. It runs
in the same transaction as whatever made the status stale (a sample, a result, a policy change,
an exemption, an override), so nothing is half-written, and the sweep catches anything whose
status ran out with time.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from hesuan.domain.access import Action, Principal, Target, authorize, region_prefix
from hesuan.domain.arrivals import ARRIVAL_RISKS, check_arrival_time, first_due
from hesuan.domain.cadence import (
    OverdueAction,
    Policy,
    PolicyChoice,
    ScopeKind,
    check_policy,
    choose_policy,
    default_policies,
    windows_changed,
)
from hesuan.domain.digits import is_digits
from hesuan.domain.errors import Conflict, InvalidInput, NotFound, RuleViolation
from hesuan.domain.instants import check_instant
from hesuan.domain.passes import MAX_PASS_TTL, PassColour, PassStatus
from hesuan.domain.people import Group
from hesuan.domain.sampling import SiteKind
from hesuan.domain.status import (
    DEFAULT_RULES,
    Colour,
    OverrideState,
    Rule,
    Status,
    check_rule,
    decide,
    turns_to,
)
from hesuan.services.context import Deps
from hesuan.services.newcomers import apply_zone_cadences
from hesuan.services.ports import UnitOfWork
from hesuan.services.status_ports import (
    ArrivalRow,
    ExemptionRow,
    OverrideRow,
    RecallState,
    StatusRow,
)
from hesuan.services.targets import no_such_person, person_target

__all__ = ["EXEMPTION_REASONS", "PolicyInput", "StatusRead", "StatusService", "SweepReport"]

EXEMPTION_REASONS = ("infant", "bedridden", "away", "in_hospital", "other")
_CHUNK = 5000
#: People one transaction of a sweep reminds, and decides, at most. A sweep over a cohort that
#: falls due at once commits in parts, so that a write to a swept person's status row (a
#: station's sample, an exemption) waits for one part, not for the whole sweep; on SQLite,
#: where every write waits for it, each part is one turn of the writer.
SWEEP_PART = 50_000
_MAX_OVERRIDE = timedelta(days=14)


@dataclass(frozen=True, slots=True)
class PolicyInput:
    scope_kind: ScopeKind
    scope: str
    interval: timedelta
    grace: timedelta = timedelta(hours=24)
    reminder_lead: timedelta = timedelta(hours=12)
    overdue_action: OverdueAction = OverdueAction.YELLOW
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    name: str = ""
    id: str | None = None  # given: a new version of that policy


@dataclass(frozen=True, slots=True)
class SweepReport:
    reminders: int
    recomputed: int
    skipped: bool = False


@dataclass(frozen=True, slots=True)
class StatusRead:
    """A person's status as read: decided now from their facts; the materialised row beside
    it, with the due time (None before anything was materialised for them); their exemptions
    and overrides, in force or not."""

    status: Status
    row: StatusRow | None
    exemptions: list[ExemptionRow]
    overrides: list[OverrideRow]
    decided_at: datetime | None = None  # the moment the status was decided for
    turns_to: Colour | None = None  # the colour it turns to when it runs out
    #: the open recall: why it was opened, whether its re-test (or new sample) is taken
    recall: RecallState | None = None

    @property
    def next_due_at(self) -> datetime | None:
        return None if self.row is None else self.row.next_due_at


class StatusService:
    def __init__(self, deps: Deps) -> None:
        self._d = deps
        # when the sweep last worked out who each policy covers (None: not since this start)
        self._windows_at: datetime | None = None

    # -- the engine ------------------------------------------------------------------------

    def rules(self, uow: UnitOfWork) -> list[Rule]:
        return uow.cadence.current_rules() or list(DEFAULT_RULES)

    def refresh(self, uow: UnitOfWork, now: datetime, *, person_ids: Sequence[str] | None = None,
                in_results: bool = False, everyone: bool = False) -> int:
        """Decide again the status of stale people (all stale; the given ones and those this
        transaction parked at ``now``; the members of the current results batch; or —
        ``everyone`` — the whole population) inside ``uow``'s transaction. The two common
        cases go in one statement each; people with special facts are decided one by one by
        the engine. Returns how many were decided."""
        rules = self.rules(uow)
        overdue = _overdue_rule(rules)
        # the stale; or, for given people, those this transaction parked among the stale (at
        # ``now``) and then the given by id: the others whose status ran out are the sweep's,
        # which decides a cohort falling due at once a part at a time
        done = 0
        passes = [(None, False)] if person_ids is None else [(None, True), (person_ids, False)]
        for whom, parked in passes:
            done += uow.statuses.refresh_plain(now, everyone, whom, parked=parked)
            if overdue is not None:
                done += _refresh_overdue(uow, now, overdue, everyone=everyone,
                                         person_ids=whom, parked=parked)
        ran = overdue is not None
        if person_ids is not None:
            facts = uow.statuses.stale_facts(now, len(person_ids), person_ids,
                                             overdue_ran=ran)
            uow.statuses.write_statuses([(pid, decide(f, now, rules)) for pid, f in facts], now)
            return done + len(facts)
        after = ""
        while True:
            if everyone:
                facts = uow.statuses.special_facts(now, after, _CHUNK, overdue_ran=ran)
            else:
                facts = uow.statuses.stale_facts(now, _CHUNK, None, in_results)
            uow.statuses.write_statuses([(pid, decide(f, now, rules)) for pid, f in facts], now)
            done += len(facts)
            if len(facts) < _CHUNK:
                return done
            after = facts[-1][0]

    def recompute_all(self, actor: Principal) -> int:
        """Decide every person's status afresh (after a rule change, or to check)."""
        authorize(actor, Action.RECOMPUTE_STATUS)
        now = self._d.clock.now()
        with self._d.uow() as uow:
            n = self.refresh(uow, now, everyone=True)
            uow.audit_log.append(now, actor.username, "status.recompute", "people", {"decided": n})
            uow.commit()
        return n

    # -- the sweep -------------------------------------------------------------------------

    def sweep(self, actor: Principal, limit: int = 200_000) -> SweepReport:
        """Reminders for people due soon (one per due time, at most ``limit``) and the overdue
        status (未检) for those past due + grace, ``SWEEP_PART`` people a transaction, each
        with its audit entry. Idempotent; a second sweep at once skips, or — reaching the lock
        between two parts of the first — goes on with what is left (nothing is doubled: a
        reminder's due time is marked in the part that queues it)."""
        authorize(actor, Action.RUN_SWEEP)
        now = self._d.clock.now()
        reminders = decided = 0
        reassigned, reminding, refreshing = False, True, True
        fast = {"plain", "overdue"}  # the fast paths with people left to decide
        policies: list[Policy] | None = None  # read with the first part's lock, kept after it
        rules: list[Rule] = []
        while reminding or refreshing:
            with self._d.uow() as uow:
                if not uow.statuses.sweep_lock():
                    return SweepReport(reminders, decided, skipped=policies is None)
                if policies is None:
                    policies, rules = uow.cadence.current_policies(), self.rules(uow)
                    # a window opened or closed since (a policy's end, a version's start): its
                    # people take the policy that covers them now, as at a policy's change
                    reassigned = windows_changed(policies, self._windows_at, now)
                    if reassigned:
                        self._assign(uow, policies, now)
                reminded = part_decided = 0
                if reminding:
                    reminded, reminding = self._remind_part(
                        uow, policies, now, min(SWEEP_PART, limit - reminders))
                if not reminding:
                    part_decided, refreshing = self._refresh_part(uow, now, rules, SWEEP_PART,
                                                                  fast)
                if reassigned and not refreshing:  # a green pass stated the old policy's status
                    uow.passes.revoke_untrue_green(now, "policy")
                uow.audit_log.append(now, actor.username, "sweep", "people",
                                     {"reminders": reminded, "decided": part_decided})
                uow.commit()
            reminders, decided = reminders + reminded, decided + part_decided
        self._windows_at = now
        return SweepReport(reminders, decided)

    def _remind_part(self, uow: UnitOfWork, policies: Sequence[Policy], now: datetime,
                     most: int) -> tuple[int, bool]:
        """Queue the reminders of at most ``most`` people due soon and mark their due times;
        how many, and whether more may be due."""
        max_lead = max((p.reminder_lead for p in policies), default=timedelta(0))
        lead_ms = int(max_lead.total_seconds() * 1000)
        due = uow.statuses.due_for_reminder(now, lead_ms, most) if most > 0 else []
        if due:
            uow.statuses.enqueue_reminders([(self._d.new_id(), pid, due_ms)
                                            for pid, due_ms in due], now)
            uow.statuses.mark_all_reminded(now, lead_ms, None if len(due) < most
                                           else [pid for pid, _ in due])
        return len(due), most > 0 and len(due) == most

    @staticmethod
    def _refresh_part(uow: UnitOfWork, now: datetime, rules: Sequence[Rule], most: int,
                      fast: set[str]) -> tuple[int, bool]:
        """Decide again the status of at most ``most`` stale people of each kind (the two
        common cases by statement — those of ``fast``, which loses each once it has no one
        left — then those with special facts by the engine, once the common cases are done);
        how many, and whether more may be stale."""
        overdue = _overdue_rule(rules)
        done = 0
        if "plain" in fast:
            done = uow.statuses.refresh_plain(now, limit=most)
            if done < most:
                fast.discard("plain")
        if overdue is None:
            fast.discard("overdue")
        elif "overdue" in fast:
            n = _refresh_overdue(uow, now, overdue, limit=most)
            done += n
            if n < most:
                fast.discard("overdue")
        if fast:
            return done, True
        facts = uow.statuses.stale_facts(now, most, overdue_ran=overdue is not None)
        uow.statuses.write_statuses([(pid, decide(f, now, rules)) for pid, f in facts], now)
        return done + len(facts), len(facts) == most

    # -- policies --------------------------------------------------------------------------

    def policies(self, actor: Principal) -> list[Policy]:
        authorize(actor, Action.READ_POLICIES)
        with self._d.uow(readonly=True) as uow:
            return uow.cadence.current_policies()

    def set_policy(self, actor: Principal, p: PolicyInput) -> Policy:
        """Create a policy, or a new version of one; re-assign everyone's policy and due time in
        bulk and decide the status of everyone whose due time moved."""
        check_policy(p.interval, p.grace, p.reminder_lead)
        if p.scope_kind is ScopeKind.GROUP:
            try:
                Group(p.scope)
            except ValueError:
                raise InvalidInput(f"scope: unknown group {p.scope!r}", code="bad_group",
                                   field="scope") from None
        # a group's policy applies city-wide: only a principal whose region is the whole city
        where = "" if p.scope_kind is ScopeKind.GROUP else p.scope
        authorize(actor, Action.SET_POLICY, Target(region=where), field="scope")
        now = self._d.clock.now()
        with self._d.uow() as uow:
            if p.scope_kind is ScopeKind.REGION and uow.places.region(p.scope) is None:
                raise NotFound("scope: no such region", code="unknown_region", field="scope")
            version, start, name = 1, now, f"{p.scope_kind} {p.scope}"
            if p.id is not None:
                history = uow.cadence.policy_history(p.id)
                if not history:
                    raise NotFound("no such policy", code="unknown_policy", field="id")
                last = history[-1]
                if (last.scope_kind, last.scope) != (p.scope_kind, p.scope):
                    # a version is of the same scope: another scope is a policy of its own, and
                    # its id no way to change (or end) a policy its author may not set
                    raise InvalidInput(f"scope: policy {p.id} is {last.scope_kind} "
                                       f"{last.scope}'s; a new version keeps its scope",
                                       code="policy_scope_changed", field="scope")
                version, name = last.version + 1, last.name
                # a new version of a policy in force keeps its start: never-sampled people's
                # first due time (start + interval) does not restart with an edit
                if last.valid_from <= now and (last.valid_to is None or last.valid_to > now):
                    start = last.valid_from
            policy = Policy(p.id or self._d.new_id(), version, p.scope_kind, p.scope, p.interval,
                            p.grace, p.reminder_lead, p.overdue_action, p.valid_from or start,
                            p.valid_to, p.name or name)
            uow.cadence.save_policy(policy, actor.username, now)
            moved = self._reassign(uow, now)
            uow.audit_log.append(now, actor.username, "policy.set", f"policy:{policy.id}",
                      {"version": version, "scope": p.scope,
                       "interval_h": p.interval.total_seconds() / 3600, "moved": moved})
            uow.commit()
        return policy

    def seed_defaults(self, actor: Principal, start: datetime | None = None) -> int:
        """Seed DESIGN.md's default policies and rules if there are none yet."""
        authorize(actor, Action.SEED_POLICIES)
        now = self._d.clock.now()
        with self._d.uow() as uow:
            if not uow.cadence.current_rules():
                for i, rule in enumerate(DEFAULT_RULES):
                    uow.cadence.save_rule(rule, i, actor.username, now)
            if uow.cadence.current_policies():
                uow.commit()
                return 0
            made = default_policies(start or now, self._d.new_id)
            for policy in made:
                uow.cadence.save_policy(policy, actor.username, now)
            moved = self._reassign(uow, now)
            uow.audit_log.append(now, actor.username, "policy.seed", "policies",
                      {"policies": len(made), "moved": moved})
            uow.commit()
        return len(made)

    def _assign(self, uow: UnitOfWork, policies: Sequence[Policy], now: datetime) -> int:
        """Everyone takes the policy that covers them now, and the zones' cadences hold."""
        moved = uow.cadence.assign_policies(policies, now)
        apply_zone_cadences(uow, now)
        return moved

    def _reassign(self, uow: UnitOfWork, now: datetime) -> int:
        moved = self._assign(uow, uow.cadence.current_policies(), now)
        self.refresh(uow, now)
        # a green pass stated the status the old policy decided
        uow.passes.revoke_untrue_green(now, "policy")
        return moved

    def explain_policy(self, actor: Principal, person_id: str) -> PolicyChoice:
        with self._d.uow(readonly=True) as uow:
            row = uow.people.person(person_id)
            if row is None:
                raise NotFound("no such person", code="unknown_person", field="person_id")
            authorize(actor, Action.READ_STATUS, person_target(row), hidden=no_such_person())
            uow.audit_log.append(self._d.clock.now(), actor.username, "policy.explain",
                      f"person:{person_id}", {})
            uow.commit()
            return choose_policy(uow.cadence.current_policies(), row.grid_code,
                                 frozenset(g for g in row.groups.split(",") if g),
                                 self._d.clock.now())

    # -- rules -----------------------------------------------------------------------------

    def list_rules(self, actor: Principal) -> list[Rule]:
        authorize(actor, Action.READ_STATUS_RULES)
        with self._d.uow(readonly=True) as uow:
            return self.rules(uow)

    def change_rule(self, actor: Principal, rule_id: str, *, enabled: bool | None = None,
                    colour: Colour | None = None) -> Rule:
        """Change a status rule (a new version; audited) and decide everyone's status again."""
        authorize(actor, Action.CHANGE_STATUS_RULES)
        now = self._d.clock.now()
        with self._d.uow() as uow:
            rules = uow.cadence.current_rules()
            if not rules:
                raise NotFound("rules are not seeded yet", code="unknown_rule", field="rule_id")
            pos = next((i for i, r in enumerate(rules) if r.id == rule_id), None)
            if pos is None:
                raise NotFound("no such rule", code="unknown_rule", field="rule_id")
            old = rules[pos]
            new = Rule(old.id, old.version + 1, old.predicate, old.reason,
                       colour if colour is not None else old.colour,
                       old.enabled if enabled is None else enabled)
            check_rule(new)
            uow.cadence.save_rule(new, pos, actor.username, now)
            n = self.refresh(uow, now, everyone=True)
            uow.passes.revoke_untrue_green(now, "rule")  # as the old rule decided
            uow.audit_log.append(now, actor.username, "rule.change", f"rule:{rule_id}",
                      {"version": new.version, "enabled": new.enabled,
                       "colour": new.colour.value if new.colour else None, "decided": n})
            uow.commit()
        return new

    # -- exemptions, overrides, arrivals ---------------------------------------------------

    def exempt(self, actor: Principal, person_id: str, reason: str, until: datetime,
               note: str | None = None) -> str:
        if reason not in EXEMPTION_REASONS:
            raise InvalidInput(f"reason must be one of {', '.join(EXEMPTION_REASONS)}",
                               code="bad_reason", field="reason")
        now = self._d.clock.now()
        if until <= now or until > now + timedelta(days=366):
            raise InvalidInput("until must be in the future and within a year",
                               code="bad_until", field="until")
        eid = self._d.new_id()
        with self._d.uow() as uow:
            row = uow.people.person(person_id)
            if row is None:
                raise NotFound("no such person", code="unknown_person", field="person_id")
            authorize(actor, Action.SET_EXEMPTION, person_target(row), field="person_id")
            uow.overrides.add_exemption(ExemptionRow(
                id=eid, person_id=person_id, reason=reason, note=note, until=until,
                set_by=actor.username, created_at=now))
            self.refresh(uow, now, person_ids=[person_id])
            uow.audit_log.append(now, actor.username, "exemption.set", f"person:{person_id}",
                      {"reason": reason, "until": until.isoformat()})
            uow.commit()
        return eid

    def revoke_exemption(self, actor: Principal, exemption_id: str) -> None:
        now = self._d.clock.now()
        with self._d.uow() as uow:
            pid = uow.overrides.active_exemption_person(exemption_id)
            row = None if pid is None else uow.people.person(pid)
            if row is None:
                raise NotFound("no active exemption with this id", code="unknown_exemption",
                               field="exemption_id")
            authorize(actor, Action.REVOKE_EXEMPTION, person_target(row), field="exemption_id")
            uow.overrides.revoke_exemption(exemption_id, now)
            self.refresh(uow, now, person_ids=[row.id])
            # the green pass the exemption gave is untrue once the person is not green
            after = uow.statuses.status_row(row.id)
            if after is not None and after.colour != Colour.GREEN.value:
                uow.passes.revoke_passes([row.id], now, "exemption", keep_red=True)
            uow.audit_log.append(now, actor.username, "exemption.revoke", f"person:{pid}",
                      {"exemption": exemption_id})
            uow.commit()

    def request_override(self, actor: Principal, person_id: str, colour: Colour, reason: str,
                         legal_basis: str, expires_at: datetime) -> str:
        """First officer of two: ask for a manual status. Nothing changes until a different
        health officer approves."""
        now = self._d.clock.now()
        if not reason.strip() or not legal_basis.strip():
            raise InvalidInput("reason and legal_basis are both required", code="missing_field",
                               field="reason" if not reason.strip() else "legal_basis")
        if not now < expires_at <= now + _MAX_OVERRIDE:
            raise InvalidInput("expires_at must be in the future and within 14 days",
                               code="bad_expiry", field="expires_at")
        oid = self._d.new_id()
        with self._d.uow() as uow:
            row = uow.people.person(person_id)
            if row is None:
                raise NotFound("no such person", code="unknown_person", field="person_id")
            authorize(actor, Action.REQUEST_OVERRIDE, person_target(row), field="person_id")
            uow.overrides.add_override(OverrideRow(
                id=oid, person_id=person_id, colour=colour.value, reason=reason.strip(),
                legal_basis=legal_basis.strip(), expires_at=expires_at,
                status=OverrideState.REQUESTED, requested_by=actor.user_id, requested_at=now))
            uow.audit_log.append(now, actor.username, "override.request", f"person:{person_id}",
                      {"override": oid, "colour": colour.value})
            uow.commit()
        return oid

    def decide_override(self, actor: Principal, override_id: str, approve: bool) -> None:
        """Second officer: approve (the status changes now) or reject."""
        now = self._d.clock.now()
        with self._d.uow() as uow:
            # read for update: of two officers deciding at once, the second finds it decided
            o = uow.overrides.override(override_id, for_update=True)
            if o is None:
                raise NotFound("no such override request", code="unknown_override",
                               field="override_id")
            row = uow.people.person(o.person_id)
            assert row is not None
            # the access first: its state is nothing for an officer of another region to learn
            authorize(actor, Action.DECIDE_OVERRIDE, person_target(row), field="override_id")
            if o.status != OverrideState.REQUESTED:
                raise Conflict(f"the override is already {o.status}",
                               code="override_decided", field="override_id")
            if o.requested_by == actor.user_id:
                raise RuleViolation("a second, different health officer must decide an override "
                                    "(四眼原则)", code="same_officer", field="override_id")
            if o.expires_at <= now:
                raise RuleViolation("the requested override has already expired",
                                    code="bad_expiry", field="override_id")
            uow.overrides.decide_override(o, OverrideState.APPROVED if approve
                                          else OverrideState.REJECTED, actor.user_id, now)
            if approve:
                self.refresh(uow, now, person_ids=[row.id])
                # the colour is the override's now: a pass of another one is untrue
                uow.passes.revoke_passes([row.id], now, "override", keep_red=False)
            uow.audit_log.append(now, actor.username,
                                 "override.approve" if approve else "override.reject",
                      f"person:{row.id}", {"override": override_id})
            uow.commit()

    def register_arrival(self, actor: Principal, person_id: str, checkpoint_site_id: str,
                         origin_region: str, origin_risk: str, arrived_at: datetime) -> str:
        """A checkpoint registers an arrival (落地): first test due within 24 h, the second at
        least 24 h later and within 72 h (三天两检); medium/high-risk origins are yellow/pop-up
        until a negative test after arrival."""
        if origin_risk not in ARRIVAL_RISKS:
            raise InvalidInput("origin_risk must be low, medium or high", code="bad_risk",
                               field="origin_risk")
        if not is_digits(origin_region) or len(origin_region) not in (2, 4, 6):
            raise InvalidInput("origin_region must be a 2-, 4- or 6-digit region code",
                               code="bad_region_code", field="origin_region")
        now = self._d.clock.now()
        check_arrival_time(check_instant(arrived_at, "arrived_at"), now)
        aid = self._d.new_id()
        with self._d.uow() as uow:
            row = uow.people.person(person_id)
            if row is None:
                raise NotFound("no such person", code="unknown_person", field="person_id")
            site = next(iter(uow.places.sites([checkpoint_site_id])), None)
            if site is None:
                raise NotFound("no such checkpoint site", code="unknown_site",
                               field="checkpoint_site_id")
            # staff act at their own checkpoint for anyone arriving; officers for their people
            authorize(actor, Action.REGISTER_ARRIVAL,
                      Target(region=row.grid_code, site=site.id), field="checkpoint_site_id")
            if not SiteKind(site.kind).is_arrival_checkpoint:
                raise RuleViolation("arrivals are registered only at an arrival checkpoint "
                                    "(a first-landing site)", code="not_a_checkpoint",
                                    field="checkpoint_site_id")
            # registered after the landing swab: that swab is the first test
            current = uow.statuses.status_row(person_id)
            uow.statuses.add_arrival(ArrivalRow(
                id=aid, person_id=person_id, checkpoint_site_id=checkpoint_site_id,
                origin_region=origin_region, origin_risk=origin_risk, arrived_at=arrived_at,
                created_by=actor.username),
                first_due(arrived_at, None if current is None else current.last_sampled_at))
            self.refresh(uow, now, person_ids=[person_id])
            # the arrival's facts hold the status (and move the due time a pass runs to)
            uow.passes.revoke_passes([person_id], now, "arrival", keep_red=True)
            uow.audit_log.append(now, actor.username, "arrival.register", f"person:{person_id}",
                      {"risk": origin_risk, "origin": origin_region})
            uow.commit()
        return aid

    # -- reading ---------------------------------------------------------------------------

    def status_of(self, actor: Principal, person_id: str) -> StatusRead:
        """The person's status decided now from their facts (the truth, even between sweeps),
        the materialised row with the due time, and their exemptions and overrides."""
        now = self._d.clock.now()
        with self._d.uow() as uow:
            row = uow.people.person(person_id)
            if row is None:
                raise NotFound("no such person", code="unknown_person", field="person_id")
            authorize(actor, Action.READ_STATUS, person_target(row), hidden=no_such_person())
            facts = uow.statuses.facts_of(person_id)
            assert facts is not None
            rules = self.rules(uow)
            status = decide(facts, now, rules)
            materialised = uow.statuses.status_row(person_id)
            recall = None if materialised is None else materialised.open_recall_id
            read = StatusRead(status, materialised,
                              uow.overrides.exemptions_of(person_id),
                              uow.overrides.overrides_of(person_id), now,
                              turns_to(facts, status, rules),
                              None if recall is None
                              else uow.statuses.recall_state(person_id, recall))
            uow.audit_log.append(now, actor.username, "status.read", f"person:{person_id}", {})
            uow.commit()
        return read

    def current(self, person_id: str) -> PassStatus | None:
        """What a signed pass states about a person (the ``StatusSource`` port of the pass
        service): the status decided now from their facts, valid until it would change by
        itself, at most 24 h."""
        now = self._d.clock.now()
        with self._d.uow(readonly=True) as uow:
            row = uow.people.person(person_id)
            facts = uow.statuses.facts_of(person_id)
            if row is None or facts is None:
                return None
            status = decide(facts, now, self.rules(uow))
        horizon = now + MAX_PASS_TTL
        until = horizon if status.valid_until is None else min(horizon, status.valid_until)
        return PassStatus(PassColour(status.colour.value), status.reasons, until,
                          row.name_masked, row.id_last4)

    def pending_overrides(self, actor: Principal) -> list[OverrideRow]:
        authorize(actor, Action.READ_OVERRIDES)
        with self._d.uow() as uow:
            rows = uow.overrides.pending_overrides(200, region_prefix(actor))
            uow.audit_log.append(self._d.clock.now(), actor.username, "override.list", "overrides",
                      {"rows": len(rows)})
            uow.commit()
        return rows


def _overdue_rule(rules: Sequence[Rule]) -> Rule | None:
    """The overdue rule the fast path applies by statement: the one enabled; with none or
    several, each person is decided by the engine."""
    overdue = [r for r in rules if r.enabled and r.predicate == "overdue"]
    return overdue[0] if len(overdue) == 1 else None


def _refresh_overdue(uow: UnitOfWork, now: datetime, rule: Rule, *, everyone: bool = False,
                     person_ids: Sequence[str] | None = None, limit: int | None = None,
                     parked: bool = False) -> int:
    """The overdue fast path with ``rule``'s id, version and colour."""
    return uow.statuses.refresh_overdue(now, rule.id, rule.version,
                                        rule.colour.value if rule.colour else None, everyone,
                                        person_ids, limit, parked=parked)
