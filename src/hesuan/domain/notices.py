"""Whether a queued SMS is still true when it is handed over, and the words it takes then
(docs/SMS.md "Still true when sent").

A message is queued in the transaction of the change that causes it, and handed to the gateway
afterwards: seconds later, or hours later when the gateway was down (a refused message waits up
to an hour between tries) or a wave's backlog is long. By then its person's facts may have moved
on. So at hand-over each message is judged again against them:

- a later message about the same tube to the same person (a correction) supersedes it: the
  person is told the correction, not first what it corrects;
- a message that asks the person to be sampled (a reminder, a recall, a re-sample) is
  superseded once they have been sampled after it was queued;
- a routine reminder is superseded when the person is no longer to be reminded
  (``status.remindable``), their due time has moved from the one it names, or it has come.

A message that asks the person to go to a site, for someone a zone keeps at home
(``status.HOLDING_ZONES``), takes its at-home words: a door team samples them.

A routine reminder is not sent at night (``QUIET_FROM`` to ``QUIET_UNTIL``, local time): one
queued then waits for the morning (``reminder_goes_at``). Results, recalls and corrections are
urgent and go at once.

Imports: standard library, ``hesuan.domain``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from hesuan.domain.json import JsonObject
from hesuan.domain.local_time import local, midnight_of

__all__ = ["ASKS_FOR_A_SAMPLE", "QUIET_FROM", "QUIET_UNTIL", "ROUTINE", "SUPERSEDED",
           "Standing", "reminder_goes_at", "superseded", "wording"]

#: The templates that ask the person to be sampled (at a site, or at home in a zone).
ASKS_FOR_A_SAMPLE = frozenset({
    "reminder", "recall", "invalid", "rejected", "result_cancelled", "corrected_recall",
    "corrected_invalid"})

#: The routine templates: not urgent, so sent after the others and not at night.
ROUTINE = frozenset({"reminder"})

#: The reason a message closed unsent because it is no longer true.
SUPERSEDED = "superseded"

#: The night's quiet hours for routine reminders, local time.
QUIET_FROM = time(21, 0)
QUIET_UNTIL = time(8, 0)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class Standing:
    """A queued message's person, as their facts stand at hand-over."""

    queued_at: datetime
    at: datetime  # when it is handed over
    later_about_tube: bool  # a later message about the same tube to the same person
    last_sampled_at: datetime | None
    next_due_at: datetime | None
    remindable: bool  # ``status.remindable`` now
    held_at_home: bool  # in a zone that keeps its residents at home


def superseded(template: str, params: JsonObject, s: Standing) -> bool:
    """Whether the message is no longer true (closed unsent, ``SUPERSEDED``)."""
    if s.later_about_tube:
        return True
    if (template in ASKS_FOR_A_SAMPLE and s.last_sampled_at is not None
            and s.last_sampled_at >= s.queued_at):
        return True
    if template == "reminder":
        if not s.remindable or (s.next_due_at is not None and s.next_due_at <= s.at):
            return True  # no longer to be reminded, or too late: the status says overdue
        due = params.get("due_ms")  # the due time it names (reminders queued before it: none)
        if isinstance(due, int) and (
                s.next_due_at is None or (s.next_due_at - _EPOCH) // _MS != due):
            return True
    return False


def wording(template: str, s: Standing) -> str:
    """The template the message is written with: its at-home words for someone a zone keeps
    at home, when it asks for a sample (a routine reminder never goes to them)."""
    return (f"{template}_at_home" if s.held_at_home and template in ASKS_FOR_A_SAMPLE - ROUTINE
            else template)


def reminder_goes_at(now: datetime) -> datetime:
    """When a routine reminder queued at ``now`` is sent: at once by day, at the end of the
    night's quiet hours by night (aware UTC)."""
    t = local(now)
    if QUIET_UNTIL <= t.time() < QUIET_FROM:
        return now
    day = t.date() if t.time() < QUIET_UNTIL else t.date() + timedelta(days=1)
    return (midnight_of(day) + timedelta(hours=QUIET_UNTIL.hour,
                                         minutes=QUIET_UNTIL.minute)).astimezone(UTC)
