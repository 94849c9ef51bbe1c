"""Results from a lab's own system on both backends: the CDC ReportStream messages
(``tests/fixtures/interop/reportstream/``) imported with their specimen ids set to the barcodes of
tubes received in the test; each FHIR/HL7 pair releases the same result; a resend changes
nothing and is answered the same ACK; what cannot be applied (a preliminary result, an unknown
tube, an unmapped code, another lab's tube) lands in the inbox with its reason and is applied
after the tube is received or the code mapped; garbage is answered AR; a corrected result waits
for a second lab user, as any correction."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform, bootstrap
from hesuan.config import Settings
from hesuan.domain.access import Principal, Role
from hesuan.domain.corrections import CorrectionStatus
from hesuan.domain.errors import InvalidInput, NotFound, PermissionDenied, RuleViolation
from hesuan.domain.sampling import make_tube_barcode
from hesuan.entrypoints.cli.app import app as cli_app
from hesuan.services.interop_ports import LabMessageFormat
from hesuan.services.lab_messages import Receipt
from hesuan.services.lab_messages_ports import MessageState, MessageVia, SpecimenState
from hesuan.sim.example import seed_example_city
from tests.integration.lab_bench import ADMIN, Bench

pytest.importorskip("hl7")

FIXTURES = Path(__file__).parent.parent / "fixtures" / "interop" / "reportstream"
HL7, FHIR = LabMessageFormat.HL7V2, LabMessageFormat.FHIR
#: Each pair's filler order number (OBR-3, DiagnosticReport.identifier), the same in both forms.
PAIRS = {"sample_AL_20240624-0001": "0bab3f94-feb4-4915-939d-1adc5da201f3",
         "sample_ID_20240624-0001": "0bab3f94-feb4-4915-939d-1adc5da201f3",
         "sample_AK_20240220-0001": "3ad338c6-125d-4141-9ce1-6040481304ab"}
OFFICER = Principal("u-o", "officer", Role.HEALTH_OFFICER, "1401")


@pytest.fixture
def bench(platform: Platform, clock: FixedClock) -> Iterator[Bench]:
    yield Bench(platform, clock, seed_example_city(platform, people=60))


def _fixture(name: str, specimen: str, barcode: str) -> bytes:
    return (FIXTURES / name).read_bytes().replace(specimen.encode(), barcode.encode())


def _oru(barcode: str, *obx: str, control: str = "C-1") -> bytes:
    """An ORU^R01 as a city lab's system writes it, for the tube ``barcode``."""
    msh = ("MSH|^~\\&|LIS|城东检测实验室^12D0000001^CLIA|HESUAN|CITY|20240605120000||"
           f"ORU^R01^ORU_R01|{control}|P|2.5.1|||NE|NE|CHN|UNICODE UTF-8")
    obr = "OBR|1|ORD-1|FIL-1|94531-1^SARS-CoV-2 RNA panel^LN|||20240605100000"
    spm = f"SPM|1|{barcode}&SITE-7^{barcode}&LAB-3"
    return "\r".join((msh, "PID|1||P-1^^^CITY||张^三", obr, *obx, spm)).encode("utf-8")


def _obx(value: str, status: str = "F", test: str = "94500-6^SARS-CoV-2 RNA^LN") -> str:
    return f"OBX|1|CWE|{test}||{value}||||||{status}"


DETECTED, NOT_DETECTED = "260373001^Detected^SCT", "260415000^Not detected^SCT"


def _tube(b: Bench, barcode: str) -> tuple[str, str | None, object]:
    (row,) = b.rows("SELECT status, result, ct FROM tubes WHERE barcode = :b", b=barcode)
    ct = json.loads(row[2]) if isinstance(row[2], str) else row[2]
    return row[0], row[1], ct


def _receive(b: Bench, data: bytes, fmt: LabMessageFormat = HL7, user: int = 1) -> Receipt:
    return b.p.lab_messages.receive(b.lab_user(user), b.lab_id, data, fmt, MessageVia.API)


def _err3(ack: bytes) -> str:
    (err,) = [s for s in ack.decode().split("\r") if s.startswith("ERR")]
    return err.split("|")[3]


def _msa(ack: bytes) -> list[str]:
    (msa,) = [s for s in ack.decode().split("\r") if s.startswith("MSA")]
    return msa.split("|")


