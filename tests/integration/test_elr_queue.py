"""Electronic lab reports out, queued and delivered on both backends (docs/INTEROP.md "Out"): a
plate's release queues a report per person and format in its own transaction, the scheduler's
pass writes them from storage to a folder (read back by independent parsers: python-hl7, the
FHIR R4B models) or sends them over MLLP to a real local TCP server — each exactly once: a
replay queues nothing, a correction queues a corrected report, a cancellation a withdrawal per
member (positives only: of a positive), a crash between the hand-over and the sent mark
delivers nothing twice, an AE is retried and an AA marks the report sent."""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

hl7 = pytest.importorskip("hl7")
pytest.importorskip("hl7apy")
bundle_module = pytest.importorskip("fhir.resources.R4B.bundle")

from hesuan.adapters.clock import FixedClock  # noqa: E402
from hesuan.adapters.elr import to_fhir_bundle, to_hl7_oru  # noqa: E402
from hesuan.adapters.elr.transports import (  # noqa: E402
    FolderTransport,
    MllpTransport,
    tls_context,
)
from hesuan.bootstrap import Platform, bootstrap  # noqa: E402
from hesuan.config import Settings  # noqa: E402
from hesuan.domain.corrections import CorrectionKind  # noqa: E402
from hesuan.entrypoints.cli.app import app as cli_app  # noqa: E402
from hesuan.entrypoints.scheduler import Scheduler  # noqa: E402
from hesuan.services.elr import ElrDeliveryReport, ElrService  # noqa: E402
from hesuan.services.elr_queue_ports import ElrFormat  # noqa: E402
from hesuan.sim.example import seed_example_city  # noqa: E402
from tests.integration.lab_bench import (  # noqa: E402
    ADMIN,
    NEG,
    NEGATIVE_CONTROL,
    POS,
    POSITIVE_CONTROL,
    Bench,
    plate_file,
)

CONTROLS = {"A1": POSITIVE_CONTROL, "A2": NEGATIVE_CONTROL}
ROUTE: dict[str, Any] = {
    "elr_enabled": True, "elr_sending_application_oid": "2.16.156.10011.99.1",
    "elr_sending_facility": "太原市核酸检测平台", "elr_sending_facility_oid": "2.16.156.10011.99.2",
    "elr_receiving_application": "SXCDC-ELR", "elr_receiving_application_oid": "2.16.156.1.3",
    "elr_receiving_facility": "山西省疾控中心", "elr_receiving_facility_oid": "2.16.156.1.4"}
SNOMED_POSITIVE, SNOMED_NEGATIVE = "260373001", "260415000"


def _platform(settings: Settings, clock: FixedClock, tmp_path: Path,
              **elr: Any) -> Platform:
    s = settings.model_copy(update={**ROUTE, "elr_folder": tmp_path / "elr", **elr})
    return bootstrap(s, clock=clock, migrate=False)


@pytest.fixture
def bench(settings: Settings, clock: FixedClock, tmp_path: Path) -> Iterator[Bench]:
    p = _platform(settings, clock, tmp_path)
    yield Bench(p, clock, seed_example_city(p, people=60))
    p.close()


def _release(b: Bench, cts: dict[str, dict[str, float | None]]) -> None:
    plate, wells = b.plate(b.lab_user(1), list(cts))
    b.p.runs.import_run(b.lab_user(2), plate.id, "run.csv", plate_file(CONTROLS, wells, cts))
    b.p.runs.release(b.lab_user(3), plate.id)


def _files(b: Bench, suffix: str) -> list[Path]:
    return sorted(b.p.settings.elr_folder.glob(f"*{suffix}"))


def _hl7(path: Path) -> Any:
    return hl7.parse(path.read_bytes().decode("utf-8"))


def _fhir(path: Path) -> Any:
    return bundle_module.Bundle.model_validate_json(path.read_bytes())


def _observation(bundle: Any) -> Any:
    return next(e.resource for e in bundle.entry
                if e.resource.__resource_type__ == "Observation"
                and e.resource.valueCodeableConcept is not None)


def _queued(b: Bench) -> int:
    return int(b.scalar("SELECT count(*) FROM elr_outbox"))


