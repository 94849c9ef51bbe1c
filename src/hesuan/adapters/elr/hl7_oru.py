"""An electronic lab report as HL7 v2.5.1 ORU^R01, shaped as the CDC's ReportStream writes it.

One message per report, in the segments and order of ReportStream's ELR (PHLabReport-NoAck
profile): MSH, SFT, PID, ORC, OBR, the result's OBX (with an NTE saying what a correction
corrects), one numeric OBX per Ct value, SPM. The result is OBX-3 LOINC 94500-6 with OBX-5
SNOMED CT (260373001 detected, 260415000 not detected, 455371000124106 invalid); OBX-11 and
OBR-25 are ``F`` (final) or ``C`` (corrected); the tube barcode is the specimen id (SPM-2). A
withdrawn (cancelled) result has no OBX-5 and no Ct values: OBX-11 ``W`` (table 0085: post
original as wrong), OBR-25 ``X`` (table 0123, which has no ``W``: no results available, order
cancelled), and an NTE saying what it withdraws and why.
docs/INTEROP.md has the field mapping.

The message is built with hl7apy at its strict validation level against the v2.5.1 message
structure: each value is set as a leaf (a component or subcomponent), which hl7apy escapes, so
a ``|``, ``^`` or ``&`` in a name stays text, and the whole message is validated before it is
written. Times are local (Asia/Shanghai) with their offset; the bytes are UTF-8 (MSH-18) with CR
between segments.

Imports: ``hl7apy`` (the interop extra, when a report is written), standard library,
``hesuan.domain``, ``hesuan.services.elr_ports``, this package.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from hesuan import __version__
from hesuan.adapters.elr import codes
from hesuan.adapters.elr.codes import Code
from hesuan.adapters.elr.extra import interop_module
from hesuan.domain.errors import InvalidInput
from hesuan.domain.local_time import local
from hesuan.domain.people import is_mobile
from hesuan.services.elr_ports import ElrReport, Identity, Organization

__all__ = ["PROFILE", "to_hl7_oru"]

VERSION = "2.5.1"
#: MSH-21: the ELR 2.5.1 profile ReportStream sends under (no accept acknowledgment).
PROFILE = ("PHLabReport-NoAck", "ELR_Receiver", "2.16.840.1.113883.9.11", "ISO")
#: A component's value: text, subcomponents, or nothing.
Value = str | Sequence[str | None] | None


class _Builder:
    """Sets fields of hl7apy segments leaf by leaf, at strict validation."""

    def __init__(self) -> None:
        self.core = interop_module("hl7apy.core")
        consts = interop_module("hl7apy.consts")
        self.errors = interop_module("hl7apy.exceptions").HL7apyException
        self.level = consts.VALIDATION_LEVEL.STRICT

    def message(self) -> Any:
        return self.core.Message("ORU_R01", version=VERSION, validation_level=self.level)

    def leaf(self, datatype: str, value: str) -> Any:
        return self.core.SubComponent(datatype=datatype, value=_backslashes(value),
                                      version=VERSION, validation_level=self.level)

    def put(self, segment: Any, name: str, *components: Value) -> None:
        """Add field ``name`` (a repetition more when it has one) with its components. OBX-5,
        whose type OBX-2 names, is hl7apy's ``varies``: its components are set as text."""
        try:
            self._put(segment, name, components)
        except self.errors as e:
            raise InvalidInput(f"HL7 v2: {name} breaks the v2.5.1 rules ({type(e).__name__})",
                               code="elr_hl7_invalid", field=name) from e

    def _put(self, segment: Any, name: str, components: Sequence[Value]) -> None:
        field = segment.add_field(name)
        kind = field.datatype
        if kind == "varies":
            for index, value in enumerate(components, 1):
                if isinstance(value, str) and value:
                    component = self.core.Component(f"VARIES_{index}", version=VERSION,
                                                    validation_level=self.level)
                    component.add(self.leaf("ST", value))
                    field.add(component)
            return
        if self.core.is_base_datatype(kind, VERSION):
            (value,) = components
            assert isinstance(value, str)
            component = self.core.Component(datatype=kind, version=VERSION,
                                            validation_level=self.level)
            component.add(self.leaf(kind, value))
            field.add(component)
            return
        for index, value in enumerate(components, 1):
            if not value:
                continue
            component = field.add_component(f"{kind}_{index}")
            if isinstance(value, str):
                component.add(self.leaf(component.datatype, value))
                continue
            for sub_index, sub in enumerate(value, 1):
                if sub:
                    subcomponent = component.add_subcomponent(f"{component.datatype}_{sub_index}")
                    subcomponent.value = _backslashes(sub)


