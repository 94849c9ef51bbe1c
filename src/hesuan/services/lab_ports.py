"""What the lab stage reads from a qPCR instrument's export file, in one neutral form.

``InstrumentReader`` turns the bytes of an export (QuantStudio, Bio-Rad CFX Maestro; the adapter
``hesuan.adapters.instruments`` implements it) into an ``InstrumentRun``: the instrument and run
as the file states them, the plate size, the file's SHA-256, and per well the sample name, the
role the instrument was told the well plays, and per target the dye, the Ct (Cq) and the
instrument's own call. Nothing here interprets a Ct: an assay's cut-offs and its table of calls
are the lab service's; this is what the file says, typed.

The repositories of the lab stage, parts of the ``UnitOfWork`` (``adapters/db``): assay
versions (``uow.assays``) and plates with their wells, run files and well results
(``uow.plates``), and the rows they exchange.

Imports: standard library, ``hesuan.domain``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from hesuan.domain.assays import AssayRef
from hesuan.domain.json import JsonObject
from hesuan.domain.plates import Decision, PlateSize, WellKind
from hesuan.domain.results import Result
from hesuan.domain.runs import PlateStatus

__all__ = [
    "AssayRepository",
    "AssayVersionRow",
    "BenchTube",
    "InstrumentReader",
    "InstrumentRun",
    "LabQueueCounts",
    "PlacedWell",
    "PlateRepository",
    "PlateRow",
    "QueueTube",
    "ReleaseSetting",
    "RunFileFormat",
    "RunFileRow",
    "TargetReading",
    "WellReading",
    "WellResultRow",
    "WellRole",
]


class RunFileFormat(StrEnum):
    """The export formats read."""

    QUANTSTUDIO_TXT = "quantstudio_txt"
    """QuantStudio Real-Time PCR Software text export (``[Results]`` section)."""
    QUANTSTUDIO_XLSX = "quantstudio_xlsx"
    """QuantStudio Design & Analysis Software workbook (``Results`` sheet)."""
    CFX_CSV = "cfx_csv"
    """Bio-Rad CFX Maestro "Cq Results" CSV."""


class WellRole(StrEnum):
    """The role the instrument software was told a well (or one target in it) plays: its task
    (QuantStudio) or content (CFX), in the platform's words. ``stated_role`` keeps the words."""

    SAMPLE = "sample"
    """An unknown: a specimen to test (QuantStudio ``UNKNOWN``, CFX ``Unkn``)."""
    NTC = "ntc"
    """No-template control."""
    POSITIVE_CONTROL = "positive_control"
    NEGATIVE_CONTROL = "negative_control"
    INTERNAL_CONTROL = "internal_control"
    """The internal (positive) control target of a well (QuantStudio ``IPC``)."""
    BLOCKED_INTERNAL_CONTROL = "blocked_internal_control"
    """An internal control blocked on purpose, so the well is a no-amplification control
    (QuantStudio ``BLOCKED_IPC``)."""
    STANDARD = "standard"
    """A standard of known quantity (a standard curve)."""
    OTHER = "other"
    """A role the platform has no word for; ``stated_role`` says which."""

    @property
    def is_internal_control(self) -> bool:
        return self in (WellRole.INTERNAL_CONTROL, WellRole.BLOCKED_INTERNAL_CONTROL)


@dataclass(frozen=True, slots=True)
class TargetReading:
    """One target (one dye) of one well."""

    target: str
    """The target's name in the file, or its dye when the file names no target (CFX)."""
    dye: str | None
    """The reporter dye (fluor), e.g. ``FAM``, when the file gives it."""
    ct: float | None
    """The Ct (Cq); None when the instrument found none (``Undetermined``, no amplification)."""
    call: str | None
    """The instrument software's own call for the target, as written (``Presence``,
    ``Absence``, ``IPC Failed``, …), when the file has one."""
    role: WellRole
    stated_role: str | None
    """The task or content as the file writes it (``NTC``, ``BlockedIPC``, ``Pos Ctrl``, …)."""


@dataclass(frozen=True, slots=True)
class WellReading:
    """One well of the plate, as the file states it."""

    well: str
    """``A1`` … ``H12`` (96) or ``A1`` … ``P24`` (384), as ``PlateSize.well`` writes it."""
    sample: str | None
    """The sample name typed or scanned into the instrument software (a tube's barcode, a
    control's name), exactly as written; None when the well has none."""
    role: WellRole
    """The well's role: a control role any of its targets states (NTC, positive or negative
    control, standard, other) before ``SAMPLE``; a well whose every target is an internal
    control has that role."""
    omitted: bool
    """The analyst omitted the well in the instrument software."""
    targets: tuple[TargetReading, ...]

    def target(self, name: str) -> TargetReading | None:
        """The reading of the target of this name (or dye), if the well has it."""
        for t in self.targets:
            if name in (t.target, t.dye):
                return t
        return None


