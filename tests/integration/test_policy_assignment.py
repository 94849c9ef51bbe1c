"""Policy assignment in bulk (set-based SQL) gives every person exactly the policy the domain's
precedence chooses for them, and ``explain_policy`` names that same policy, on both backends.

People and policies are generated: grids under several districts, group codes that contain the
SQL wildcards ``_`` and ``%`` and differ only in case, region policies at every depth, group
policies, equal intervals (ties) and validity windows around now.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform
from hesuan.domain.cadence import OverdueAction, Policy, ScopeKind, choose_policy
from hesuan.services.auth import SYSTEM
from hesuan.services.people_ports import NewPerson

# Group codes chosen so that a wildcard or a case-insensitive match picks a wrong one.
_GROUPS = ("port_transport", "portXtransport", "port%", "portal", "a_b", "a%b", "aXb", "AXB",
           "axb", "medical", "Medical", "%", "_")
# Grids (15 digits) under two districts, with shared streets and communities.
_GRIDS = ("140105001001001", "140105001001002", "140105001002001", "140105002001001",
          "140106001001001", "140106001001011", "140106011001001")
# Region scopes at every depth: prefixes of the grids, and some that cover nobody.
_REGIONS = sorted({g[:n] for g in _GRIDS for n in (2, 4, 6, 9, 12, 15)}
                  | {"1402", "140107", "140105003", "140105001003"})

_people = st.lists(st.tuples(st.sampled_from(_GRIDS),
                             st.frozensets(st.sampled_from(_GROUPS), max_size=3)),
                   min_size=1, max_size=12)
_policy = st.tuples(
    st.sampled_from((ScopeKind.REGION, ScopeKind.GROUP)),
    st.sampled_from(_REGIONS), st.sampled_from(_GROUPS),
    st.sampled_from((24, 36, 48, 72)),  # few values: equal intervals tie often
    st.sampled_from((-72, -1, 0, 1, 48)),  # valid_from, hours from now
    st.sampled_from((None, -1, 0, 1, 72)),  # valid_to, hours after now (None: open-ended)
    st.integers(1, 3))  # version
_policies = st.lists(_policy, min_size=0, max_size=8)


def _person(i: int, grid: str, groups: frozenset[str]) -> NewPerson:
    digest = hashlib.sha256(f"p{i}".encode()).digest()
    return NewPerson(id=f"p{i:03d}", id_kind="resident", id_hash=digest, id_enc=b"x",
                     id_last4="0000", name_enc=b"x", name_masked="x*", phone_enc=None,
                     phone_hash=None, grid_code=grid, household_id=None, address=None,
                     groups=",".join(sorted(groups)), birth_year=None, language="zh")


def _make_policies(drawn: list[tuple[ScopeKind, str, str, int, int, int | None, int]],
                   now: datetime) -> list[Policy]:
    out = []
    for i, (kind, region, group, hours, start, end, version) in enumerate(drawn):
        valid_from = now + timedelta(hours=start)
        valid_to = None if end is None else now + timedelta(hours=end)
        if valid_to is not None and valid_to <= valid_from:
            valid_to = valid_from + timedelta(hours=1)
        # ids in an order unrelated to the scopes, so no tie is settled by accident
        out.append(Policy(f"pol{(i * 7) % 11:02d}", version, kind,
                          region if kind is ScopeKind.REGION else group,
                          timedelta(hours=hours), timedelta(hours=24), timedelta(hours=12),
                          OverdueAction.YELLOW, valid_from, valid_to, f"policy {i}"))
    return out


def test_bulk_assignment_chooses_the_domain_policy(platform: Platform,
                                                   clock: FixedClock) -> None:
    now = clock.now()

    @settings(max_examples=120, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    @given(people=_people, drawn=_policies)
    # ``_`` is no wildcard: port_transport's policy is not portXtransport's
    @example(people=[(_GRIDS[0], frozenset({"portXtransport"}))],
             drawn=[(ScopeKind.GROUP, "14", "port_transport", 24, -1, None, 1)])
    # nor is ``%``, and group codes are compared with their case
    @example(people=[(_GRIDS[0], frozenset({"portal", "Medical"}))],
             drawn=[(ScopeKind.GROUP, "14", "port%", 24, -1, None, 1),
                    (ScopeKind.GROUP, "14", "medical", 36, -1, None, 1)])
    def check(people: list[tuple[str, frozenset[str]]],
              drawn: list[tuple[ScopeKind, str, str, int, int, int | None, int]]) -> None:
        made = _make_policies(drawn, now)
        with platform.deps.uow() as uow:
            conn = uow.conn  # type: ignore[attr-defined]
            for table in ("person_status", "people", "policies"):
                conn.execute(text(f"DELETE FROM {table}"))
            uow.people.insert_people([_person(i, g, gs) for i, (g, gs) in enumerate(people)], now)
            for p in made:
                uow.cadence.save_policy(p, "test", now)
            platform.status._reassign(uow, now)
            uow.commit()
        with platform.deps.uow(readonly=True) as uow:
            current = uow.cadence.current_policies()
            got = dict(uow.conn.execute(text(  # type: ignore[attr-defined]
                "SELECT person_id, policy_id FROM person_status")).all())
            versions = dict(uow.conn.execute(text(  # type: ignore[attr-defined]
                "SELECT person_id, policy_version FROM person_status")).all())
        for i, (grid, groups) in enumerate(people):
            pid = f"p{i:03d}"
            want = choose_policy(current, grid, groups, now).policy
            assert got[pid] == (want.id if want else None), (grid, sorted(groups), current)
            assert versions[pid] == (want.version if want else None)
            explained = platform.status.explain_policy(SYSTEM, pid).policy
            assert explained == want, (grid, sorted(groups))

    check()
