"""The code tables of lab messages: what a SARS-CoV-2 nucleic-acid test is called, what its result
codes and words mean, which code carries which target's Ct, and what a result's status means.

A lab's message names its test with a LOINC code, its result with a SNOMED CT code or a word,
and its status with a letter of HL7 table 0085 (or a FHIR ``Observation.status``). The tables
here are the codes a SARS-CoV-2 nucleic-acid amplification (NAA, PCR) result is sent with.

Sources: the CDC's LIVD table for SARS-CoV-2 (``LIVD-SARS-CoV-2-2022-01-12.csv``, test kit →
LOINC of the test performed → SNOMED CT result codes; a copy is in the test fixtures) and the LOINC
SARS-CoV-2 terms it draws on, the Ct codes among them (LOINC's ``[Cycle Threshold #]`` terms,
UCUM unit ``{Ct_value}``). docs/INTEROP.md lists the tables.

Imports: standard library only.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from hesuan.domain.results import Result

__all__ = [
    "CT_CODES",
    "CT_UNITS",
    "LOINC",
    "NAA_TESTS",
    "NOT_NAA_TESTS",
    "SNOMED",
    "SNOMED_FINDINGS",
    "TEXT_FINDINGS",
    "UCUM",
    "Coding",
    "Concept",
    "Finding",
    "NaaTest",
    "ResultStatus",
    "code_system",
    "finding_of_text",
    "standard_finding",
    "standard_test",
    "status_of_fhir",
    "status_of_hl7",
]

#: The code systems, by their HL7 v2 names (table 0396).
LOINC = "LN"
SNOMED = "SCT"
UCUM = "UCUM"

#: How messages name the code systems: HL7 v2 mnemonics and FHIR URIs, to one name each.
_SYSTEMS: dict[str, str] = {
    "ln": LOINC, "loinc": LOINC, "http://loinc.org": LOINC, "urn:oid:2.16.840.1.113883.6.1": LOINC,
    "sct": SNOMED, "snm": SNOMED, "sno": SNOMED, "snomed": SNOMED, "snomedct": SNOMED,
    "snomed ct": SNOMED, "http://snomed.info/sct": SNOMED, "urn:oid:2.16.840.1.113883.6.96": SNOMED,
    "ucum": UCUM, "http://unitsofmeasure.org": UCUM, "urn:oid:2.16.840.1.113883.6.8": UCUM,
}


def code_system(raw: str) -> str:
    """The one name of a code system as a message names it (``LN``, ``http://loinc.org`` →
    ``LN``); a system not known here (a lab's local one) as given."""
    return _SYSTEMS.get(raw.strip().lower(), raw.strip())


@dataclass(frozen=True, slots=True)
class Coding:
    """One code: its system (``LN``, ``SCT``, ``UCUM`` or a lab's own, see :func:`code_system`),
    the code and the words the sender gave it."""

    system: str
    code: str
    display: str = ""

    def __str__(self) -> str:
        named = f"{self.code} ({self.system})" if self.system else self.code
        return f"{named} {self.display}" if self.display else named


@dataclass(frozen=True, slots=True)
class Concept:
    """A coded thing as sent: every coding given for it (HL7's primary and alternate codes, or
    a FHIR CodeableConcept's codings) and its text."""

    codings: tuple[Coding, ...] = ()
    text: str = ""

    def codes(self, system: str) -> tuple[str, ...]:
        return tuple(c.code for c in self.codings if c.system == system and c.code)

    def __str__(self) -> str:
        if self.codings:
            return " / ".join(str(c) for c in self.codings)
        return self.text


class Finding(enum.StrEnum):
    """What a lab found for a specimen, in the words of the result codes."""

    DETECTED = "detected"
    PRESUMPTIVE_POSITIVE = "presumptive_positive"
    NOT_DETECTED = "not_detected"
    INCONCLUSIVE = "inconclusive"  # to be re-tested
    INVALID = "invalid"  # the run failed for this specimen: to be re-tested
    UNSATISFACTORY = "unsatisfactory"  # the specimen could not be tested: rejected
    NOT_DONE = "not_done"  # the lab could not do the test (HL7 status X): rejected

    @property
    def result(self) -> Result:
        """The result it gives a tube: positive, negative or invalid."""
        if self in (Finding.DETECTED, Finding.PRESUMPTIVE_POSITIVE):
            return Result.POSITIVE
        if self is Finding.NOT_DETECTED:
            return Result.NEGATIVE
        return Result.INVALID

    @property
    def rejected(self) -> bool:
        """The specimen could not be tested at all (its people need a new sample), rather than
        tested without a clear answer."""
        return self in (Finding.UNSATISFACTORY, Finding.NOT_DONE)


#: SNOMED CT result codes (LIVD "Vendor Result Description") → finding.
SNOMED_FINDINGS: dict[str, Finding] = {
    "260373001": Finding.DETECTED,
    "10828004": Finding.DETECTED,  # Positive
    "462371000124108": Finding.DETECTED,  # Detected in pooled specimen
    "260408008": Finding.DETECTED,  # Weakly positive
    "720735008": Finding.PRESUMPTIVE_POSITIVE,
    "260415000": Finding.NOT_DETECTED,
    "260385009": Finding.NOT_DETECTED,  # Negative
    "895231008": Finding.NOT_DETECTED,  # Not detected in pooled specimen
    "419984006": Finding.INCONCLUSIVE,
    "82334004": Finding.INCONCLUSIVE,  # Indeterminate
    "42425007": Finding.INCONCLUSIVE,  # Equivocal
    "897500001": Finding.INCONCLUSIVE,  # Indeterminate in pooled specimen
    "455371000124106": Finding.INVALID,
    "125154007": Finding.UNSATISFACTORY,  # Specimen unsatisfactory for evaluation
    "373121007": Finding.NOT_DONE,  # Test not done
}

#: Result words (case, spaces, hyphens and underscores do not count) → finding.
TEXT_FINDINGS: dict[str, Finding] = {
    "detected": Finding.DETECTED,
    "positive": Finding.DETECTED,
    "pos": Finding.DETECTED,
    "阳性": Finding.DETECTED,
    "presumptive positive": Finding.PRESUMPTIVE_POSITIVE,
    "not detected": Finding.NOT_DETECTED,
    "undetected": Finding.NOT_DETECTED,
    "negative": Finding.NOT_DETECTED,
    "neg": Finding.NOT_DETECTED,
    "阴性": Finding.NOT_DETECTED,
    "未检出": Finding.NOT_DETECTED,
    "检出": Finding.DETECTED,
    "inconclusive": Finding.INCONCLUSIVE,
    "indeterminate": Finding.INCONCLUSIVE,
    "equivocal": Finding.INCONCLUSIVE,
    "可疑": Finding.INCONCLUSIVE,
    "invalid": Finding.INVALID,
    "无效": Finding.INVALID,
    "specimen unsatisfactory": Finding.UNSATISFACTORY,
    "rejected": Finding.UNSATISFACTORY,
    "不合格": Finding.UNSATISFACTORY,
}


def _words(text: str) -> str:
    return re.sub(r"[\s_\-]+", " ", text.strip().lower()).strip(" .")


def finding_of_text(text: str) -> Finding | None:
    """The finding a result word names (``Not Detected``, ``NEGATIVE``, ``阴性``), or None."""
    return TEXT_FINDINGS.get(_words(text))


@dataclass(frozen=True, slots=True)
class NaaTest:
    """A SARS-CoV-2 nucleic-acid test: its name, and the gene it reports on (None: the virus,
    the test's overall result)."""

    name: str
    gene: str | None = None


_RNA = NaaTest("SARS-CoV-2 RNA")
_SARSR = NaaTest("SARS-related coronavirus RNA")
_PANEL = NaaTest("SARS-CoV-2 RNA panel")

#: LOINC codes of SARS-CoV-2 NAA tests (LIVD "Test Performed LOINC Code", and the SARS-CoV-2
#: RNA panels LIVD lists as ordered, which a lab's system sometimes sends a result under).
NAA_TESTS: dict[str, NaaTest] = {
    # The virus: the overall result.
    "94309-2": _RNA,  # unspecified specimen
    "94500-6": _RNA,  # respiratory specimen
    "94565-9": _RNA,  # nasopharynx, non-probe detection
    "94759-8": _RNA,  # nasopharynx
    "94845-5": _RNA,  # saliva
    "95406-5": _RNA,  # nose
    "95608-6": _RNA,  # respiratory, non-probe detection
    "94660-8": _RNA,  # serum or plasma
    "94502-2": _SARSR,  # respiratory
    "94647-5": _SARSR,  # unspecified
    "94531-1": _PANEL,  # respiratory
    "94306-8": _PANEL,  # unspecified
    "95826-4": _PANEL,  # saliva
    # One gene or region.
    "94533-7": NaaTest("SARS-CoV-2 N gene", "N"),
    "94316-7": NaaTest("SARS-CoV-2 N gene", "N"),
    "94760-6": NaaTest("SARS-CoV-2 N gene", "N"),
    "95409-9": NaaTest("SARS-CoV-2 N gene", "N"),
    "95425-5": NaaTest("SARS-CoV-2 N gene", "N"),
    "96986-5": NaaTest("SARS-CoV-2 N gene", "N"),
    "94766-3": NaaTest("SARS-CoV-2 N gene", "N"),
    "94310-0": NaaTest("SARS-like coronavirus N gene", "N"),
    "94307-6": NaaTest("SARS-CoV-2 N gene, primer-probe set N1", "N1"),
    "94756-4": NaaTest("SARS-CoV-2 N gene, primer-probe set N1", "N1"),
    "96448-6": NaaTest("SARS-CoV-2 N gene, primer-probe set N1", "N1"),
    "94308-4": NaaTest("SARS-CoV-2 N gene, primer-probe set N2", "N2"),
    "94757-2": NaaTest("SARS-CoV-2 N gene, primer-probe set N2", "N2"),
    "94559-2": NaaTest("SARS-CoV-2 ORF1ab region", "ORF1ab"),
    "94639-2": NaaTest("SARS-CoV-2 ORF1ab region", "ORF1ab"),
    "98132-4": NaaTest("SARS-CoV-2 ORF1a region", "ORF1a"),
    "94534-5": NaaTest("SARS-CoV-2 RdRp gene", "RdRp"),
    "94314-2": NaaTest("SARS-CoV-2 RdRp gene", "RdRp"),
    "96091-4": NaaTest("SARS-CoV-2 RdRp gene", "RdRp"),
    "96123-5": NaaTest("SARS-CoV-2 RdRp gene", "RdRp"),
    "94758-0": NaaTest("SARS-related coronavirus E gene", "E"),
    "94315-9": NaaTest("SARS-CoV-2 E gene", "E"),
    "94765-5": NaaTest("SARS-CoV-2 E gene", "E"),
    "94640-0": NaaTest("SARS-CoV-2 S gene", "S"),
    "94641-8": NaaTest("SARS-CoV-2 S gene", "S"),
    "94767-1": NaaTest("SARS-CoV-2 S gene", "S"),
    "97098-8": NaaTest("SARS-CoV-2 Nsp2 gene", "Nsp2"),
}

#: LOINC codes of SARS-CoV-2 tests that are not nucleic-acid amplification: antigen, antibody,
#: sequencing and culture (LIVD and LOINC). Their results are not PCR results.
NOT_NAA_TESTS: dict[str, str] = {
    **dict.fromkeys(("94558-4", "95209-3", "96119-3", "97097-0"), "antigen"),
    **dict.fromkeys((
        "94503-0", "94504-8", "94505-5", "94506-3", "94507-1", "94508-9", "94547-7", "94562-6",
        "94563-4", "94564-2", "94661-6", "94720-0", "94761-4", "94762-2", "94768-9", "94769-7",
        "95125-1", "95410-7", "95411-5", "95416-4", "95427-1", "95428-9", "95429-7", "95542-7",
        "96118-5", "96603-6", "96742-2", "98069-8"), "antibody"),
    **dict.fromkeys(("94764-8", "94822-4", "95424-8", "95609-4", "95970-0"), "sequencing"),
    "94763-0": "culture",
}

#: LOINC ``[Cycle Threshold #]`` codes → the target whose Ct they carry ("RNA": the kit's
#: target, not named).
CT_CODES: dict[str, str] = {
    "94509-7": "E",
    "94510-5": "N",
    "94313-4": "N",  # SARS-like coronavirus N gene
    "94311-8": "N1",
    "94312-6": "N2",
    "94511-3": "ORF1ab",
    "94644-2": "ORF1ab",
    "94645-9": "RdRp",
    "94646-7": "RdRp",
    "94642-6": "S",
    "94643-4": "S",
    "94745-7": "RNA",
    "94746-5": "RNA",
}

#: Units a Ct value is sent in: UCUM ``{Ct_value}`` (and the forms labs write it in); none.
CT_UNITS = frozenset({"", "{ct_value}", "{ct}", "ct", "{cycles}", "cycles", "{cycle}"})


class ResultStatus(enum.StrEnum):
    """A result's status: HL7 table 0085 (OBX-11) and FHIR ``Observation.status`` in one."""

    FINAL = "final"  # F, U; final
    CORRECTED = "corrected"  # C; corrected, amended
    PRELIMINARY = "preliminary"  # P, R, S, I, O; preliminary, registered
    CANNOT_BE_DONE = "cannot_be_done"  # X; cancelled
    WITHDRAWN = "withdrawn"  # D, W; entered-in-error
    UNKNOWN = "unknown"  # N, none given, or a letter not in the table


_HL7_STATUS: dict[str, ResultStatus] = {
    "F": ResultStatus.FINAL, "U": ResultStatus.FINAL,
    "C": ResultStatus.CORRECTED,
    "P": ResultStatus.PRELIMINARY, "R": ResultStatus.PRELIMINARY, "S": ResultStatus.PRELIMINARY,
    "I": ResultStatus.PRELIMINARY, "O": ResultStatus.PRELIMINARY,
    "X": ResultStatus.CANNOT_BE_DONE,
    "D": ResultStatus.WITHDRAWN, "W": ResultStatus.WITHDRAWN,
}

_FHIR_STATUS: dict[str, ResultStatus] = {
    "final": ResultStatus.FINAL,
    "corrected": ResultStatus.CORRECTED, "amended": ResultStatus.CORRECTED,
    "preliminary": ResultStatus.PRELIMINARY, "registered": ResultStatus.PRELIMINARY,
    "cancelled": ResultStatus.CANNOT_BE_DONE,
    "entered-in-error": ResultStatus.WITHDRAWN,
}


def status_of_hl7(code: str) -> ResultStatus:
    """An OBX-11 (or OBR-25) letter as a status."""
    return _HL7_STATUS.get(code.strip().upper(), ResultStatus.UNKNOWN)


def status_of_fhir(code: str) -> ResultStatus:
    """A FHIR ``Observation.status`` (or ``DiagnosticReport.status``) as a status."""
    return _FHIR_STATUS.get(code.strip().lower(), ResultStatus.UNKNOWN)


def standard_finding(code_or_words: str) -> Finding | None:
    """The finding a SNOMED CT result code or the result words name whatever a lab maps: a
    lab's mapping is for its own codes, never to give these another meaning."""
    key = code_or_words.strip()
    return SNOMED_FINDINGS.get(key) or finding_of_text(key)


def standard_test(code: str) -> str | None:
    """What a LOINC code known here names (a nucleic-acid test, a Ct, or another kind of
    test), or None: a lab's test mapping is for its own codes."""
    key = code.strip()
    if key in NAA_TESTS:
        return "a nucleic-acid test"
    if key in CT_CODES:
        return "a Ct"
    kind = NOT_NAA_TESTS.get(key)
    return None if kind is None else f"an {kind} test" if kind[0] in "aeiou" else f"a {kind} test"
