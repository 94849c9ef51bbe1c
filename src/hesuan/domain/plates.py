"""Plates (板) and runs: the plate map, its controls, plate QC and each well's decision.

A run is one plate of 96 wells (A1–H12) or 384 wells (A1–P24). Well ids are read in any of the
forms instruments write (``A1``, ``A01``, ``a1``) and kept as ``A1``; QuantStudio's well
numbers count row by row from 1 (:meth:`PlateSize.well_at`).

The plate map places tubes (by their barcodes, scanned) and the lab's controls in wells:

* a well holds one thing, and a tube appears once on a plate;
* a plate runs only with its controls: a positive control and a negative control, and a
  no-template control when the assay has one (:meth:`PlateMap.check_runnable` names what is
  missing), and with at least one tube.

Plate QC after the run (:func:`check_controls`): the positive control fails when a viral target
is not detected (undetermined, or at or above its cut-off); a negative or no-template control
fails when a viral target is detected (below its cut-off). One failed control invalidates every
well of the plate: its tubes go back to the queue to be re-run from the same sample, not to a
recall, unless the lab has marked the sample exhausted, and then its people are recalled.

On a plate whose controls pass, each tube's well is interpreted by the assay
(:func:`hesuan.domain.assays.interpret`) and decided (:func:`decide_plate`): a result that may
be released (to review), a re-run of the same sample, or a recall, each with its reason code. A
well whose internal control failed with no target is INVALID: re-run, and on the sample's last
run recalled. A run on a plate that failed QC does not count as one of the sample's runs.

An instrument file is checked against the plate map before anything of it is used
(:func:`check_file_wells`): wells in the file that are not on the map, map wells missing from
the file, and sample names in the file that disagree with the map are listed together in one
:class:`PlateFileMismatch`. A tube's well must carry its barcode (or no name); a control's well
may carry the lab's own name for it, but not a tube's barcode, nor a positive control's name on
a negative or no-template control's well, nor the other way round (:data:`CONTROL_NAMES`).

Imports: standard library, ``hesuan.domain``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from hesuan.domain.assays import (
    Assay,
    AssayRef,
    Interpretation,
    Reading,
    Reason,
    Signal,
    Step,
    check_readings,
    interpret,
)
from hesuan.domain.errors import InvalidInput, RuleViolation
from hesuan.domain.sampling import barcode_key

__all__ = [
    "CONTROL_NAMES",
    "ControlCheck",
    "ControlFailure",
    "Decision",
    "NameMismatch",
    "Placement",
    "PlateFileMismatch",
    "PlateMap",
    "PlateOutcome",
    "PlateQc",
    "PlateReason",
    "PlateSize",
    "WellDecision",
    "WellKind",
    "check_controls",
    "check_file_block",
    "check_file_wells",
    "decide_plate",
]

_WELL_RE = re.compile(r"([A-Za-z])0*([1-9][0-9]?)")


class PlateSize(enum.IntEnum):
    WELLS_96 = 96
    WELLS_384 = 384

    @property
    def rows(self) -> str:
        return "ABCDEFGH" if self is PlateSize.WELLS_96 else "ABCDEFGHIJKLMNOP"

    @property
    def columns(self) -> int:
        return 12 if self is PlateSize.WELLS_96 else 24

    def wells(self) -> tuple[str, ...]:
        """Every well id, row by row: A1, A2, ..."""
        return tuple(f"{r}{c}" for r in self.rows for c in range(1, self.columns + 1))

    def well(self, text: str) -> str:
        """``text`` as this plate's well id: ``a01`` → ``A1``."""
        m = _WELL_RE.fullmatch(text.strip()) if isinstance(text, str) else None
        if m is not None:
            row, column = m.group(1).upper(), int(m.group(2))
            if row in self.rows and column <= self.columns:
                return f"{row}{column}"
        raise InvalidInput(f"well {text!r} is not a well of a {int(self)}-well plate "
                           f"(A1–{self.rows[-1]}{self.columns})", code="bad_well", field="well")

    def wells_by_column(self) -> tuple[str, ...]:
        """Every well id, column by column: A1, B1, … H1, A2, … — the order labs fill a plate
        in (a multichannel pipette takes a column at a time)."""
        return tuple(f"{r}{c}" for c in range(1, self.columns + 1) for r in self.rows)

    def well_at(self, index: int) -> str:
        """The well numbered ``index`` counting row by row from 1 (A1 = 1, A2 = 2, ...)."""
        if isinstance(index, bool) or not isinstance(index, int) or not 1 <= index <= self:
            raise InvalidInput(f"well number {index!r} is not in 1–{int(self)}",
                               code="bad_well", field="well")
        row, column = divmod(index - 1, self.columns)
        return f"{self.rows[row]}{column + 1}"


