"""Status codes (健康码/核酸状态): a pure rule engine from a person's facts to their colour.

Each person's status is decided from their facts alone — results, open recalls (复核), the
cadence policy and their last sample (未检 when overdue), arrivals (落地检), exemptions, zone
designations and manual overrides — and ``now``. The output carries the colour (green, yellow,
pop-up 弹窗, red), every reason that applies, the id and version of the rule that set the colour,
the evidence, and ``valid_until``: the moment the status would change with no new event (a due
time passing, an exemption or override expiring), so the sweep knows whom to re-evaluate.

Rules are data (``Rule``), versioned; changing one is a service call that is audited. The
predicates they name are fixed code, so the engine stays pure and total.

Imports: standard library, ``hesuan.domain``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hesuan.domain.errors import InvalidInput
from hesuan.domain.results import RecallReason, Result
from hesuan.domain.sampling import TubeStatus

__all__ = [
    "DEFAULT_GRACE",
    "DEFAULT_RULES",
    "DEFAULT_RULE_ID",
    "DEFAULT_RULE_VERSION",
    "FALLBACK_COLOUR",
    "HOLDING_ZONES",
    "NOT_REMINDED_STATES",
    "PREDICATES",
    "RECALL_AFTER",
    "ZONE_RULE_ID",
    "Colour",
    "DefaultReason",
    "Facts",
    "OverrideState",
    "Rule",
    "Status",
    "decide",
    "remindable",
    "severity",
    "turns_to",
]


class Colour(enum.StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    POPUP = "popup"  # 弹窗: stop and check in person
    RED = "red"


_SEVERITY = {Colour.GREEN: 0, Colour.YELLOW: 1, Colour.POPUP: 2, Colour.RED: 3}


def severity(c: Colour) -> int:
    return _SEVERITY[c]


class DefaultReason(enum.StrEnum):
    """Why a person no rule matches is green."""

    EXEMPT = "exempt"
    AWAITING_RESULT = "awaiting_result"
    UP_TO_DATE = "up_to_date"
    NOT_YET_TESTED = "not_yet_tested"


class OverrideState(enum.StrEnum):
    """Where a manual status stands: requested by one health officer, decided by another
    (四眼原则); only an approved one is in force, until it expires."""

    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"


#: The rule that decides (green) when no other matches.
DEFAULT_RULE_ID = "R-DEFAULT"
#: The rule of people a sealed or controlled zone holds at home.
ZONE_RULE_ID = "R-ZONE"
DEFAULT_RULE_VERSION = 1
#: How long after the due time a person without a policy grace is overdue.
DEFAULT_GRACE = timedelta(hours=24)
#: The colour when a predicate names none and the rule sets none.
FALLBACK_COLOUR = Colour.YELLOW
#: The zone kinds that hold their residents, and the colour each gives unless the zone or the
#: rule sets one.
HOLDING_ZONES: dict[str, Colour] = {"sealed": Colour.RED, "controlled": Colour.YELLOW}
#: What a recall of each reason followed, as its evidence names it (``after``): the result
#: that opened it, or, for a tube that gave none, what became of the tube (rejected by the
#: lab; its released result cancelled).
RECALL_AFTER: dict[str, str] = {
    RecallReason.POOL_POSITIVE.value: Result.POSITIVE.value,
    RecallReason.TUBE_INVALID.value: Result.INVALID.value,
    RecallReason.TUBE_REJECTED.value: TubeStatus.REJECTED.value,
    RecallReason.RESULT_CANCELLED.value: TubeStatus.CANCELLED.value,
}


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything the status depends on. Times are aware UTC."""

    test_state: str = "none"  # TestState value
    last_sampled_at: datetime | None = None
    last_result: str | None = None
    last_result_at: datetime | None = None
    last_result_sampled_at: datetime | None = None  # when the sample of the last result was taken
    open_recall_due: datetime | None = None
    open_recall_reason: str | None = None  # RecallReason value
    next_due_at: datetime | None = None
    grace: timedelta = DEFAULT_GRACE
    overdue_action: str = FALLBACK_COLOUR.value
    exempt_until: datetime | None = None
    exempt_reason: str | None = None
    override_colour: str | None = None
    override_until: datetime | None = None
    override_reason: str | None = None
    arrival_at: datetime | None = None
    arrival_risk: str | None = None  # low | medium | high
    zone_kind: str | None = None  # sealed | controlled | precaution
    zone_colour: str | None = None
    zone_id: str | None = None


