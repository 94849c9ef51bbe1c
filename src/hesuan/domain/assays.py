"""Assays (检测试剂盒) and the interpretation of one well's Ct values.

An assay is the kit a lab runs: its targets, each read in its own dye channel with its own Ct
cut-off; which target is the internal control (内标); the grey zone (灰区) below the cut-off;
whether the kit has a no-template control; and the interpretation table. An assay is a frozen,
versioned value: a change is a new version (:meth:`Assay.revise`), and every interpretation
records the id and version (:class:`AssayRef`) of the assay that made it.

The default (:data:`DEFAULT_ASSAY`) is the two-target ORF1ab/N real-time RT-PCR with an internal
control, cut-off 40, grey zone 37–40. Source: the China CDC laboratory testing guidance for the
ORF1ab/N assay, 《新型冠状病毒肺炎实验室检测技术指南》, annexed to the national prevention and
control plan 《新型冠状病毒肺炎防控方案》 in its 2020 editions. It reads a result as negative with
no Ct or Ct 40, positive with Ct < 37, and suspect (可疑) with Ct 37–40, to be repeated; it
confirms a case when both targets are positive in the same specimen and asks for a new sample
and a new test (重新采样，重新检测) when only one target is. It defers to a commercial kit's own
instructions, so every number here is configurable.

Interpretation of one well (:func:`interpret`), a pure function of the assay, the Ct per target
(``None``: undetermined, no amplification) and the run's attempt number for the sample:

* a target is *detected* when its Ct is below its cut-off, *clearly* detected when it is also
  below the grey zone;
* at least :attr:`Assay.targets_for_positive` targets (by default all) clearly detected →
  POSITIVE;
* fewer targets detected than that → single target, RETEST; enough detected but some only in
  the grey zone → grey zone, RETEST. RETEST means the same sample is re-extracted and re-run
  before anything reaches a person. On the sample's last permitted run (by default the one
  re-run) the same findings give RECALL_SINGLE_TARGET or RECALL_GREY_ZONE: the people of the
  tube are recalled for a new sample. The guidance calls a repeated suspect value with a clear
  curve positive; the platform sees Ct values, not curves, so a grey-zone value is never
  released as positive;
* no target detected and the internal control valid (its Ct below its cut-off) → NEGATIVE;
* no target detected and the internal control failed (no Ct, or at or above its cut-off) →
  INVALID: re-run the sample, and on its last run recall the people.

A target detected makes the well's call whatever the internal control shows: a high target load
can suppress the internal control's amplification.

Imports: standard library only.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hesuan.domain.digits import is_digits
from hesuan.domain.errors import InvalidFields, InvalidInput

__all__ = [
    "DEFAULT_ASSAY",
    "DEFAULT_CUTOFF",
    "DEFAULT_CYCLES",
    "DEFAULT_GREY_FROM",
    "DEFAULT_RERUNS",
    "Assay",
    "AssayRef",
    "Call",
    "Interpretation",
    "Reading",
    "Reason",
    "Signal",
    "Step",
    "TableRow",
    "Target",
    "TargetRole",
    "check_readings",
    "define_assay",
    "interpret",
]

#: A target's Ct below this is detected (amplified).
DEFAULT_CUTOFF = 40.0
#: A detected Ct at or above this (and below the cut-off) is in the grey zone.
DEFAULT_GREY_FROM = 37.0
#: The kit's cycle count: no Ct can be above it.
DEFAULT_CYCLES = 45
#: How many times the same sample may be re-run (re-extracted) before its people are recalled.
DEFAULT_RERUNS = 1

_MAX_CYCLES = 60
_MAX_RERUNS = 3
_ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_DYE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,31}")


class TargetRole(enum.StrEnum):
    VIRAL = "viral"
    INTERNAL_CONTROL = "internal_control"  # 内标: shows the sample was taken and extracted


class Signal(enum.StrEnum):
    """What one target's Ct means under its cut-off and grey zone."""

    DETECTED = "detected"  # below the grey zone (or below the cut-off, without a grey zone)
    GREY_ZONE = "grey_zone"  # at or above the grey zone's start, below the cut-off
    NOT_DETECTED = "not_detected"  # undetermined, or at or above the cut-off


