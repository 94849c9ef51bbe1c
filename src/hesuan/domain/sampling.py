"""Sampling (采): sites, tubes, pooling, and the rules a scan at a window must obey.

Terms: a tube (采样管) is single (单采, 1 person) or pooled (混采, 5/10/20 in 1, never above 20).
A first-landing point (第一落点) and key groups (重点人群) take single tubes only, marked priority
(优先送检). Rules enforced here, for every scan:

* a tube barcode is used once, and its format and Luhn check digit are valid;
* a tube never holds more than its capacity, and seals itself when full;
* a person is never in two open tubes, never twice in one tube;
* a person with an open recall (复核) is re-sampled in a single tube;
* an event's time lies inside the station's offline window (not older than the window, not
  ahead of the server's clock by more than a few minutes), and never runs backwards within a
  tube: a sample not before its tube's open, a seal not before its first sample, a packing
  not before its seal.

The functions are pure: the caller passes the facts (tube state, where the person currently is),
gets back a decision, and applies it.

Imports: standard library and ``stdnum`` (Luhn check digits).
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

from stdnum import luhn
from stdnum.exceptions import ValidationError as _StdnumError

from hesuan.domain.digits import is_digits
from hesuan.domain.errors import Conflict, InvalidInput, NotFound, RuleViolation
from hesuan.domain.instants import check_instant
from hesuan.domain.people import SINGLE_TUBE_GROUPS, Group

__all__ = [
    "AT_NO_LAB",
    "MAX_CLOCK_AHEAD",
    "POOL_SIZES",
    "RESULT_TO_COME",
    "Admission",
    "PersonFacts",
    "SiteKind",
    "TubeState",
    "TubeStatus",
    "admit_person",
    "barcode_key",
    "check_box_code",
    "check_box_for_packing",
    "check_event_time",
    "check_not_before",
    "check_opening",
    "check_tube_barcode",
    "make_box_code",
    "make_tube_barcode",
]

POOL_SIZES: tuple[int, ...] = (1, 5, 10, 20)


class SiteKind(enum.StrEnum):
    FIXED = "fixed"  # 固定采样点
    TEMPORARY = "temporary"  # 临时采样点
    FIRST_LANDING = "first_landing"  # 第一落点 (station, airport, highway exit)
    HOSPITAL = "hospital"  # 医院
    DOOR_TO_DOOR = "door_to_door"  # 上门采样队

    @property
    def single_tubes_only(self) -> bool:
        return self is SiteKind.FIRST_LANDING

    @property
    def is_arrival_checkpoint(self) -> bool:
        """Arrivals (落地) are registered only where travellers land."""
        return self is SiteKind.FIRST_LANDING


class TubeStatus(enum.StrEnum):
    OPEN = "open"
    SEALED = "sealed"
    BOXED = "boxed"
    RECEIVED = "received"
    RESULTED = "resulted"
    REJECTED = "rejected"  # refused by the lab: never tested (``domain.specimens``)
    CANCELLED = "cancelled"  # its released result withdrawn (``domain.corrections``)


#: A tube whose result is still to come, on its way from the window to the lab's release. A
#: recall is answered by its person's sample in such a tube: one resulted (an invalid
#: re-test), rejected or cancelled while the recall stays open answers nothing, and the person
#: is sampled again.
RESULT_TO_COME = frozenset({TubeStatus.OPEN, TubeStatus.SEALED, TubeStatus.BOXED,
                            TubeStatus.RECEIVED})

#: A tube sealed and at no lab yet: one a lab finds in a box it is received as the lab's (in
#: whichever box), and one not found is lost; any other has reached a lab.
AT_NO_LAB = frozenset({TubeStatus.SEALED, TubeStatus.BOXED})


def barcode_key(value: str) -> str:
    """The form tube barcodes and box codes are stored and compared in: without surrounding
    blanks, in upper case (the check functions below return it for a valid code)."""
    return value.strip().upper()


def _check_luhn(value: str, *, field: str, what: str, digits: int, prefix: str = "") -> str:
    value = barcode_key(value)
    body = value[len(prefix) :] if value.startswith(prefix) else None
    if body is None or len(body) != digits or not is_digits(body):
        raise InvalidInput(
            f"{field} must be {prefix + ' followed by ' if prefix else ''}{digits} digits "
            f"({what} format)",
            code=f"bad_{field}",
            field=field,
        )
    try:
        luhn.validate(body)
    except _StdnumError:
        raise InvalidInput(
            f"{field} {value!r} fails its Luhn check digit", code=f"bad_{field}", field=field
        ) from None
    return value


# Memoised: a batch checks each tube's barcode a dozen times (open, ten samples, box), and a
# stdnum Luhn check costs more than the rest of a scan's rules.
@functools.lru_cache(maxsize=1 << 15)
def check_tube_barcode(barcode: str) -> str:
    """Tube barcodes are 13 digits, the last a Luhn check digit."""
    return _check_luhn(barcode, field="barcode", what="tube barcode", digits=13)


@functools.lru_cache(maxsize=1 << 12)
def check_box_code(code: str) -> str:
    """Transport box codes are ``BX`` and 10 digits, the last a Luhn check digit."""
    return _check_luhn(code, field="box_code", what="transport box", digits=10, prefix="BX")


def make_tube_barcode(serial: int) -> str:
    body = f"{serial:012d}"
    return body + luhn.calc_check_digit(body)


def make_box_code(serial: int) -> str:
    body = f"{serial:09d}"
    return "BX" + body + luhn.calc_check_digit(body)


def check_box_for_packing(box_site_id: str | None, box_status: str | None,
                          site_id: str) -> None:
    """Whether a box may take tubes at ``site_id``: a new box may; a box already used is this
    site's and still open. ``box_site_id`` and ``box_status`` are None for a new box."""
    if box_site_id is not None and box_site_id != site_id:
        raise RuleViolation("box_code: the box belongs to another site", code="wrong_site",
                            field="box_code")
    if box_status is not None and box_status != "open":
        raise RuleViolation("box_code: the box is already sealed (a box still at its site is "
                            "reopened to be put right)", code="box_sealed", field="box_code",
                            detail={"status": box_status})