def test_a_released_positive_reads_back_and_a_negative_is_skipped(bench: Bench) -> None:
    b = bench
    pos, neg = b.tubes(2)
    _release(b, {pos: POS, neg: NEG})
    # positives only (the default): one report per format, none for the negative
    assert _queued(b) == 2
    assert b.p.elr is not None
    out = b.p.elr.deliver(ADMIN)
    assert (out.sent, out.failed, out.in_doubt) == (2, 0, 0)
    (h,), (f,) = _files(b, ".hl7"), _files(b, ".json")
    assert h.stem != f.stem  # a file per message, named by its message id
    msg = _hl7(h)
    assert str(msg.segment("MSH")[10]) == h.stem
    assert str(msg.segment("SPM")[2]).startswith(pos)
    obx = msg.segment("OBX")
    assert str(obx[5]).startswith(SNOMED_POSITIVE) and str(obx[11]) == "F"
    cts = {str(s[3]).split("^")[0]: float(str(s[5])) for s in msg.segments("OBX")[1:]}
    assert sorted(cts.values()) == [24.0, 25.5]
    # pseudonymous: the person's id only, no name
    (member,) = b.members(pos)
    assert str(msg.segment("PID")[3]).startswith(member)
    bundle = _fhir(f)
    assert bundle.identifier.value == f.stem
    obs = _observation(bundle)
    assert obs.valueCodeableConcept.coding[0].code == SNOMED_POSITIVE
    assert obs.status == "final"
    specimen = next(e.resource for e in bundle.entry
                    if e.resource.__resource_type__ == "Specimen")
    assert specimen.accessionIdentifier.value == pos
    # delivered once: a second pass has nothing to deliver, no file is written again
    assert b.p.elr.deliver(ADMIN).sent == 0
    assert len(_files(b, "")) == 2
    assert b.scalar("SELECT count(*) FROM elr_outbox WHERE sent_at IS NULL") == 0


def test_all_results_a_pool_gives_each_member_a_report(
        settings: Settings, clock: FixedClock, tmp_path: Path) -> None:
    p = _platform(settings, clock, tmp_path, elr_results="all", elr_formats="hl7")
    try:
        b = Bench(p, clock, seed_example_city(p, people=60))
        (single,) = b.tubes(1)
        (pool,) = b.tubes(1, mode=5)
        _release(b, {single: NEG, pool: NEG})
        assert _queued(b) == 6  # hl7 only: one for the single tube, one per pool member
        assert p.elr is not None and p.elr.deliver(ADMIN).sent == 6
        messages = [_hl7(h) for h in _files(b, ".hl7")]
        assert not _files(b, ".json")
        assert {str(m.segment("OBX")[5]).split("^")[0] for m in messages} == {SNOMED_NEGATIVE}
        pooled = [m for m in messages if str(m.segment("SPM")[2]).startswith(pool)]
        assert len(pooled) == 5 and {str(m.segment("SPM")[13]) for m in pooled} == {"5"}
        assert {str(m.segment("PID")[3]).split("^")[0] for m in pooled} == set(b.members(pool))
    finally:
        p.close()


def test_a_correction_is_reported_corrected_once(bench: Bench) -> None:
    b = bench
    (tube,) = b.tubes(1)
    _release(b, {tube: POS})
    assert b.p.elr is not None and b.p.elr.deliver(ADMIN).sent == 2
    first = {p.stem for p in _files(b, "")}
    _correct_to_negative(b, tube)
    # a correction of a positive is reported even under positives only
    assert _queued(b) == 4
    assert b.p.elr.deliver(ADMIN).sent == 2
    assert b.p.elr.deliver(ADMIN).sent == 0
    (h,) = [p for p in _files(b, ".hl7") if p.stem not in first]
    (f,) = [p for p in _files(b, ".json") if p.stem not in first]
    msg = _hl7(h)
    assert str(msg.segment("OBX")[5]).startswith(SNOMED_NEGATIVE)
    assert {str(s[11]) for s in msg.segments("OBX")} == {"C"}
    assert str(msg.segment("OBR")[25]) == "C"
    bundle = _fhir(f)
    assert _observation(bundle).status == "corrected"
    report = next(e.resource for e in bundle.entry
                  if e.resource.__resource_type__ == "DiagnosticReport")
    assert report.status == "corrected"
    # the same report id as the result it corrects, a new message id
    (old,) = [p for p in _files(b, ".hl7") if p.stem in first]
    assert str(_hl7(old).segment("OBR")[3]) == str(msg.segment("OBR")[3])


