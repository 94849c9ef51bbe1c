"""A lab's message, read: what it says of each specimen, or why that cannot be applied.

A lab's system sends its results as HL7 v2 or FHIR; the adapters read either into one neutral
form (``services.interop_ports.LabMessage``), each result of which has the shape of
:class:`ReportedResult`. :func:`specimen_outcomes` maps a message's results, with the lab's own
codes (:class:`LocalCodes`), to one outcome per specimen:

* :class:`SpecimenOutcome`: the finding (detected, not detected, inconclusive, …), which gives
  the tube's result (positive, negative or invalid), the Ct per target, and whether the lab
  corrected an earlier result; or
* :class:`CannotApply`: why the message cannot be applied to that specimen (an unmapped code, a
  preliminary result, no specimen id, …), in words that name what was sent.

A valid message never raises here: whatever it says ends as outcomes, so nothing a lab sends is
dropped without a reason.

How a specimen's results decide (docs/INTEROP.md):

* the tests are the SARS-CoV-2 nucleic-acid tests (:data:`lab_codes.NAA_TESTS`, or a lab's code
  mapped to one); other tests in the message (influenza, RSV in a multiplex panel, the
  ask-at-order-entry answers) are left aside. None at all: ``unmapped_code`` naming the codes
  sent, or ``not_nucleic_acid`` for a SARS-CoV-2 antigen or antibody test;
* every such result must be final or corrected: ``preliminary``, ``withdrawn`` or
  ``status_unknown`` otherwise; a result the lab could not do (status X) is NOT_DONE;
* the overall result (the virus, not a gene) decides; two overall results that differ are
  ``conflicting``. Without one, the genes decide: all detected → detected, none → not detected,
  some → inconclusive (a single target is re-tested, as the national guidance asks);
* Ct values come from numeric observations with a Ct code (:data:`lab_codes.CT_CODES`, or a lab's
  code mapped to one) in a Ct unit.

Imports: standard library, ``hesuan.domain``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from hesuan.domain.lab_codes import (
    CT_CODES,
    CT_UNITS,
    LOINC,
    NAA_TESTS,
    NOT_NAA_TESTS,
    SNOMED,
    SNOMED_FINDINGS,
    Concept,
    Finding,
    ResultStatus,
    finding_of_text,
)
from hesuan.domain.results import Result

__all__ = [
    "ANSWER_BUNDLES",
    "DEFAULT_ID_ORDER",
    "MESSAGE_REFUSALS",
    "NO_LOCAL_CODES",
    "PROCESSING_MODES",
    "CannotApply",
    "IdSource",
    "LocalCodes",
    "Measurement",
    "ObservedValue",
    "ProcessingId",
    "ReportedResult",
    "SpecimenId",
    "SpecimenOutcome",
    "Unapplicable",
    "bundle_refusal",
    "message_refusal",
    "specimen_outcomes",
]


class IdSource(enum.StrEnum):
    """Where a specimen id candidate was read (a lab's configuration chooses which to match)."""

    SPECIMEN_PLACER = "specimen_placer"  # SPM-2.1; FHIR Specimen.identifier (PGN, or untyped)
    SPECIMEN_FILLER = "specimen_filler"  # SPM-2.2; Specimen.accessionIdentifier or FGN
    FILLER_ORDER = "filler_order"  # OBR-3 (ORC-3); DiagnosticReport/ServiceRequest FILL
    PLACER_ORDER = "placer_order"  # OBR-2 (ORC-2); ServiceRequest/DiagnosticReport PLAC


#: The tube's barcode is the sampler's (the placer's) specimen id: looked for first.
DEFAULT_ID_ORDER: tuple[IdSource, ...] = (
    IdSource.SPECIMEN_PLACER, IdSource.SPECIMEN_FILLER, IdSource.FILLER_ORDER,
    IdSource.PLACER_ORDER)


@dataclass(frozen=True, slots=True)
class SpecimenId:
    """One candidate for the specimen's id, with where it was read and who assigned it."""

    source: IdSource
    value: str
    assigner: str = ""


@dataclass(frozen=True, slots=True)
class ObservedValue:
    """An observation's value as sent: a code, words, or a number with its units (and a
    comparator such as ``>`` for an HL7 SN value). Empty: no value."""

    coded: Concept | None = None
    text: str = ""
    number: float | None = None
    units: str = ""
    comparator: str = ""

    @property
    def empty(self) -> bool:
        return self.coded is None and not self.text and self.number is None

    def __str__(self) -> str:
        if self.coded is not None:
            return str(self.coded)
        if self.number is not None:
            n = f"{self.comparator}{self.number:g}"
            return f"{n} {self.units}" if self.units else n
        return self.text


@dataclass(frozen=True, slots=True)
class Measurement:
    """A numeric observation beside a result (a Ct value): its test and value."""

    test: Concept
    value: ObservedValue


class ReportedResult(Protocol):
    """One qualitative result of a message, as the readers give it."""

    @property
    def specimen_ids(self) -> tuple[SpecimenId, ...]: ...

    @property
    def test(self) -> Concept: ...

    @property
    def value(self) -> ObservedValue: ...

    @property
    def measurements(self) -> tuple[Measurement, ...]: ...

    @property
    def status(self) -> ResultStatus: ...


@dataclass(frozen=True, slots=True)
class LocalCodes:
    """A lab's own codes, from its configuration: its test codes (each to the LOINC code of a
    SARS-CoV-2 NAA test or of a Ct) and its result codes and words (each to a finding)."""

    tests: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Finding] = field(default_factory=dict)


