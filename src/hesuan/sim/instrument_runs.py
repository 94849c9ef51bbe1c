"""A plate's run on a qPCR instrument, as the simulator and the bench make it: what each well
amplifies (drawn from what it holds, with a seeded generator) and the export file the
instrument's software writes, which the lab then imports (``RunService.import_run``).

The file is an Applied Biosystems QuantStudio Real-Time PCR Software text export with the
*Sample Setup* and *Results* sections ticked in its export dialog — the layout of the real
export in ``tests/fixtures/interop/allotropy/appbio_quantstudio_example02.txt``, for a Ct
(standard-curve) experiment: ``* Key = Value`` header lines, then each section's title, its
tab-separated table and a blank line. Every occupied well has one row per assay target; an
undetermined Ct is written ``Undetermined``. Tube wells carry the tube's barcode as their
sample name (the rack reader's scan), controls the lab's names for them (PC, NC, NTC).

What a well shows (``Shows``), with the assay's own cut-offs and grey zone:

=====================  ============================================================
``POSITIVE``           every viral target clearly detected (Ct 18–36, the targets within a
                       couple of cycles of each other); the internal control amplifies,
                       except that a high viral load (Ct below 22) suppresses it 3 times in 10
``SINGLE_TARGET``      one viral target detected (Ct 30 up to the grey zone), no other
``GREY_ZONE``          every viral target detected, the first in the grey zone (37–40)
``NEGATIVE``           no viral target; the internal control at Ct 25–32
``NO_INTERNAL_CONTROL`` nothing amplifies: the sample was not taken or not extracted
``POSITIVE_CONTROL``   every target at Ct 26–30; ``FAILED_POSITIVE_CONTROL`` nothing
``NEGATIVE_CONTROL``   no viral target, the internal control at Ct 27–31;
                       ``NO_TEMPLATE_CONTROL`` nothing
=====================  ============================================================

Imports: standard library, ``hesuan.domain``.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from hesuan.domain.assays import Assay, Target, TargetRole
from hesuan.domain.local_time import local
from hesuan.domain.plates import PlateSize, WellKind

__all__ = ["CONTROL_SAMPLE_NAMES", "CONTROL_SHOWS", "ExportWell", "Shows", "draw_cts",
           "quantstudio_export"]

Cts = dict[str, float | None]


class Shows(enum.Enum):
    """What a well amplifies on the instrument."""

    POSITIVE = "positive"
    SINGLE_TARGET = "single_target"
    GREY_ZONE = "grey_zone"
    NEGATIVE = "negative"
    NO_INTERNAL_CONTROL = "no_internal_control"
    POSITIVE_CONTROL = "positive_control"
    FAILED_POSITIVE_CONTROL = "failed_positive_control"
    NEGATIVE_CONTROL = "negative_control"
    NO_TEMPLATE_CONTROL = "no_template_control"


#: What each control shows when it works.
CONTROL_SHOWS: Mapping[WellKind, Shows] = {
    WellKind.POSITIVE_CONTROL: Shows.POSITIVE_CONTROL,
    WellKind.NEGATIVE_CONTROL: Shows.NEGATIVE_CONTROL,
    WellKind.NO_TEMPLATE_CONTROL: Shows.NO_TEMPLATE_CONTROL,
}
#: The sample name a lab gives each control in the instrument software.
CONTROL_SAMPLE_NAMES: Mapping[WellKind, str] = {
    WellKind.POSITIVE_CONTROL: "PC", WellKind.NEGATIVE_CONTROL: "NC",
    WellKind.NO_TEMPLATE_CONTROL: "NTC"}
#: The quencher the kits pair with each reporter dye.
_QUENCHERS = {"FAM": "BHQ1", "VIC": "BHQ1", "HEX": "BHQ1", "ROX": "BHQ2", "CY5": "BHQ2",
              "TEXAS RED": "BHQ2"}
_COLOURS = ('"RGB(98,190,255)"', '"RGB(255,139,36)"', '"RGB(113,203,80)"',
            '"RGB(233,72,72)"', '"RGB(170,120,230)"')
_SAMPLE_COLOUR = '"RGB(176,23,31)"'
_SETUP = ("Well", "Well Position", "Sample Name", "Sample Color", "Target Name",
          "Target Color", "Task", "Reporter", "Quencher", "Comments")
_RESULTS = ("Well", "Well Position", "Omit", "Sample Name", "Target Name", "Task", "Reporter",
            "Quencher", "CT", "Ct Mean", "Ct SD", "Quantity", "Quantity Mean", "Quantity SD",
            "Automatic Ct Threshold", "Ct Threshold", "Automatic Baseline", "Baseline Start",
            "Baseline End", "Comments", "HIGHSD", "NOAMP", "EXPFAIL")


def _clear_below(t: Target) -> float:
    """The Ct below which ``t`` is clearly detected: its grey zone's start, else its cut-off."""
    return t.grey_from if t.grey_from is not None else t.cutoff


