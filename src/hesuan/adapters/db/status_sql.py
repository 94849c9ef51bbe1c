"""The status rules in set-based SQL, built from the domain's own definitions.

``domain.status.decide`` is the status engine and ``domain.arrivals`` says when an arrival's
tests are due. Where a path decides many people in one statement (the refresh's plain and
overdue cases, the zone case, the results fan-out, the station write), it uses the fragments
below: every colour, reason code, rule id, test state, zone kind and duration in them comes from
the domain's enums and constants, never from a literal written here, and
``tests/integration/test_status_sql.py`` checks on both backends that they decide as the domain
does. The fragments use the ``person_status`` columns unqualified unless a prefix is given, and
the parameter ``:now`` (epoch ms).

Imports: ``hesuan.domain`` only.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from hesuan.domain.arrivals import FOLLOW_UP_WATCHED, SECOND_TEST_AFTER, SECOND_TEST_DUE
from hesuan.domain.results import Result, TestState
from hesuan.domain.sampling import RESULT_TO_COME
from hesuan.domain.status import (
    DEFAULT_GRACE,
    DEFAULT_RULE_ID,
    DEFAULT_RULE_VERSION,
    DEFAULT_RULES,
    FALLBACK_COLOUR,
    HOLDING_ZONES,
    NOT_REMINDED_STATES,
    Colour,
    DefaultReason,
)

__all__ = [
    "AWAITING",
    "DEFAULT_GRACE_MS",
    "DEFAULT_STATUS",
    "GREEN",
    "NEGATIVE",
    "NEGATIVE_STATE",
    "NOTHING_SPECIAL",
    "NOT_HELD",
    "NO_TEST_STATE",
    "PLAIN",
    "PLAIN_OVERDUE",
    "POSITIVE",
    "POSITIVE_STATE",
    "REASON_OF",
    "REMINDABLE",
    "SAMPLED_STATE",
    "ZONED_PLAIN",
    "decided_plain",
    "default_reason",
    "fanout_plain",
    "first_due",
    "follow_up_open",
    "lit",
    "negative_leaves_plain",
    "negative_reason",
    "next_due_after_sample",
    "overdue_at",
    "overdue_colour",
    "reaches",
    "valid_until_due",
    "zone_colour",
    "zone_evidence",
]


def lit(value: str | int) -> str:
    """A constant of the domain as an SQL literal (statements keep one text per shape, so
    their plans are cached)."""
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _ms(d: timedelta) -> int:
    return int(d.total_seconds() * 1000)


def _in(column: str, values: Iterable[str]) -> str:
    return f"{column} IN ({', '.join(lit(v) for v in values)})"


#: The reason each predicate's rule gives (the rules are data, but only their colour and
#: whether they are on can change).
REASON_OF: dict[str, str] = {r.predicate: r.reason for r in DEFAULT_RULES}
#: A status row's grace when it has none (as ``status_store`` reads the facts).
DEFAULT_GRACE_MS = _ms(DEFAULT_GRACE)
#: Results and test states as SQL literals.
NEGATIVE = lit(Result.NEGATIVE.value)
POSITIVE = lit(Result.POSITIVE.value)
NEGATIVE_STATE = lit(TestState.NEGATIVE.value)
POSITIVE_STATE = lit(TestState.POSITIVE.value)
NO_TEST_STATE = lit(TestState.NONE.value)
GREEN = lit(Colour.GREEN.value)
#: The test states that no rule reads as a reason (positive and pending re-test are rules).
_QUIET_STATES = tuple(s.value for s in TestState
                      if s not in (TestState.POSITIVE, TestState.PENDING_RETEST))


def _absent(p: str) -> str:
    """None of the facts a rule other than the overdue rule reads, but the test state and the
    recall: no exemption, override, arrival or zone."""
    return (f"{p}exempt_until IS NULL AND {p}override_colour IS NULL AND {p}arrival_at IS NULL "
            f"AND {p}zone_kind IS NULL")


def _grace(p: str) -> str:
    """The grace, the domain's default for a row without one (as ``status_store`` reads it):
    the conditions below are then true or false, never NULL."""
    return f"COALESCE({p}grace_ms, {DEFAULT_GRACE_MS})"


def _not_due(p: str) -> str:
    return f"({p}next_due_at IS NULL OR {p}next_due_at + {_grace(p)} > :now)"


#: No special facts: for such people only the overdue rule can match.
NOTHING_SPECIAL = (f"{_in('test_state', _QUIET_STATES)} AND open_recall_id IS NULL AND "
                   + _absent(""))
#: ... and not past due + grace: the engine decides green (the default rule).
PLAIN = f"{NOTHING_SPECIAL} AND {_not_due('')}"
#: ... and past due + grace: the engine decides the overdue rule alone.
PLAIN_OVERDUE = (f"{NOTHING_SPECIAL} AND next_due_at IS NOT NULL "
                 f"AND next_due_at + {_grace('')} <= :now")
#: Nothing special but a zone that holds its residents, not past due + grace: the zone rule
#: alone.
ZONED_PLAIN = (f"{_in('test_state', _QUIET_STATES)} AND open_recall_id IS NULL "
               "AND exempt_until IS NULL AND override_colour IS NULL AND arrival_at IS NULL "
               f"AND {_in('zone_kind', HOLDING_ZONES)} AND zone_id IS NOT NULL "
               f"AND {_not_due('')}")
#: The test state after a sample: awaiting the result, unless a rule's state holds.
SAMPLED_STATE = (f"CASE WHEN {_in('test_state', _QUIET_STATES)} "
                 f"THEN {lit(TestState.SAMPLED.value)} ELSE test_state END")
AWAITING = lit(DefaultReason.AWAITING_RESULT.value)


def default_reason(p: str = "") -> str:
    """The default rule's reason for a person who is not exempt."""
    return (f"CASE WHEN {p}test_state = {lit(TestState.SAMPLED.value)} THEN {AWAITING} "
            f"WHEN {p}last_sampled_at IS NOT NULL THEN {lit(DefaultReason.UP_TO_DATE.value)} "
            f"ELSE {lit(DefaultReason.NOT_YET_TESTED.value)} END")


