"""FHIR R4 results in: a message or transaction Bundle, read with fhir.resources' R4B models.

fhir.resources' default models are R5; its ``R4B`` package reads R4 data. Each resource read here
(MessageHeader, DiagnosticReport, Observation, Specimen, ServiceRequest, Patient, Organization)
is validated by its R4B model; one that fails makes the message unreadable, with the reason. A
resource not read here that fails (the CDC's Provenance without ``target``) is logged and left
aside. Extensions on an extension's primitive value (``_valueInstant``), valid FHIR that the R4B
models do not hold, are dropped before validating.

Each DiagnosticReport is an order: its ``result`` Observations (and their ``hasMember``) are its
results, its ``specimen``, ``identifier`` and ``basedOn`` ServiceRequest give the specimen id
candidates. Observations no report names are results of their own, grouped by their specimen.
Ask-at-order-entry answers (the ServiceRequest's ``supportingInfo``, tagged ``AOE`` or identified
by LOINC 81959-9) are not results. A numeric Observation (``valueQuantity``) goes beside the
qualitative ones of its order as a measurement (a Ct value). docs/INTEROP.md has the table.

Imports: ``fhir.resources`` (when a message is read), ``pydantic``, standard library,
``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from hesuan.adapters.interop.extra import extra_missing, instant, unreadable_fhir
from hesuan.domain.interop import IdSource, Measurement, ObservedValue, SpecimenId
from hesuan.domain.lab_codes import Coding, Concept, code_system, status_of_fhir
from hesuan.services.interop_ports import (
    Facility,
    LabMessage,
    LabMessageFormat,
    LabResult,
    PatientAsGiven,
)

if TYPE_CHECKING:
    from fhir.resources.R4B.codeableconcept import CodeableConcept
    from fhir.resources.R4B.diagnosticreport import DiagnosticReport
    from fhir.resources.R4B.identifier import Identifier
    from fhir.resources.R4B.messageheader import MessageHeader
    from fhir.resources.R4B.observation import Observation
    from fhir.resources.R4B.organization import Organization
    from fhir.resources.R4B.patient import Patient
    from fhir.resources.R4B.reference import Reference
    from fhir.resources.R4B.servicerequest import ServiceRequest
    from fhir.resources.R4B.specimen import Specimen

__all__ = ["read_fhir"]

log = logging.getLogger(__name__)

#: The resources a lab message is read from; any other is validated only to be logged.
_READ = frozenset({"MessageHeader", "DiagnosticReport", "Observation", "Specimen",
                   "ServiceRequest", "Patient", "Organization"})
#: LOINC "Public health laboratory ask at order entry panel": an answer, not a result.
_AOE_PANEL = "81959-9"
#: The code system of HL7's processing ids (table 0103), as a ``meta.tag``.
_PROCESSING_IDS = "http://terminology.hl7.org/CodeSystem/v2-0103"
#: The code system of HL7 v2's trigger events (table 0003), as a MessageHeader's eventCoding.
_V2_EVENTS = "http://terminology.hl7.org/CodeSystem/v2-0003"


def _model(resource_type: str) -> Any:
    try:
        from fhir.resources.R4B import get_fhir_model_class
    except ImportError as e:
        raise extra_missing("fhir.resources", e) from e
    try:
        return get_fhir_model_class(resource_type)
    except (ValueError, KeyError):
        return None


def _without(resource: dict[str, Any], path: tuple[Any, ...]) -> None:
    node: Any = resource
    for step in path[:-1]:
        node = node[step]
    node.pop(path[-1], None)


def _validated(resource: dict[str, Any]) -> Any:
    """The resource as its R4B model; primitive extensions the models do not hold are dropped."""
    cls = _model(str(resource.get("resourceType")))
    if cls is None:
        raise ValueError(f"{resource.get('resourceType')!r} is not an R4 resource type")
    resource = copy.deepcopy(resource)
    for _ in range(8):
        try:
            return cls.model_validate(resource)
        except ValidationError as e:
            errors = e.errors()
            held = [err["loc"] for err in errors if err["type"] == "extra_forbidden"
                    and str(err["loc"][-1]).startswith("_")]
            if len(held) != len(errors):
                raise
            try:
                for loc in held:
                    _without(resource, tuple(loc))
            except (KeyError, IndexError, TypeError):
                raise e from None
    return cls.model_validate(resource)


def _first_error(e: ValueError) -> str:
    if isinstance(e, ValidationError):
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        return f"{where}: {err['msg']}"
    return str(e)


@dataclass
class _Bundle:
    """The Bundle's resources, validated, found by reference (``Type/id`` or ``fullUrl``)."""

    resources: list[Any] = field(default_factory=list)
    by_ref: dict[str, Any] = field(default_factory=dict)

    def get(self, ref: Reference | None) -> Any:
        if ref is None or not ref.reference:
            return None
        key = ref.reference
        found = self.by_ref.get(key)
        if found is None and "/" in key:
            found = self.by_ref.get("/".join(key.rstrip("/").split("/")[-2:]))
        return found

    def of(self, resource_type: str) -> Iterator[Any]:
        return (r for r in self.resources if r.get_resource_type() == resource_type)