NO_LOCAL_CODES = LocalCodes()


class Unapplicable(enum.StrEnum):
    """Why a specimen's results, or a whole message's, cannot be applied."""

    UNMAPPED_CODE = "unmapped_code"
    UNMAPPED_VALUE = "unmapped_value"
    NOT_NUCLEIC_ACID = "not_nucleic_acid"
    PRELIMINARY = "preliminary"
    WITHDRAWN = "withdrawn"
    STATUS_UNKNOWN = "status_unknown"
    CONFLICTING = "conflicting"
    NO_SPECIMEN_ID = "no_specimen_id"
    NO_RESULT = "no_result"
    # the message as a whole is not one this platform takes (:func:`message_refusal`)
    UNSUPPORTED_MESSAGE_TYPE = "unsupported_message_type"
    UNSUPPORTED_EVENT = "unsupported_event"
    UNSUPPORTED_PROCESSING_ID = "unsupported_processing_id"

    @property
    def words(self) -> str:
        return _REASON_WORDS[self]


_REASON_WORDS: dict[Unapplicable, str] = {
    Unapplicable.UNMAPPED_CODE: "unmapped code",
    Unapplicable.UNMAPPED_VALUE: "unmapped value",
    Unapplicable.NOT_NUCLEIC_ACID: "not a nucleic-acid test",
    Unapplicable.PRELIMINARY: "preliminary",
    Unapplicable.WITHDRAWN: "withdrawn by the lab",
    Unapplicable.STATUS_UNKNOWN: "result status unknown",
    Unapplicable.CONFLICTING: "conflicting results",
    Unapplicable.NO_SPECIMEN_ID: "no specimen id",
    Unapplicable.NO_RESULT: "no result",
    Unapplicable.UNSUPPORTED_MESSAGE_TYPE: "not a results message",
    Unapplicable.UNSUPPORTED_EVENT: "not a results event",
    Unapplicable.UNSUPPORTED_PROCESSING_ID: "another processing mode",
}
#: The reasons that refuse a message as a whole (answered AR, not AE).
MESSAGE_REFUSALS = frozenset({Unapplicable.UNSUPPORTED_MESSAGE_TYPE,
                              Unapplicable.UNSUPPORTED_EVENT,
                              Unapplicable.UNSUPPORTED_PROCESSING_ID})
#: The HL7 v2 message type and trigger event results come in (MSH-9): unsolicited observations.
RESULTS_MESSAGE = ("ORU", "R01")
#: FHIR Bundle types that are a server's answer (a search's matches, a resource's history, a
#: transaction's or batch's response): copies of what a server holds, not results a lab sends.
ANSWER_BUNDLES = frozenset({"searchset", "history", "transaction-response", "batch-response"})
#: HL7 table 0103: a message's processing id, and what each means.
ProcessingId = Literal["P", "T", "D"]
PROCESSING_MODES: dict[str, str] = {"P": "production", "T": "training", "D": "debugging"}


