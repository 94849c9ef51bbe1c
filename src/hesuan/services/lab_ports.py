"""What the lab stage reads from a qPCR instrument's export file, in one neutral form.

``InstrumentReader`` turns the bytes of an export (QuantStudio, Bio-Rad CFX Maestro; the adapter
``hesuan.adapters.instruments`` implements it) into an ``InstrumentRun``: the instrument and run
as the file states them, the plate size, the file's SHA-256, and per well the sample name, the
role the instrument was told the well plays, and per target the dye, the Ct (Cq) and the
instrument's own call. Nothing here interprets a Ct: an assay's cut-offs and its table of calls
are the lab service's; this is what the file says, typed.

Imports: standard library, ``hesuan.domain``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from hesuan.domain.plates import PlateSize

__all__ = [
    "InstrumentReader",
    "InstrumentRun",
    "RunFileFormat",
    "TargetReading",
    "WellReading",
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