#: The test states beside which a routine reminder ("your test is due, go to a nearby site")
#: is untrue: a positive result (stay where you are) and a re-test asked for (its recall's own
#: message says by when).
NOT_REMINDED_STATES = frozenset({"positive", "pending_retest"})


def remindable(f: Facts, now: datetime) -> bool:
    """Whether the person may be sent a routine reminder now: not exempt, not kept at home by
    a zone (a door team samples them), no positive result, no re-test asked for."""
    return (f.test_state not in NOT_REMINDED_STATES and f.open_recall_due is None
            and not _exempt(f, now) and f.zone_kind not in HOLDING_ZONES)

@dataclass(frozen=True, slots=True)
class Rule:
    """When ``predicate`` holds, the person gets ``colour`` (or the colour the predicate names,
    when ``colour`` is None) and ``reason``."""

    id: str
    version: int
    predicate: str
    reason: str
    colour: Colour | None = None
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Status:
    colour: Colour
    reasons: tuple[str, ...]
    rule_id: str
    rule_version: int
    evidence: dict[str, Any] = field(default_factory=dict)
    valid_until: datetime | None = None


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def _exempt(f: Facts, now: datetime) -> bool:
    return f.exempt_until is not None and now < f.exempt_until


def _override(f: Facts, now: datetime) -> tuple[bool, Colour | None, dict[str, Any]]:
    if f.override_colour and f.override_until and now < f.override_until:
        return True, Colour(f.override_colour), {"override": {
            "colour": f.override_colour, "until": _iso(f.override_until),
            "reason": f.override_reason}}
    return False, None, {}


def _positive(f: Facts, now: datetime) -> tuple[bool, Colour | None, dict[str, Any]]:
    return f.test_state == "positive", None, {"result": {
        "result": f.last_result, "at": _iso(f.last_result_at)}}


def _open_recall(f: Facts, now: datetime) -> tuple[bool, Colour | None, dict[str, Any]]:
    ok = f.test_state == "pending_retest" or f.open_recall_due is not None
    # ``after``: what opened it, by its reason (the person's last result may be another tube's,
    # or the very result that was cancelled); with no open recall read, the last result
    after = RECALL_AFTER.get(f.open_recall_reason or "", f.last_result)
    return ok, None, {"recall": {"due": _iso(f.open_recall_due), "after": after}}


def _zone(f: Facts, now: datetime) -> tuple[bool, Colour | None, dict[str, Any]]:
    if f.zone_kind in HOLDING_ZONES:
        colour = Colour(f.zone_colour) if f.zone_colour else HOLDING_ZONES[f.zone_kind]
        zone: dict[str, Any] = {"kind": f.zone_kind}
        if f.zone_id is not None:
            zone["id"] = f.zone_id
        return True, colour, {"zone": zone}
    return False, None, {}


def _arrival_untested(f: Facts, now: datetime) -> tuple[bool, Colour | None, dict[str, Any]]:
    if f.arrival_at is None or f.arrival_risk not in ("medium", "high"):
        return False, None, {}
    # a negative test taken after arrival: the latest sample's, or the last result's while a
    # later sample awaits its own
    tested = ((f.test_state == "negative" and f.last_sampled_at is not None
               and f.last_sampled_at >= f.arrival_at)
              or (f.last_result == "negative" and f.last_result_sampled_at is not None
                  and f.last_result_sampled_at >= f.arrival_at))
    colour = Colour.POPUP if f.arrival_risk == "high" else Colour.YELLOW
    return not tested, colour, {"arrival": {"at": _iso(f.arrival_at), "risk": f.arrival_risk}}