def _backslashes(value: str) -> str:
    """A text's backslashes as the escape sequence ``\\E\\``. hl7apy escapes the separators
    itself, and a backslash too, except one that follows an escape sequence it has just
    written (``~\\`` would read back as ``~``): so the backslashes go in escaped already,
    which it leaves as they are."""
    return value.replace("\\", "\\E\\")


def _ts(t: datetime) -> str:
    return local(t).strftime("%Y%m%d%H%M%S%z")


def _dt(d: date) -> str:
    return d.strftime("%Y%m%d")


def _ce(code: Code) -> tuple[str, str, str]:
    return (code.code, code.display, code.system)


def _hd(org: Organization) -> tuple[str, str, str]:
    return (org.namespace, org.id, org.id_type)


def _ei(report: ElrReport) -> tuple[str, str, str, str]:
    """The report's order number (ORC-2/3, OBR-2/3), assigned by the lab."""
    return (report.report_id, *_hd(report.lab))


def _xon(org: Organization) -> tuple[Value, ...]:
    """An organization as ReportStream names one: name, legal name, identifier type XX, id."""
    return (org.name, "L", None, None, None, None, "XX", None, None, org.id)


def _producer(org: Organization) -> tuple[str, str, str]:
    return (org.id, org.name, org.id_type)


def _phone(phone: str) -> tuple[Value, ...]:
    """XTN: use PRS (primary residence), equipment CP (mobile) or PH; country code 86; the
    area code apart for a landline; and the number unformatted (XTN-12)."""
    if is_mobile(phone):
        return (None, "PRS", "CP", None, "86", None, phone, None, None, None, None, f"+86{phone}")
    area, _, number = phone.partition("-")
    return (None, "PRS", "PH", None, "86", area.lstrip("0"), number, None, None, None, None,
            f"+86{area.lstrip('0')}{number}")


def _pid(b: _Builder, group: Any, report: ElrReport) -> None:
    person = report.person
    sender = report.route.sending_facility
    pid = group.add_segment("PID")
    b.put(pid, "PID_1", "1")
    b.put(pid, "PID_3", person.pseudonym, None, None, _hd(sender), "PI")
    who: Identity | None = person.identity
    district = person.district
    if who is None:
        # PID-5 is required: a pseudonymous person is named by name type S (pseudonym) alone.
        b.put(pid, "PID_5", None, None, None, None, None, None, "S")
        b.put(pid, "PID_11", None, None, None, None, None, "CHN", None, district.name,
              district.code)
        return
    b.put(pid, "PID_3", who.id_number, None, None, None, codes.id_type(who.id_kind))
    b.put(pid, "PID_5", (who.family_name or who.name,), who.given_name, None, None, None, None,
          "L")
    if who.birth_date is not None:
        b.put(pid, "PID_7", _dt(who.birth_date))
    if who.sex is not None:
        b.put(pid, "PID_8", codes.sex_code(who.sex)[0])
    b.put(pid, "PID_11", (who.address,) if who.address else None, None, None, None, None,
          "CHN", "H", district.name, district.code)
    if who.phone:
        b.put(pid, "PID_13", *_phone(who.phone))


def _observation_tail(b: _Builder, obx: Any, report: ElrReport) -> None:
    """OBX-11 onwards: status, times, the lab and the method, as ReportStream fills them."""
    b.put(obx, "OBX_11", "W" if report.withdrawn else "C" if report.corrected else "F")
    b.put(obx, "OBX_14", _ts(report.collected_at))
    b.put(obx, "OBX_15", *_producer(report.lab))
    b.put(obx, "OBX_17", report.assay.ref, report.assay.name, codes.LOCAL)
    b.put(obx, "OBX_19", _ts(report.resulted_at or report.released_at))
    b.put(obx, "OBX_23", *_xon(report.lab))


def _result(b: _Builder, order: Any, report: ElrReport) -> None:
    obx = order.add_group("ORU_R01_OBSERVATION").add_segment("OBX")
    b.put(obx, "OBX_1", "1")
    b.put(obx, "OBX_2", "CWE")
    b.put(obx, "OBX_3", *_ce(codes.RESULT_TEST))
    if report.result is not None:  # a withdrawal reports no result in its place
        b.put(obx, "OBX_5", *_ce(codes.result_code(report.result)))
        flag = codes.interpretation(report.result)
        if flag is not None:
            b.put(obx, "OBX_8", flag.code)
    _observation_tail(b, obx, report)
    note = (codes.correction_note(report) if report.correction is not None
            else codes.withdrawal_note(report) if report.withdrawal is not None else None)
    if note is not None:
        nte = obx.parent.add_segment("NTE")
        b.put(nte, "NTE_1", "1")
        b.put(nte, "NTE_2", "L")
        b.put(nte, "NTE_3", note)