@dataclass(frozen=True, slots=True)
class InstrumentRun:
    """A run (one plate) as its export file states it."""

    format: RunFileFormat
    vendor: str
    """``Applied Biosystems`` or ``Bio-Rad``."""
    instrument: str | None
    """The instrument's model as the file states it (``QuantStudio(TM) 6 Flex System``)."""
    instrument_serial: str | None
    software: str | None
    """The analysis software and version, when the file states them."""
    run_id: str | None
    """The plate's (experiment's) barcode, when the file has one."""
    run_name: str | None
    """The experiment's name (or the run file's name), when the file has one."""
    plate_size: PlateSize
    """96 or 384 wells: the block the file states, or else the smallest plate that holds its
    wells."""
    file_name: str
    sha256: str
    """SHA-256 of the file's bytes, hex."""
    wells: tuple[WellReading, ...]
    """The wells the file has results for, in plate order (A1, A2, … B1, …)."""

    def well(self, well: str) -> WellReading | None:
        for w in self.wells:
            if w.well == well:
                return w
        return None


class InstrumentReader(Protocol):
    def read_run_file(self, name: str, data: bytes) -> InstrumentRun:
        """The run in the export file ``name`` with contents ``data``; ``InvalidInput``
        (``unknown_instrument_file``, ``unreadable_instrument_file``) when it is not one."""
        ...


# --- storage of the lab stage ------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AssayVersionRow:
    """One version of an assay as stored: its definition is a JSON document (the service reads
    it into an ``Assay``); ``current``: the version new plates use."""

    id: str
    version: int
    name: str
    definition: JsonObject
    current: bool
    created_by: str
    created_at: datetime


class AssayRepository(Protocol):
    """Assay versions. A version, once stored, never changes."""

    def current(self) -> AssayVersionRow | None: ...

    def version(self, ref: AssayRef) -> AssayVersionRow | None: ...

    def versions(self, assay_id: str | None = None) -> list[AssayVersionRow]:
        """Every stored version (of ``assay_id``, or of every assay), newest first."""

    def add(self, row: AssayVersionRow) -> None:
        """Store a new version; when it is current, the version current before it no longer
        is."""


@dataclass(frozen=True, slots=True)
class PlateRow:
    """A plate (one run) and who did each step of its life."""

    id: str
    lab_id: str
    assay: AssayRef
    size: PlateSize
    status: PlateStatus
    created_by: str
    created_at: datetime
    ready_by: str | None = None
    ready_at: datetime | None = None
    run_file_id: str | None = None
    imported_by: str | None = None
    imported_at: datetime | None = None
    qc_passed: bool | None = None  # None until the run is imported
    released_by: str | None = None
    released_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PlacedWell:
    """What one well of a plate holds: a tube (its id and barcode) or a control."""

    plate_id: str
    well: str
    kind: WellKind
    tube_id: str | None
    barcode: str | None
    placed_by: str
    placed_at: datetime


@dataclass(frozen=True, slots=True)
class BenchTube:
    """A tube as the bench sees it when it is scanned onto a plate."""

    id: str
    barcode: str
    lab_id: str | None
    status: str  # the tube's status: received, resulted, ...
    plate_id: str | None
    """The plate that holds it now: one being built or ready, or an imported one whose
    decision for it is not a re-run. None: it is free for a plate."""


@dataclass(frozen=True, slots=True)
class RunFileRow:
    """An instrument's export file as stored (its bytes apart), with what it states."""

    id: str
    lab_id: str
    name: str
    format: RunFileFormat
    sha256: str
    size: int
    instrument: str | None
    instrument_serial: str | None
    software: str | None
    run_name: str | None
    uploaded_by: str
    uploaded_at: datetime