@pytest.mark.parametrize("stem", sorted(PAIRS))
def test_each_pair_releases_the_same_result(bench: Bench, stem: str) -> None:
    b, filler = bench, PAIRS[stem]
    b.p.lab_messages.configure(b.lab_user(1), b.lab_id, id_order=["filler_order"])
    by_hl7, by_fhir = b.tubes(2)
    got = _receive(b, _fixture(f"{stem}.hl7", filler, by_hl7))
    assert got.code == "AA" and _msa(got.ack)[1] == "AA"
    assert got.messages[0].state is MessageState.APPLIED
    fhir = _receive(b, _fixture(f"{stem}.fhir", filler, by_fhir), FHIR)
    assert fhir.code == "AA" and not fhir.messages[0].resend
    assert json.loads(fhir.ack)["issue"][0]["severity"] == "information"
    assert _tube(b, by_hl7) == _tube(b, by_fhir) == ("resulted", "positive", None)
    assert b.test_states(by_hl7) == b.test_states(by_fhir)
    assert b.scalar("SELECT count(*) FROM audit_log WHERE action = 'lab_message.receive'") == 2


def test_a_batch_answers_each_message_one_unreadable_among_them(bench: Bench) -> None:
    """An FHS/BHS batch whose second message cannot be read (no MSH-10): the others are
    applied, each answered; the unreadable one alone is kept as such and answered AR (the
    whole batch was AR, its good results not applied, kept as one unreadable input)."""
    b = bench
    first, third = b.tubes(2)
    bad = _oru(first, _obx(DETECTED), control="")
    batch = b"\r".join([
        b"FHS|^~\\&|LIS|LAB", b"BHS|^~\\&|LIS|LAB",
        _oru(first, _obx(NOT_DETECTED), control="B-1"), bad,
        _oru(third, _obx(DETECTED), control="B-3"), b"BTS|3", b"FTS|1"])
    r = _receive(b, batch)
    assert [m.ack_code for m in r.messages] == ["AA", "AR", "AA"], r
    assert r.code == "AR" and len(r.ack.split(b"\n")) == 3
    assert _tube(b, first)[1] == "negative" and _tube(b, third)[1] == "positive"
    states = b.rows("SELECT state, control_id FROM lab_messages ORDER BY received_at, id")
    assert sorted(state for state, _ in states) == ["applied", "applied", "unclear"]
    # sent again: each message is a resend, nothing changes
    again = _receive(b, batch)
    assert [m.resend for m in again.messages] == [True, True, True]


def test_the_v2_3_hospital_message_and_the_batch_file(bench: Bench) -> None:
    b = bench
    (tube,) = b.tubes(1)
    hospital = _fixture("FLFHospital-SARSCOV2-20200317-0001.hl7", "2107662558", tube)
    # as sent it is a training message (MSH-11 T): refused; the same as production is applied
    assert _receive(b, hospital).code == "AR" and _tube(b, tube)[1] is None
    got = _receive(b, hospital.replace(b"|04903212|T|2.3", b"|04903213|P|2.3"))
    assert got.code == "AA" and _tube(b, tube)[:2] == ("resulted", "negative")
    # the batch's two messages are antigen tests: both kept, in the inbox with the reason
    batch = _receive(b, (FIXTURES / "batch_message.hl7").read_bytes(), user=2)
    assert batch.code == "AE" and len(batch.messages) == 2
    assert len(batch.ack.split(b"\n")) == 2
    for m in batch.messages:
        row = b.p.lab_messages.message(b.lab_user(1), m.message_id)
        assert row.state is MessageState.UNCLEAR and row.raw
        assert {s.reason for s in row.specimens} == {"not_nucleic_acid"}


def test_a_resend_changes_nothing_and_gets_the_same_ack(bench: Bench) -> None:
    b = bench
    (tube,) = b.tubes(1)
    data = _oru(tube, _obx(DETECTED))
    first = _receive(b, data)
    logged = b.scalar("SELECT count(*) FROM result_log")
    sms = b.scalar("SELECT count(*) FROM outbox")
    again = _receive(b, data.replace(b"\r", b"\n"), user=2)  # other separators: the same message
    assert again.messages[0].resend and again.ack == first.ack
    assert again.messages[0].message_id == first.messages[0].message_id
    assert b.scalar("SELECT count(*) FROM result_log") == logged
    assert b.scalar("SELECT count(*) FROM outbox") == sms
    assert b.scalar("SELECT count(*) FROM lab_messages") == 1
    assert b.scalar("SELECT count(*) FROM audit_log WHERE action = "
                    "'lab_message.resend_differs'") == 0
    # other bytes under the same sender and control id: a resend, but the audit log says so
    other = _receive(b, _oru(tube, _obx(NOT_DETECTED)))
    assert other.messages[0].resend and other.ack == first.ack
    assert _tube(b, tube)[1] == "positive"
    assert b.scalar("SELECT count(*) FROM audit_log WHERE action = "
                    "'lab_message.resend_differs'") == 1