def _bundle(doc: dict[str, Any]) -> _Bundle:
    out = _Bundle()
    entries = doc.get("entry") or []
    if not isinstance(entries, list):
        raise unreadable_fhir("Bundle.entry is not a list")
    for number, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        kind = str(resource.get("resourceType"))
        try:
            model = _validated(resource)
        except ValueError as e:
            if kind in _READ:
                raise unreadable_fhir(f"its {kind} (entry {number}) is not valid R4: "
                                      f"{_first_error(e)}") from e
            log.info("FHIR lab message: %s (entry %d) left aside, not valid R4: %s", kind,
                     number, _first_error(e))
            continue
        out.resources.append(model)
        if model.id:
            out.by_ref[f"{kind}/{model.id}"] = model
        if entry.get("fullUrl"):
            out.by_ref[str(entry["fullUrl"])] = model
    return out


def _concept(cc: CodeableConcept | None) -> Concept:
    if cc is None:
        return Concept()
    codings = tuple(Coding(code_system(c.system or ""), c.code, c.display or "")
                    for c in cc.coding or [] if c.code)
    text = cc.text or next((c.display for c in cc.coding or [] if c.display), "") or ""
    return Concept(codings, text)


def _type_code(identifier: Identifier) -> str:
    if identifier.type is None:
        return ""
    return next((c.code for c in identifier.type.coding or [] if c.code), "")


def _facility(org: Organization | None) -> Facility | None:
    if org is None:
        return None
    name = org.name or ""
    for ident in org.identifier or []:
        if ident.value and ident.value != name:
            return Facility(name, ident.value, _type_code(ident) or ident.system or "")
    return Facility(name) if name else None


def _patient(patient: Patient | None) -> PatientAsGiven | None:
    if patient is None:
        return None
    ids = tuple(i.value for i in patient.identifier or [] if i.value)
    names = patient.name or []
    chosen = next((n for n in names if n.use == "official"), names[0] if names else None)
    if chosen is None:
        return PatientAsGiven(ids=ids)
    given = tuple(g for g in chosen.given or [] if g)
    if not chosen.family and not given:
        return PatientAsGiven(chosen.text or "", (), ids)
    return PatientAsGiven(chosen.family or "", given, ids)


def _specimen_ids(specimen: Specimen | None) -> list[SpecimenId]:
    if specimen is None:
        return []
    out = []
    for ident in specimen.identifier or []:
        if ident.value:
            source = (IdSource.SPECIMEN_FILLER if _type_code(ident) in ("FGN", "ACSN")
                      else IdSource.SPECIMEN_PLACER)
            out.append(SpecimenId(source, ident.value, _assigner(ident)))
    acc = specimen.accessionIdentifier
    if acc is not None and acc.value:
        out.append(SpecimenId(IdSource.SPECIMEN_FILLER, acc.value, _assigner(acc)))
    return out


def _assigner(ident: Identifier) -> str:
    if ident.assigner is not None and ident.assigner.display:
        return ident.assigner.display
    return ident.system or ""


def _order_ids(identifiers: list[Identifier] | None, untyped: IdSource) -> list[SpecimenId]:
    out = []
    for ident in identifiers or []:
        if ident.value:
            kind = _type_code(ident)
            source = (IdSource.PLACER_ORDER if kind == "PLAC" else IdSource.FILLER_ORDER
                      if kind == "FILL" else untyped)
            out.append(SpecimenId(source, ident.value, _assigner(ident)))
    return out


def _request_ids(bundle: _Bundle, refs: list[Reference] | None) -> list[SpecimenId]:
    out: list[SpecimenId] = []
    for ref in refs or []:
        request: ServiceRequest | None = bundle.get(ref)
        if request is not None and request.get_resource_type() == "ServiceRequest":
            out += _order_ids(request.identifier, IdSource.PLACER_ORDER)
            for s in request.specimen or []:
                out += _specimen_ids(bundle.get(s))
    return out


