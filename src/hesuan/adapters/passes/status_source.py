"""An interim ``StatusSource``: a person's pass status read from their current-status row.

The colour follows the test state (never sampled, sampled or negative → green; pending re-test
待复核 → yellow; positive → red); a person past their next due time is yellow ("overdue").
Valid until the next due time, at most 24 h. The status rule engine's materialised colour
replaces this source when it is wired in ``bootstrap``.

Imports: the standard library, ``hesuan.services.ports``, ``hesuan.domain``.
"""

from __future__ import annotations

from hesuan.domain.passes import MAX_PASS_TTL, PassColour, PassStatus
from hesuan.services.ports import Clock, UnitOfWorkFactory

__all__ = ["TestStateStatusSource"]

_COLOURS = {
    "none": PassColour.GREEN,
    "sampled": PassColour.GREEN,
    "negative": PassColour.GREEN,
    "pending_retest": PassColour.YELLOW,
    "positive": PassColour.RED,
}


class TestStateStatusSource:
    __test__ = False  # not a pytest test class

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def current(self, person_id: str) -> PassStatus | None:
        with self._uow(readonly=True) as uow:
            row = uow.person(person_id)
        if row is None:
            return None
        now = self._clock.now()
        colour = _COLOURS.get(row.test_state, PassColour.YELLOW)
        reasons = [f"test_state.{row.test_state}"]
        horizon = now + MAX_PASS_TTL
        due = row.next_due_at
        if due is not None and due <= now:
            if colour is PassColour.GREEN:
                colour = PassColour.YELLOW
            reasons.append("overdue")
            due = None
        valid_until = horizon if due is None else min(horizon, due)
        return PassStatus(colour, tuple(reasons), valid_until, row.name_masked, row.id_last4)