def check_opening(mode: int, site_kind: SiteKind) -> bool:
    """Validate a tube's pool size at a site; return whether the tube is priority (优先)."""
    if mode not in POOL_SIZES:
        raise InvalidInput(
            f"mode must be one of {', '.join(map(str, POOL_SIZES))} (people per tube)",
            code="bad_mode",
            field="mode",
        )
    if site_kind.single_tubes_only and mode != 1:
        raise RuleViolation(
            "a first-landing point samples single tubes only (单采单检): mode must be 1",
            code="site_requires_single_tube",
            field="mode",
        )
    return site_kind.single_tubes_only


@dataclass(slots=True)
class TubeState:
    """What a window knows of a tube while sampling into it."""

    id: str
    barcode: str
    site_id: str
    capacity: int
    priority: bool
    status: TubeStatus
    count: int
    first_sampled_at: datetime | None = None
    sealed_at: datetime | None = None
    box_id: str | None = None
    opened_at: datetime | None = None
    #: people the registrar bound to the tube (登记) who wait for their swab: their places in
    #: it are taken, though not yet sampled
    waiting: int = 0
    #: its latest sample's time, where known (read for the tubes a batch seals by hand, moved
    #: on by the batch's samples): its seal is not stamped before it
    last_sampled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PersonFacts:
    id: str
    groups: frozenset[Group]
    open_tube_id: str | None  # the open tube the person is already in, if any
    has_open_recall: bool
    #: the barcode of the open tube the registrar bound the person to (登记), waiting for the
    #: swab: sampled into that tube only
    registered_barcode: str | None = None


@dataclass(frozen=True, slots=True)
class Admission:
    """Result of admitting a person: whether the tube is now full (and so seals itself)."""

    fills_tube: bool
    priority: bool