@dataclass(frozen=True, slots=True)
class SpecimenOutcome:
    """What the lab found for one specimen: the finding, the Ct per target, whether it corrects
    an earlier result, the LOINC code of the test that decided, and notes on what was left aside
    (a Ct value without a known target, a gene result beside the overall one)."""

    specimen_id: str
    finding: Finding
    ct: Mapping[str, float]
    corrected: bool
    test: str
    notes: tuple[str, ...] = ()

    @property
    def result(self) -> Result:
        return self.finding.result

    @property
    def rejected(self) -> bool:
        return self.finding.rejected


@dataclass(frozen=True, slots=True)
class CannotApply:
    """Why a specimen's results (or the whole message, with no specimen id) cannot be applied;
    ``detail`` names what was sent."""

    specimen_id: str | None
    reason: Unapplicable
    detail: str

    def __str__(self) -> str:
        return f"cannot apply: {self.reason.words}: {self.detail}"


Outcome = SpecimenOutcome | CannotApply


def message_refusal(message_type: str, processing_id: str,
                    accepted: ProcessingId) -> CannotApply | None:
    """Why a message as a whole is not taken, or None (HL7 v2.5 2.9.2: a receiver answers AR to
    a message type, trigger event or processing id it does not take). ``message_type`` is
    MSH-9's type and event (``ORU^R01``; empty: the message names none, as a FHIR one does);
    ``processing_id`` the message's (empty: it says none); ``accepted`` the one this platform
    applies. A training message's results are made up: on a production platform they would
    reach real people's tubes."""
    kind, _, event = message_type.upper().partition("^")
    if kind and kind != RESULTS_MESSAGE[0]:
        return CannotApply(None, Unapplicable.UNSUPPORTED_MESSAGE_TYPE,
                           f"MSH-9 is {message_type}; results come as ORU^R01")
    if kind and event and event != RESULTS_MESSAGE[1]:
        return CannotApply(None, Unapplicable.UNSUPPORTED_EVENT,
                           f"MSH-9 is {message_type}; results come as ORU^R01")
    if processing_id and processing_id.upper() != accepted:
        mode = PROCESSING_MODES.get(processing_id.upper(), "unknown")
        return CannotApply(None, Unapplicable.UNSUPPORTED_PROCESSING_ID,
                           f"processing id {processing_id} ({mode}); this platform applies "
                           f"{accepted} ({PROCESSING_MODES[accepted]}) messages")
    return None


def bundle_refusal(bundle_type: str, trigger_event: str) -> CannotApply | None:
    """Why a FHIR Bundle is not taken as results, or None: a server's answer
    (``ANSWER_BUNDLES``), or a message whose MessageHeader names an HL7 v2 trigger event (table
    0003) other than the unsolicited observation, R01 (``trigger_event`` empty: it names none
    of that table). Its processing id is ``message_refusal``'s."""
    if bundle_type.lower() in ANSWER_BUNDLES:
        return CannotApply(None, Unapplicable.UNSUPPORTED_MESSAGE_TYPE,
                           f"Bundle.type is {bundle_type}, a server's answer; results come as "
                           "a message, collection, transaction or batch Bundle")
    if trigger_event and trigger_event.upper() != RESULTS_MESSAGE[1]:
        return CannotApply(None, Unapplicable.UNSUPPORTED_EVENT,
                           f"the {bundle_type} Bundle's MessageHeader names the HL7 v2 event "
                           f"{trigger_event}; results come as {RESULTS_MESSAGE[1]}")
    return None


def specimen_outcomes(results: Sequence[ReportedResult], codes: LocalCodes = NO_LOCAL_CODES,
                      id_order: Sequence[IdSource] = DEFAULT_ID_ORDER) -> list[Outcome]:
    """One outcome per specimen of a message's results, the specimen named by the first id
    source of ``id_order`` that a result carries; in the order the specimens first appear."""
    if not results:
        return [CannotApply(None, Unapplicable.NO_RESULT, "the message holds no observation")]
    groups: dict[str | None, list[ReportedResult]] = {}
    for r in results:
        groups.setdefault(_specimen_id(r, id_order), []).append(r)
    out: list[Outcome] = []
    for sid, group in groups.items():
        if sid is None:
            sources = ", ".join(s.value for s in id_order)
            out.append(CannotApply(None, Unapplicable.NO_SPECIMEN_ID,
                                   f"no {sources} for {_tests_named(group)}"))
        else:
            out.append(_outcome(sid, group, codes))
    return out