class WellKind(enum.StrEnum):
    TUBE = "tube"
    POSITIVE_CONTROL = "positive_control"  # 阳性对照
    NEGATIVE_CONTROL = "negative_control"  # 阴性对照
    NO_TEMPLATE_CONTROL = "no_template_control"  # 空白对照 (NTC)

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


#: Names a control's well commonly carries in an instrument file (compared case-insensitively).
CONTROL_NAMES: Mapping[WellKind, frozenset[str]] = {
    WellKind.POSITIVE_CONTROL: frozenset({"pc", "pos", "positive", "positive control", "+",
                                          "(+)", "阳性对照", "阳性质控"}),
    WellKind.NEGATIVE_CONTROL: frozenset({"nc", "neg", "negative", "negative control", "-",
                                          "(-)", "阴性对照", "阴性质控"}),
    WellKind.NO_TEMPLATE_CONTROL: frozenset({"ntc", "nac", "blank", "no template control",
                                             "空白对照"}),
}


@dataclass(frozen=True, slots=True)
class Placement:
    well: str
    kind: WellKind
    barcode: str | None = None  # a tube's barcode; None for a control

    @property
    def label(self) -> str:
        """What the well holds, in words: a barcode or a control's name."""
        return self.barcode if self.barcode is not None else self.kind.label