def _value(obs: Observation) -> ObservedValue:
    if obs.valueCodeableConcept is not None:
        return ObservedValue(coded=_concept(obs.valueCodeableConcept))
    q = obs.valueQuantity
    if q is not None and q.value is not None:
        return ObservedValue(number=float(q.value), units=q.code or q.unit or "",
                             comparator=q.comparator or "")
    if obs.valueInteger is not None:
        return ObservedValue(number=float(obs.valueInteger))
    if obs.valueString is not None:
        return ObservedValue(text=obs.valueString)
    if obs.valueBoolean is not None:
        return ObservedValue(text="true" if obs.valueBoolean else "false")
    for other in (obs.valueDateTime, obs.valueTime, obs.valuePeriod, obs.valueRange):
        if other is not None:
            return ObservedValue(text=str(other))
    return ObservedValue()


def _observed_at(obs: Observation) -> datetime | None:
    if obs.effectiveDateTime is not None:
        return instant(obs.effectiveDateTime)
    if obs.effectiveInstant is not None:
        return instant(obs.effectiveInstant)
    if obs.effectivePeriod is not None and obs.effectivePeriod.start is not None:
        return instant(obs.effectivePeriod.start)
    return instant(obs.issued)


def _asked_at_ordering(bundle: _Bundle) -> set[int]:
    asked = set()
    for request in bundle.of("ServiceRequest"):
        for ref in request.supportingInfo or []:
            found = bundle.get(ref)
            if found is not None:
                asked.add(id(found))
    for obs in bundle.of("Observation"):
        tags = obs.meta.tag if obs.meta is not None and obs.meta.tag else []
        types = [_type_code(i) or next((c.code for c in (i.type.coding if i.type else []) or []),
                                       "") for i in obs.identifier or []]
        if any(t.code == "AOE" for t in tags) or _AOE_PANEL in types:
            asked.add(id(obs))
    return asked


@dataclass
class _Order:
    order: Concept
    ids: list[SpecimenId]
    observations: list[Observation]
    performer: Facility | None
    patient: PatientAsGiven | None


def _members(bundle: _Bundle, obs: Observation, seen: set[int]) -> Iterator[Observation]:
    if id(obs) in seen:
        return
    seen.add(id(obs))
    members = [m for m in (bundle.get(r) for r in obs.hasMember or []) if m is not None]
    if members and obs.valueCodeableConcept is None and obs.valueQuantity is None \
            and obs.valueString is None:
        for m in members:
            yield from _members(bundle, m, seen)
    else:
        yield obs


def _orders(bundle: _Bundle) -> list[_Order]:
    asked = _asked_at_ordering(bundle)
    seen: set[int] = set()
    orders = []
    for report in bundle.of("DiagnosticReport"):
        dr: DiagnosticReport = report
        observations = [o for ref in dr.result or [] if (r := bundle.get(ref)) is not None
                        for o in _members(bundle, r, seen) if id(o) not in asked]
        ids = [s for ref in dr.specimen or [] for s in _specimen_ids(bundle.get(ref))]
        ids += _order_ids(dr.identifier, IdSource.FILLER_ORDER)
        ids = list(dict.fromkeys(ids + _request_ids(bundle, dr.basedOn)))
        performer = next((f for f in (_facility(bundle.get(p)) for p in dr.performer or [])
                          if f is not None), None)
        orders.append(_Order(_concept(dr.code), ids, observations, performer,
                             _patient(bundle.get(dr.subject))))
    by_specimen: dict[str, _Order] = {}
    for obs in bundle.of("Observation"):
        if id(obs) in seen or id(obs) in asked:
            continue
        for member in _members(bundle, obs, seen):
            key = (member.specimen.reference if member.specimen is not None else None) \
                or f"observation {id(member)}"
            order = by_specimen.get(key)
            if order is None:
                order = _Order(Concept(), [], [], None, _patient(bundle.get(member.subject)))
                by_specimen[key] = order
                orders.append(order)
            order.observations.append(member)
    return orders