def _specimen_id(result: ReportedResult, id_order: Sequence[IdSource]) -> str | None:
    for source in id_order:
        for sid in result.specimen_ids:
            if sid.source is source and sid.value.strip():
                return sid.value.strip()
    return None


def _tests_named(results: Iterable[ReportedResult]) -> str:
    return "; ".join(dict.fromkeys(str(r.test) for r in results)) or "no test"


def _loinc(test: Concept, codes: LocalCodes) -> str | None:
    """The LOINC code a test is known by here: a LOINC code it was sent with that a table
    holds, then the lab's mapping of any of its codes (a lab maps its own codes, never a
    standard one), then any LOINC code it was sent with."""
    loincs = test.codes(LOINC)
    for code in loincs:
        if code in NAA_TESTS or code in CT_CODES or code in NOT_NAA_TESTS:
            return code
    for c in test.codings:
        if c.code in codes.tests:
            return codes.tests[c.code]
    if test.text in codes.tests:
        return codes.tests[test.text]
    return loincs[0] if loincs else None


def _finding(value: ObservedValue, codes: LocalCodes) -> Finding | None:
    """The finding a result value names: SNOMED CT first, then the lab's mapping of its codes,
    then the result words (a code's display words too) before the lab's mapping of words — a
    lab maps its own codes and words, never a standard one."""
    candidates: list[str] = []
    if value.coded is not None:
        for c in value.coded.codings:
            if c.system == SNOMED and c.code in SNOMED_FINDINGS:
                return SNOMED_FINDINGS[c.code]
        for c in value.coded.codings:
            if c.code in codes.values:
                return codes.values[c.code]
            candidates += [c.code, c.display]
        candidates.append(value.coded.text)
    candidates.append(value.text)
    for words in candidates:
        if not words:
            continue
        found = finding_of_text(words)
        if found is not None:
            return found
        if words in codes.values:
            return codes.values[words]
    return None


def _outcome(sid: str, group: list[ReportedResult], codes: LocalCodes) -> Outcome:
    naa: list[tuple[ReportedResult, str]] = []
    not_naa: list[tuple[ReportedResult, str]] = []
    measurements: list[Measurement] = []
    for r in group:
        loinc = _loinc(r.test, codes)
        measurements += r.measurements
        if loinc in NAA_TESTS:
            naa.append((r, loinc))
        elif loinc in CT_CODES:
            measurements.append(Measurement(r.test, r.value))
        elif loinc in NOT_NAA_TESTS:
            not_naa.append((r, loinc))
    if not naa:
        if not_naa:
            r, loinc = not_naa[0]
            return CannotApply(sid, Unapplicable.NOT_NUCLEIC_ACID,
                               f"{r.test} is a SARS-CoV-2 {NOT_NAA_TESTS[loinc]} test")
        return CannotApply(sid, Unapplicable.UNMAPPED_CODE,
                           f"no SARS-CoV-2 nucleic-acid test among {_tests_named(group)}")
    for r, _ in naa:
        blocked = _blocked_by_status(r.status)
        if blocked is not None:
            return CannotApply(sid, blocked, f"{r.test} is {r.status.value}")
    findings: list[tuple[Finding, str]] = []
    for r, loinc in naa:
        if r.status is ResultStatus.CANNOT_BE_DONE:
            findings.append((Finding.NOT_DONE, loinc))
            continue
        found = _finding(r.value, codes)
        if found is None:
            what = str(r.value) if not r.value.empty else "no value"
            return CannotApply(sid, Unapplicable.UNMAPPED_VALUE, f"{what} for {r.test}")
        findings.append((found, loinc))
    decided = _decide(sid, findings)
    if isinstance(decided, CannotApply):
        return decided
    finding, test, notes = decided
    ct, ct_notes = _ct_values(measurements, codes)
    corrected = any(r.status is ResultStatus.CORRECTED for r, _ in naa)
    return SpecimenOutcome(sid, finding, ct, corrected, test, notes + ct_notes)


