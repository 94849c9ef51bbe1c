"""The objects of actions as the access policy sees them (``hesuan.domain.access.Target``),
built from the rows the services read, and the not-found answers that hide existence.

Imports: ``hesuan.domain``, ``hesuan.services.ports``.
"""

from __future__ import annotations

from hesuan.domain.access import Target
from hesuan.domain.errors import NotFound
from hesuan.services.people_ports import PersonRow, SiteRow

__all__ = ["no_such_person", "person_target", "site_target"]


def person_target(row: PersonRow) -> Target:
    """A person: where they live (their grid), and who they are."""
    return Target(region=row.grid_code, person=row.id)


def site_target(row: SiteRow) -> Target:
    """A sampling site: the site itself and the region it is in."""
    return Target(region=row.region_code, site=row.id)


def no_such_person(field: str = "person_id") -> NotFound:
    """What someone who may not know of a person is told: the same as for no one at all."""
    return NotFound("no such person", code="unknown_person", field=field)