class Call(enum.StrEnum):
    POSITIVE = "positive"
    NEGATIVE = "negative"
    RETEST = "retest"  # re-extract and re-run the same sample
    RECALL_SINGLE_TARGET = "recall_single_target"  # still one target on the last run: recall
    RECALL_GREY_ZONE = "recall_grey_zone"  # still in the grey zone on the last run: recall
    INVALID = "invalid"  # no target and the internal control failed


class Reason(enum.StrEnum):
    """What the well showed; with the call it names the row of the interpretation table."""

    TARGETS_DETECTED = "targets_detected"
    NO_TARGET_DETECTED = "no_target_detected"
    SINGLE_TARGET = "single_target"
    GREY_ZONE = "grey_zone"
    INTERNAL_CONTROL_FAILED = "internal_control_failed"


class Step(enum.StrEnum):
    """What happens next to the sample."""

    RELEASE = "release"  # the call may go to review and release
    RERUN = "rerun"  # the same sample goes back to the queue
    RECALL = "recall"  # the tube's people are recalled for a new sample


@dataclass(frozen=True, slots=True)
class Target:
    """One channel of the assay: a viral target or the internal control."""

    name: str
    dye: str
    cutoff: float = DEFAULT_CUTOFF
    grey_from: float | None = None
    role: TargetRole = TargetRole.VIRAL

    def signal(self, ct: float | None) -> Signal:
        if ct is None or ct >= self.cutoff:
            return Signal.NOT_DETECTED
        if self.grey_from is not None and ct >= self.grey_from:
            return Signal.GREY_ZONE
        return Signal.DETECTED


@dataclass(frozen=True, slots=True, order=True)
class AssayRef:
    """The id and version of the assay that interpreted a result, written ``id@version``."""

    id: str
    version: int

    def __str__(self) -> str:
        return f"{self.id}@{self.version}"

    @classmethod
    def parse(cls, text: str) -> AssayRef:
        id_, sep, version = text.strip().rpartition("@")
        if not sep or not _ID_RE.fullmatch(id_) or not is_digits(version) or int(version) < 1:
            raise InvalidInput("assay must be written id@version, e.g. orf1ab-n@1",
                               code="bad_assay", field="assay")
        return cls(id_, int(version))


@dataclass(frozen=True, slots=True)
class TableRow:
    """One row of an assay's interpretation table, in words with the assay's numbers."""

    reason: Reason
    when: str
    call: Call  # on a run with a re-run left
    last_run_call: Call  # on the sample's last permitted run
    step: Step
    last_run_step: Step