def test_a_preliminary_result_waits_in_the_inbox(bench: Bench) -> None:
    b = bench
    (tube,) = b.tubes(1)
    got = _receive(b, _oru(tube, _obx(DETECTED, "P")))
    assert got.code == "AE" and "preliminary" in got.ack.decode()
    assert _msa(got.ack)[1] == "AE"
    assert _tube(b, tube)[:2] == ("received", None)
    (row,) = b.p.lab_messages.messages(b.lab_user(1), b.lab_id, MessageState.UNCLEAR)
    assert row.specimens[0].reason == "preliminary"
    # the region's health officer reads it too; another lab's user does not
    assert [m.id for m in b.p.lab_messages.messages(OFFICER)] == [row.id]
    with pytest.raises(PermissionDenied):
        b.p.lab_messages.messages(b.lab_user(1, "lab2"), b.lab_id)
    out = b.p.lab_messages.discard(b.lab_user(2), row.id, "the final result follows")
    assert out.state is MessageState.DISCARDED
    with pytest.raises(RuleViolation):
        b.p.lab_messages.apply_again(b.lab_user(2), row.id)


def test_an_unknown_tube_is_applied_once_received(bench: Bench) -> None:
    b = bench
    barcode = make_tube_barcode(10_000)  # the first tube the bench will open
    got = _receive(b, _oru(barcode, _obx(NOT_DETECTED)))
    assert got.code == "AE"
    # ERR-3 says what the sender's system acts on: an unknown key, not an internal error
    assert _err3(got.ack) == "204^Unknown key identifier^HL70357", got.ack
    message_id = got.messages[0].message_id
    assert b.p.lab_messages.message(ADMIN, message_id).specimens[0].reason == "unknown_tube"
    assert b.tubes(1) == [barcode]
    row = b.p.lab_messages.apply_again(b.lab_user(2), message_id)
    assert row.state is MessageState.APPLIED
    assert row.specimens[0].state is SpecimenState.APPLIED
    assert _tube(b, barcode)[:2] == ("resulted", "negative")
    # applied again: nothing more
    assert b.p.lab_messages.apply_again(b.lab_user(2), message_id).state is MessageState.APPLIED
    assert b.scalar("SELECT count(*) FROM result_log") == 1


def test_another_labs_tube_stays_in_the_inbox(bench: Bench) -> None:
    b = bench
    (tube,) = b.tubes(1, lab="lab2")
    got = _receive(b, _oru(tube, _obx(DETECTED)))
    assert got.code == "AE"
    assert b.p.lab_messages.message(ADMIN, got.messages[0].message_id).specimens[0].reason \
        == "other_lab"
    assert _tube(b, tube)[1] is None
    with pytest.raises(PermissionDenied):  # and lab2's user cannot send for lab1
        b.p.lab_messages.receive(b.lab_user(1, "lab2"), b.lab_id, b"x", HL7, MessageVia.API)


def test_two_labs_systems_with_the_same_control_ids_are_not_each_others_resends(
        bench: Bench) -> None:
    """A resend is known by its sender and control id within the lab that receives it: two
    labs' systems that both leave MSH-4 empty and number their messages from 1 do not lose
    each other's results as resends (the second lab's was kept as a resend of the first's,
    answered the first's ACK and applied nothing)."""
    b = bench
    (ours,) = b.tubes(1)
    (theirs,) = b.tubes(1, lab="lab2")
    lab2 = b.city.labs["lab2"]

    def oru(barcode: str) -> bytes:
        return _oru(barcode, _obx(NOT_DETECTED), control="1").replace(
            "LIS|城东检测实验室^12D0000001^CLIA|".encode(), b"LIS||")

    first = _receive(b, oru(ours))
    second = b.p.lab_messages.receive(b.lab_user(1, "lab2"), lab2, oru(theirs), HL7,
                                      MessageVia.API)
    assert (first.code, second.code) == ("AA", "AA")
    assert not second.messages[0].resend
    assert _tube(b, ours)[:2] == _tube(b, theirs)[:2] == ("resulted", "negative")
    # within one lab the same sender and control id is still a resend
    assert b.p.lab_messages.receive(b.lab_user(1, "lab2"), lab2, oru(theirs), HL7,
                                    MessageVia.API).messages[0].resend