def _blocked_by_status(status: ResultStatus) -> Unapplicable | None:
    if status is ResultStatus.PRELIMINARY:
        return Unapplicable.PRELIMINARY
    if status is ResultStatus.WITHDRAWN:
        return Unapplicable.WITHDRAWN
    if status is ResultStatus.UNKNOWN:
        return Unapplicable.STATUS_UNKNOWN
    return None


def _decide(sid: str, findings: list[tuple[Finding, str]]
            ) -> tuple[Finding, str, tuple[str, ...]] | CannotApply:
    overall = [(f, t) for f, t in findings if NAA_TESTS[t].gene is None]
    genes = [(f, t) for f, t in findings if NAA_TESTS[t].gene is not None]
    if overall:
        if len({f.result for f, _ in overall}) > 1:
            said = ", ".join(f"{t} {f.value}" for f, t in overall)
            return CannotApply(sid, Unapplicable.CONFLICTING, said)
        finding, test = overall[0]
        if _genes_contradict(finding.result, [f.result for f, _ in genes]):
            said = "; ".join(f"{t} {f.value}" for f, t in (*overall, *genes))
            return CannotApply(sid, Unapplicable.CONFLICTING,
                               f"the genes contradict the overall result: {said}")
        notes = tuple(f"gene result {t} {f.value} left aside for the overall result"
                      for f, t in genes)
        return finding, test, notes
    unclear = [(f, t) for f, t in genes if f.result is Result.INVALID]
    if unclear:
        rejected = [(f, t) for f, t in unclear if f.rejected]
        finding, test = (rejected or unclear)[0]
        return finding, test, ()
    detected = [(f, t) for f, t in genes if f.result is Result.POSITIVE]
    if not detected:
        return Finding.NOT_DETECTED, genes[0][1], ()
    if len(detected) == len(genes):
        presumptive = any(f is Finding.PRESUMPTIVE_POSITIVE for f, _ in detected)
        return (Finding.PRESUMPTIVE_POSITIVE if presumptive else Finding.DETECTED,
                detected[0][1], ())
    said = ", ".join(f"{NAA_TESTS[t].gene} {f.value}" for f, t in genes)
    return Finding.INCONCLUSIVE, detected[0][1], (f"targets disagree: {said}",)


def _genes_contradict(overall: Result, genes: list[Result]) -> bool:
    """An overall negative beside a gene detected, or an overall positive beside genes of
    which none is detected (those with a clear answer): which one is true is the lab's to
    say, not the platform's to guess."""
    clear = [g for g in genes if g is not Result.INVALID]
    if overall is Result.NEGATIVE:
        return Result.POSITIVE in clear
    if overall is Result.POSITIVE:
        return bool(clear) and Result.POSITIVE not in clear
    return False


def _ct_values(measurements: Iterable[Measurement], codes: LocalCodes
               ) -> tuple[dict[str, float], tuple[str, ...]]:
    ct: dict[str, float] = {}
    notes: list[str] = []
    for m in measurements:
        loinc = _loinc(m.test, codes)
        units = m.value.units.strip().lower()
        if loinc not in CT_CODES:
            if units in CT_UNITS - {""}:
                notes.append(f"Ct value {m.value} of {m.test} left aside: no known target")
            continue
        target = CT_CODES[loinc]
        number = m.value.number if m.value.number is not None else _number(m.value.text)
        if units not in CT_UNITS:
            notes.append(f"Ct value {m.value} of {m.test} left aside: not in a Ct unit")
        elif number is None or m.value.comparator or not math.isfinite(number):
            notes.append(f"Ct of {target} not a number: {m.value or 'no value'}")
        elif target in ct and ct[target] != number:
            notes.append(f"a second Ct of {target} ({number:g}) left aside")
        else:
            ct[target] = number
    return ct, tuple(notes)


def _number(text: str) -> float | None:
    """A Ct sent as words (an HL7 ST value): its number, or None (``Undetermined``)."""
    try:
        return float(text.strip())
    except ValueError:
        return None