@dataclass(frozen=True, slots=True)
class Assay:
    """A kit definition. Validated on construction; frozen; a change is a new version."""

    id: str
    version: int
    name: str
    targets: tuple[Target, ...]
    no_template_control: bool = False
    positive_needs: int | None = None  # targets clearly detected for POSITIVE; None: all
    reruns: int = DEFAULT_RERUNS
    cycles: int = DEFAULT_CYCLES

    def __post_init__(self) -> None:
        _check_assay(self)

    @property
    def ref(self) -> AssayRef:
        return AssayRef(self.id, self.version)

    @property
    def viral_targets(self) -> tuple[Target, ...]:
        return tuple(t for t in self.targets if t.role is TargetRole.VIRAL)

    @property
    def internal_control(self) -> Target:
        return next(t for t in self.targets if t.role is TargetRole.INTERNAL_CONTROL)

    @property
    def targets_for_positive(self) -> int:
        return len(self.viral_targets) if self.positive_needs is None else self.positive_needs

    def takes_ct(self, value: float) -> bool:
        """Whether ``value`` is a Ct a run of this assay can give: in (0, cycles]."""
        return 0 < value <= self.cycles

    def target(self, name: str) -> Target:
        """The target called ``name`` (case-insensitive)."""
        key = name.strip().casefold()
        for t in self.targets:
            if t.name.casefold() == key:
                return t
        raise InvalidInput(f"ct: {name!r} is not a target of assay {self.ref} "
                           f"(targets: {', '.join(t.name for t in self.targets)})",
                           code="unknown_target", field="ct")

    def revise(self, **changes: object) -> Assay:
        """The next version of this assay with ``changes`` (validated); this one is unchanged."""
        if "id" in changes or "version" in changes:
            raise InvalidInput("a revision keeps the assay's id and takes the next version",
                               code="bad_assay", field="version")
        unknown = changes.keys() - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise InvalidInput(f"an assay has no {', '.join(sorted(unknown))}",
                               code="bad_assay", field=sorted(unknown)[0])
        return dataclasses.replace(self, version=self.version + 1, **changes)  # type: ignore[arg-type]

    def table(self) -> tuple[TableRow, ...]:
        """The interpretation table :func:`interpret` applies, in words with this assay's
        numbers, for a page or a report to show."""
        need = self.targets_for_positive
        every = len(self.viral_targets)
        clear = "every target" if need == every else f"{need} of {every} targets"
        ic = self.internal_control
        cuts = "; ".join(
            f"{t.name} cut-off {t.cutoff:g}"
            + (f", grey zone {t.grey_from:g}–{t.cutoff:g}" if t.grey_from is not None else "")
            for t in self.viral_targets)
        last = Step.RECALL
        return (
            TableRow(Reason.TARGETS_DETECTED, f"{clear} below the cut-off and the grey zone "
                     f"({cuts})", Call.POSITIVE, Call.POSITIVE, Step.RELEASE, Step.RELEASE),
            TableRow(Reason.SINGLE_TARGET, f"fewer than {need} targets below the cut-off",
                     Call.RETEST, Call.RECALL_SINGLE_TARGET, Step.RERUN, last),
            TableRow(Reason.GREY_ZONE, f"{need} or more targets below the cut-off, fewer than "
                     f"{need} below the grey zone", Call.RETEST, Call.RECALL_GREY_ZONE,
                     Step.RERUN, last),
            TableRow(Reason.NO_TARGET_DETECTED, f"no target below the cut-off; {ic.name} "
                     f"below {ic.cutoff:g}", Call.NEGATIVE, Call.NEGATIVE, Step.RELEASE,
                     Step.RELEASE),
            TableRow(Reason.INTERNAL_CONTROL_FAILED, f"no target below the cut-off; {ic.name} "
                     f"undetermined or at or above {ic.cutoff:g}", Call.INVALID, Call.INVALID,
                     Step.RERUN, last),
        )


def _bad(message: str, field: str) -> InvalidInput:
    return InvalidInput(message, code="bad_assay", field=field)


def _check_assay(a: Assay) -> None:
    if not isinstance(a.id, str) or not _ID_RE.fullmatch(a.id):
        raise _bad("assay id must be 1–64 lower-case letters, digits, '.', '_' or '-'", "id")
    if isinstance(a.version, bool) or not isinstance(a.version, int) or a.version < 1:
        raise _bad("assay version must be a whole number from 1", "version")
    if not isinstance(a.name, str) or not a.name.strip():
        raise _bad("assay name must not be blank", "name")
    if isinstance(a.cycles, bool) or not isinstance(a.cycles, int) \
            or not 1 <= a.cycles <= _MAX_CYCLES:
        raise _bad(f"cycles must be a whole number from 1 to {_MAX_CYCLES}", "cycles")
    if isinstance(a.reruns, bool) or not isinstance(a.reruns, int) \
            or not 0 <= a.reruns <= _MAX_RERUNS:
        raise _bad(f"reruns must be a whole number from 0 to {_MAX_RERUNS}", "reruns")
    names: set[str] = set()
    dyes: set[str] = set()
    for t in a.targets:
        _check_target(t, a.cycles)
        if t.name.casefold() in names:
            raise _bad(f"target {t.name!r} is defined twice", "targets")
        if t.dye.casefold() in dyes:
            raise _bad(f"dye {t.dye!r} is used by two targets: one channel reads one target",
                       "targets")
        names.add(t.name.casefold())
        dyes.add(t.dye.casefold())
    viral = sum(t.role is TargetRole.VIRAL for t in a.targets)
    controls = sum(t.role is TargetRole.INTERNAL_CONTROL for t in a.targets)
    if viral < 1:
        raise _bad("an assay needs at least one viral target", "targets")
    if controls != 1:
        raise _bad("an assay needs exactly one internal control target", "targets")
    if a.positive_needs is not None and (
            isinstance(a.positive_needs, bool) or not isinstance(a.positive_needs, int)
            or not 1 <= a.positive_needs <= viral):
        raise _bad(f"positive_needs must be a whole number from 1 to {viral} (the viral "
                   "targets)", "positive_needs")


