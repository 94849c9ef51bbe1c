"""The roster's classes (``domain.rosters.classify``) in set-based SQL.

A person is ``sampled`` when their last sample falls in the round ``(:since, :as_of]``, else
``exempt`` when their exemption runs past ``:as_of``, else ``outstanding``. The coverage counts
of every area and each list of the grid worker come from the fragments below, keyed by the
domain's ``RosterClass`` (a row's class is ``classify``'s own, in the service);
``tests/integration/test_roster_sql.py`` checks on both backends that they put every person
where the domain does.
The fragments read the ``person_status`` columns ``last_sampled_at`` and ``exempt_until``
(epoch ms) behind the given prefix, and the parameters ``:since`` and ``:as_of`` (epoch ms).

Imports: ``hesuan.domain`` only.
"""

from __future__ import annotations

from hesuan.domain.rosters import ROSTER_LISTS, RosterClass

__all__ = ["condition", "coverage_counts"]


def _sampled(p: str) -> str:
    return f"({p}last_sampled_at > :since AND {p}last_sampled_at <= :as_of)"


def _not_sampled(p: str) -> str:
    return (f"({p}last_sampled_at IS NULL OR {p}last_sampled_at <= :since "
            f"OR {p}last_sampled_at > :as_of)")


def _exempt(p: str) -> str:
    return f"({_not_sampled(p)} AND {p}exempt_until > :as_of)"


def condition(which: str, p: str = "ps.") -> str:
    """Who is on the list ``which`` (one of ``ROSTER_LISTS``): a class's people, or all."""
    if which not in ROSTER_LISTS:
        raise ValueError(f"no roster list {which!r}")
    return {
        RosterClass.SAMPLED.value: _sampled(p),
        RosterClass.EXEMPT.value: _exempt(p),
        RosterClass.OUTSTANDING.value: (f"({_not_sampled(p)} AND ({p}exempt_until IS NULL "
                                        f"OR {p}exempt_until <= :as_of))"),
    }.get(which, "1 = 1")


def coverage_counts(p: str = "ps.") -> str:
    """Three columns over a group of people: due, sampled, exempt."""
    return (f"count(*), SUM(CASE WHEN {_sampled(p)} THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN {_exempt(p)} THEN 1 ELSE 0 END)")
