"""Every route declares the access action it performs.

A route passes ``openapi_extra=acts(Action.X)``: the action, one of the policy's
(``hesuan.domain.access.POLICY``), is kept on the route and in the OpenAPI operation as
``x-action``. The service the route calls authorises that action against its object; the route ×
role × scope test (tests/e2e/test_access_matrix.py) enumerates the live application's routes,
fails on one without a declared action, and holds every route's answers to the policy.

Imports: ``hesuan.domain``.
"""

from __future__ import annotations

from typing import Any

from hesuan.domain.access import Action

__all__ = ["ACTION_KEY", "acts", "declared_action"]

#: The OpenAPI extension (``openapi_extra``) that names a route's action.
ACTION_KEY = "x-action"


def acts(action: Action) -> dict[str, Any]:
    """The ``openapi_extra`` of a route that does ``action`` (merge it with ``|`` into a
    route's other extras)."""
    return {ACTION_KEY: action.value}


def declared_action(openapi_extra: dict[str, Any] | None) -> Action | None:
    """The action a route declares in its ``openapi_extra`` (None when it declares none or
    one the policy does not know)."""
    value = (openapi_extra or {}).get(ACTION_KEY)
    try:
        return Action(value) if isinstance(value, str) else None
    except ValueError:
        return None
