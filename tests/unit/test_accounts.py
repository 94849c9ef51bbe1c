"""An account's username and scope (``domain.access.check_account``): what someone can type to
sign in, and a scope for the roles that need one only."""

from __future__ import annotations

import pytest

from hesuan.domain.access import Role, check_account
from hesuan.domain.errors import InvalidInput


@pytest.mark.parametrize("username", ["", "  ", " padded", "ab", "tab\tname", "名字", "x" * 61])
def test_a_username_is_what_someone_can_type_to_sign_in(username: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_account(username, Role.ADMIN, None)
    assert refused.value.code == "bad_username"
    check_account("ops.admin-2", Role.ADMIN, None)


def test_a_scope_for_the_roles_that_need_one_only() -> None:
    with pytest.raises(InvalidInput) as unscoped:
        check_account("admin2", Role.ADMIN, "140105")
    assert unscoped.value.code == "unscoped_role"
    with pytest.raises(InvalidInput) as missing:
        check_account("officer2", Role.HEALTH_OFFICER, None)
    assert missing.value.code == "missing_scope"