def _results(bundle: _Bundle, order: _Order) -> list[LabResult]:
    read = [(o, _value(o)) for o in order.observations]
    qualitative = [(o, v) for o, v in read if v.number is None]
    numeric = [(o, v) for o, v in read if v.number is not None]
    beside = tuple(Measurement(_concept(o.code), v) for o, v in numeric)
    chosen = [(o, v, beside) for o, v in qualitative] or [(o, v, ()) for o, v in numeric]
    out = []
    for obs, value, measurements in chosen:
        ids = list(order.ids)
        for extra in (*_specimen_ids(bundle.get(obs.specimen)),
                      *_request_ids(bundle, obs.basedOn)):
            if extra not in ids:
                ids.append(extra)
        performer = next((f for f in (_facility(bundle.get(p)) for p in obs.performer or [])
                          if f is not None), order.performer)
        out.append(LabResult(
            specimen_ids=tuple(ids), order=order.order, test=_concept(obs.code), value=value,
            measurements=measurements, status=status_of_fhir(obs.status or ""),
            status_code=obs.status or "", observed_at=_observed_at(obs), performer=performer,
            patient=_patient(bundle.get(obs.subject)) or order.patient))
    return out


def read_fhir(data: bytes) -> list[LabMessage]:
    """The lab message of a FHIR R4 Bundle (one). ``InvalidInput``: ``unreadable_fhir`` (with
    the reason), ``interop_extra_missing``."""
    bundle_model = _model("Bundle")
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise unreadable_fhir("it is not UTF-8") from e
    except json.JSONDecodeError as e:
        raise unreadable_fhir(f"it is not JSON ({e.msg} at line {e.lineno})") from e
    except (ValueError, RecursionError) as e:  # valid JSON past the reader's limits
        raise unreadable_fhir("its JSON holds a number too long or nesting too deep "
                              "to read") from e
    if not isinstance(doc, dict) or doc.get("resourceType") != "Bundle":
        found = doc.get("resourceType") if isinstance(doc, dict) else type(doc).__name__
        raise unreadable_fhir(f"it is not a Bundle (it is {found!r})")
    try:
        shell = bundle_model.model_validate({k: v for k, v in doc.items() if k != "entry"})
    except ValidationError as e:
        raise unreadable_fhir(f"the Bundle is not valid R4: {_first_error(e)}") from e
    bundle = _bundle(doc)
    header: MessageHeader | None = next(bundle.of("MessageHeader"), None)
    control_id = ((shell.identifier.value if shell.identifier is not None else None)
                  or (header.id if header is not None else None) or shell.id or "")
    if not control_id:
        raise unreadable_fhir("it has no identifier: neither Bundle.identifier, a MessageHeader "
                              "id nor Bundle.id")
    orders = _orders(bundle)
    results = tuple(r for order in orders for r in _results(bundle, order))
    application, facility = _sender(bundle, header, shell, orders)
    coding = header.eventCoding if header is not None else None
    if coding is not None:
        event = coding.code or ""
    else:
        event = (header.eventUri or "") if header is not None else ""
    trigger_event = event if coding is not None and coding.system == _V2_EVENTS else ""
    bundle_type = str(shell.type or "")
    kind = " ".join(p for p in (bundle_type, event) if p)
    sent_at = instant(shell.timestamp) or instant(shell.meta.lastUpdated if shell.meta else None)
    return [LabMessage(
        format=LabMessageFormat.FHIR, sending_application=application, sending_facility=facility,
        control_id=control_id, version="R4", message_type=kind, sent_at=sent_at,
        sha256=hashlib.sha256(data).hexdigest(), results=results, raw=data,
        processing_id=_processing_id(header) or _processing_id(shell),
        bundle_type=bundle_type, trigger_event=trigger_event)]


def _processing_id(resource: Any) -> str:
    """The HL7 processing id (table 0103) a resource's ``meta.tag`` carries, or empty."""
    meta = resource.meta if resource is not None else None
    for tag in (meta.tag or []) if meta is not None else []:
        if tag.system == _PROCESSING_IDS and tag.code:
            return str(tag.code).upper()
    return ""


def _sender(bundle: _Bundle, header: MessageHeader | None, shell: Any, orders: list[_Order]
            ) -> tuple[Facility, Facility]:
    """The sending application (MessageHeader.source) and facility (MessageHeader.sender, else
    its responsible or the source, else the first performing lab, else Bundle.meta.source)."""
    application = Facility("")
    facility: Facility | None = None
    if header is not None:
        src = header.source
        application = Facility(src.name or src.software or "", str(src.endpoint or ""))
        facility = _facility(bundle.get(header.sender)) or _facility(
            bundle.get(header.responsible))
        if facility is None and application.key:
            facility = application
    if facility is None:
        facility = next((o.performer for o in orders if o.performer is not None), None)
    if facility is None and shell.meta is not None and shell.meta.source:
        facility = Facility(str(shell.meta.source), str(shell.meta.source))
    return application, facility or Facility("")