def _correct_to_negative(b: Bench, tube: str) -> None:
    """An hour on, the tube's released result corrected to negative (requested and approved
    by two lab users)."""
    b.clock.advance(timedelta(hours=1))
    req = b.p.corrections.request(b.lab_user(1), b.lab_id, tube, CorrectionKind.CORRECTION,
                                  "plate swap: the neighbouring well's", "negative")
    b.p.corrections.approve(b.lab_user(2), req.id)


def _positive_corrected_to_negative(b: Bench) -> str:
    """A tube released positive, then corrected to negative (both reported under positives
    only: a report a format each), an hour before now; its barcode."""
    (tube,) = b.tubes(1)
    _release(b, {tube: POS})
    _correct_to_negative(b, tube)
    assert _queued(b) == 4
    b.clock.advance(timedelta(hours=1))
    return tube


def _cancel(b: Bench, tube: str) -> str:
    """Cancel the tube's released result (requested and approved by two lab users): the
    result-log entry the cancellation wrote."""
    req = b.p.corrections.request(b.lab_user(1), b.lab_id, tube, CorrectionKind.CANCELLATION,
                                  "the box's temperature log was lost")
    out = b.p.corrections.approve(b.lab_user(2), req.id)
    assert out.applied and out.request.result_log_id is not None
    return out.request.result_log_id


def _resource(bundle: Any, kind: str) -> Any:
    (resource,) = [e.resource for e in bundle.entry if e.resource.__resource_type__ == kind]
    return resource


def test_a_cancellation_withdraws_each_members_report_once(bench: Bench) -> None:
    b = bench
    (pool,) = b.tubes(1, mode=5)
    _release(b, {pool: POS})
    assert b.p.elr is not None and b.p.elr.deliver(ADMIN).sent == 10
    first = {p.stem: p for p in _files(b, "")}
    b.clock.advance(timedelta(hours=1))
    log_id = _cancel(b, pool)
    # positives only (the default): a withdrawn positive is reported, per member and format
    assert _queued(b) == 20
    assert b.rows("SELECT person_id, format FROM elr_outbox WHERE result_log_id = :l "
                  "ORDER BY person_id, format", l=log_id) == [
        (m, f) for m in b.members(pool) for f in ("fhir", "hl7")]
    # the same rules as the fan-out's: queued again, nothing new
    with b.p.deps.uow() as uow:
        assert b.p.lab.report_withdrawals(uow, [log_id], b.clock.now()) == 0
        uow.commit()
    assert b.p.elr.deliver(ADMIN).sent == 10
    assert b.p.elr.deliver(ADMIN).sent == 0
    earlier = {str(_hl7(p).segment("PID")[3]).split("^")[0]: str(_hl7(p).segment("OBR")[3])
               for p in first.values() if p.suffix == ".hl7"}
    withdrawals = [p for p in _files(b, ".hl7") if p.stem not in first]
    assert len(withdrawals) == 5
    for h in withdrawals:
        msg = _hl7(h)
        person = str(msg.segment("PID")[3]).split("^")[0]
        # the same report id as the report it withdraws: the receiver replaces it
        assert str(msg.segment("OBR")[3]) == earlier[person]
        assert str(msg.segment("OBR")[25]) == "X"
        (obx,) = msg.segments("OBX")  # no Ct values
        assert str(obx[11]) == "W" and not str(obx[5])
        assert str(obx[3]).startswith("94500-6")
        note = str(msg.segment("NTE")[3])
        assert "Withdraws" in note and SNOMED_POSITIVE in note and "temperature" in note
    report_ids = {_resource(_fhir(p), "DiagnosticReport").identifier[0].value
                  for p in first.values() if p.suffix == ".json"}
    bundles = [_fhir(p) for p in _files(b, ".json") if p.stem not in first]
    assert len(bundles) == 5
    for bundle in bundles:
        obs = _resource(bundle, "Observation")
        assert obs.status == "entered-in-error" and obs.valueCodeableConcept is None
        assert "Withdraws" in obs.note[0].text
        report = _resource(bundle, "DiagnosticReport")
        assert report.status == "entered-in-error"
        assert report.identifier[0].value in report_ids
    assert b.scalar("SELECT count(*) FROM elr_outbox WHERE sent_at IS NULL") == 0


