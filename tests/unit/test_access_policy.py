"""The access policy (``hesuan.domain.access``): one function decides, every action is declared,
and docs/SECURITY.md shows the policy as it is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hesuan.domain.access import (
    POLICY,
    Action,
    Principal,
    Relation,
    Role,
    Target,
    allows,
    authorize,
    region_prefix,
)
from hesuan.domain.errors import NotFound, PermissionDenied

DOC = Path(__file__).resolve().parents[2] / "docs" / "SECURITY.md"


def policy_table() -> str:
    """The policy as docs/SECURITY.md shows it: one row an action."""
    rows = ["| action | who may, and the relation to the object | kind |", "|---|---|---|"]
    for action in Action:
        rule = POLICY[action]
        who = ", ".join(f"{role.value} ({rel.value})" if rel is not Relation.ANY else role.value
                        for role, rel in sorted(rule.who.items()))
        kind = ", ".join(k for k, on in (("collection", rule.collection),
                                          ("hides existence", rule.hide)) if on)
        rows.append(f"| `{action.value}` | {who} | {kind} |")
    return "\n".join(rows)


def test_every_action_has_a_rule() -> None:
    assert set(POLICY) == set(Action)


def test_the_documented_policy_is_the_policy() -> None:
    text = DOC.read_text(encoding="utf-8")
    found = re.search(r"<!-- policy table -->\n(.*?)\n<!-- end policy table -->", text, re.S)
    assert found is not None, "docs/SECURITY.md has no policy table"
    assert found.group(1).strip() == policy_table(), (
        "docs/SECURITY.md's policy table is out of date; paste:\n" + policy_table())


def test_an_object_action_needs_its_object() -> None:
    officer = Principal("u", "o", Role.HEALTH_OFFICER, "140105")
    with pytest.raises(TypeError):
        authorize(officer, Action.REVOKE_EXEMPTION)


def test_out_of_scope_is_refused_or_hidden() -> None:
    officer = Principal("u", "o", Role.HEALTH_OFFICER, "140105")
    resident = Principal("u", "r", Role.RESIDENT, "p1")
    with pytest.raises(PermissionDenied) as e:
        authorize(officer, Action.REVOKE_EXEMPTION, Target(region="140106001001001"))
    assert e.value.code == "wrong_scope"
    with pytest.raises(PermissionDenied) as e:
        authorize(resident, Action.REVOKE_EXEMPTION, Target(region="140105001001001"))
    assert e.value.code == "wrong_role"
    with pytest.raises(NotFound):
        authorize(resident, Action.READ_PERSON, Target(region="140105001001001", person="p2"))
    authorize(resident, Action.READ_PERSON, Target(region="140105001001001", person="p1"))


def test_an_administrator_is_no_health_officer_for_overrides() -> None:
    admin = Principal("u", "a", Role.ADMIN)
    assert not allows(admin, Action.DECIDE_OVERRIDE, Target(region="140105"))


_codes = st.text("0123456789", min_size=0, max_size=15)


@given(role=st.sampled_from(list(Role)), scope=_codes, region=_codes,
       action=st.sampled_from(list(Action)))
def test_region_relations_are_prefixes_and_collections_keep_to_them(
        role: Role, scope: str, region: str, action: Action) -> None:
    p = Principal("u", "x", role, scope or None)
    rel = POLICY[action].who.get(role)
    got = allows(p, action, Target(region=region))
    if rel is None:
        assert not got
    elif rel is Relation.ANY:
        assert got
    elif rel is Relation.REGION:
        assert got == (bool(scope) and region.startswith(scope))
        # what a collection read keeps to is exactly what the principal may see
        if scope:
            assert region.startswith(region_prefix(p)) == got
    else:  # site, lab, venue or self: a region alone never satisfies them
        assert not got


def test_the_provinces_account_reads_the_daily_aggregates_and_nothing_else() -> None:
    """The provincial view's service account (docs/DEPLOY.md "Past one city") pulls the city's
    daily aggregates, which hold no personal data, for the whole city; besides what every
    signed-in role may (the sites' list, checking a pass shown to it), no other action is its."""
    province = Principal("u", "province-feed", Role.PROVINCE)
    everyones = {Action.SIGNED_IN, Action.PUBLIC, Action.READ_SITES, Action.CHECK_PASS}
    assert {a for a, rule in POLICY.items() if set(rule.who) == set(Role)} == everyones
    assert {a for a, rule in POLICY.items() if Role.PROVINCE in rule.who} == {
        Action.READ_AGGREGATES, *everyones}
    assert POLICY[Action.READ_AGGREGATES].who[Role.PROVINCE] is Relation.ANY
    assert allows(province, Action.READ_AGGREGATES)
    assert region_prefix(province, Action.READ_AGGREGATES) == ""  # every district of the city
    assert region_prefix(province) == "\0"  # and no region for anything else
    with pytest.raises(PermissionDenied):
        authorize(province, Action.READ_PERSON, Target(region="140105", person="p"))