@dataclass(frozen=True, slots=True)
class PlateMap:
    """Which tube or control is in which well of one plate, for one assay version."""

    size: PlateSize
    assay: AssayRef
    placements: tuple[Placement, ...] = ()

    def __post_init__(self) -> None:
        wells: dict[str, Placement] = {}
        tubes: dict[str, str] = {}
        for p in self.placements:
            if self.size.well(p.well) != p.well:
                raise InvalidInput(f"well {p.well!r} is not in its stored form "
                                   f"{self.size.well(p.well)!r}", code="bad_well", field="well")
            if (p.kind is WellKind.TUBE) != (p.barcode is not None):
                raise InvalidInput(f"well {p.well}: a tube well needs a barcode, a control well "
                                   "has none", code="bad_placement", field="barcode")
            if p.well in wells:
                raise RuleViolation(f"well {p.well} already holds {wells[p.well].label}",
                                    code="well_taken", field="well")
            if p.barcode is not None:
                if p.barcode in tubes:
                    raise RuleViolation(f"tube {p.barcode} is already on this plate in well "
                                        f"{tubes[p.barcode]}", code="tube_on_plate",
                                        field="barcode")
                tubes[p.barcode] = p.well
            wells[p.well] = p

    def place_tube(self, well: str, barcode: str) -> PlateMap:
        key = barcode_key(barcode) if isinstance(barcode, str) else ""
        if not key:
            raise InvalidInput("barcode must not be blank", code="bad_barcode", field="barcode")
        return self._with(Placement(self.size.well(well), WellKind.TUBE, key))

    def place_control(self, well: str, kind: WellKind) -> PlateMap:
        if kind is WellKind.TUBE:
            raise InvalidInput("a tube is placed with its barcode (place_tube)",
                               code="bad_placement", field="kind")
        return self._with(Placement(self.size.well(well), kind))

    def remove(self, well: str) -> PlateMap:
        """The map without what ``well`` holds (a wrong scan taken back)."""
        w = self.size.well(well)
        return PlateMap(self.size, self.assay, tuple(p for p in self.placements if p.well != w))

    def _with(self, placement: Placement) -> PlateMap:
        return PlateMap(self.size, self.assay, (*self.placements, placement))

    def at(self, well: str) -> Placement | None:
        w = self.size.well(well)
        return next((p for p in self.placements if p.well == w), None)

    def next_free(self) -> str | None:
        """The first empty well in the order labs fill a plate (column by column: A1, B1, …);
        None when every well holds something."""
        taken = {p.well for p in self.placements}
        return next((w for w in self.size.wells_by_column() if w not in taken), None)

    def tubes(self) -> tuple[Placement, ...]:
        return tuple(p for p in self.placements if p.kind is WellKind.TUBE)

    def tube_wells(self) -> tuple[tuple[str, str], ...]:
        """``(well, barcode)`` of every tube, in the map's order."""
        return tuple((p.well, p.barcode) for p in self.placements if p.barcode is not None)

    def controls(self) -> tuple[Placement, ...]:
        return tuple(p for p in self.placements if p.kind is not WellKind.TUBE)

    def missing_controls(self, assay: Assay) -> tuple[WellKind, ...]:
        """The controls ``assay`` requires that no well holds, in a fixed order."""
        required = [WellKind.POSITIVE_CONTROL, WellKind.NEGATIVE_CONTROL]
        if assay.no_template_control:
            required.append(WellKind.NO_TEMPLATE_CONTROL)
        placed = {p.kind for p in self.placements}
        return tuple(k for k in required if k not in placed)

    def check_runnable(self, assay: Assay) -> None:
        """Refuse a run of this plate with ``assay`` unless the map is for that assay version,
        holds the assay's controls and at least one tube."""
        if self.assay != assay.ref:
            raise RuleViolation(f"the plate map is for assay {self.assay}, not {assay.ref}",
                                code="wrong_assay", field="assay")
        missing = self.missing_controls(assay)
        if missing:
            raise RuleViolation("the plate cannot run without its controls: no "
                                + ", no ".join(k.label for k in missing),
                                code="controls_missing", field="controls")
        if not self.tubes():
            raise RuleViolation("the plate holds no tube", code="plate_empty", field="wells")


# --- the instrument file against the plate map ------------------------------------------------

@dataclass(frozen=True, slots=True)
class NameMismatch:
    well: str
    in_file: str
    on_map: str


class PlateFileMismatch(RuleViolation):
    """An instrument file that does not match its plate map; every difference is listed."""

    default_code = "file_plate_mismatch"

    def __init__(self, *, bad_wells: Iterable[str] = (), not_on_map: Iterable[str] = (),
                 missing: Iterable[str] = (), names: Iterable[NameMismatch] = ()) -> None:
        self.bad_wells = tuple(bad_wells)
        self.not_on_map = tuple(not_on_map)
        self.missing = tuple(missing)
        self.names = tuple(names)
        parts = []
        if self.bad_wells:
            parts.append("well ids that are not wells of the plate: "
                         + ", ".join(repr(w) for w in self.bad_wells))
        if self.not_on_map:
            parts.append("wells not on the plate map: " + ", ".join(self.not_on_map))
        if self.missing:
            parts.append("plate map wells missing from the file: " + ", ".join(self.missing))
        if self.names:
            parts.append("sample names that disagree with the plate map: " + ", ".join(
                f"{n.well} is {n.in_file!r} in the file, {n.on_map} on the map"
                for n in self.names))
        super().__init__("the instrument file does not match the plate map: " + "; ".join(parts),
                         field="file")


def _name_disagrees(plate: PlateMap, p: Placement, name: str) -> bool:
    """A tube's well must carry its barcode. A control's well must not carry a tube's barcode,
    nor the name of a control that shows the opposite: a positive control amplifies, a negative
    and a no-template control do not (labs often call either of these two "NTC")."""
    if p.barcode is not None:
        return barcode_key(name) != p.barcode
    key = name.casefold()
    amplifies = p.kind is WellKind.POSITIVE_CONTROL
    opposite = any(key in names for kind, names in CONTROL_NAMES.items()
                   if (kind is WellKind.POSITIVE_CONTROL) != amplifies)
    return opposite or any(barcode_key(name) == t.barcode for t in plate.tubes())


