"""An electronic lab report as a FHIR R4 message Bundle.

The Bundle (type ``message``) holds, in this order: the MessageHeader (event R01, as
ReportStream's, naming the sender and the destination, its focus the DiagnosticReport), the
Patient (the pseudonymous id and the district; the full identity only for a receiver entitled
to it), the Specimen (the tube barcode), the result's Observation (LOINC 94500-6, SNOMED CT
value), one Observation per Ct value (a Quantity in UCUM ``{Ct_value}``), the DiagnosticReport
(the order code, ``final`` or ``corrected``), and the Organizations (the lab, the sending and
the receiving facility). A withdrawn (cancelled) result is ``entered-in-error`` (R4's status of
a result withdrawn after release), its Observation without a value and with a note saying what
it withdraws and why. docs/INTEROP.md has the field mapping.

Entries are named ``urn:uuid:`` and referenced so; the ids are made from the message id, so the
same report writes the same bytes. The document is validated by fhir.resources' R4B models
(R4's resources; the package's default models are R5) and written by them as UTF-8 JSON.

Imports: ``fhir.resources`` (the interop extra, when a report is written), standard library,
``hesuan.domain``, ``hesuan.services.elr_ports``, this package.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from hesuan import __version__
from hesuan.adapters.elr import codes
from hesuan.adapters.elr.codes import Code
from hesuan.adapters.elr.extra import interop_module
from hesuan.domain.errors import InvalidInput
from hesuan.domain.json import JsonObject
from hesuan.domain.local_time import local
from hesuan.domain.people import is_mobile
from hesuan.services.elr_ports import ElrReport, Organization

__all__ = ["DISTRICT_CODE", "to_fhir_bundle"]

#: The extension of an Address carrying the district's administrative division code (GB/T
#: 2260) beside its name in ``district``.
DISTRICT_CODE = "urn:hesuan:fhir:district-code"
_IDS = uuid.UUID("5d0c7b4e-3f7a-5e55-9a55-6865737561e0")  # the namespace of resource ids
_V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
_V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
_OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

Doc = dict[str, Any]


def _time(t: datetime) -> str:
    return local(t).isoformat(timespec="seconds")


def _coding(code: Code) -> Doc:
    return {"system": code.uri, "code": code.code, "display": code.display}


def _concept(code: Code) -> Doc:
    return {"coding": [_coding(code)], "text": code.display}


def _system(org: Organization) -> str | None:
    """The identifier system an organization's ids are named in: its OID when it has one."""
    return f"urn:oid:{org.id}" if org.id_type == "ISO" else None


def _identifier(value: str, system: str | None, type_code: str | None = None) -> Doc:
    doc: Doc = {"value": value}
    if system is not None:
        doc["system"] = system
    if type_code is not None:
        doc["type"] = {"coding": [{"system": _V2_0203, "code": type_code}]}
    return doc


class _Refs:
    """The ``urn:uuid:`` of each resource of one message, made from its message id."""

    def __init__(self, message_id: str) -> None:
        self.message_id = message_id

    def id(self, role: str) -> str:
        return str(uuid.uuid5(_IDS, f"{self.message_id}/{role}"))

    def url(self, role: str) -> str:
        return f"urn:uuid:{self.id(role)}"

    def ref(self, role: str) -> Doc:
        return {"reference": self.url(role)}


def _organization(org: Organization, refs: _Refs, role: str) -> Doc:
    ident = _identifier(org.id, _system(org))
    if org.id_type != "ISO":
        ident["type"] = {"coding": [{"system": _V2_0203, "code": "XX"}], "text": org.id_type}
    return {"resourceType": "Organization", "id": refs.id(role), "identifier": [ident],
            "name": org.name}


def _patient(report: ElrReport, refs: _Refs) -> Doc:
    person = report.person
    district = person.district
    address: Doc = {"district": district.name, "country": "CHN",
                    "extension": [{"url": DISTRICT_CODE, "valueCode": district.code}]}
    doc: Doc = {
        "resourceType": "Patient", "id": refs.id("patient"),
        "identifier": [_identifier(person.pseudonym, _system(report.route.sending_facility),
                                   "PI")],
        "address": [address],
    }
    who = person.identity
    if who is None:
        return doc
    doc["identifier"].append(_identifier(who.id_number, None, codes.id_type(who.id_kind)))
    name: Doc = {"use": "official", "text": who.name}
    if who.family_name is not None:
        name["family"] = who.family_name
        if who.given_name:
            name["given"] = [who.given_name]
    doc["name"] = [name]
    if who.phone:
        doc["telecom"] = [{"system": "phone", "value": who.phone,
                           "use": "mobile" if is_mobile(who.phone) else "home"}]
    if who.sex is not None:
        doc["gender"] = codes.sex_code(who.sex)[1]
    if who.birth_date is not None:
        doc["birthDate"] = who.birth_date.isoformat()
    address["use"] = "home"
    if who.address:
        address["text"] = who.address
        address["line"] = [who.address]
    return doc


def _specimen(report: ElrReport, refs: _Refs) -> Doc:
    doc: Doc = {
        "resourceType": "Specimen", "id": refs.id("specimen"),
        "identifier": [_identifier(report.specimen_id, _system(report.lab))],
        "accessionIdentifier": _identifier(report.specimen_id, _system(report.lab)),
        "type": _concept(codes.specimen_code(report.specimen_type)),
        "subject": refs.ref("patient"),
        "collection": {"collectedDateTime": _time(report.collected_at)},
    }
    if report.received_at is not None:
        doc["receivedTime"] = _time(report.received_at)
    if report.pool_size > 1:
        doc["note"] = [{"text": f"Pooled: the samples of {report.pool_size} people in one "
                                "tube; the result is the pool's."}]
    return doc


