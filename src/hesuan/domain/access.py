"""Roles, scopes and the principal acting on a request.

Roles (DESIGN.md §3): admin; health officer (a region and everything under it); site lead and
sampler (one site); courier; lab (one lab); grid worker (one grid); venue (one venue); resident
(themself). Checks live in the service layer and call these predicates.

Imports: standard library only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from hesuan.domain.errors import PermissionDenied

__all__ = ["Principal", "Role", "require"]


class Role(enum.StrEnum):
    ADMIN = "admin"
    HEALTH_OFFICER = "health_officer"
    SITE_LEAD = "site_lead"
    SAMPLER = "sampler"
    COURIER = "courier"
    LAB = "lab"
    GRID_WORKER = "grid_worker"
    VENUE = "venue"
    RESIDENT = "resident"


#: Roles allowed to see unmasked ID numbers and phones (with audit).
UNMASKING_ROLES = frozenset({Role.ADMIN, Role.HEALTH_OFFICER})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting: a user id, a role, and the scope the role applies to."""

    user_id: str
    username: str
    role: Role
    scope: str | None = None  # site id, lab id, region code, grid code, venue id or person id

    @property
    def may_unmask(self) -> bool:
        return self.role in UNMASKING_ROLES

    def covers_region(self, region_code: str) -> bool:
        if self.role is Role.ADMIN:
            return True
        if self.role in (Role.HEALTH_OFFICER, Role.GRID_WORKER):
            return self.scope is not None and region_code.startswith(self.scope)
        return False


def require(principal: Principal, *roles: Role, scope: str | None = None,
            action: str = "this") -> None:
    """Raise PermissionDenied unless the principal has one of ``roles`` (admin always may) and,
    when ``scope`` is given for a scoped role, that scope is theirs."""
    if principal.role is Role.ADMIN:
        return
    if principal.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise PermissionDenied(
            f"role {principal.role} may not {action} (needs: {allowed})",
            code="wrong_role",
        )
    if scope is not None and principal.role is not Role.HEALTH_OFFICER and (
        principal.scope != scope
    ):
        raise PermissionDenied(f"{principal.role} {principal.username} may not {action} "
                               f"outside their own scope", code="wrong_scope")
    if scope is not None and principal.role is Role.HEALTH_OFFICER and not scope.startswith(
        principal.scope or "\0"
    ):
        raise PermissionDenied(f"health officer {principal.username} may not {action} outside "
                               f"region {principal.scope}", code="wrong_scope")