def check_file_block(plate: PlateSize, run: PlateSize) -> None:
    """A run file goes onto a plate of its block's size or larger: ``run`` is the block the
    file states (or the smallest plate that holds its wells), ``plate`` the plate's size."""
    if run > plate:
        raise RuleViolation(f"file: the run was of a {int(run)}-well block and the plate has "
                            f"{int(plate)} wells: is it this plate's file?",
                            code="plate_size_mismatch", field="file")


def check_file_wells(plate: PlateMap, rows: Iterable[tuple[str, str | None]]) -> dict[str, str]:
    """Check an instrument file's rows — ``(well, sample name)``, one or more per well (one per
    target) — against the plate map, and give each well text of the file its well id. A blank
    or missing sample name is not compared. Raises :class:`PlateFileMismatch` listing every
    difference."""
    ids: dict[str, str] = {}
    bad: list[str] = []
    names: dict[str, dict[str, str]] = {}  # well → the names it carries, by their folded form
    for text, name in rows:
        if text not in ids:
            try:
                ids[text] = plate.size.well(text)
            except InvalidInput:
                if text not in bad:
                    bad.append(text)
                continue
        if name is not None and name.strip():
            names.setdefault(ids[text], {}).setdefault(name.strip().casefold(), name.strip())
    seen = set(ids.values())
    on_map = {p.well: p for p in plate.placements}
    order = {w: i for i, w in enumerate(plate.size.wells())}
    not_on_map = sorted(seen - on_map.keys(), key=order.__getitem__)
    missing = sorted(on_map.keys() - seen, key=order.__getitem__)
    mismatches: list[NameMismatch] = []
    for well in sorted(names.keys() & on_map.keys(), key=order.__getitem__):
        p = on_map[well]
        given = sorted(names[well].values())
        if len(given) > 1 or _name_disagrees(plate, p, given[0]):
            mismatches.append(NameMismatch(well, " / ".join(given), p.label))
    if bad or not_on_map or missing or mismatches:
        raise PlateFileMismatch(bad_wells=bad, not_on_map=not_on_map, missing=missing,
                                names=mismatches)
    return ids


def _results_by_well(plate: PlateMap, assay: Assay,
                     results: Mapping[str, Mapping[str, float | None]],
                     ) -> dict[str, dict[str, float | None]]:
    """Every occupied well's checked Ct values, keyed by well id; the wells must be the map's."""
    check_file_wells(plate, ((w, None) for w in results))
    out: dict[str, dict[str, float | None]] = {}
    for text, cts in results.items():
        well = plate.size.well(text)
        if well in out:
            raise InvalidInput(f"well {well} has two sets of results", code="bad_well",
                               field="well")
        out[well] = check_readings(assay, cts)
    return out


# --- plate QC --------------------------------------------------------------------------------

class ControlFailure(enum.StrEnum):
    POSITIVE_CONTROL_FAILED = "positive_control_failed"  # a target not amplified
    NEGATIVE_CONTROL_FAILED = "negative_control_failed"  # a target amplified
    NO_TEMPLATE_CONTROL_FAILED = "no_template_control_failed"  # a target amplified


_FAILURE = {
    WellKind.POSITIVE_CONTROL: ControlFailure.POSITIVE_CONTROL_FAILED,
    WellKind.NEGATIVE_CONTROL: ControlFailure.NEGATIVE_CONTROL_FAILED,
    WellKind.NO_TEMPLATE_CONTROL: ControlFailure.NO_TEMPLATE_CONTROL_FAILED,
}


@dataclass(frozen=True, slots=True)
class ControlCheck:
    well: str
    kind: WellKind
    readings: tuple[Reading, ...]  # the viral targets: the evidence
    failure: ControlFailure | None

    @property
    def passed(self) -> bool:
        return self.failure is None