def _cts(b: _Builder, order: Any, report: ElrReport) -> None:
    for index, ct in enumerate(report.ct, 2):
        obx = order.add_group("ORU_R01_OBSERVATION").add_segment("OBX")
        b.put(obx, "OBX_1", str(index))
        b.put(obx, "OBX_2", "NM")
        b.put(obx, "OBX_3", *_ce(codes.ct_code(ct.target)))
        b.put(obx, "OBX_5", f"{ct.value:g}")
        b.put(obx, "OBX_6", *_ce(codes.CT_UNIT))
        _observation_tail(b, obx, report)


def _spm(b: _Builder, order: Any, report: ElrReport) -> None:
    spm = order.add_group("ORU_R01_SPECIMEN").add_segment("SPM")
    b.put(spm, "SPM_1", "1")
    tube = (report.specimen_id, *_hd(report.lab))
    b.put(spm, "SPM_2", tube, tube)
    b.put(spm, "SPM_4", *_ce(codes.specimen_code(report.specimen_type)))
    if report.pool_size > 1:
        b.put(spm, "SPM_13", str(report.pool_size))
    b.put(spm, "SPM_17", (_ts(report.collected_at),))
    if report.received_at is not None:
        b.put(spm, "SPM_18", _ts(report.received_at))


def to_hl7_oru(report: ElrReport) -> bytes:
    """The report as an HL7 v2.5.1 ELR ORU^R01 message, UTF-8, segments ended by CR."""
    b = _Builder()
    route = report.route
    message = b.message()
    msh = message.msh
    msh.msh_7 = _ts(report.released_at)
    msh.msh_12 = VERSION
    app, recv = route.sending_application, route.receiving_application
    b.put(msh, "MSH_3", app.name, app.id, app.id_type if app.id else None)
    b.put(msh, "MSH_4", *_hd(route.sending_facility))
    b.put(msh, "MSH_5", recv.name, recv.id, recv.id_type if recv.id else None)
    b.put(msh, "MSH_6", *_hd(route.receiving_facility))
    b.put(msh, "MSH_9", "ORU", "R01", "ORU_R01")
    b.put(msh, "MSH_10", report.message_id)
    b.put(msh, "MSH_11", route.processing)
    b.put(msh, "MSH_15", "NE")
    b.put(msh, "MSH_16", "NE")
    b.put(msh, "MSH_17", "CHN")
    b.put(msh, "MSH_18", "UNICODE UTF-8")
    b.put(msh, "MSH_19", "ZHO", "Chinese", "ISO")
    b.put(msh, "MSH_21", *PROFILE)
    sft = message.add_segment("SFT")
    b.put(sft, "SFT_1", "Hesuan")
    b.put(sft, "SFT_2", __version__)
    b.put(sft, "SFT_3", "Hesuan")
    b.put(sft, "SFT_4", __version__)
    result = message.add_group("ORU_R01_PATIENT_RESULT")
    _pid(b, result.add_group("ORU_R01_PATIENT"), report)
    order = result.add_group("ORU_R01_ORDER_OBSERVATION")
    orc = order.add_segment("ORC")
    b.put(orc, "ORC_1", "RE")
    b.put(orc, "ORC_2", *_ei(report))
    b.put(orc, "ORC_3", *_ei(report))
    b.put(orc, "ORC_21", *_xon(report.lab))
    obr = order.add_segment("OBR")
    b.put(obr, "OBR_1", "1")
    b.put(obr, "OBR_2", *_ei(report))
    b.put(obr, "OBR_3", *_ei(report))
    b.put(obr, "OBR_4", *_ce(codes.ORDER[report.assay.order_code]))
    b.put(obr, "OBR_7", _ts(report.collected_at))
    b.put(obr, "OBR_22", _ts(report.released_at))
    b.put(obr, "OBR_25", "X" if report.withdrawn else "C" if report.corrected else "F")
    _result(b, order, report)
    _cts(b, order, report)
    _spm(b, order, report)
    try:
        message.validate()
        text: str = message.to_er7()
    except b.errors as e:
        raise InvalidInput(f"HL7 v2: the message breaks the v2.5.1 rules ({e})",
                           code="elr_hl7_invalid", field="report") from e
    return (text + "\r").encode("utf-8")