def test_an_unmapped_local_code_is_applied_once_mapped(bench: Bench) -> None:
    b = bench
    (tube,) = b.tubes(1)
    local = "OBX|1|ST|COV2^新冠核酸^L||阴性||||||F"
    got = _receive(b, _oru(tube, local))
    assert got.code == "AE" and "COV2" in got.ack.decode()
    assert _err3(got.ack) == "103^Table value not found^HL70357", got.ack
    message_id = got.messages[0].message_id
    setting = b.p.lab_messages.configure(ADMIN, b.lab_id, tests={"COV2": "94500-6"})
    assert setting.tests == {"COV2": "94500-6"}
    assert b.p.lab_messages.apply_again(b.lab_user(1), message_id).state is MessageState.APPLIED
    assert _tube(b, tube)[:2] == ("resulted", "negative")
    assert b.scalar("SELECT count(*) FROM audit_log WHERE action = 'lab.interop_setting'") == 1


def test_garbage_is_answered_ar_and_kept(bench: Bench) -> None:
    b = bench
    got = _receive(b, b"this is no HL7 message")
    assert got.code == "AR" and _msa(got.ack)[1] == "AR"
    assert _receive(b, b"this is no HL7 message").ack == got.ack  # the same answer again
    fhir = _receive(b, b"{not json", FHIR)
    assert fhir.code == "AR" and json.loads(fhir.ack)["issue"][0]["severity"] == "error"
    rows = b.p.lab_messages.messages(b.lab_user(1), b.lab_id)
    assert len(rows) == 2 and {r.state for r in rows} == {MessageState.UNCLEAR}


