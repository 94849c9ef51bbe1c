"""Ports of the sampling chain: what a station batch writes, boxes, the tubes a results file
names, and the repositories of station events, boxes and results (parts of the ``UnitOfWork``,
implemented by ``adapters/db``).

Imports: standard library and ``hesuan.domain`` only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple, Protocol

from hesuan.domain.results import PoolInvestigation, RecallReason, Result, TestState
from hesuan.domain.sampling import TubeState

__all__ = ["BoxChangeRow", "BoxReceipt", "BoxRecord", "BoxRepository", "BoxRow",
           "CancelledResult", "Member", "MemberRecall", "MemberResult", "NegativeFanOut",
           "NewBoxRow", "NewRecall", "NewTubeRow", "Recall", "RecallAnswer", "RecallResolution",
           "RejectedResult", "ResultRepository", "ResultTube", "SampleRow", "StationEventRow",
           "StationRepository", "StationWrites", "TubeChangeRow", "TubeMember", "TubeResult"]


@dataclass(slots=True)
class BoxRow:
    id: str
    code: str
    site_id: str
    status: str
    tube_ids: list[str]
    first_tube_sealed_at: datetime | None = None
    #: the latest its tubes were sealed (as stored) or packed (in the batch): its seal is not
    #: stamped before it
    last_tube_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ResultTube:
    id: str
    barcode: str
    lab_id: str | None
    status: str
    capacity: int
    result: str | None
    ct: dict[str, float] | None


@dataclass(frozen=True, slots=True)
class BoxRecord:
    """A transport box as stored, along its chain of custody."""

    id: str
    code: str
    site_id: str
    status: str
    opened_at: datetime
    sealed_at: datetime | None
    tube_count: int | None
    first_tube_sealed_at: datetime | None
    courier_id: str | None
    handed_over_at: datetime | None
    lab_id: str | None
    received_at: datetime | None
    received_count: int | None
    missing: list[str] | None
    extra: list[str] | None
    discrepancy: bool


@dataclass(frozen=True, slots=True)
class BoxReceipt:
    """What a lab's receipt of a box records: the tubes it found against those packed."""

    lab_id: str
    received_at: datetime
    received_count: int
    missing: list[str]
    extra: list[str]
    discrepancy: bool


# The rows of a station batch go to the database driver as they are (``executemany``): each
# is a NamedTuple whose fields are its table's columns, in the order its statement binds them.

class StationEventRow(NamedTuple):
    """A station event kept once by its id (``station_events``); ``digest``: the content it was
    accepted with (None for delivery and lane events)."""

    event_id: str
    kind: str
    site_id: str | None
    actor: str
    client_at: datetime
    received_at: datetime
    digest: str | None = None


class NewTubeRow(NamedTuple):
    """A tube a batch opens, as the batch leaves it (``tubes``)."""

    id: str
    barcode: str
    site_id: str
    window: int | None
    capacity: int
    count: int  # type: ignore[assignment]  # the column's name shadows tuple.count
    priority: bool
    status: str
    opened_at: datetime
    opened_by: str
    first_sampled_at: datetime | None
    sealed_at: datetime | None
    box_id: str | None


class TubeChangeRow(NamedTuple):
    """What a batch changes of a stored tube (by ``id``, bound last)."""

    count: int  # type: ignore[assignment]  # the column's name shadows tuple.count
    priority: bool
    status: str
    first_sampled_at: datetime | None
    sealed_at: datetime | None
    box_id: str | None
    id: str


class SampleRow(NamedTuple):
    """A person sampled into a tube (``samples``)."""

    tube_id: str
    person_id: str
    event_id: str
    sampled_at: datetime
    recall_id: str | None


class NewBoxRow(NamedTuple):
    """A box a batch packs its first tube into, as the batch leaves it (``boxes``)."""

    id: str
    code: str
    site_id: str
    status: str
    opened_at: datetime
    sealed_at: datetime | None
    tube_count: int | None
    first_tube_sealed_at: datetime | None
    discrepancy: bool = False


class BoxChangeRow(NamedTuple):
    """What a batch changes of a stored box (by ``id``, bound last); ``sealed_at`` None: the
    batch did not seal it (the stored value stays)."""

    status: str
    sealed_at: datetime | None
    tube_count: int | None
    first_tube_sealed_at: datetime | None
    id: str


@dataclass(slots=True)
class StationWrites:
    """Everything one station batch writes, applied by the store in a few bulk statements."""

    events: list[StationEventRow] = field(default_factory=list)
    new_tubes: list[NewTubeRow] = field(default_factory=list)
    tube_changes: list[TubeChangeRow] = field(default_factory=list)
    samples: list[SampleRow] = field(default_factory=list)
    sealed_tube_ids: set[str] = field(default_factory=set)
    new_boxes: list[NewBoxRow] = field(default_factory=list)
    box_changes: list[BoxChangeRow] = field(default_factory=list)