def admit_person(tube: TubeState | None, person: PersonFacts | None, site_id: str) -> Admission:
    """Decide whether ``person`` may be added to ``tube`` at ``site_id``; raise if not."""
    if tube is None:
        raise NotFound("barcode: no tube with this barcode is open", code="unknown_tube",
                       field="barcode")
    if tube.site_id != site_id:
        raise RuleViolation("barcode: the tube belongs to another site", code="wrong_site",
                            field="barcode")
    if tube.status is not TubeStatus.OPEN:
        raise RuleViolation("barcode: the tube is sealed; open a new tube", code="tube_sealed",
                            field="barcode")
    if person is None:
        raise InvalidInput("code: no such person", code="unknown_person", field="code")
    if person.open_tube_id == tube.id:
        raise Conflict("code: this person is already in this tube", code="already_in_tube",
                       field="code")
    if person.open_tube_id is not None:
        raise Conflict(
            "code: this person is already in another open tube (一人不入两管)",
            code="person_in_open_tube",
            field="code",
        )
    if person.registered_barcode not in (None, tube.barcode):
        raise RuleViolation(
            f"code: this person is registered to tube {person.registered_barcode} and waits to "
            "be swabbed into it (一人不入两管)", code="already_registered", field="code")
    # the places of those registered to the tube are kept for them; a registered person's
    # own place is theirs
    others_waiting = tube.waiting - (person.registered_barcode == tube.barcode)
    if tube.count + others_waiting >= tube.capacity:
        held = f", {others_waiting} of them registered and waiting" if others_waiting else ""
        raise RuleViolation(f"barcode: the tube is full ({tube.capacity}/{tube.capacity}"
                            f"{held})", code="tube_full", field="barcode")
    if tube.capacity > 1 and person.groups & SINGLE_TUBE_GROUPS:
        raise RuleViolation(
            "code: key groups (重点人群) are sampled in single tubes; open a mode-1 tube",
            code="single_tube_required",
            field="code",
        )
    if tube.capacity > 1 and person.has_open_recall:
        raise RuleViolation(
            "code: this person has an open recall (复核) and must be re-sampled in a single tube",
            code="recall_requires_single_tube",
            field="code",
        )
    priority = tube.priority or bool(person.groups & SINGLE_TUBE_GROUPS) or person.has_open_recall
    return Admission(fills_tube=tube.count + 1 >= tube.capacity, priority=priority)


#: How far a station's clock may run ahead of the server's before its events are refused.
MAX_CLOCK_AHEAD = timedelta(minutes=10)


def check_event_time(at: datetime, now: datetime, offline_window: timedelta) -> None:
    """An event's time from a station's clock: aware, inside the platform's life, not ahead of
    ``now`` by more than ``MAX_CLOCK_AHEAD``, and not older than ``offline_window`` (the
    longest a station may hold events offline; anything older is a wrong clock or a forgery,
    and would be stored as a sampling time that never was)."""
    check_instant(at, "at")
    if at > now + MAX_CLOCK_AHEAD:
        raise InvalidInput("at is in the future: check the station's clock",
                           code="future_time", field="at")
    if at < now - offline_window:
        raise InvalidInput(f"at is older than a station may hold events offline "
                           f"({_span(offline_window)}): check the station's clock",
                           code="stale_time", field="at")


#: The rule each step of a tube's life names when its time runs before the step it follows.
_BEFORE = {
    "opened": ("before_tube_open", "the sample is stamped before its tube was opened"),
    "opened_for_registration": ("before_tube_open",
                                "the registration is stamped before its tube was opened"),
    "registered": ("before_registration",
                   "the swab is stamped before the person was registered"),
    "first_sampled": ("before_first_sample",
                      "the tube's seal is stamped before its first sample"),
    "last_sampled": ("before_last_sample",
                     "the tube's seal is stamped before its last sample"),
    "sealed": ("before_tube_sealed", "the packing is stamped before the tube was sealed"),
    "packed": ("before_packing",
               "the box's seal is stamped before a tube was sealed or packed into it"),
    "box_sealed": ("before_box_sealed",
                   "the box's hand-over or receipt is stamped before it was sealed"),
    "handed_over": ("before_handover",
                    "the receipt is stamped before the box was handed over"),
}


def check_not_before(at: datetime, earlier: datetime | None, step: str) -> None:
    """Times never run backwards along a tube's and its box's chain: ``at`` not before
    ``earlier``, the time of the ``step`` (a tube's ``opened``, ``first_sampled``,
    ``last_sampled``, ``sealed``;
    its box's last tube ``packed``, its ``box_sealed``, ``handed_over``; a lane's
    registration, ``registered``; None: not known)."""
    if earlier is not None and at < earlier:
        code, what = _BEFORE[step]
        raise RuleViolation(f"at: {what} ({earlier.isoformat()})", code=code, field="at")


def _span(d: timedelta) -> str:
    hours = d.total_seconds() / 3600
    return f"{hours:g} h" if hours < 48 else f"{hours / 24:g} days"