def _overdue(f: Facts, now: datetime) -> tuple[bool, Colour | None, dict[str, Any]]:
    if f.next_due_at is None or _exempt(f, now):
        return False, None, {}
    due = f.next_due_at + f.grace <= now
    return due, Colour(f.overdue_action), {"policy": {"due": _iso(f.next_due_at)}}


Predicate = Callable[[Facts, datetime], tuple[bool, "Colour | None", dict[str, Any]]]

PREDICATES: dict[str, Predicate] = {
    "override_active": _override,
    "positive": _positive,
    "open_recall": _open_recall,
    "in_zone": _zone,
    "arrival_untested": _arrival_untested,
    "overdue": _overdue,
}

DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("R-OVERRIDE", 1, "override_active", "manual_override"),
    Rule("R-POSITIVE", 1, "positive", "positive_result", Colour.RED),
    Rule("R-RECALL", 1, "open_recall", "pending_retest", Colour.YELLOW),
    Rule(ZONE_RULE_ID, 1, "in_zone", "in_zone"),
    Rule("R-ARRIVAL", 1, "arrival_untested", "arrival_pending"),
    Rule("R-OVERDUE", 1, "overdue", "overdue"),
)


def check_rule(rule: Rule) -> None:
    if rule.predicate not in PREDICATES:
        raise InvalidInput(f"predicate must be one of {', '.join(PREDICATES)}",
                           code="bad_predicate", field="predicate")


def _valid_until(f: Facts, now: datetime) -> datetime | None:
    """The next moment at which time alone changes the outcome."""
    moments = []
    if f.next_due_at is not None:
        moments.append(f.next_due_at + f.grace)
    for t in (f.exempt_until, f.override_until):
        if t is not None:
            moments.append(t)
    future = [m for m in moments if m > now]
    return min(future) if future else None


def decide(facts: Facts, now: datetime, rules: Sequence[Rule] = DEFAULT_RULES) -> Status:
    """The status of a person with ``facts`` at ``now``. Pure: same inputs, same output."""
    matched: list[tuple[Rule, Colour]] = []
    evidence: dict[str, Any] = {}
    override: tuple[Rule, Colour] | None = None
    for rule in rules:
        if not rule.enabled:
            continue
        holds, colour, ev = PREDICATES[rule.predicate](facts, now)
        if not holds:
            continue
        c = rule.colour or colour or FALLBACK_COLOUR
        evidence.update(ev)
        if rule.predicate == "override_active":
            override = (rule, c)
        else:
            matched.append((rule, c))
    valid_until = _valid_until(facts, now)
    if override is not None:
        rule, colour = override
        return Status(colour, (rule.reason, *(r.reason for r, _ in matched)), rule.id,
                      rule.version, evidence, valid_until)
    if not matched:
        reason = (DefaultReason.EXEMPT if _exempt(facts, now) else
                  DefaultReason.AWAITING_RESULT if facts.test_state == "sampled" else
                  DefaultReason.UP_TO_DATE if facts.last_sampled_at is not None
                  else DefaultReason.NOT_YET_TESTED)
        if facts.next_due_at is not None:
            evidence["policy"] = {"due": _iso(facts.next_due_at)}
        if _exempt(facts, now):
            evidence["exemption"] = {"reason": facts.exempt_reason,
                                     "until": _iso(facts.exempt_until)}
        return Status(Colour.GREEN, (reason.value,), DEFAULT_RULE_ID, DEFAULT_RULE_VERSION,
                      evidence, valid_until)
    top_rule, top_colour = max(matched, key=lambda rc: severity(rc[1]))
    return Status(top_colour, tuple(r.reason for r, _ in matched), top_rule.id,
                  top_rule.version, evidence, valid_until)


def turns_to(facts: Facts, status: Status, rules: Sequence[Rule] = DEFAULT_RULES) -> Colour | None:
    """The colour ``status`` turns to by itself when it runs out (its ``valid_until``), the
    facts unchanged; None when it does not run out."""
    if status.valid_until is None:
        return None
    return decide(facts, status.valid_until, rules).colour