def _check_target(t: Target, cycles: int) -> None:
    if not isinstance(t, Target):
        raise _bad("each target must be a Target", "targets")
    if not isinstance(t.name, str) or not t.name.strip() or t.name != t.name.strip():
        raise _bad("a target's name must not be blank or padded", "targets")
    if not isinstance(t.dye, str) or not _DYE_RE.fullmatch(t.dye):
        raise _bad(f"target {t.name}: dye must be a channel name such as FAM, VIC or CY5",
                   "targets")
    if not _is_number(t.cutoff) or not 0 < t.cutoff <= cycles:
        raise _bad(f"target {t.name}: cut-off must be a number in (0, {cycles}] (the cycles)",
                   "targets")
    if t.grey_from is None:
        return
    if t.role is TargetRole.INTERNAL_CONTROL:
        raise _bad(f"target {t.name}: the internal control has a cut-off, not a grey zone",
                   "targets")
    if not _is_number(t.grey_from) or not 0 < t.grey_from < t.cutoff:
        raise _bad(f"target {t.name}: the grey zone must start above 0 and below the cut-off "
                   f"({t.cutoff:g})", "targets")


def _is_number(value: object) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def define_assay(id: str, version: int, name: str, targets: Iterable[Target], *,
                 grey_from: float | None = None, no_template_control: bool = False,
                 positive_needs: int | None = None, reruns: int = DEFAULT_RERUNS,
                 cycles: int = DEFAULT_CYCLES) -> Assay:
    """An assay whose grey zone is set assay-wide: ``grey_from`` applies to every viral target
    that does not set its own."""
    resolved = tuple(
        dataclasses.replace(t, grey_from=grey_from)
        if isinstance(t, Target) and t.role is TargetRole.VIRAL and t.grey_from is None
        else t
        for t in targets)
    return Assay(id, version, name, resolved, no_template_control=no_template_control,
                 positive_needs=positive_needs, reruns=reruns, cycles=cycles)


#: The two-target ORF1ab/N assay with an internal control (see the module's source).
DEFAULT_ASSAY = define_assay(
    "orf1ab-n", 1, "SARS-CoV-2 ORF1ab/N real-time RT-PCR",
    (Target("ORF1ab", "FAM"),
     Target("N", "VIC"),
     Target("IC", "CY5", role=TargetRole.INTERNAL_CONTROL)),
    grey_from=DEFAULT_GREY_FROM,
)


@dataclass(frozen=True, slots=True)
class Reading:
    """One target's Ct in a well and what it means: the evidence of a call."""

    target: str
    dye: str
    ct: float | None
    signal: Signal

    def __str__(self) -> str:
        return f"{self.target} {'undetermined' if self.ct is None else f'{self.ct:g}'}"