def negative_reason(p: str = "") -> str:
    """The default rule's reason for a person whose test state is negative, not exempt."""
    return (f"CASE WHEN {p}last_sampled_at IS NOT NULL THEN {lit(DefaultReason.UP_TO_DATE.value)} "
            f"ELSE {lit(DefaultReason.NOT_YET_TESTED.value)} END")


#: The default rule's decision but the reason: column -> value.
DEFAULT_STATUS: dict[str, str] = {
    "colour": lit(Colour.GREEN.value), "rule_id": lit(DEFAULT_RULE_ID),
    "rule_version": lit(DEFAULT_RULE_VERSION), "evidence": "NULL"}


def valid_until_due(p: str = "") -> str:
    """When time alone changes the status of someone with nothing special: due + grace."""
    return (f"CASE WHEN {p}next_due_at IS NULL THEN NULL "
            f"ELSE {p}next_due_at + {_grace(p)} END")


def overdue_colour(rule_colour: str) -> str:
    """The overdue rule's colour: the rule's (``rule_colour``, an SQL expression that may be
    NULL), else the policy's overdue action."""
    return f"COALESCE({rule_colour}, overdue_action, {lit(FALLBACK_COLOUR.value)})"


def zone_colour(rule_colour: str) -> str:
    """The zone rule's colour: the rule's, else the zone's, else the zone kind's."""
    kinds = " ".join(f"WHEN {lit(k)} THEN {lit(c.value)}" for k, c in HOLDING_ZONES.items())
    return (f"COALESCE({rule_colour}, zone_colour, CASE zone_kind {kinds} "
            f"ELSE {lit(FALLBACK_COLOUR.value)} END)")


def zone_evidence(pg: bool) -> str:
    """The zone rule's evidence, ``{"zone": {"kind": ..., "id": ...}}``, by the database's
    JSON functions (which quote what they hold)."""
    if pg:
        return "json_build_object('zone', json_build_object('kind', zone_kind, 'id', zone_id))"
    return "json_object('zone', json_object('kind', zone_kind, 'id', zone_id))"


def fanout_plain(ps: str, s: str, t: str) -> str:
    """A member of a results batch whose status the fan-out decides itself (``ps``: the status
    row before it, ``s``: the sample, ``t``: the result): the result is negative and reaches
    them (``reaches``), and ``negative_leaves_plain`` — ``PLAIN`` on the row as the fan-out
    leaves it."""
    return (f"{t}.result = {NEGATIVE} AND {reaches(ps, s)} "
            f"AND {negative_leaves_plain(ps, s)}")


def reaches(ps: str, s: str) -> str:
    """A result of the sample ``s`` reaches the person of the status row ``ps``: it is not
    older than their latest result."""
    return (f"({ps}.last_result_sampled_at IS NULL OR "
            f"{ps}.last_result_sampled_at <= {s}.sampled_at)")