class StationRepository(Protocol):
    """What sampling stations write: events, tubes, boxes, samples."""

    def known_events(self, event_ids: Iterable[str]) -> dict[str, str | None]:
        """The ids among ``event_ids`` (canonical) already recorded, each with the digest of
        the content it was accepted with (None: none kept)."""

    def record_event(self, row: StationEventRow) -> None: ...

    def last_sampled(self, tube_ids: Iterable[str]) -> dict[str, datetime]:
        """The time of each tube's latest sample (tubes with none left out)."""

    def tubes_by_barcode(self, barcodes: Iterable[str],
                         for_update: bool) -> dict[str, TubeState]: ...

    def boxes_by_code(self, codes: Iterable[str], for_update: bool) -> dict[str, BoxRow]: ...

    def apply_station_writes(self, w: StationWrites, now: datetime) -> list[str]:
        """Write a station batch. Each sampled person's status row gets the sample and, when
        nothing about them is special and they are not past due + grace, the status the engine
        decides for that (green, awaiting the result). Returns the sampled people whose status
        is left for the caller to decide (``StatusService.refresh(person_ids=...)``)."""


class BoxRepository(Protocol):
    """Transport boxes along the chain of custody."""

    def box_by_code(self, code: str, *, for_update: bool = False) -> BoxRecord | None:
        """The box; ``for_update``: its row locked until the transaction ends (a hand-over or
        receipt reads it so: of two at once, the second finds it moved on)."""

    def hand_over_box(self, box_id: str, courier_id: str, at: datetime) -> None:
        """The box is in transit with ``courier_id`` since ``at``."""

    def receive_box(self, box_id: str, receipt: BoxReceipt) -> None:
        """The box is received at the lab, with what the lab found in it."""

    def reopen_box(self, box_id: str, take_out: Sequence[str]) -> None:
        """The sealed box open again at its site, its seal and count cleared; the tubes
        ``take_out`` (ids) out of it, sealed and waiting for a box again."""

    def box_tubes(self, box_id: str) -> list[tuple[str, str]]:
        """(tube id, barcode) of every tube packed in the box."""

    def mark_tubes_received(self, tube_ids: Sequence[str], lab_id: str, at: datetime) -> None: ...
    def mark_tubes_missing(self, tube_ids: Sequence[str], lab_id: str) -> None:
        """Tubes a receipt declares missing from their box: ``lab_id`` answers for them (their
        rejection is its), though it never received them (no receipt time)."""
        ...


@dataclass(frozen=True, slots=True)
class RejectedResult:
    """A results-file row naming no tube, kept for reconciliation."""

    id: str
    lab_id: str
    barcode: str
    reason: str
    actor: str
    at: datetime


@dataclass(frozen=True, slots=True)
class TubeResult:
    """One tube's result in a results batch, with the id of its result-log entry; for a
    correction, the result it corrects and the reason given."""

    tube_id: str
    result: Result
    ct: dict[str, float] | None
    log_id: str
    previous: Result | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class NegativeFanOut:
    """What the negatives of a batch wrote: the status rows they reached (``notified``), and
    the members whose status they decided in the same write (``decided``)."""

    notified: int
    decided: int


@dataclass(frozen=True, slots=True)
class RecallAnswer:
    """A re-sample in the batch: the tube it was taken in, the recall it answers, its result."""

    tube_id: str
    recall_id: str
    result: Result


@dataclass(frozen=True, slots=True)
class Member:
    """A member of a tube of the batch: who, their sample (the recall it answers when it is a
    re-sample, when it was taken), the tube's result and how many people the tube pools."""

    tube_id: str
    person_id: str
    recall_id: str | None
    sampled_at: datetime
    result: Result
    pool_size: int


@dataclass(frozen=True, slots=True)
class NewRecall:
    """A recall opened for a member of a pool that tested positive or of an invalid tube."""

    id: str
    person_id: str
    pool_tube_id: str
    reason: RecallReason
    due_at: datetime


@dataclass(frozen=True, slots=True)
class RecallResolution:
    """A recall answered by the re-sample taken in ``tube_id``, with its result. The re-sample
    answers too every other recall of its person still open that was opened before it was
    taken: someone in two pools that both came back positive or invalid has a recall for each
    (each pool's investigation counts its own), and one single-tube re-test answers both."""

    recall_id: str
    outcome: Result
    tube_id: str


@dataclass(frozen=True, slots=True)
class Recall:
    id: str
    pool_tube_id: str
    reason: RecallReason
    status: str  # open | resolved | cancelled
    outcome: Result | None
    due_at: datetime


@dataclass(frozen=True, slots=True)
class MemberResult:
    """A positive or invalid result as it reaches one member's status: their test state, the
    result and when its sample was taken, and their open recall. ``recall_id``: the recall
    open after this result (a new one, or the one an invalid re-sample leaves open);
    ``answers``: the recall the sample answers. Both None: the recall they have stays open."""

    person_id: str
    state: TestState
    result: Result
    sampled_at: datetime
    recall_id: str | None
    answers: str | None


