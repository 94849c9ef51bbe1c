"""The MLLP listener over a real socket on both backends: the ReportStream messages
(``tests/fixtures/interop/reportstream/``, their specimen ids set to tubes the lab received) sent
one after another on one connection are each answered AA in order and released; a resend gets
the first ACK again and changes nothing; a frame that cannot be read is answered AR and the
connection goes on."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform
from hesuan.domain.errors import NotFound
from hesuan.entrypoints import mllp
from hesuan.entrypoints.mllp import MllpListener
from hesuan.sim.example import seed_example_city
from tests.integration.lab_bench import Bench
from tests.integration.test_lab_messages import PAIRS, _err3, _fixture, _msa, _tube

pytest.importorskip("hl7")

START, END = b"\x0b", b"\x1c\r"


@pytest.fixture
def bench(platform: Platform, clock: FixedClock) -> Iterator[Bench]:
    yield Bench(platform, clock, seed_example_city(platform, people=60))


@pytest.fixture
def listener(bench: Bench) -> Iterator[MllpListener]:
    running = MllpListener(bench.p, bench.lab_id, "127.0.0.1", 0)
    running.start()
    yield running
    running.stop()


class Sender:
    """A lab's system on one connection: a frame out, its ACK back."""

    def __init__(self, address: tuple[str, int]) -> None:
        self._sock = socket.create_connection(address, timeout=20)
        self._pending = b""

    def send(self, data: bytes, *, framed: bool = True) -> bytes:
        self._sock.sendall(START + data + END if framed else data)
        while END not in self._pending:
            chunk = self._sock.recv(65536)
            assert chunk, "the listener closed the connection"
            self._pending += chunk
        frame, self._pending = self._pending.split(END, 1)
        assert frame.startswith(START)
        return frame[len(START):]

    def close(self) -> None:
        self._sock.close()


@pytest.fixture
def sender(listener: MllpListener) -> Iterator[Sender]:
    s = Sender(listener.address)
    yield s
    s.close()


def _messages(b: Bench) -> list[tuple[bytes, str]]:
    """Each ReportStream HL7 message for a tube of its own, with that tube's barcode (which
    is its control id too: the fixtures use the filler order number for both)."""
    b.p.lab_messages.configure(b.lab_user(1), b.lab_id, id_order=["filler_order"])
    tubes = b.tubes(len(PAIRS))
    return [(_fixture(f"{stem}.hl7", PAIRS[stem], tube), tube)
            for stem, tube in zip(sorted(PAIRS), tubes, strict=True)]


def test_messages_on_one_connection_are_each_answered_in_order(bench: Bench,
                                                               sender: Sender) -> None:
    b = bench
    sent = _messages(b)
    for data, tube in sent:
        msa = _msa(sender.send(data))
        assert msa[1:3] == ["AA", tube]
        assert _tube(b, tube)[:2] == ("resulted", "positive")
    assert b.rows("SELECT DISTINCT via FROM lab_messages") == [("mllp",)]
    assert b.scalar("SELECT count(*) FROM audit_log WHERE action = 'lab_message.receive' "
                    "AND actor = 'mllp'") == len(sent)


def test_a_resend_gets_the_first_ack_and_changes_nothing(bench: Bench, sender: Sender,
                                                         listener: MllpListener) -> None:
    b = bench
    (data, tube), *_ = _messages(b)
    first = sender.send(data)
    assert _msa(first)[1] == "AA"
    logged = b.scalar("SELECT count(*) FROM result_log")
    audited = b.scalar("SELECT count(*) FROM audit_log")
    assert sender.send(data) == first
    other = Sender(listener.address)  # resent on a new connection: the same
    try:
        assert other.send(data) == first
    finally:
        other.close()
    assert b.scalar("SELECT count(*) FROM result_log") == logged
    assert b.scalar("SELECT count(*) FROM audit_log") == audited
    assert b.scalar("SELECT count(*) FROM lab_messages") == 1
    assert _tube(b, tube)[:2] == ("resulted", "positive")


def test_a_frame_that_cannot_be_read_gets_ar_and_the_connection_goes_on(
        bench: Bench, sender: Sender) -> None:
    b = bench
    (data, tube), (later, later_tube), _ = _messages(b)
    garbage = sender.send(b"this is no HL7 message")
    assert _msa(garbage)[1] == "AR"
    assert _msa(sender.send(data))[1:3] == ["AA", tube]
    # bytes with no frame start, then a frame after a stray line end: AR (no frame: 207, as
    # docs/INTEROP.md says; not a segment sequence error), then read as sent
    stray = sender.send(b"stray" + END, framed=False)
    assert _msa(stray)[1] == "AR" and _err3(stray).startswith("207"), stray
    assert _msa(sender.send(b"\r\n" + START + later + END, framed=False))[1:3] \
        == ["AA", later_tube]
    assert _tube(b, later_tube)[:2] == ("resulted", "positive")
    # the unreadable frame is kept in the inbox with its reason, once
    assert b.scalar("SELECT count(*) FROM lab_messages WHERE ack_code = 'AR'") == 1


def test_a_listener_for_an_unknown_lab_does_not_start(bench: Bench) -> None:
    with pytest.raises(NotFound):
        MllpListener(bench.p, "no-such-lab", "127.0.0.1", 0).start()


def test_a_frame_longer_than_the_limit_gets_ar_and_the_connection_goes_on(
        bench: Bench, monkeypatch: pytest.MonkeyPatch) -> None:
    b = bench
    (data, tube), *_ = _messages(b)
    monkeypatch.setattr(mllp, "MAX_FRAME_BYTES", len(data) + 2)
    running = MllpListener(b.p, b.lab_id, "127.0.0.1", 0)
    running.start()
    s = Sender(running.address)
    try:
        too_long = s.send(b"MSH|" + b"x" * 5 * len(data))
        assert _msa(too_long)[1] == "AR" and _err3(too_long).startswith("207"), too_long
        assert _msa(s.send(data))[1:3] == ["AA", tube]
    finally:
        s.close()
        running.stop()
    assert b.scalar("SELECT count(*) FROM lab_messages") == 1