@pytest.mark.parametrize(("results", "queued"), [("positive", 0), ("all", 2)])
def test_positives_only_skips_a_cancelled_negative_all_withdraws_it(
        settings: Settings, clock: FixedClock, tmp_path: Path, results: str,
        queued: int) -> None:
    p = _platform(settings, clock, tmp_path, elr_results=results)
    try:
        b = Bench(p, clock, seed_example_city(p, people=60))
        (tube,) = b.tubes(1)
        _release(b, {tube: NEG})
        before = _queued(b)
        log_id = _cancel(b, tube)
        assert _queued(b) - before == queued
        assert b.scalar("SELECT count(*) FROM elr_outbox WHERE result_log_id = :l",
                        l=log_id) == queued
        if queued:  # the receiver had the negative: it learns it is withdrawn
            assert p.elr is not None and p.elr.deliver(ADMIN).sent == before + queued
            (msg,) = [m for m in map(_hl7, _files(b, ".hl7"))
                      if str(m.segment("OBR")[25]) == "X"]
            assert str(msg.segment("OBX")[11]) == "W"
            assert SNOMED_NEGATIVE in str(msg.segment("NTE")[3])
    finally:
        p.close()


def test_a_cancelled_correction_of_a_positive_is_withdrawn_too(bench: Bench) -> None:
    """Under positives only: a positive corrected to negative is reported (corrected); when
    that result is then cancelled the receiver, which holds the corrected negative, learns it
    is withdrawn (nothing was queued: a withdrawal followed only a cancelled positive)."""
    b = bench
    tube = _positive_corrected_to_negative(b)
    log_id = _cancel(b, tube)
    assert b.scalar("SELECT count(*) FROM elr_outbox WHERE result_log_id = :l",
                    l=log_id) == 2  # one a format
    # a negative never reported is still not withdrawn (the test below, by results)


def test_a_reported_negative_corrected_again_is_reported(bench: Bench) -> None:
    """Under positives only: a positive corrected to negative is reported; corrected again, to
    invalid, the receiver (which holds the negative) is told so too (nothing was queued: the
    second correction's previous result was a negative)."""
    b = bench
    tube = _positive_corrected_to_negative(b)
    req = b.p.corrections.request(b.lab_user(1), b.lab_id, tube, CorrectionKind.CORRECTION,
                                  "the well's curve was read again: no valid result",
                                  "invalid")
    b.p.corrections.approve(b.lab_user(2), req.id)
    assert _queued(b) == 6
    assert b.p.elr is not None and b.p.elr.deliver(ADMIN).sent == 6
    (last,) = sorted(_files(b, ".hl7"), key=lambda p: p.stat().st_mtime_ns)[-1:]
    assert {str(s[11]) for s in _hl7(last).segments("OBX")} == {"C"}


def test_nothing_is_queued_for_a_cancellation_when_reports_are_off(
        settings: Settings, clock: FixedClock, tmp_path: Path) -> None:
    p = _platform(settings, clock, tmp_path, elr_enabled=False)
    try:
        assert p.elr is None
        b = Bench(p, clock, seed_example_city(p, people=60))
        (tube,) = b.tubes(1)
        _release(b, {tube: POS})
        _cancel(b, tube)
        assert b.rows("SELECT status FROM tubes WHERE barcode = :b", b=tube) == [("cancelled",)]
        assert _queued(b) == 0
    finally:
        p.close()


class _Crash(BaseException):
    """The delivering process dies (not an error the delivery handles)."""


class _CrashAfterWrite(FolderTransport):
    def __init__(self, folder: Path, *, write: bool) -> None:
        super().__init__(folder)
        self.write = write

    def deliver(self, message_id: str, fmt: ElrFormat, payload: bytes) -> None:
        if self.write:
            super().deliver(message_id, fmt, payload)
        raise _Crash