@dataclass(frozen=True, slots=True)
class TubeMember:
    """A member of a tube: who, the recall their sample answers (a re-sample), when it was
    taken."""

    tube_id: str
    person_id: str
    recall_id: str | None
    sampled_at: datetime


@dataclass(frozen=True, slots=True)
class MemberRecall:
    """A member recalled for a new sample without a result (a rejected tube, a cancelled
    result): the recall open for them after it."""

    person_id: str
    recall_id: str


@dataclass(frozen=True, slots=True)
class CancelledResult:
    """A released result withdrawn: its tube, the result-log entry that says so, the result it
    withdraws and why."""

    tube_id: str
    log_id: str
    previous: Result
    reason: str


class ResultRepository(Protocol):
    """Lab results and what they reach: tubes, the result log, the members of each tube, their
    recalls and the pools' investigations. A batch is staged once (``stage``); the fan-out's
    other writes and reads work from it, set-based, within the unit of work."""

    def tubes_for_results(self, barcodes: Iterable[str],
                          for_update: bool = False) -> dict[str, ResultTube]:
        """The tubes with these barcodes (as stored), by barcode. ``for_update``: a writing
        unit of work holds them until it ends, so that another one resulting the same tubes
        waits and then reads what this one wrote (SQLite: its writer holds the write turn)."""

    def reject_results(self, rows: Sequence[RejectedResult]) -> None:
        """Keep rows that named no tube (once per lab, barcode and reason)."""

    def stage(self, batch: Sequence[TubeResult]) -> None:
        """The batch the fan-out works from (one result per tube), in place of any before."""

    def cancel_recalls_of(self, pool_tube_ids: Sequence[str], now: datetime) -> None:
        """Cancel the open recalls these tubes' results opened: their members are sampled,
        awaiting a result, with no open recall, their status stale."""

    def record(self, lab_id: str, actor: str, now: datetime) -> None:
        """The staged results on their tubes (resulted; a negative tube notified now; no
        investigation) and in the result log."""

    def gather_members(self, now: datetime) -> None:
        """Every member of the staged tubes, read once: the fan-out's reads and writes below
        work from them."""

    def fan_out_negatives(self, now: datetime) -> NegativeFanOut:
        """The negative results on every member's status row they are not older than: the
        latest result, the recall their sample answers no longer open, and for the members
        with nothing special the status the default rule decides (the others' left stale)."""

    def recall_answers(self) -> list[RecallAnswer]:
        """The re-samples among the gathered members."""

    def resolve_recalls(self, resolutions: Sequence[RecallResolution], now: datetime, *,
                        only_open: bool) -> int:
        """Resolve recalls with their re-sample's result (``only_open``: only those still
        open). How many were resolved."""

    def non_negative_members(self) -> list[Member]:
        """The gathered members of positive and invalid tubes."""

    def open_recalls(self, recalls: Sequence[NewRecall], now: datetime) -> None: ...

    def record_member_results(self, results: Sequence[MemberResult], now: datetime) -> None:
        """Positive and invalid results on their members' status rows (left stale)."""

    def open_investigations(self, pool_tube_ids: Sequence[str]) -> None:
        """Open the investigation of pools that tested positive."""

    def recalls(self, recall_ids: Iterable[str]) -> list[Recall]: ...

    def pool_recalls(self, pool_tube_ids: Iterable[str]) -> list[Recall]:
        """Every recall opened for a member of these pools."""

    def close_investigation(self, pool_tube_id: str, verdict: PoolInvestigation,
                            now: datetime) -> bool:
        """Close a pool's investigation, if open, with its verdict (True: it was open)."""

    # -- corrections, cancellations and rejected tubes ----------------------------------------

    def tube_members(self, tube_ids: Iterable[str]) -> list[TubeMember]:
        """Every member of these tubes (a handful of tubes: a correction's, a rejection's)."""

    def withdraw_positives(self, tube_ids: Sequence[str], now: datetime) -> int:
        """The members whose positive test state is these tubes' result (their latest result
        came from them) back to sampled, awaiting a result, their status stale: a correction
        or cancellation is taking that result away. How many."""

    def recall_members(self, recalls: Sequence[MemberRecall], now: datetime) -> None:
        """Each person pending a re-test with the recall open for them, their status stale;
        their latest result stays as it was (no result reached them)."""

    def cancel_results(self, rows: Sequence[CancelledResult], lab_id: str, actor: str,
                       now: datetime) -> None:
        """Released results withdrawn: each tube ``cancelled`` with no result and no pool
        investigation, and a result-log entry (``cancelled``, the result withdrawn, the
        reason, by ``actor`` of ``lab_id``)."""
