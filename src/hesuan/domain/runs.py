"""A run's life: a plate from its building to the release of its results, and who may release.

A plate is **building** while the lab scans tubes and controls into its wells; **ready** once
its map is complete (its controls placed, :meth:`hesuan.domain.plates.PlateMap.check_runnable`)
and locked: the plate goes on the instrument; **imported** once the instrument's export file
has been read onto it, its wells interpreted and decided — preliminary, nothing has reached a
person; **released** once a reviewer has released it: its results go to people.

Release takes a second person (two-person release, 双人复核): a lab user who neither built the
plate nor imported its run. A lab may be allowed one-person release by an administrator; then
the builder or importer may release too.

Imports: standard library, ``hesuan.domain``.
"""

from __future__ import annotations

import enum

from hesuan.domain.errors import RuleViolation

__all__ = ["PlateStatus", "ReleaseBar", "check_release", "check_status", "release_bar"]


class PlateStatus(enum.StrEnum):
    BUILDING = "building"  # tubes and controls are being scanned into wells
    READY = "ready"  # the map is complete and locked: on the instrument
    IMPORTED = "imported"  # the run file is read and decided: preliminary results
    RELEASED = "released"  # a reviewer released the results to people

    @property
    def open(self) -> bool:
        """The plate still holds its tubes (every tube until the run is imported)."""
        return self in (PlateStatus.BUILDING, PlateStatus.READY)


#: What each step needs the plate to be, and the error code when it is not.
_NEEDS: dict[str, tuple[PlateStatus, str, str]] = {
    "place": (PlateStatus.BUILDING, "plate_not_building",
              "tubes and controls are placed only while the plate is being built"),
    "ready": (PlateStatus.BUILDING, "plate_not_building",
              "only a plate being built can be marked ready"),
    "import": (PlateStatus.READY, "plate_not_ready",
               "a run file is imported onto a plate marked ready (its map complete), once"),
    "release": (PlateStatus.IMPORTED, "plate_not_imported",
                "only an imported run, not yet released, can be released"),
}


def check_status(status: PlateStatus, step: str) -> None:
    """Refuse ``step`` (place, ready, import, release) on a plate that is not where it must be."""
    needed, code, why = _NEEDS[step]
    if status is not needed:
        raise RuleViolation(f"the plate is {status.value}: {why}", code=code, field="plate_id")


class ReleaseBar(enum.StrEnum):
    """Why a lab user may not release a plate: they took part in its run."""

    BUILT_THE_PLATE = "built_the_plate"
    IMPORTED_THE_RUN = "imported_the_run"


def release_bar(releaser: str, built_by: str, imported_by: str | None, *,
                one_person: bool) -> ReleaseBar | None:
    """What keeps ``releaser`` from releasing the plate (None: nothing): having built the plate
    or imported its run, unless the lab is allowed one-person release."""
    if one_person:
        return None
    if releaser == built_by:
        return ReleaseBar.BUILT_THE_PLATE
    if releaser == imported_by:
        return ReleaseBar.IMPORTED_THE_RUN
    return None


def check_release(releaser: str, built_by: str, imported_by: str | None, *,
                  one_person: bool) -> None:
    """Refuse a release by the user who built the plate or imported its run, unless the lab
    is allowed one-person release."""
    bar = release_bar(releaser, built_by, imported_by, one_person=one_person)
    if bar is not None:
        did = "built the plate" if bar is ReleaseBar.BUILT_THE_PLATE else "imported its run"
        raise RuleViolation(f"you {did}: a second lab user releases it (two-person release)",
                            code="second_person_required", field="plate_id")