def _status(report: ElrReport) -> str:
    """The Observation's and the DiagnosticReport's status (the same codes in both)."""
    return ("entered-in-error" if report.withdrawn else "corrected" if report.corrected
            else "final")


def _observation(report: ElrReport, refs: _Refs, role: str, code: Code) -> Doc:
    return {
        "resourceType": "Observation", "id": refs.id(role),
        "status": _status(report),
        "category": [{"coding": [{"system": _OBSERVATION_CATEGORY, "code": "laboratory"}]}],
        "code": _concept(code),
        "subject": refs.ref("patient"),
        "effectiveDateTime": _time(report.collected_at),
        "issued": _time(report.resulted_at or report.released_at),
        "performer": [refs.ref("lab")],
        "method": {"coding": [{"system": codes.FHIR_SYSTEMS[codes.LOCAL],
                               "code": report.assay.ref, "display": report.assay.name}],
                   "text": report.assay.name},
        "specimen": refs.ref("specimen"),
    }


def _observations(report: ElrReport, refs: _Refs) -> list[Doc]:
    result = _observation(report, refs, "result", codes.RESULT_TEST)
    if report.result is not None:  # a withdrawal reports no result in its place
        result["valueCodeableConcept"] = _concept(codes.result_code(report.result))
        flag = codes.interpretation(report.result)
        if flag is not None:
            result["interpretation"] = [_concept(flag)]
    if report.correction is not None:
        result["note"] = [{"text": codes.correction_note(report)}]
    elif report.withdrawal is not None:
        result["note"] = [{"text": codes.withdrawal_note(report)}]
    out = [result]
    for index, ct in enumerate(report.ct, 1):
        obs = _observation(report, refs, f"ct/{index}", codes.ct_code(ct.target))
        obs["valueQuantity"] = {"value": ct.value, "unit": codes.CT_UNIT.display,
                                "system": codes.CT_UNIT.uri, "code": codes.CT_UNIT.code}
        out.append(obs)
    return out


def _diagnostic_report(report: ElrReport, refs: _Refs, results: list[Doc]) -> Doc:
    return {
        "resourceType": "DiagnosticReport", "id": refs.id("report"),
        "identifier": [_identifier(report.report_id, _system(report.lab))],
        "status": _status(report),
        "category": [{"coding": [{"system": _V2_0074, "code": "LAB"}]}],
        "code": _concept(codes.ORDER[report.assay.order_code]),
        "subject": refs.ref("patient"),
        "effectiveDateTime": _time(report.collected_at),
        "issued": _time(report.released_at),
        "performer": [refs.ref("lab")],
        "specimen": [refs.ref("specimen")],
        "result": [{"reference": f"urn:uuid:{r['id']}"} for r in results],
    }


def _message_header(report: ElrReport, refs: _Refs) -> Doc:
    route = report.route
    app, recv = route.sending_application, route.receiving_application
    return {
        "resourceType": "MessageHeader", "id": refs.id("header"),
        "meta": {"tag": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0103",
                          "code": route.processing}]},
        "eventCoding": {"system": "http://terminology.hl7.org/CodeSystem/v2-0003",
                        "code": "R01",
                        "display": "ORU/ACK - Unsolicited transmission of an observation "
                                   "message"},
        "destination": [{"name": recv.name, "endpoint": recv.url,
                         "receiver": refs.ref("receiver")}],
        "sender": refs.ref("sender"),
        "source": {"name": app.name, "software": "Hesuan", "version": __version__,
                   "endpoint": app.url},
        "focus": [refs.ref("report")],
    }


def bundle_document(report: ElrReport) -> JsonObject:
    """The report's Bundle as a JSON document, before validation."""
    refs = _Refs(report.message_id)
    observations = _observations(report, refs)
    route = report.route
    resources = [_message_header(report, refs), _patient(report, refs),
                 _specimen(report, refs), *observations,
                 _diagnostic_report(report, refs, observations),
                 _organization(report.lab, refs, "lab"),
                 _organization(route.sending_facility, refs, "sender"),
                 _organization(route.receiving_facility, refs, "receiver")]
    return {
        "resourceType": "Bundle", "id": refs.id("bundle"),
        "identifier": _identifier(report.message_id, _system(route.sending_facility)),
        "type": "message",
        "timestamp": _time(report.released_at),
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
    }


def to_fhir_bundle(report: ElrReport) -> bytes:
    """The report as a FHIR R4 message Bundle, validated by the R4B models, UTF-8 JSON."""
    bundle_model = interop_module("fhir.resources.R4B.bundle").Bundle
    document = bundle_document(report)
    try:
        bundle = bundle_model.model_validate(document)
    except ValueError as e:  # pydantic's ValidationError, named by place, not by value
        where = "; ".join(".".join(str(p) for p in err["loc"]) + f": {err['msg']}"
                          for err in getattr(e, "errors", list)()[:3])
        raise InvalidInput(f"FHIR: the Bundle breaks the R4 models ({where})",
                           code="elr_fhir_invalid", field="report") from e
    text: str = bundle.model_dump_json()
    return text.encode("utf-8")