def draw_cts(assay: Assay, shows: Shows, rng: random.Random) -> Cts:
    """The Ct of every target of ``assay`` (None: undetermined) in a well that shows
    ``shows``, drawn from ``rng``, to three decimals as the instrument writes them."""
    viral = assay.viral_targets
    cts: Cts = dict.fromkeys((t.name for t in assay.targets), None)
    ic = assay.internal_control.name
    u = rng.uniform
    if shows is Shows.POSITIVE:
        base = u(18.0, min(_clear_below(t) for t in viral) - 2.0)
        for t in viral:
            cts[t.name] = min(base + u(-1.0, 1.5), _clear_below(t) - 0.3)
        cts[ic] = None if base < 22.0 and rng.random() < 0.3 else u(25.0, 31.0)
    elif shows is Shows.SINGLE_TARGET or (shows is Shows.GREY_ZONE
                                          and viral[0].grey_from is None):
        t = rng.choice(viral)
        cts[t.name] = u(min(30.0, _clear_below(t) - 3.0), _clear_below(t) - 0.2)
        cts[ic] = u(25.0, 31.0)
    elif shows is Shows.GREY_ZONE:
        for k, t in enumerate(viral):
            low = _clear_below(t) if k == 0 else _clear_below(t) - 2.0
            cts[t.name] = u(low, t.cutoff - 0.2)
        cts[ic] = u(25.0, 31.0)
    elif shows is Shows.NEGATIVE:
        cts[ic] = u(25.0, 32.0)
    elif shows is Shows.POSITIVE_CONTROL:
        for t in assay.targets:
            cts[t.name] = u(26.0, min(30.0, _clear_below(t) - 1.0))
    elif shows is Shows.NEGATIVE_CONTROL:
        cts[ic] = u(27.0, 31.0)
    return {k: None if v is None else round(v, 3) for k, v in cts.items()}


@dataclass(frozen=True, slots=True)
class ExportWell:
    """One occupied well of the run: what it holds and the Ct of each assay target."""

    well: str  # A1 ... H12 (P24)
    kind: WellKind
    sample: str  # a tube's barcode, a control's name
    cts: Mapping[str, float | None]


def _row(cells: Sequence[object]) -> str:
    return "\t".join("" if c is None else str(c) for c in cells)


def _stamp(t: datetime) -> str:
    """A time as QuantStudio writes it, on the lab's clock: ``2022-08-26 10:14:51 AM CST``."""
    return local(t).strftime("%Y-%m-%d %I:%M:%S %p") + " CST"


def quantstudio_export(assay: Assay, size: PlateSize, wells: Sequence[ExportWell], *,
                       run_name: str, barcode: str, serial: str, user: str,
                       created: datetime, ended: datetime) -> bytes:
    """The QuantStudio text export (*Sample Setup* and *Results*) of a run of ``wells`` on a
    ``size`` plate, read with ``assay``'s targets; ``barcode`` is the plate's, ``serial`` the
    instrument's."""
    number = {w: i for i, w in enumerate(size.wells(), start=1)}
    block = "96-Well Block (0.2mL)" if size is PlateSize.WELLS_96 else "384-Well Block"
    lines = [f"* {k} = {v}" for k, v in (
        ("Block Type", block), ("Chemistry", "TAQMAN"), ("Date Created", _stamp(created)),
        ("Experiment Barcode", barcode), ("Experiment Comment", "NA"),
        ("Experiment File Name", f"D:\\QuantStudio\\Runs\\{run_name}.eds"),
        ("Experiment Name", run_name), ("Experiment Run End Time", _stamp(ended)),
        ("Experiment Type", "Standard Curve"), ("Instrument Name", serial),
        ("Instrument Serial Number", serial),
        ("Instrument Type", "QuantStudio(TM) 5 System"), ("Passive Reference", "ROX"),
        ("Quantification Cycle Method", "Ct"), ("Signal Smoothing On", "true"),
        ("Stage/ Cycle where Analysis is performed", "Stage 2, Step 2"), ("User Name", user))]
    colour = {t.name: _COLOURS[k % len(_COLOURS)] for k, t in enumerate(assay.targets)}
    quencher = {t.name: _QUENCHERS.get(t.dye.upper(), "NFQ-MGB") for t in assay.targets}
    threshold = {t.name: 0.1 if t.role is TargetRole.INTERNAL_CONTROL else 0.2
                 for t in assay.targets}
    setup, results = [_row(_SETUP)], [_row(_RESULTS)]
    for w in sorted(wells, key=lambda w: number[w.well]):
        task = "NTC" if w.kind is WellKind.NO_TEMPLATE_CONTROL else "UNKNOWN"
        for t in assay.targets:
            n, ct = number[w.well], w.cts.get(t.name)
            setup.append(_row((n, w.well, w.sample, _SAMPLE_COLOUR, t.name, colour[t.name],
                               task, t.dye, quencher[t.name], "")))
            shown = "Undetermined" if ct is None else f"{ct:.3f}"
            end = 39 if ct is None else max(3, min(39, int(ct) - 3))
            results.append(_row((
                n, w.well, "false", w.sample, t.name, task, t.dye, quencher[t.name], shown,
                shown if ct is not None else "", "", "", "", "", "false",
                f"{threshold[t.name]:.3f}", "true", 3, end, "", "N",
                "Y" if ct is None else "N", "N")))
    text = "\n".join([*lines, "", "[Sample Setup]", *setup, "", "[Results]", *results, ""])
    return text.encode("utf-8")
