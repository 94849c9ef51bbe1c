"""Outgoing electronic lab reports read back through independent parsers.

What ``adapters/elr`` writes with hl7apy is read with python-hl7 (``hl7``), and the FHIR Bundle
is parsed from its JSON by fhir.resources' R4B models: each gives back the result, the specimen
id, the Ct values and the status (final or corrected) that were written; the person's data is
there only as the receiver is entitled to it; a Chinese name survives as UTF-8; and the HL7
message is laid out as the CDC's ReportStream lays out a real one
(``tests/fixtures/interop/reportstream/``): the same segments in the same order and the same
code systems.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

hl7 = pytest.importorskip("hl7")
pytest.importorskip("hl7apy")
bundle_module = pytest.importorskip("fhir.resources.R4B.bundle")

from hesuan.adapters.elr import to_fhir_bundle, to_hl7_oru  # noqa: E402
from hesuan.domain.errors import InvalidInput  # noqa: E402
from hesuan.domain.people import IdKind  # noqa: E402
from hesuan.domain.results import Result  # noqa: E402
from hesuan.services.elr_ports import (  # noqa: E402
    Application,
    CtValue,
    Disclosure,
    District,
    ElrAssay,
    ElrCorrection,
    ElrReport,
    ElrRoute,
    Identity,
    OrderCode,
    Organization,
    Sex,
    entitled_person,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "interop" / "reportstream"
SNOMED = {Result.POSITIVE: "260373001", Result.NEGATIVE: "260415000",
          Result.INVALID: "455371000124106"}
LAB = Organization("太原市第一人民医院检验科", "2.16.156.10011.1.9.1", short_name="TY1LAB")
DISTRICT = District("140105", "小店区")
WHO = Identity("欧阳娜娜", IdKind.RESIDENT, "14010519900101123X", date(1990, 1, 1), Sex.FEMALE,
               "13812345678", "迎泽大街1号 A|B^C&D~E\\F", family_name="欧阳")


def _route(disclosure: Disclosure) -> ElrRoute:
    return ElrRoute(Application("Hesuan", "2.16.156.10011.99.1"),
                    Organization("太原市核酸检测平台", "2.16.156.10011.99.2"),
                    Application("SXCDC-ELR", "2.16.156.10011.99.3"),
                    Organization("山西省疾病预防控制中心", "2.16.156.10011.99.4"),
                    disclosure=disclosure)


def _report(result: Result = Result.POSITIVE, *, disclosure: Disclosure = Disclosure.FULL,
            ct: tuple[CtValue, ...] = (CtValue("ORF1ab", 28.5), CtValue("N", 26.25)),
            correction: ElrCorrection | None = None, **changes: Any) -> ElrReport:
    report = ElrReport(
        message_id="m-0001", report_id="r-0001", specimen_id="TY00012345", lab=LAB,
        assay=ElrAssay("orf1ab-n@1", "ORF1ab/N 双靶标"), result=result,
        collected_at=datetime(2024, 6, 5, 1, 0, tzinfo=UTC),
        released_at=datetime(2024, 6, 5, 9, 30, tzinfo=UTC),
        person=entitled_person(disclosure, "p-0042", DISTRICT, WHO),
        route=_route(disclosure), ct=ct if result is Result.POSITIVE else (),
        received_at=datetime(2024, 6, 5, 3, 0, tzinfo=UTC),
        resulted_at=datetime(2024, 6, 5, 8, 0, tzinfo=UTC), correction=correction)
    return replace(report, **changes) if changes else report


CORRECTION = ElrCorrection(Result.NEGATIVE, datetime(2024, 6, 5, 7, 0, tzinfo=UTC),
                           "孔位错误: plate rows swapped")


# --- HL7 v2, read back with python-hl7 -----------------------------------------------------


def _v2(data: bytes) -> Any:
    return hl7.parse(data.decode("utf-8"))


def _text(message: Any, key: str) -> str:
    """The value at ``key`` (``PID.F5.R1.C1``), which python-hl7 gives unescaped."""
    return str(message[key])


def _layout(message: Any) -> list[str]:
    """The segment ids in order, a run of one id (the OBX of a result and its answers) once."""
    ids = [str(segment[0][0]) for segment in message]
    return [s for i, s in enumerate(ids) if i == 0 or ids[i - 1] != s]


@pytest.mark.parametrize("result", list(Result))
def test_hl7_result_reads_back(result: Result) -> None:
    m = _v2(to_hl7_oru(_report(result)))
    assert _text(m, "MSH.F9.R1.C1") + "^" + _text(m, "MSH.F9.R1.C2") == "ORU^R01"
    assert _text(m, "MSH.F10") == "m-0001"
    assert _text(m, "MSH.F12") == "2.5.1"
    assert _text(m, "OBR.F4.R1.C1") == "94531-1"
    assert _text(m, "OBR.F25") == "F"
    result_obx = m.segments("OBX")[0]
    assert str(result_obx[2]) == "CWE"
    assert str(result_obx[3][0][0]) == "94500-6"
    assert str(result_obx[5][0][0]) == SNOMED[result]
    assert str(result_obx[5][0][2]) == "SCT"
    assert str(result_obx[11]) == "F"
    assert _text(m, "SPM.F2.R1.C1.S1") == "TY00012345"
    assert _text(m, "SPM.F4.R1.C1") == "258529004"


def test_hl7_ct_values_are_numeric_observations_in_ucum() -> None:
    m = _v2(to_hl7_oru(_report()))
    cts = m.segments("OBX")[1:]
    read = {str(obx[3][0][0]): float(str(obx[5])) for obx in cts}
    assert read == {"94511-3": 28.5, "94510-5": 26.25}
    for obx in cts:
        assert str(obx[2]) == "NM"
        assert str(obx[3][0][2]) == "LN"
        assert str(obx[6][0][0]) == "{Ct_value}" and str(obx[6][0][2]) == "UCUM"
        assert str(obx[11]) == "F"


def test_hl7_correction_is_status_c_with_what_it_corrects() -> None:
    m = _v2(to_hl7_oru(_report(correction=CORRECTION)))
    assert _text(m, "OBR.F25") == "C"
    assert {str(obx[11]) for obx in m.segments("OBX")} == {"C"}
    note = m.unescape(str(m.segment("NTE")[3]))
    assert "260415000" in note and "孔位错误: plate rows swapped" in note
    assert _layout(m) == ["MSH", "SFT", "PID", "ORC", "OBR", "OBX", "NTE", "OBX", "SPM"]


def test_hl7_full_identity_in_utf8_with_separators_kept_as_text() -> None:
    data = to_hl7_oru(_report())
    m = _v2(data)
    assert "欧阳娜娜".encode() not in data  # family and given names apart
    assert _text(m, "PID.F5.R1.C1") == "欧阳" and _text(m, "PID.F5.R1.C2") == "娜娜"
    assert _text(m, "PID.F3.R1.C1") == "p-0042" and _text(m, "PID.F3.R1.C5") == "PI"
    assert _text(m, "PID.F3.R2.C1") == "14010519900101123X"
    assert _text(m, "PID.F3.R2.C5") == "NI"
    assert _text(m, "PID.F7") == "19900101"
    assert _text(m, "PID.F8") == "F"
    assert _text(m, "PID.F11.R1.C1") == "迎泽大街1号 A|B^C&D~E\\F"
    assert _text(m, "PID.F11.R1.C9") == "140105"
    assert _text(m, "PID.F13.R1.C7") == "13812345678"
    assert _text(m, "MSH.F18") == "UNICODE UTF-8"


def test_hl7_pseudonymous_person_is_an_id_and_a_district() -> None:
    data = to_hl7_oru(_report(disclosure=Disclosure.PSEUDONYMOUS))
    m = _v2(data)
    for secret in ("欧阳", "娜娜", "14010519900101123X", "19900101", "13812345678", "迎泽大街"):
        assert secret.encode() not in data
    assert _text(m, "PID.F3.R1.C1") == "p-0042"
    assert _text(m, "PID.F5.R1.C7") == "S"  # name type: pseudonym
    assert _text(m, "PID.F11.R1.C8") == "小店区" and _text(m, "PID.F11.R1.C9") == "140105"
    assert _text(m, "PID.F8") == ""


def test_hl7_laid_out_as_reportstream_writes_an_elr() -> None:
    real = hl7.parse((FIXTURES / "sample_AL_20240624-0001.hl7").read_bytes().decode("utf-8"))
    ours = _v2(to_hl7_oru(_report(Result.POSITIVE, ct=())))
    assert _layout(ours) == _layout(real) == ["MSH", "SFT", "PID", "ORC", "OBR", "OBX", "SPM"]
    assert _layout(_v2(to_hl7_oru(_report()))) == _layout(real)  # with its Ct values
    for key in ("MSH.F9.R1.C1", "MSH.F9.R1.C2", "MSH.F9.R1.C3", "MSH.F12", "MSH.F15",
                "MSH.F16", "MSH.F18", "MSH.F21", "ORC.F1", "OBR.F4.R1.C1", "OBR.F4.R1.C3",
                "OBR.F25", "PID.F3.R1.C5", "SPM.F4.R1.C3"):
        assert str(ours[key]) == str(real[key]), key
    real_result, our_result = real.segments("OBX")[0], ours.segments("OBX")[0]
    for field, component in ((2, None), (3, 0), (3, 2), (5, 0), (5, 2), (11, None)):
        got = our_result[field] if component is None else our_result[field][0][component]
        want = real_result[field] if component is None else real_result[field][0][component]
        assert str(got) == str(want), (field, component)
    # the specimen id in SPM-2 as placer and filler identifiers, each with its assigning lab
    assert len(ours.segment("SPM")[2][0]) == len(real.segment("SPM")[2][0]) == 2


def test_hl7_ordered_as_the_rna_test_itself() -> None:
    report = _report(assay=ElrAssay("orf1ab-n@1", "ORF1ab/N", OrderCode.RNA))
    assert _text(_v2(to_hl7_oru(report)), "OBR.F4.R1.C1") == "94500-6"


def test_hl7_pooled_tube_counts_its_samples() -> None:
    m = _v2(to_hl7_oru(_report(Result.NEGATIVE, pool_size=10)))
    assert _text(m, "SPM.F13") == "10"
    assert _text(_v2(to_hl7_oru(_report(Result.NEGATIVE))), "SPM.F13") == ""


# --- FHIR R4, parsed by the R4B models -----------------------------------------------------


def _fhir(data: bytes) -> tuple[Any, dict[str, list[Any]]]:
    bundle = bundle_module.Bundle.model_validate_json(data)
    by_type: dict[str, list[Any]] = {}
    for entry in bundle.entry:
        by_type.setdefault(entry.resource.get_resource_type(), []).append(entry.resource)
    return bundle, by_type


def _observations(by_type: dict[str, list[Any]]) -> dict[str, Any]:
    return {o.code.coding[0].code: o for o in by_type["Observation"]}


@pytest.mark.parametrize("result", list(Result))
def test_fhir_result_reads_back(result: Result) -> None:
    bundle, by_type = _fhir(to_fhir_bundle(_report(result)))
    assert bundle.type == "message" and bundle.identifier.value == "m-0001"
    header = by_type["MessageHeader"][0]
    assert bundle.entry[0].resource is header
    assert header.eventCoding.code == "R01"
    observation = _observations(by_type)["94500-6"]
    value = observation.valueCodeableConcept.coding[0]
    assert (value.system, value.code) == ("http://snomed.info/sct", SNOMED[result])
    assert observation.status == "final"
    (specimen,) = by_type["Specimen"]
    assert specimen.identifier[0].value == "TY00012345"
    assert specimen.type.coding[0].code == "258529004"
    (report,) = by_type["DiagnosticReport"]
    assert report.status == "final" and report.code.coding[0].code == "94531-1"
    assert report.identifier[0].value == "r-0001"
    urls = {e.fullUrl: e.resource for e in bundle.entry}
    assert header.focus[0].reference in urls and urls[header.focus[0].reference] is report
    assert all(r.reference in urls for r in report.result)
    assert urls[observation.specimen.reference] is specimen


def test_fhir_ct_values_are_quantities_in_ucum() -> None:
    _, by_type = _fhir(to_fhir_bundle(_report()))
    observations = _observations(by_type)
    read = {code: o.valueQuantity.value for code, o in observations.items()
            if o.valueQuantity is not None}
    assert {k: float(v) for k, v in read.items()} == {"94511-3": 28.5, "94510-5": 26.25}
    for code in read:
        quantity = observations[code].valueQuantity
        assert (quantity.system, quantity.code) == ("http://unitsofmeasure.org", "{Ct_value}")


def test_fhir_correction_is_status_corrected_with_what_it_corrects() -> None:
    _, by_type = _fhir(to_fhir_bundle(_report(correction=CORRECTION)))
    assert by_type["DiagnosticReport"][0].status == "corrected"
    assert {o.status for o in by_type["Observation"]} == {"corrected"}
    note = _observations(by_type)["94500-6"].note[0].text
    assert "260415000" in note and "孔位错误" in note


def test_fhir_full_identity_in_utf8() -> None:
    data = to_fhir_bundle(_report())
    assert "欧阳娜娜".encode() in data  # written as UTF-8, not \u escapes
    _, by_type = _fhir(data)
    (patient,) = by_type["Patient"]
    assert patient.name[0].text == "欧阳娜娜"
    assert (patient.name[0].family, patient.name[0].given) == ("欧阳", ["娜娜"])
    assert patient.gender == "female" and patient.birthDate == date(1990, 1, 1)
    ids = {i.type.coding[0].code: i.value for i in patient.identifier}
    assert ids == {"PI": "p-0042", "NI": "14010519900101123X"}
    assert patient.telecom[0].value == "13812345678"
    assert patient.address[0].line == ["迎泽大街1号 A|B^C&D~E\\F"]
    assert patient.address[0].district == "小店区"


def test_fhir_pseudonymous_person_is_an_id_and_a_district() -> None:
    data = to_fhir_bundle(_report(disclosure=Disclosure.PSEUDONYMOUS))
    for secret in ("欧阳", "娜娜", "14010519900101123X", "1990-01-01", "13812345678", "迎泽大街"):
        assert secret.encode() not in data
    _, by_type = _fhir(data)
    (patient,) = by_type["Patient"]
    assert [i.value for i in patient.identifier] == ["p-0042"]
    assert patient.name is None and patient.gender is None and patient.birthDate is None
    assert patient.address[0].district == "小店区"
    assert patient.address[0].extension[0].valueCode == "140105"


def test_fhir_resources_are_those_reportstream_sends() -> None:
    real = json.loads((FIXTURES / "sample_AL_20240624-0001.fhir").read_bytes())
    ours = json.loads(to_fhir_bundle(_report()))
    def types(doc: dict[str, Any]) -> set[str]:
        return {e["resource"]["resourceType"] for e in doc["entry"]}
    assert types(ours) <= types(real)
    assert ours["type"] == real["type"] == "message"
    assert ours["entry"][0]["resource"]["resourceType"] == "MessageHeader"
    def result_systems(doc: dict[str, Any]) -> tuple[str, str]:
        obs = next(e["resource"] for e in doc["entry"]
                   if e["resource"]["resourceType"] == "Observation"
                   and e["resource"]["code"]["coding"][0]["code"] == "94500-6")
        return (obs["code"]["coding"][0]["system"],
                obs["valueCodeableConcept"]["coding"][0]["system"])
    assert result_systems(ours) == result_systems(real)


# --- the input, and the platform without the interop extra --------------------------------


def test_same_report_writes_the_same_bytes() -> None:
    assert to_hl7_oru(_report()) == to_hl7_oru(_report())
    assert to_fhir_bundle(_report()) == to_fhir_bundle(_report())
    assert to_fhir_bundle(_report()) != to_fhir_bundle(_report(message_id="m-0002"))


def test_a_person_is_given_only_as_the_receiver_is_entitled() -> None:
    assert entitled_person(Disclosure.PSEUDONYMOUS, "p-1", DISTRICT, WHO).identity is None
    assert entitled_person(Disclosure.FULL, "p-1", DISTRICT, WHO).identity == WHO
    with pytest.raises(InvalidInput) as e:
        entitled_person(Disclosure.FULL, "p-1", DISTRICT, None)
    assert e.value.code == "identity_required"
    with pytest.raises(InvalidInput) as e:
        replace(_report(disclosure=Disclosure.PSEUDONYMOUS),
                person=entitled_person(Disclosure.FULL, "p-1", DISTRICT, WHO))
    assert e.value.code == "identity_not_entitled"


def test_reports_refused_in_words() -> None:
    with pytest.raises(InvalidInput) as e:
        _report(correction=ElrCorrection(Result.POSITIVE, datetime(2024, 6, 5, tzinfo=UTC), "x"))
    assert e.value.code == "correction_unchanged"
    with pytest.raises(InvalidInput) as e:
        _report(collected_at=datetime(2024, 6, 5, 1, 0))
    assert e.value.code == "naive_time"
    with pytest.raises(InvalidInput) as e:
        Organization("山西省太原市第三人民医院医学检验科核酸实验室", "2.16.156.1")
    assert e.value.field == "organization.short_name"


def test_platform_imports_without_the_extra_and_refuses_in_words() -> None:
    script = (
        "import pickle, sys\n"
        "for name in ('hl7apy', 'hl7apy.core', 'fhir', 'fhir.resources'):\n"
        "    sys.modules[name] = None  # as if not installed: importing it fails\n"
        "import hesuan.adapters.elr as elr\n"
        "from hesuan.domain.errors import InvalidInput\n"
        "report = pickle.loads(sys.stdin.buffer.read())\n"
        "for write in (elr.to_hl7_oru, elr.to_fhir_bundle):\n"
        "    try:\n"
        "        write(report)\n"
        "    except InvalidInput as e:\n"
        "        print(e.code)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], input=pickle.dumps(_report()),
                         capture_output=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.decode().split() == ["interop_extra_missing", "interop_extra_missing"]