@dataclass(frozen=True, slots=True)
class WellResultRow:
    """One well of an imported run: a tube's or a control's.

    ``cts``: the Ct per assay target (None: undetermined). ``outcome``: a tube's call
    (``Call``; ``void`` on a plate that failed QC, ``omitted`` where the analyst omitted the
    well) or a control's ``passed`` / ``failed``; ``reason`` its code. A tube's ``attempt`` is
    its sample's run (1 the first), ``counted`` whether this run counts towards the sample's
    re-runs; ``decision`` what happens next and ``result`` the result a release gives (for a
    release or a recall); ``result_log_id`` the result-log entry the release wrote."""

    plate_id: str
    well: str
    kind: WellKind
    tube_id: str | None
    sample_name: str | None
    cts: Mapping[str, float | None]
    outcome: str
    reason: str
    evidence: JsonObject
    assay: AssayRef
    attempt: int | None
    counted: bool
    decision: Decision | None
    result: Result | None
    result_log_id: str | None = None
    barcode: str | None = None  # the tube's, as read back (not written)


@dataclass(frozen=True, slots=True)
class QueueTube:
    """A tube a lab has received and not released, with where it stands."""

    tube_id: str
    barcode: str
    priority: bool
    pool_size: int
    people: int
    received_at: datetime
    runs: int  # the sample's runs so far that count towards its re-runs
    rerun: bool  # a run of it was decided "re-run" (it is back in the queue)
    plate_id: str | None  # the plate that holds it now (see ``BenchTube.plate_id``)
    plate_status: PlateStatus | None


@dataclass(frozen=True, slots=True)
class LabQueueCounts:
    total: int
    priority: int
    late: int  # received before the cut-off given (waiting past the lab's target)


@dataclass(frozen=True, slots=True)
class ReleaseSetting:
    """Whether a lab may release a run by one person, and which administrator set it when."""

    lab_id: str
    one_person_release: bool
    set_by: str
    set_at: datetime


class PlateRepository(Protocol):
    """Plates, their wells, the run files imported onto them and their wells' results; the lab
    queue; the labs' release settings."""

    def add_plate(self, row: PlateRow) -> None: ...

    def plate(self, plate_id: str, *, for_update: bool = False) -> PlateRow | None:
        """``for_update``: held until the unit of work ends (a second import or release of
        the same plate waits, then reads what this one wrote)."""

    def lab_plates(self, lab_id: str, statuses: Collection[PlateStatus] | None,
                   limit: int) -> list[PlateRow]:
        """A lab's plates (with one of ``statuses``, or all), newest first."""

    def wells(self, plate_id: str) -> list[PlacedWell]:
        """The plate map, in the order the wells were filled."""

    def bench_tube(self, barcode: str, *, for_update: bool = False) -> BenchTube | None:
        """The tube with this barcode (as stored). ``for_update``: the tube is held until the
        unit of work ends, so that one tube scanned onto two plates at once lands on one."""

    def bench_tubes(self, barcodes: Sequence[str], *,
                    for_update: bool = False) -> dict[str, BenchTube]:
        """The tubes with these barcodes (as stored), by barcode, as ``bench_tube`` reads one:
        a rack scanned at once, in a statement or two."""

    def place(self, well: PlacedWell) -> None: ...

    def place_many(self, wells: Sequence[PlacedWell]) -> None:
        """Fill several wells (a rack scanned at once)."""

    def remove_well(self, plate_id: str, well: str) -> bool:
        """Empty a well; False when it held nothing."""

    def mark_ready(self, plate_id: str, by: str, at: datetime) -> None: ...

    def run_file_by_hash(self, lab_id: str, sha256: str) -> RunFileRow | None: ...

    def run_file(self, file_id: str) -> RunFileRow | None: ...

    def run_file_data(self, file_id: str) -> bytes | None: ...

    def add_run_file(self, row: RunFileRow, data: bytes) -> None: ...

    def mark_imported(self, plate_id: str, run_file_id: str, by: str, at: datetime,
                      qc_passed: bool) -> None: ...

    def add_well_results(self, rows: Sequence[WellResultRow]) -> None: ...

    def well_results(self, plate_id: str) -> list[WellResultRow]:
        """Every well's result of the plate's run, in plate order, tubes with their
        barcodes."""

    def counted_runs(self, tube_ids: Iterable[str]) -> dict[str, int]:
        """How many counted runs each tube's sample has had (tubes with none left out)."""

    def mark_released(self, plate_id: str, by: str, at: datetime,
                      result_log_ids: Mapping[str, str]) -> None:
        """The plate released; each released well (by well id) names its result-log entry."""

    def queue(self, lab_id: str, late_before: datetime,
              limit: int) -> tuple[LabQueueCounts, list[QueueTube]]:
        """The tubes the lab has received and not released: the counts, and the first
        ``limit`` — priority tubes first, then by receipt, oldest first."""

    def release_setting(self, lab_id: str) -> ReleaseSetting | None: ...

    def set_release_setting(self, row: ReleaseSetting) -> None: ...