def test_a_server_without_the_interop_extra_refuses_rather_than_keeps(
        bench: Bench, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server installed without the interop extra (fhir.resources) kept each FHIR message as
    unreadable input and answered it an error of the message: the lab's system dropped good
    messages as bad. The server's own want is the answer (``interop_extra_missing``), nothing
    kept, and the message is taken once the server has the extra."""
    import sys

    from hesuan.domain.errors import InvalidInput

    b = bench
    b.p.lab_messages.configure(b.lab_user(1), b.lab_id, id_order=["filler_order"])
    (tube,) = b.tubes(1)
    fhir = _fixture("sample_AL_20240624-0001.fhir", PAIRS["sample_AL_20240624-0001"], tube)
    monkeypatch.setitem(sys.modules, "fhir.resources.R4B", None)
    with pytest.raises(InvalidInput) as e:
        _receive(b, fhir, FHIR)
    assert e.value.code == "interop_extra_missing", e.value
    assert b.p.lab_messages.messages(b.lab_user(1), b.lab_id) == []
    monkeypatch.delitem(sys.modules, "fhir.resources.R4B")
    assert _receive(b, fhir, FHIR).code == "AA"


def _err(ack: bytes) -> list[str]:
    (err,) = [s for s in ack.decode().split("\r") if s.startswith("ERR")]
    return err.split("|")


def test_an_ar_says_what_is_wrong_with_the_message(bench: Bench) -> None:
    """HL7 table 0357: a message without MSH-10 misses a required field (101, at MSH-10: ERR-2
    from v2.5, ERR-1 before it), alone or in a batch; input that is no message is a segment
    sequence error (100); bytes not in the named character set a data type error (102)."""
    b = bench
    (tube,) = b.tubes(1)
    no_control = _oru(tube, _obx(DETECTED), control="")
    got = _receive(b, no_control)
    assert got.code == "AR" and _msa(got.ack)[1:3] == ["AR", ""]
    err = _err(got.ack)
    assert err[2] == "MSH^1^10" and err[3] == "101^Required field missing^HL70357", got.ack
    v2_3 = no_control.replace(b"|2.5.1|", b"|2.3|")
    assert _err(_receive(b, v2_3).ack)[1] == "MSH^1^10^101&Required field missing&HL70357"
    batch = b"\r".join([b"BHS|^~\\&|LIS|LAB", _oru(tube, _obx(DETECTED), control="B-1"),
                        _oru(tube, _obx(NOT_DETECTED), control=""), b"BTS|2"])
    acks = _receive(b, batch).ack.split(b"\n")
    assert _err(acks[1])[2:4] == ["MSH^1^10", "101^Required field missing^HL70357"]
    not_a_message = _err(_receive(b, b"PID|1||P-1\rMSH|^~\\&|LIS|LAB").ack)
    assert not_a_message[3] == "100^Segment sequence error^HL70357"
    not_utf_8 = _oru(tube, _obx(DETECTED), control="U-1").replace("张".encode(), b"\xd5\xc5")
    assert _err(_receive(b, not_utf_8).ack)[3] == "102^Data type error^HL70357"


@pytest.mark.parametrize(("msh_9_to_11", "reason", "error"), [
    ("ADT^A01^ADT_A01|C-9|P", "unsupported_message_type", "200^Unsupported message type"),
    ("ORU^R30^ORU_R30|C-9|P", "unsupported_event", "201^Unsupported event code"),
    ("ORU^R01^ORU_R01|C-9|T", "unsupported_processing_id", "202^Unsupported processing id"),
    ("ORU^R01|C-9|D", "unsupported_processing_id", "202^Unsupported processing id"),
])
def test_a_message_this_platform_does_not_take_is_refused_and_applies_nothing(
        bench: Bench, msh_9_to_11: str, reason: str, error: str) -> None:
    """HL7 v2.5 2.9.2: a message whose type, event or processing id the receiver does not
    take is answered AR. A lab trying its link with training messages (MSH-11 T) had their
    made-up results released to real people's tubes, and a message of another kind was
    answered AE (kept for a decision) as if it were results gone wrong. Refused, kept in the
    inbox with the reason; applying it again refuses it again."""
    b = bench
    (tube,) = b.tubes(1)
    data = _oru(tube, _obx(DETECTED)).replace(b"ORU^R01^ORU_R01|C-1|P", msh_9_to_11.encode())
    got = _receive(b, data)
    assert got.code == "AR" and _msa(got.ack)[1:3] == ["AR", "C-9"], got.ack
    assert _err(got.ack)[3] == f"{error}^HL70357"
    assert _tube(b, tube) == ("received", None, None)
    (m,) = got.messages
    row = b.p.lab_messages.message(b.lab_user(1), m.message_id)
    assert row.state is MessageState.UNCLEAR
    assert [(s.specimen_id, s.reason) for s in row.specimens] == [(None, reason)]
    again = b.p.lab_messages.apply_again(b.lab_user(2), m.message_id)
    assert again.state is MessageState.UNCLEAR and _tube(b, tube) == ("received", None, None)
    assert _receive(b, data).ack == got.ack  # a resend: the same answer


@pytest.mark.parametrize(("before", "after", "reason"), [
    (b'"eventCoding":{"system":"http://terminology.hl7.org/CodeSystem/v2-0003","code":"R01"',
     b'"eventCoding":{"system":"http://terminology.hl7.org/CodeSystem/v2-0003","code":"A01"',
     "unsupported_event"),
    (b'"type":"message"', b'"type":"searchset"', "unsupported_message_type"),
    (b'"code":"P","display":"Production"', b'"code":"T","display":"Training"',
     "unsupported_processing_id"),
])
def test_a_fhir_bundle_that_is_not_results_is_refused(bench: Bench, before: bytes, after: bytes,
                                                      reason: str) -> None:
    """A FHIR message naming another HL7 v2 event (an admission, A01), a Bundle a server
    answered with (a search's matches) and a message tagged for training are not results the
    lab's system sends for real: refused as the HL7 ones are (AR, an ``error``
    OperationOutcome), kept in the inbox with the reason, the tube untouched."""
    b = bench
    b.p.lab_messages.configure(b.lab_user(1), b.lab_id, id_order=["filler_order"])
    (tube,) = b.tubes(1)
    fhir = _fixture("sample_AL_20240624-0001.fhir", PAIRS["sample_AL_20240624-0001"], tube)
    assert fhir.count(before) == 1
    got = _receive(b, fhir.replace(before, after), FHIR)
    outcome = json.loads(got.ack)["issue"][0]
    assert got.code == "AR" and outcome["severity"] == "error", got.ack
    assert reason in outcome["details"]["text"]
    assert _tube(b, tube) == ("received", None, None)
    (m,) = got.messages
    row = b.p.lab_messages.message(b.lab_user(1), m.message_id)
    assert [(s.specimen_id, s.reason) for s in row.specimens] == [(None, reason)]


@pytest.fixture
def training_bench(settings: Settings, clock: FixedClock) -> Iterator[Bench]:
    """A training platform (``HESUAN_LAB_PROCESSING=T``): it takes the labs' training messages
    and refuses their production ones."""
    p = bootstrap(settings.model_copy(update={"lab_processing": "T"}), clock=clock,
                  migrate=False)
    yield Bench(p, clock, seed_example_city(p, people=60))
    p.close()


def test_a_training_platform_takes_training_messages_only(training_bench: Bench) -> None:
    b = training_bench
    first, second = b.tubes(2)
    production = _receive(b, _oru(first, _obx(DETECTED), control="P-1"))
    assert production.code == "AR" and _tube(b, first) == ("received", None, None)
    training = _oru(second, _obx(DETECTED), control="T-1").replace(b"|T-1|P|", b"|T-1|T|")
    assert _receive(b, training).code == "AA" and _tube(b, second)[:2] == ("resulted",
                                                                           "positive")


def test_a_corrected_result_goes_through_the_corrections(bench: Bench) -> None:
    b = bench
    (tube,) = b.tubes(1)
    assert _receive(b, _oru(tube, _obx(NOT_DETECTED), control="C-1")).code == "AA"
    got = _receive(b, _oru(tube, _obx(DETECTED, "C"), control="C-2"))
    assert got.code == "AA"
    row = b.p.lab_messages.message(b.lab_user(1), got.messages[0].message_id)
    (line,) = row.specimens
    assert line.state is SpecimenState.CORRECTION_REQUESTED and line.request_id
    # requested only: the tube keeps its result until a second lab user approves
    assert _tube(b, tube)[1] == "negative"
    with pytest.raises(RuleViolation):  # not by the one the request came from
        b.p.corrections.approve(b.lab_user(1), line.request_id)
    out = b.p.corrections.approve(b.lab_user(2), line.request_id)
    assert out.applied and out.request.status is CorrectionStatus.APPLIED
    assert _tube(b, tube)[1] == "positive"
    # the same correction sent again changes nothing
    assert _receive(b, _oru(tube, _obx(DETECTED, "C"), control="C-3")).code == "AA"
    assert b.scalar("SELECT count(*) FROM result_corrections") == 1


def test_hesuan_results_import_a_message_file(bench: Bench, settings: Settings, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    b = bench
    hl7_tube, fhir_tube = b.tubes(2)
    for name, value in {"DATABASE_URL": settings.database_url, "ENVIRONMENT": "test",
                        "SECRET_KEY": "test-secret", "KEY_FILE": str(settings.key_file),
                        "PASS_KEY_DIR": str(settings.pass_key_dir),
                        "AUDIT_CHECKPOINT_DIR": str(settings.audit_checkpoint_dir),
                        "SMS_FILE": str(settings.sms_file)}.items():
        monkeypatch.setenv(f"HESUAN_{name}", value)
    stem, filler = "sample_AL_20240624-0001", PAIRS["sample_AL_20240624-0001"]
    b.p.lab_messages.configure(ADMIN, b.lab_id, id_order=["filler_order"])
    (tmp_path / "m.hl7").write_bytes(_fixture(f"{stem}.hl7", filler, hl7_tube))
    (tmp_path / "m.json").write_bytes(_fixture(f"{stem}.fhir", filler, fhir_tube))
    (tmp_path / "bad.hl7").write_bytes(b"garbage")
    for name in ("m.hl7", "m.json"):
        out = CliRunner().invoke(cli_app, ["results", "import", str(tmp_path / name),
                                           "--lab", b.lab_id])
        assert out.exit_code == 0, out.output
        assert "AA applied" in out.output
    again = CliRunner().invoke(cli_app, ["results", "import", str(tmp_path / "m.hl7"),
                                         "--lab", b.lab_id])
    assert again.exit_code == 0 and "resend" in again.output
    bad = CliRunner().invoke(cli_app, ["results", "import", str(tmp_path / "bad.hl7"),
                                       "--lab", b.lab_id])
    assert bad.exit_code == 1 and "AR" in bad.output
    assert _tube(b, hl7_tube) == _tube(b, fhir_tube) == ("resulted", "positive", None)
    assert {r[0] for r in b.rows("SELECT via FROM lab_messages")} == {"file"}


def test_a_long_control_id_is_kept_and_still_names_the_message(bench: Bench) -> None:
    b = bench
    (tube,) = bench.tubes(1)
    data = _oru(tube, _obx(DETECTED), control="9" * 300)
    first = _receive(b, data)
    assert first.code == "AA" and len(first.messages[0].control_id) == 200
    assert _receive(b, data).messages[0].resend
    assert not _receive(b, _oru(tube, _obx(DETECTED), control="9" * 299 + "8")).messages[
        0].resend


def test_a_specimen_the_lab_could_not_test_is_rejected_at_the_bench(bench: Bench) -> None:
    b = bench
    not_done, unsatisfactory = b.tubes(2)
    assert _receive(b, _oru(not_done, _obx("", "X"), control="X-1")).code == "AA"
    assert _receive(b, _oru(unsatisfactory, _obx("125154007^Specimen unsatisfactory^SCT"),
                            control="X-2")).code == "AA"
    for tube in (not_done, unsatisfactory):
        assert _tube(b, tube)[:2] == ("rejected", None)
        assert b.rows("SELECT r.stage, r.code FROM specimen_rejections r JOIN tubes t ON "
                      "t.id = r.tube_id WHERE t.barcode = :b", b=tube) == [("bench", "other")]
        assert {r[0] for r in b.rows(
            "SELECT o.template FROM outbox o JOIN tubes t ON t.id = o.tube_id "
            "WHERE t.barcode = :b", b=tube)} == {"rejected"}
    (row,) = [r for r in b.p.lab_messages.messages(ADMIN, b.lab_id) if r.control_id == "X-1"]
    assert (row.specimens[0].state, row.specimens[0].result) == (SpecimenState.APPLIED,
                                                                 "rejected")


def test_a_lab_cannot_map_the_standard_codes_to_another_finding(bench: Bench) -> None:
    """One lab user could map SNOMED's Detected, or the words 阳性 and Detected, to not
    detected (or an antigen test's LOINC code to the nucleic-acid test's): the lab's system's
    positives were then released to people as negatives, AA, with no second person."""
    b, u = bench, bench.lab_user(1)
    cases: tuple[dict[str, Any], ...] = (
        {"values": {"260373001": "not_detected"}}, {"values": {" Detected ": "not_detected"}},
        {"values": {"阴性": "detected"}},
        {"values": {"R9": "inconclusive", "POSITIVE": "not_detected"}},
        {"tests": {"94558-4": "94500-6"}}, {"tests": {"94533-7": "94500-6"}})
    for kwargs in cases:
        with pytest.raises(InvalidInput) as refused:
            b.p.lab_messages.configure(u, b.lab_id, **kwargs)
        assert refused.value.code == "bad_mapping", kwargs
        assert "already" in refused.value.message
    assert b.p.lab_messages.configure(u, b.lab_id, values={"R9": "inconclusive"}).values \
        == {"R9": "inconclusive"}
    (tube,) = b.tubes(1)
    got = _receive(b, _oru(tube, _obx(DETECTED)))
    assert _msa(got.ack)[1] == "AA" and _tube(b, tube)[:2] == ("resulted", "positive")


def test_gene_results_that_contradict_the_overall_result_are_kept(bench: Bench) -> None:
    """An overall Not detected beside both genes Detected was released as negative, AA, the
    genes left aside in a note; an overall Detected beside no gene detected, as positive."""
    b = bench
    negative, positive = b.tubes(2)
    genes_detected = (_obx(DETECTED, test="94533-7^N gene^LN"),
                      _obx(DETECTED, test="94559-2^ORF1ab^LN"))
    got = _receive(b, _oru(negative, _obx(NOT_DETECTED), *genes_detected, control="G-1"))
    assert _msa(got.ack)[1] == "AE" and _tube(b, negative)[:2] == ("received", None)
    assert _err3(got.ack).startswith("207^"), got.ack  # the lab's to decide: no table fits
    (row,) = [r for r in b.p.lab_messages.messages(ADMIN, b.lab_id) if r.control_id == "G-1"]
    assert (row.state, row.specimens[0].reason) == (MessageState.UNCLEAR, "conflicting")
    genes_not = (_obx(NOT_DETECTED, test="94533-7^N gene^LN"),
                 _obx(NOT_DETECTED, test="94559-2^ORF1ab^LN"))
    got = _receive(b, _oru(positive, _obx(DETECTED), *genes_not, control="G-2"))
    assert _msa(got.ack)[1] == "AE" and _tube(b, positive)[:2] == ("received", None)
    # an overall result its genes agree with, or one of two, is the lab's call
    agree, one = b.tubes(2)
    _receive(b, _oru(agree, _obx(DETECTED), *genes_detected, control="G-3"))
    _receive(b, _oru(one, _obx(DETECTED), genes_detected[0], genes_not[1], control="G-4"))
    assert _tube(b, agree)[1] == _tube(b, one)[1] == "positive"


def test_a_presumptive_positive_single_tube_waits_for_the_confirmed_result(
        bench: Bench) -> None:
    """A single tube's presumptive positive was released as positive (red) at once: it is
    re-tested before release (docs/LAB.md); a pool's is a positive pool, its people recalled."""
    b = bench
    (single,) = b.tubes(1)
    (pool,) = b.tubes(1, mode=5)
    presumptive = "720735008^Presumptive positive^SCT"
    got = _receive(b, _oru(single, _obx(presumptive), control="P-1"))
    assert _msa(got.ack)[1] == "AE" and _tube(b, single)[:2] == ("received", None)
    (row,) = [r for r in b.p.lab_messages.messages(ADMIN, b.lab_id) if r.control_id == "P-1"]
    assert row.specimens[0].reason == "presumptive_single"
    assert _msa(_receive(b, _oru(single, _obx(DETECTED), control="P-2")).ack)[1] == "AA"
    assert _tube(b, single)[:2] == ("resulted", "positive")
    _receive(b, _oru(pool, _obx(presumptive), control="P-3"))
    assert _tube(b, pool)[:2] == ("resulted", "positive")


def test_a_message_is_kept_encrypted(bench: Bench) -> None:
    b = bench
    (tube,) = b.tubes(1)
    data = _oru(tube, _obx(DETECTED))
    got = _receive(b, data)
    stored = bytes(b.scalar("SELECT raw FROM lab_messages"))
    assert "张".encode() not in stored and tube.encode() not in stored
    row = b.p.lab_messages.message(ADMIN, got.messages[0].message_id)
    assert row.raw.rstrip(b"\r") == data  # the message's own segments, each ended by CR
    assert hashlib.sha256(row.raw).hexdigest() == row.sha256


def test_the_setting_and_the_decisions_refuse_in_words(bench: Bench) -> None:
    b, u = bench, bench.lab_user(1)
    service = b.p.lab_messages
    for kwargs, code in (({"id_order": ["obr-3"]}, "bad_id_order"), ({"id_order": []},
                         "bad_id_order"), ({"tests": {"COV2": "12345-6"}}, "bad_mapping"),
                         ({"values": {"R9": "weakly"}}, "bad_mapping")):
        with pytest.raises(InvalidInput) as caught:
            service.configure(u, b.lab_id, **kwargs)
        assert caught.value.code == code
    with pytest.raises(PermissionDenied):  # another lab's user
        service.configure(b.lab_user(1, "lab2"), b.lab_id, id_order=["filler_order"])
    with pytest.raises(PermissionDenied):  # a health officer reads, never configures
        service.configure(OFFICER, b.lab_id, id_order=["filler_order"])
    (tube,) = b.tubes(1)
    applied = _receive(b, _oru(tube, _obx(DETECTED))).messages[0].message_id
    with pytest.raises(RuleViolation) as refused:
        service.discard(u, applied, "no")
    assert refused.value.code == "message_applied"
    with pytest.raises(InvalidInput):
        service.discard(u, applied, "  ")
    with pytest.raises(NotFound):
        service.apply_again(u, "no-such-message")
    with pytest.raises(PermissionDenied):
        service.apply_again(b.lab_user(1, "lab2"), applied)
    assert b.scalar("SELECT count(*) FROM audit_log WHERE action = 'lab.interop_setting'") == 0
