"""Testing cadence (检测频次): policies per region or group, and which one applies to a person.

A policy says how often people must be sampled (interval, e.g. 72 h = "3日1次"), how long after
the due time the status changes (grace), how long before it a reminder goes out (reminder lead),
and what the status becomes when overdue (yellow, or pop-up 弹窗). Policies attach to a region
at any level or to a group. Which one applies to a person is decided here once
(:func:`in_precedence`): among the policies in force that cover the person (a region policy
covers every grid whose code starts with the region's code; a group policy covers every member
of that exact group), any group policy beats any region policy, among regions the deepest wins
(grid over community over ... over district), then the strictest (shortest interval); the last
ties go to the lower scope code, then the lower policy id, so the choice never depends on the
order policies are stored in. The choice is explained in words. The storage's set-based
assignment is built from these same definitions.

Imports: standard library only.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from hesuan.domain.errors import InvalidInput
from hesuan.domain.people import GROUP_NAMES, Group

__all__ = ["OverdueAction", "Policy", "PolicyChoice", "ScopeKind", "check_policy",
           "choose_policy", "default_policies", "first_due", "in_precedence", "precedence_key",
           "windows_changed"]


class ScopeKind(enum.StrEnum):
    REGION = "region"
    GROUP = "group"


class OverdueAction(enum.StrEnum):
    YELLOW = "yellow"
    POPUP = "popup"


@dataclass(frozen=True, slots=True)
class Policy:
    id: str
    version: int
    scope_kind: ScopeKind
    scope: str  # a region code, or a group name
    interval: timedelta
    grace: timedelta
    reminder_lead: timedelta
    overdue_action: OverdueAction
    valid_from: datetime
    valid_to: datetime | None = None
    name: str = ""

    def in_force(self, now: datetime) -> bool:
        return self.valid_from <= now and (self.valid_to is None or now < self.valid_to)

    def applies_to(self, grid_code: str, groups: frozenset[str]) -> bool:
        if self.scope_kind is ScopeKind.GROUP:
            return self.scope in groups
        return grid_code.startswith(self.scope)

    @property
    def label(self) -> str:
        hours = int(self.interval.total_seconds() // 3600)
        return f"{self.scope_kind} {self.scope} every {hours} h (policy {self.id} v{self.version})"


@dataclass(frozen=True, slots=True)
class PolicyChoice:
    policy: Policy | None
    explanation: str


def check_policy(interval: timedelta, grace: timedelta, lead: timedelta) -> None:
    if not timedelta(hours=1) <= interval <= timedelta(days=30):
        raise InvalidInput("interval must be between 1 hour and 30 days", code="bad_interval",
                           field="interval_hours")
    if not timedelta(0) <= grace <= timedelta(days=7):
        raise InvalidInput("grace must be between 0 and 7 days", code="bad_grace",
                           field="grace_hours")
    if not timedelta(0) <= lead < interval:
        raise InvalidInput("reminder lead must be at least 0 and shorter than the interval",
                           code="bad_reminder_lead", field="reminder_lead_hours")


def precedence_key(p: Policy) -> tuple[int, int, timedelta, str, str]:
    """Sort key, strongest first: groups before regions, deeper regions before shallower, a
    shorter interval before a longer one, then the scope code and the policy id (a total order,
    so equal policies never tie on storage order)."""
    depth = 0 if p.scope_kind is ScopeKind.GROUP else len(p.scope)
    return (0 if p.scope_kind is ScopeKind.GROUP else 1, -depth, p.interval, p.scope, p.id)


def first_due(policy_start: datetime, registered_at: datetime,
              interval: timedelta) -> datetime:
    """A person never sampled is first due one ``interval`` after their policy's start, or
    after their registration when they were registered later (a newcomer is not overdue on
    arrival)."""
    return max(policy_start, registered_at) + interval


def in_precedence(policies: Iterable[Policy], now: datetime) -> list[Policy]:
    """The policies in force at ``now``, strongest first: the first that covers a person is
    the one that applies to them."""
    return sorted((p for p in policies if p.in_force(now)), key=precedence_key)


def windows_changed(policies: Iterable[Policy], since: datetime | None,
                    now: datetime) -> bool:
    """Whether a policy's window opened or closed after ``since`` and by ``now`` (None: not
    known, as after a start): who is covered by which policy must be worked out again."""
    if since is None:
        return True
    return any(since < edge <= now for p in policies
               for edge in (p.valid_from, p.valid_to) if edge is not None)


def choose_policy(policies: Iterable[Policy], grid_code: str, groups: frozenset[str],
                  now: datetime) -> PolicyChoice:
    candidates = [p for p in in_precedence(policies, now) if p.applies_to(grid_code, groups)]
    if not candidates:
        return PolicyChoice(None, "no testing policy covers this person's grid or groups")
    chosen = candidates[0]
    others = [p.label for p in candidates[1:]]
    why = f"applies {chosen.label}"
    if others:
        reason = ("a group policy takes precedence over region policies"
                  if chosen.scope_kind is ScopeKind.GROUP and any(
                      p.scope_kind is ScopeKind.REGION for p in candidates[1:])
                  else "the most specific policy wins")
        why += f"; {reason} (also matched: {'; '.join(others)})"
    return PolicyChoice(chosen, why)


def default_policies(valid_from: datetime, new_id: Callable[[], str]) -> list[Policy]:
    """The seeded defaults: the six urban districts every 72 h; medical staff, port and transport
    workers and couriers every 24 h; returning students and teachers every 36 h ("三天两检"
    during their first days back, then their district's cadence once the policy expires)."""
    from hesuan.domain.regions import URBAN_DISTRICTS

    def make(kind: ScopeKind, scope: str, hours: int, name: str,
             valid_to: datetime | None = None) -> Policy:
        return Policy(new_id(), 1, kind, scope, timedelta(hours=hours), timedelta(hours=24),
                      timedelta(hours=12), OverdueAction.YELLOW, valid_from, valid_to, name)

    out = [make(ScopeKind.REGION, code, 72, f"{name} 3日1次")
           for code, name in URBAN_DISTRICTS.items()]
    out += [make(ScopeKind.GROUP, g, 24, f"{GROUP_NAMES[g][0]} 每日1检")
            for g in (Group.MEDICAL, Group.PORT_TRANSPORT, Group.COURIER)]
    out.append(make(ScopeKind.GROUP, "teacher_student", 36, "返校师生 三天两检",
                    valid_from + timedelta(days=3)))
    return out