@dataclass(frozen=True, slots=True)
class Interpretation:
    assay: AssayRef
    attempt: int  # 1 for the sample's first run
    call: Call
    reason: Reason
    step: Step
    readings: tuple[Reading, ...]  # the viral targets, in the assay's order
    internal_control: Reading

    @property
    def detected(self) -> tuple[str, ...]:
        """The targets below their cut-off (clearly or in the grey zone)."""
        return tuple(r.target for r in self.readings if r.signal is not Signal.NOT_DETECTED)

    @property
    def grey(self) -> tuple[str, ...]:
        return tuple(r.target for r in self.readings if r.signal is Signal.GREY_ZONE)

    def evidence(self) -> str:
        """The Ct values behind the call, in words: ``ORF1ab 36.1, N undetermined, IC 28``."""
        return ", ".join(str(r) for r in (*self.readings, self.internal_control))


def check_readings(assay: Assay, cts: Mapping[str, float | None]) -> dict[str, float | None]:
    """The Ct of every target of ``assay`` (viral and internal control) keyed by the target's
    name; ``None`` is undetermined. Names match case-insensitively. Every target needs a value
    (``None`` included); unknown targets, and values that are not numbers in (0, cycles], are
    refused, all of them in one error."""
    out: dict[str, float | None] = {}
    errors: list[InvalidInput] = []
    for name, value in cts.items():
        try:
            target = assay.target(str(name))
        except InvalidInput as e:
            errors.append(e)
            continue
        field = f"ct.{target.name}"
        if target.name in out:
            errors.append(InvalidInput(f"{field} is given twice", code="bad_ct", field=field))
        elif value is None:
            out[target.name] = None
        elif not _is_number(value) or not assay.takes_ct(value):
            errors.append(InvalidInput(f"{field} must be a number in (0, {assay.cycles}] or "
                                       "undetermined", code="bad_ct", field=field))
        else:
            out[target.name] = float(value)
    for target in assay.targets:
        if target.name not in out and not any(e.field == f"ct.{target.name}" for e in errors):
            errors.append(InvalidInput(f"ct.{target.name} is missing (undetermined is a value)",
                                       code="bad_ct", field=f"ct.{target.name}"))
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise InvalidFields(errors)
    return out


def interpret(assay: Assay, cts: Mapping[str, float | None], *, attempt: int = 1) -> Interpretation:
    """The call for one well of a sample: ``cts`` per target (see :func:`check_readings`),
    ``attempt`` the run of this sample (1 the first; a run on a plate that failed its controls
    does not count). The sample's last permitted run is ``1 + assay.reruns``."""
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise InvalidInput("attempt must be a whole number from 1", code="bad_attempt",
                           field="attempt")
    values = check_readings(assay, cts)
    readings = tuple(Reading(t.name, t.dye, values[t.name], t.signal(values[t.name]))
                     for t in assay.viral_targets)
    ic = assay.internal_control
    ic_reading = Reading(ic.name, ic.dye, values[ic.name], ic.signal(values[ic.name]))
    last_run = attempt > assay.reruns
    need = assay.targets_for_positive
    clear = sum(r.signal is Signal.DETECTED for r in readings)
    detected = sum(r.signal is not Signal.NOT_DETECTED for r in readings)

    def made(call: Call, reason: Reason, step: Step) -> Interpretation:
        return Interpretation(assay.ref, attempt, call, reason, step, readings, ic_reading)

    if clear >= need:
        return made(Call.POSITIVE, Reason.TARGETS_DETECTED, Step.RELEASE)
    if detected == 0:
        if ic_reading.signal is Signal.DETECTED:
            return made(Call.NEGATIVE, Reason.NO_TARGET_DETECTED, Step.RELEASE)
        return made(Call.INVALID, Reason.INTERNAL_CONTROL_FAILED,
                    Step.RECALL if last_run else Step.RERUN)
    if detected < need:
        if last_run:
            return made(Call.RECALL_SINGLE_TARGET, Reason.SINGLE_TARGET, Step.RECALL)
        return made(Call.RETEST, Reason.SINGLE_TARGET, Step.RERUN)
    if last_run:
        return made(Call.RECALL_GREY_ZONE, Reason.GREY_ZONE, Step.RECALL)
    return made(Call.RETEST, Reason.GREY_ZONE, Step.RERUN)