class _Counting(FolderTransport):
    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.handed: list[str] = []

    def deliver(self, message_id: str, fmt: ElrFormat, payload: bytes) -> None:
        self.handed.append(message_id)
        super().deliver(message_id, fmt, payload)


def _service(b: Bench, transport: Any) -> ElrService:
    route = b.p.elr._route  # type: ignore[union-attr]
    return ElrService(b.p.deps, route, {ElrFormat.HL7: to_hl7_oru, ElrFormat.FHIR: to_fhir_bundle},
                      transport, timedelta(seconds=60))


def _mllp_service(b: Bench, receiver: _MllpReceiver, tls: ssl.SSLContext | None = None,
                  verdict_wait: float = 1.0) -> ElrService:
    """The service delivering to ``receiver`` over MLLP, the FHIR reports taken out of the
    queue (MLLP carries HL7 v2: only those go this way)."""
    with b.p.deps.uow() as uow:
        uow.conn.exec_driver_sql(  # type: ignore[attr-defined]
            "DELETE FROM elr_outbox WHERE format = 'fhir'")
        uow.commit()
    return _service(b, MllpTransport("127.0.0.1", receiver.port, timeout=5, tls=tls,
                                     verdict_wait=verdict_wait))


@pytest.mark.parametrize("written", [True, False])
def test_a_crash_between_hand_over_and_mark_delivers_once(bench: Bench, written: bool) -> None:
    b = bench
    folder = b.p.settings.elr_folder
    (tube,) = b.tubes(1)
    _release(b, {tube: POS})
    with pytest.raises(_Crash):
        _service(b, _CrashAfterWrite(folder, write=written)).deliver(ADMIN)
    assert len(_files(b, "")) == (1 if written else 0)
    counting = _Counting(folder)
    # claimed, not yet stale: in flight, neither settled nor sent by another pass
    out = _service(b, counting).deliver(ADMIN)
    assert out.sent == 1 and len(counting.handed) == 1
    b.clock.advance(timedelta(seconds=61))
    out = _service(b, counting).deliver(ADMIN)
    # the folder settles the claim: the file there → marked sent; not there → sent now, once
    assert out.sent == (0 if written else 1) and out.in_doubt == 0
    assert len(counting.handed) == (1 if written else 2)
    assert len(set(counting.handed)) == len(counting.handed)
    assert len(_files(b, "")) == 2
    assert b.scalar("SELECT count(*) FROM elr_outbox WHERE sent_at IS NULL") == 0
    assert _service(b, counting).deliver(ADMIN).sent == 0


class _MllpReceiver:
    """A real local MLLP receiver on a free port: answers each message with the next ACK code
    of ``codes`` (None: closes the connection without an answer) and keeps what it received;
    inside ``tls`` when given (the client certificates' common names kept, a failed handshake
    counted)."""

    def __init__(self, codes: list[str | None], tls: ssl.SSLContext | None = None) -> None:
        self.codes = codes
        self.received: list[str] = []
        self.clients: list[str] = []
        self.handshakes_failed = 0
        self._tls = tls
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            if self._tls is not None:
                try:
                    conn = self._tls.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):
                    self.handshakes_failed += 1
                    conn.close()
                    continue
                cert = conn.getpeercert() or {}
                self.clients += [str(pair[1]) for rdn in cert.get("subject", ())
                                 for pair in rdn if pair[0] == "commonName"]
            with conn:
                data = b""
                while b"\x1c\r" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                text = data.strip(b"\x0b\x1c\r").decode("utf-8")
                self.received.append(text)
                code = self.codes.pop(0) if self.codes else "AA"
                if code is None:
                    continue
                ack = hl7.parse(text).create_ack(code)
                conn.sendall(b"\x0b" + str(ack).encode("utf-8") + b"\x1c\r")

    def close(self) -> None:
        self._server.close()


def _certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``name``, valid for 127.0.0.1, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = datetime.now(UTC) - timedelta(hours=1)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    crt, pem = folder / f"{name}.crt", folder / f"{name}.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return crt, pem


