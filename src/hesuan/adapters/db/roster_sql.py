"""The roster's classes (``domain.rosters.classify``) in set-based SQL.

A person is ``sampled`` when their last sample as of ``:as_of`` falls in the round
``(:since, :as_of]``, else ``exempt`` when their exemption in force at ``:as_of`` runs past it,
else ``outstanding``. The coverage counts of every area and each list of the grid worker come
from the fragments below, keyed by the domain's ``RosterClass`` (a row's class is
``classify``'s own, in the service); ``tests/integration/test_roster_sql.py`` checks on both
backends that they put every person where the domain does.

The two facts are read as they stood at ``:as_of``, for a round that ended in the past as for
the current one: the ``person_status`` columns ``last_sampled_at`` and ``exempt_until`` (epoch
ms, behind the given prefix) when they have not moved since — the current round — and else the
history: the person's latest sample up to ``:as_of`` (``samples``, for those sampled since;
kept as long as samples are, docs/RETENTION.md), the longest exemption in force at ``:as_of``
(``exemptions``, for the people one of whose exemptions was made or revoked since).
Parameters: ``:since``, ``:as_of`` (epoch ms).

Imports: ``hesuan.domain``.
"""

from __future__ import annotations

from hesuan.domain.rosters import ROSTER_LISTS, RosterClass

__all__ = ["condition", "coverage_counts", "exempt_until", "last_sampled_at"]


def last_sampled_at(p: str) -> str:
    """The person's last sample as of ``:as_of`` (epoch ms; NULL: none)."""
    return (f"(CASE WHEN {p}last_sampled_at IS NULL OR {p}last_sampled_at <= :as_of "
            f"THEN {p}last_sampled_at ELSE (SELECT max(s.sampled_at) FROM samples s "
            f"WHERE s.person_id = {p}person_id AND s.sampled_at <= :as_of) END)")


def exempt_until(p: str) -> str:
    """The end of the longest exemption in force at ``:as_of`` (epoch ms; NULL: none): today's
    column, but for the people one of whose exemptions was made or revoked since (a set read
    once: few, and none for the current round)."""
    return (f"(CASE WHEN {p}person_id IN (SELECT m.person_id FROM exemptions m WHERE "
            "m.created_at > :as_of OR m.revoked_at > :as_of) THEN (SELECT max(e.until) "
            f"FROM exemptions e WHERE e.person_id = {p}person_id AND e.created_at <= :as_of "
            f"AND (e.revoked_at IS NULL OR e.revoked_at > :as_of)) ELSE {p}exempt_until END)")


def _sampled(p: str) -> str:
    last = last_sampled_at(p)
    return f"({last} > :since AND {last} <= :as_of)"


def _not_sampled(p: str) -> str:
    last = last_sampled_at(p)
    return f"({last} IS NULL OR {last} <= :since OR {last} > :as_of)"


def _exempt(p: str) -> str:
    return f"({_not_sampled(p)} AND {exempt_until(p)} > :as_of)"


def condition(which: str, p: str = "ps.") -> str:
    """Who is on the list ``which`` (one of ``ROSTER_LISTS``): a class's people, or all."""
    if which not in ROSTER_LISTS:
        raise ValueError(f"no roster list {which!r}")
    ex = exempt_until(p)
    return {
        RosterClass.SAMPLED.value: _sampled(p),
        RosterClass.EXEMPT.value: _exempt(p),
        RosterClass.OUTSTANDING.value: f"({_not_sampled(p)} AND ({ex} IS NULL OR {ex} <= :as_of))",
    }.get(which, "1 = 1")


def coverage_counts(p: str = "ps.") -> str:
    """Three columns over a group of people: due, sampled, exempt."""
    return (f"count(*), SUM(CASE WHEN {_sampled(p)} THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN {_exempt(p)} THEN 1 ELSE 0 END)")
