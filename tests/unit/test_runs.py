"""A plate's life (building → ready → imported → released) and the two-person release rule."""

from __future__ import annotations

import pytest

from hesuan.domain.errors import RuleViolation
from hesuan.domain.runs import (
    PlateStatus,
    ReleaseBar,
    check_release,
    check_status,
    release_bar,
)

STEPS = {"place": PlateStatus.BUILDING, "ready": PlateStatus.BUILDING,
         "import": PlateStatus.READY, "release": PlateStatus.IMPORTED}


@pytest.mark.parametrize("step", list(STEPS))
@pytest.mark.parametrize("status", list(PlateStatus))
def test_each_step_needs_its_one_status(step: str, status: PlateStatus) -> None:
    if status is STEPS[step]:
        check_status(status, step)
        return
    with pytest.raises(RuleViolation) as e:
        check_status(status, step)
    assert e.value.code.startswith("plate_not_") and e.value.field == "plate_id"
    assert status.value in e.value.message


def test_only_open_plates_hold_all_their_tubes() -> None:
    assert [s for s in PlateStatus if s.open] == [PlateStatus.BUILDING, PlateStatus.READY]


def test_release_takes_a_second_person_unless_one_person_is_allowed() -> None:
    check_release("c", "a", "b", one_person=False)
    for releaser, what in (("a", "built the plate"), ("b", "imported its run")):
        with pytest.raises(RuleViolation) as e:
            check_release(releaser, "a", "b", one_person=False)
        assert e.value.code == "second_person_required" and what in e.value.message
        check_release(releaser, "a", "b", one_person=True)
    with pytest.raises(RuleViolation):  # built and imported by one person
        check_release("a", "a", "a", one_person=False)


def test_the_bar_to_a_release_says_which_part_the_releaser_took() -> None:
    assert release_bar("c", "a", "b", one_person=False) is None
    assert release_bar("a", "a", "b", one_person=False) is ReleaseBar.BUILT_THE_PLATE
    assert release_bar("b", "a", "b", one_person=False) is ReleaseBar.IMPORTED_THE_RUN
    assert release_bar("a", "a", "a", one_person=False) is ReleaseBar.BUILT_THE_PLATE
    assert release_bar("a", "a", None, one_person=False) is ReleaseBar.BUILT_THE_PLATE
    assert release_bar("b", "a", None, one_person=False) is None  # not imported yet
    assert release_bar("a", "a", "a", one_person=True) is None