def _tls_receiver(shown: tuple[Path, Path], client_ca: Path) -> _MllpReceiver:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*shown)
    ctx.load_verify_locations(client_ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    return _MllpReceiver([], ctx)


def test_mllp_inside_tls_checks_the_receiver_and_shows_the_city(bench: Bench,
                                                               tmp_path: Path) -> None:
    """Reports name people, and MLLP is plain TCP: to the authority they go inside TLS. The
    receiver's certificate is checked before anything goes out, so a receiver that is not the
    authority gets nothing (retried, never in doubt); the authority sees the city's own client
    certificate."""
    b = bench
    (tube,) = b.tubes(1)
    _release(b, {tube: POS})
    authority, city = _certificate(tmp_path, "authority"), _certificate(tmp_path, "city")
    impostor = _tls_receiver(_certificate(tmp_path, "impostor"), client_ca=city[0])
    tls = tls_context(ca=authority[0], cert=city[0], key=city[1])
    try:
        elr = _mllp_service(b, impostor, tls)
        assert elr.deliver(ADMIN) == ElrDeliveryReport(0, 1, 0)
        # the receiver's thread counts the handshake it refused once its side has failed too
        for _ in range(200):
            if impostor.handshakes_failed:
                break
            time.sleep(0.01)
        assert impostor.received == [] and impostor.handshakes_failed == 1
        error = b.scalar("SELECT last_error FROM elr_outbox WHERE sent_at IS NULL")
        assert "SSL" in str(error) or "certificate" in str(error), error
    finally:
        impostor.close()
    receiver = _tls_receiver(authority, client_ca=city[0])
    try:
        b.clock.advance(timedelta(seconds=31))
        assert _mllp_service(b, receiver, tls).deliver(ADMIN) == ElrDeliveryReport(1, 0, 0)
        assert len(receiver.received) == 1 and receiver.clients == ["city"]
    finally:
        receiver.close()


@pytest.mark.parametrize("shown", ["another", "none"])
def test_a_client_certificate_the_authority_refuses_is_not_in_doubt(
        bench: Bench, tmp_path: Path, shown: str) -> None:
    """Under TLS 1.3 the receiver judges the sender's certificate after the sender's side of
    the handshake is done: the report went out before the refusal came back (an alert, or
    the connection closed), and it was held in doubt for an operator. The sender now waits for
    the receiver's verdict before anything goes out: a refused certificate is a report not
    handed over, retried, its error saying why; one the receiver takes is sent at once."""
    b = bench
    (tube,) = b.tubes(1)
    _release(b, {tube: POS})
    authority, city = _certificate(tmp_path, "authority"), _certificate(tmp_path, "city")
    other = _certificate(tmp_path, "other")
    receiver = _tls_receiver(authority, client_ca=city[0])
    tls = (tls_context(ca=authority[0], cert=other[0], key=other[1]) if shown == "another"
           else tls_context(ca=authority[0]))
    try:
        assert _mllp_service(b, receiver, tls).deliver(ADMIN) == ElrDeliveryReport(0, 1, 0)
        assert receiver.received == []
        error = b.scalar("SELECT last_error FROM elr_outbox WHERE sent_at IS NULL")
        assert error == "CertificateRefused", error
        b.clock.advance(timedelta(seconds=31))
        tls = tls_context(ca=authority[0], cert=city[0], key=city[1])
        started = time.monotonic()
        assert _mllp_service(b, receiver, tls, verdict_wait=30).deliver(ADMIN) == \
            ElrDeliveryReport(1, 0, 0)
        assert time.monotonic() - started < 15  # the verdict came, not the wait's end
        assert len(receiver.received) == 1 and receiver.clients == ["city"]
    finally:
        receiver.close()


def test_mllp_aa_marks_sent_ae_retries_and_silence_is_in_doubt(bench: Bench) -> None:
    b = bench
    t1, t2 = b.tubes(2)
    _release(b, {t1: POS, t2: POS})
    receiver = _MllpReceiver(["AE", None])
    try:
        elr = _mllp_service(b, receiver)
        out = elr.deliver(ADMIN)
        # the first refused (AE: retried later), the second unanswered (in doubt)
        assert (out.sent, out.failed, out.in_doubt) == (0, 1, 1)
        assert len(receiver.received) == 2
        errors = {r[0] for r in b.rows("SELECT last_error FROM elr_outbox")}
        assert any(e.startswith("ElrRefused: AE") for e in errors)
        assert elr.deliver(ADMIN).sent == 0  # not due yet; the one in doubt is not resent
        b.clock.advance(timedelta(seconds=31))
        out = elr.deliver(ADMIN)  # AA: sent
        assert (out.sent, out.failed, out.in_doubt) == (1, 0, 0)
        assert len(receiver.received) == 3
        # the unanswered one, once its claim is stale: in doubt, held for an operator, not resent
        b.clock.advance(timedelta(seconds=61))
        assert elr.deliver(ADMIN) == ElrDeliveryReport(0, 0, 1)
        assert len(receiver.received) == 3
        # the operator checks the receiver's record: it never got it → delivered once more
        (doubt,) = elr.in_doubt(ADMIN)
        assert elr.settle(ADMIN, ["elr-unknown"], taken=False) == 0
        assert elr.settle(ADMIN, [doubt.key.message_id], taken=False) == 1
        assert elr.deliver(ADMIN) == ElrDeliveryReport(1, 0, 0)
        assert len(receiver.received) == 4 and not elr.in_doubt(ADMIN)
        assert b.scalar("SELECT count(*) FROM elr_outbox WHERE sent_at IS NULL") == 0
        assert b.scalar("SELECT count(*) FROM audit_log WHERE action = 'elr.settle'") == 2
        assert str(hl7.parse(receiver.received[-1]).segment("OBX")[5]).startswith(
            SNOMED_POSITIVE)
    finally:
        receiver.close()


def test_mllp_to_nobody_is_retried(bench: Bench) -> None:
    b = bench
    (tube,) = b.tubes(1)
    _release(b, {tube: POS})
    free = socket.create_server(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    out = _service(b, MllpTransport("127.0.0.1", port, timeout=2)).deliver(ADMIN)
    # refused connections: nothing went out, so no doubt (the FHIR Bundle is refused by MLLP)
    assert (out.sent, out.failed, out.in_doubt) == (0, 2, 0)
    assert b.scalar("SELECT count(*) FROM elr_outbox WHERE claimed_at IS NOT NULL") == 0


def test_a_receiver_entitled_to_the_full_identity_gets_it(
        settings: Settings, clock: FixedClock, tmp_path: Path) -> None:
    p = _platform(settings, clock, tmp_path, elr_disclosure="full", elr_formats="hl7")
    try:
        b = Bench(p, clock, seed_example_city(p, people=60))
        (tube,) = b.tubes(1)
        _release(b, {tube: POS})
        assert p.elr is not None and p.elr.deliver(ADMIN).sent == 1
        (h,) = _files(b, ".hl7")
        pid = _hl7(h).segment("PID")
        (member,) = b.members(tube)
        with p.deps.uow(readonly=True) as uow:
            name_enc, id_enc = uow.conn.exec_driver_sql(  # type: ignore[attr-defined]
                "SELECT name_enc, id_enc FROM people WHERE id = ?" if p.settings.is_sqlite
                else "SELECT name_enc, id_enc FROM people WHERE id = %s", (member,)).one()
        name, number = p.deps.vault.decrypt(name_enc), p.deps.vault.decrypt(id_enc)
        assert name in str(pid[5])  # UTF-8, as the person's name is written
        assert number in str(pid[3]) and member in str(pid[3])
    finally:
        p.close()


def test_the_schedulers_pass_delivers_them(bench: Bench) -> None:
    b = bench
    (tube,) = b.tubes(1)
    _release(b, {tube: POS})
    Scheduler(b.p, 3600).tick()
    assert len(_files(b, ".hl7")) == len(_files(b, ".json")) == 1
    assert b.scalar("SELECT count(*) FROM elr_outbox WHERE sent_at IS NULL") == 0


def test_an_operator_marks_a_report_in_doubt_sent(bench: Bench) -> None:
    b = bench
    (tube,) = b.tubes(1)
    _release(b, {tube: POS})
    receiver = _MllpReceiver([None])
    try:
        elr = _mllp_service(b, receiver)
        assert elr.deliver(ADMIN) == ElrDeliveryReport(0, 0, 1)
        assert not elr.in_doubt(ADMIN)  # in flight until its claim is stale
        b.clock.advance(timedelta(seconds=61))
        (doubt,) = elr.in_doubt(ADMIN)
        # the receiver's record has it: marked sent, never delivered again
        assert elr.settle(ADMIN, [doubt.key.message_id], taken=True) == 1
        assert elr.deliver(ADMIN) == ElrDeliveryReport(0, 0, 0)
        assert len(receiver.received) == 1
        assert b.scalar("SELECT count(*) FROM elr_outbox WHERE sent_at IS NULL") == 0
    finally:
        receiver.close()


def test_the_operator_settles_reports_in_doubt_with_hesuan_elr(
        bench: Bench, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``hesuan elr --in-doubt`` lists them by message id (no personal data), ``--sent ID``
    and ``--resend ID`` record the decision (only the service's Python methods did before);
    ``hesuan elr`` delivers what is due."""
    b = bench
    t1, t2 = b.tubes(2)
    _release(b, {t1: POS, t2: POS})
    receiver = _MllpReceiver([None, None])
    try:
        elr = _mllp_service(b, receiver)
        assert elr.deliver(ADMIN) == ElrDeliveryReport(0, 0, 2)
    finally:
        receiver.close()
    env = {"DATABASE_URL": settings.database_url, "ENVIRONMENT": "test",
           "SECRET_KEY": "test-secret", "KEY_FILE": str(settings.key_file),
           "PASS_KEY_DIR": str(settings.pass_key_dir),
           "AUDIT_CHECKPOINT_DIR": str(settings.audit_checkpoint_dir),
           "SMS_FILE": str(settings.sms_file), "ELR_FOLDER": str(tmp_path / "elr"),
           **{k.upper(): str(v) for k, v in ROUTE.items()}}
    for name, value in env.items():
        monkeypatch.setenv(f"HESUAN_{name}", value)
    # claimed at the test's clock, long before the command's own: both are in doubt
    listed = CliRunner().invoke(cli_app, ["elr", "--in-doubt"])
    assert listed.exit_code == 0, listed.output
    doubts = json.loads(listed.output)
    assert len(doubts) == 2 and set(doubts[0]) == {
        "message_id", "format", "tube_id", "claimed_at", "attempts", "last_error"}
    got, lost = (d["message_id"] for d in doubts)
    out = CliRunner().invoke(cli_app, ["elr", "--sent", got, "--resend", lost])
    assert out.exit_code == 0, out.output
    assert "marked sent 1" in out.output and "released for resending 1" in out.output
    delivered = CliRunner().invoke(cli_app, ["elr"])  # to the folder, the route's default
    assert delivered.exit_code == 0, delivered.output
    assert "sent 1, failed 0, in doubt 0" in delivered.output
    assert [p.stem for p in (tmp_path / "elr").glob("*.hl7")] == [lost]
    assert b.scalar("SELECT count(*) FROM audit_log WHERE action = 'elr.settle'") == 2


def test_a_report_on_a_person_no_longer_held_is_closed_not_retried(bench: Bench) -> None:
    b = bench
    (tube,) = b.tubes(1)
    _release(b, {tube: POS})
    # the report names a person whose record is gone (as after the programme's data is
    # destroyed): nothing to write it from, ever
    with b.p.deps.uow() as uow:
        uow.conn.exec_driver_sql(  # type: ignore[attr-defined]
            "UPDATE elr_outbox SET person_id = 'gone0000000000000000000000000000'")
        uow.commit()
    assert b.p.elr is not None
    assert b.p.elr.deliver(ADMIN) == ElrDeliveryReport(0, 0, 0, closed=2)
    assert not _files(b, "")
    assert b.rows("SELECT DISTINCT last_error FROM elr_outbox WHERE sent_at IS NOT NULL") == [
        ("gone",)]
    b.clock.advance(timedelta(hours=2))
    assert b.p.elr.deliver(ADMIN) == ElrDeliveryReport(0, 0, 0)
