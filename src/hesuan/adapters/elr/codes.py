"""The codes outgoing lab reports speak: LOINC for the tests, SNOMED CT for results and
specimens, UCUM for Ct values, and HL7's own tables, each with the system names HL7 v2 and
FHIR give it. The same codes and texts as the CDC's ReportStream writes (LIVD table). And the
words a corrected result says of the one it replaces, and a withdrawal of the one it withdraws.

Imports: standard library, ``hesuan.domain``, ``hesuan.services.elr_ports``.
"""

from __future__ import annotations

from dataclasses import dataclass

from hesuan.domain.local_time import local
from hesuan.domain.people import IdKind
from hesuan.domain.results import Result
from hesuan.services.elr_ports import ElrReport, OrderCode, Sex, SpecimenType

__all__ = ["CT_UNIT", "LOCAL", "LOINC", "ORDER", "RESULT_TEST", "Code", "correction_note",
           "ct_code", "id_type", "interpretation", "result_code", "sex_code", "specimen_code",
           "withdrawal_note"]


@dataclass(frozen=True, slots=True)
class Code:
    """A code of one system, with its display text."""

    system: str  # the HL7 v2 coding system (table 0396): LN, SCT, UCUM, HL70078, L
    code: str
    display: str

    @property
    def uri(self) -> str:
        """The FHIR system of the code."""
        return FHIR_SYSTEMS[self.system]


LOINC = "LN"
SNOMED = "SCT"
UCUM = "UCUM"
#: A code of Hesuan's own (HL7 v2 coding system ``L``, local): an assay, a Ct target with no
#: LOINC code.
LOCAL = "L"

FHIR_SYSTEMS: dict[str, str] = {
    LOINC: "http://loinc.org",
    SNOMED: "http://snomed.info/sct",
    UCUM: "http://unitsofmeasure.org",
    "HL70078": "http://terminology.hl7.org/CodeSystem/v2-0078",
    "HL70203": "http://terminology.hl7.org/CodeSystem/v2-0203",
    LOCAL: "urn:hesuan:code",
}

ORDER: dict[OrderCode, Code] = {
    OrderCode.PANEL: Code(LOINC, "94531-1", "SARS-CoV-2 (COVID-19) RNA panel - Respiratory "
                          "system specimen by NAA with probe detection"),
    OrderCode.RNA: Code(LOINC, "94500-6", "SARS-CoV-2 (COVID-19) RNA [Presence] in "
                        "Respiratory system specimen by NAA with probe detection"),
}

#: The test performed, whose value is the result (OBX-3 of the result, Observation.code).
RESULT_TEST = ORDER[OrderCode.RNA]

_RESULTS: dict[Result, Code] = {
    Result.POSITIVE: Code(SNOMED, "260373001", "Detected"),
    Result.NEGATIVE: Code(SNOMED, "260415000", "Not detected"),
    Result.INVALID: Code(SNOMED, "455371000124106", "Invalid result"),
}

_INTERPRETATIONS: dict[Result, Code] = {
    Result.POSITIVE: Code("HL70078", "A", "Abnormal"),
    Result.NEGATIVE: Code("HL70078", "N", "Normal"),
}

#: The Ct LOINC codes by target (casefolded): the cycle threshold of each SARS-CoV-2 target.
_CT: dict[str, Code] = {
    "orf1ab": Code(LOINC, "94511-3", "SARS-CoV-2 (COVID-19) ORF1ab region [Cycle Threshold #] "
                   "in Unspecified specimen by NAA with probe detection"),
    "n": Code(LOINC, "94510-5", "SARS-CoV-2 (COVID-19) N gene [Cycle Threshold #] in "
              "Unspecified specimen by NAA with probe detection"),
    "e": Code(LOINC, "94509-7", "SARS-CoV-2 (COVID-19) E gene [Cycle Threshold #] in "
              "Unspecified specimen by NAA with probe detection"),
}

CT_UNIT = Code(UCUM, "{Ct_value}", "Ct value")

_SPECIMENS: dict[SpecimenType, Code] = {
    SpecimenType.THROAT_SWAB: Code(SNOMED, "258529004", "Throat swab"),
    SpecimenType.NASOPHARYNGEAL_SWAB: Code(SNOMED, "258500001", "Nasopharyngeal swab"),
    SpecimenType.ANTERIOR_NARES_SWAB: Code(SNOMED, "697989009", "Anterior nares swab"),
}

#: HL7 table 0203 (identifier type) for each kind of identity document: a resident ID number is
#: the national unique individual identifier; a passport and a Hong Kong/Macau home-return
#: permit are travel documents.
_ID_TYPES: dict[IdKind, str] = {
    IdKind.RESIDENT: "NI",
    IdKind.PASSPORT: "PPN",
    IdKind.HK_MACAU: "PPN",
}

#: HL7 table 0001 (administrative sex) and FHIR's administrative gender.
_SEXES: dict[Sex, tuple[str, str]] = {
    Sex.FEMALE: ("F", "female"),
    Sex.MALE: ("M", "male"),
    Sex.UNKNOWN: ("U", "unknown"),
}


def result_code(result: Result) -> Code:
    return _RESULTS[result]


def interpretation(result: Result) -> Code | None:
    """The abnormal flag of a result: abnormal when detected, normal when not, none when
    invalid."""
    return _INTERPRETATIONS.get(result)


def ct_code(target: str) -> Code:
    """The LOINC code of a target's Ct value; a local code for a target LOINC does not name."""
    return _CT.get(target.casefold()) or Code(LOCAL, f"CT-{target}",
                                              f"{target} [Cycle Threshold #]")


def specimen_code(kind: SpecimenType) -> Code:
    return _SPECIMENS[kind]


def id_type(kind: IdKind) -> str:
    return _ID_TYPES[kind]


def sex_code(sex: Sex) -> tuple[str, str]:
    """The HL7 v2 code and the FHIR gender of a sex."""
    return _SEXES[sex]


def correction_note(report: ElrReport) -> str:
    """What a corrected result says of the one it replaces (HL7 NTE-3, FHIR Observation.note)."""
    c = report.correction
    assert c is not None
    before = result_code(c.previous)
    return (f"Corrects the result released {local(c.previous_released_at).isoformat()}: "
            f"{before.display} ({before.system} {before.code}). Reason: {c.reason}")


def withdrawal_note(report: ElrReport) -> str:
    """What a withdrawal says of the result it withdraws (HL7 NTE-3, FHIR Observation.note)."""
    w = report.withdrawal
    assert w is not None
    before = result_code(w.withdrawn)
    return (f"Withdraws the result released {local(w.withdrawn_released_at).isoformat()}: "
            f"{before.display} ({before.system} {before.code}); no result replaces it. "
            f"Reason: {w.reason}")