@dataclass(frozen=True, slots=True)
class PlateQc:
    checks: tuple[ControlCheck, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> tuple[ControlCheck, ...]:
        return tuple(c for c in self.checks if not c.passed)


def _check_control(assay: Assay, p: Placement, cts: Mapping[str, float | None]) -> ControlCheck:
    readings = tuple(Reading(t.name, t.dye, cts[t.name], t.signal(cts[t.name]))
                     for t in assay.viral_targets)
    if p.kind is WellKind.POSITIVE_CONTROL:
        failed = any(r.signal is Signal.NOT_DETECTED for r in readings)
    else:
        failed = any(r.signal is not Signal.NOT_DETECTED for r in readings)
    return ControlCheck(p.well, p.kind, readings, _FAILURE[p.kind] if failed else None)


def check_controls(assay: Assay, plate: PlateMap,
                   results: Mapping[str, Mapping[str, float | None]]) -> PlateQc:
    """Plate QC: every control well of the run checked against what it must show."""
    plate.check_runnable(assay)
    return _qc(assay, plate, _results_by_well(plate, assay, results))


def _qc(assay: Assay, plate: PlateMap, by_well: Mapping[str, Mapping[str, float | None]],
        ) -> PlateQc:
    return PlateQc(tuple(_check_control(assay, p, by_well[p.well]) for p in plate.controls()))


# --- each well's decision --------------------------------------------------------------------

class Decision(enum.StrEnum):
    RELEASE = "release"  # the call may go to review and release
    RERUN = "rerun"  # the same sample goes back to the queue
    RECALL = "recall"  # the tube's people are recalled for a new sample


class PlateReason(enum.StrEnum):
    CONTROL_FAILED = "plate_control_failed"  # a control of the plate failed: every well is void
    SAMPLE_EXHAUSTED = "sample_exhausted"  # a re-run is due but none of the sample is left


_DECISION = {Step.RELEASE: Decision.RELEASE, Step.RERUN: Decision.RERUN,
             Step.RECALL: Decision.RECALL}


@dataclass(frozen=True, slots=True)
class WellDecision:
    well: str
    barcode: str
    decision: Decision
    reason: Reason | PlateReason
    interpretation: Interpretation | None  # None on a plate that failed QC


@dataclass(frozen=True, slots=True)
class PlateOutcome:
    qc: PlateQc
    decisions: tuple[WellDecision, ...]  # one per tube, in the plate map's order

    def with_decision(self, decision: Decision) -> tuple[WellDecision, ...]:
        return tuple(d for d in self.decisions if d.decision is decision)


def decide_plate(assay: Assay, plate: PlateMap,
                 results: Mapping[str, Mapping[str, float | None]], *,
                 attempts: Mapping[str, int] | None = None,
                 exhausted: Collection[str] = ()) -> PlateOutcome:
    """Each tube's decision after a run: plate QC first, then each well's interpretation.

    ``results`` holds the Ct per target of every occupied well (and of no other well);
    ``attempts`` the run number of each tube's sample on this plate (1 when absent);
    ``exhausted`` the barcodes whose sample the lab has marked used up. Every value is checked
    before any decision is made."""
    plate.check_runnable(assay)
    by_well = _results_by_well(plate, assay, results)
    qc = _qc(assay, plate, by_well)
    runs = {barcode_key(b): n for b, n in (attempts or {}).items()}
    used_up = {barcode_key(b) for b in exhausted}
    decisions: list[WellDecision] = []
    for well, barcode in plate.tube_wells():
        if not qc.passed:
            decisions.append(
                WellDecision(well, barcode, Decision.RECALL, PlateReason.SAMPLE_EXHAUSTED, None)
                if barcode in used_up else
                WellDecision(well, barcode, Decision.RERUN, PlateReason.CONTROL_FAILED, None))
            continue
        found = interpret(assay, by_well[well], attempt=runs.get(barcode, 1))
        decision: Decision = _DECISION[found.step]
        reason: Reason | PlateReason = found.reason
        if decision is Decision.RERUN and barcode in used_up:
            decision, reason = Decision.RECALL, PlateReason.SAMPLE_EXHAUSTED
        decisions.append(WellDecision(well, barcode, decision, reason, found))
    return PlateOutcome(qc, tuple(decisions))