def negative_leaves_plain(ps: str, s: str) -> str:
    """``fanout_plain`` for a negative result of ``s`` that reaches them (a statement that
    has both as its conditions need not test them again): it leaves them negative with no open
    recall (not positive; no recall, or this sample answers it), nothing else is special and
    they are not past due + grace."""
    return (f"{ps}.test_state <> {POSITIVE_STATE} "
            f"AND ({ps}.open_recall_id IS NULL OR {s}.recall_id = {ps}.open_recall_id) "
            f"AND {_absent(ps + '.')} AND {_not_due(ps + '.')}")


def next_due_after_sample(at: str) -> str:
    """``domain.arrivals.next_due_after_sample`` for a sample taken at ``at`` (an SQL
    expression, epoch ms), in an ``UPDATE`` of ``person_status``: its ``last_sampled_at`` is
    the sample before it (a ``SET`` reads the row as it was)."""
    second = (f"CASE WHEN arrival_at + {_ms(SECOND_TEST_DUE)} >= {at} + "
              f"{_ms(SECOND_TEST_AFTER)} THEN arrival_at + {_ms(SECOND_TEST_DUE)} "
              f"ELSE {at} + {_ms(SECOND_TEST_AFTER)} END")
    return (f"CASE WHEN arrival_at IS NULL OR {at} < arrival_at THEN "
            f"CASE WHEN interval_ms IS NULL THEN next_due_at ELSE {at} + interval_ms END "
            f"WHEN last_sampled_at IS NULL OR last_sampled_at < arrival_at THEN {second} "
            f"WHEN last_sampled_at < arrival_at + {_ms(FOLLOW_UP_WATCHED)} "
            f"AND {at} - last_sampled_at < {_ms(SECOND_TEST_AFTER)} THEN next_due_at "
            f"ELSE {at} + interval_ms END")


#: Not held at home by a zone (``domain.status.HOLDING_ZONES``): a reminder tells a person to go
#: to a site, and a zone's residents are sampled at their door.
NOT_HELD = f"(zone_kind IS NULL OR NOT {_in('zone_kind', HOLDING_ZONES)})"

#: ``domain.status.remindable`` (the open recall as the status store reads it: one still open).
REMINDABLE = (f"NOT {_in('test_state', sorted(NOT_REMINDED_STATES))} AND (open_recall_id IS NULL "
              "OR NOT EXISTS (SELECT 1 FROM recalls rr WHERE rr.id = open_recall_id AND "
              "rr.status = 'open')) AND (exempt_until IS NULL OR exempt_until <= :now) "
              f"AND {NOT_HELD}")


def recall_answered(person: str, recall: str) -> str:
    """Whether a sample of ``person`` was taken for ``recall`` whose result is still to come
    (SQL expressions; ``domain.sampling.RESULT_TO_COME``): its re-test or new sample, by the
    person's samples' index."""
    return (f"EXISTS (SELECT 1 FROM samples ans JOIN tubes ant ON ant.id = ans.tube_id "
            f"WHERE ans.person_id = {person} AND ans.recall_id = {recall} "
            f"AND {_in('ant.status', sorted(RESULT_TO_COME))})")


def first_due(start: str, registered: str, interval: str) -> str:
    """``domain.cadence.first_due`` of SQL expressions (epoch ms)."""
    return (f"(CASE WHEN ({start}) >= ({registered}) THEN ({start}) ELSE ({registered}) END "
            f"+ ({interval}))")


def follow_up_open(p: str = "") -> str:
    """``domain.arrivals.follow_up_open`` on a ``person_status`` row (columns prefixed ``p``), at
    ``:now``."""
    return (f"({p}arrival_at IS NOT NULL AND {p}next_due_at IS NOT NULL "
            f"AND :now < {p}arrival_at + {_ms(FOLLOW_UP_WATCHED)})")


def overdue_at(due: int | None, grace: int | None) -> int | None:
    """``valid_until_due`` in Python, for a row read before a write that moves its due time
    (the station write decides the status in the same statement)."""
    return None if due is None else due + (DEFAULT_GRACE_MS if grace is None else grace)


def decided_plain(due: int | None, grace: int | None, now: int) -> bool:
    """``PLAIN``'s time condition in Python, for such a row."""
    at = overdue_at(due, grace)
    return at is None or at > now
