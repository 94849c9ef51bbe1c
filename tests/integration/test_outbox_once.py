"""Each outbox message handed to the gateway once: claims, messages in doubt, concurrent
deliverers, and the Kannel sender's doubt. (The crash itself: tests/e2e/test_kill_notify.py.)"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update
from typer.testing import CliRunner

from hesuan.adapters.clock import FixedClock
from hesuan.adapters.db.schema import outbox
from hesuan.adapters.kannel import KannelError, KannelSender
from hesuan.adapters.senders import JsonlFileSender
from hesuan.bootstrap import Platform, bootstrap
from hesuan.config import Settings
from hesuan.entrypoints.cli.app import app as cli_app
from hesuan.services.auth import SYSTEM
from hesuan.services.outbox_ports import OutboxMessage
from hesuan.services.ports import SendInDoubt
from hesuan.sim.example import seed_example_city


class Recorder:
    """A gateway that records what it takes; ``doubt`` ids raise SendInDoubt (taken or not,
    the answer is lost)."""

    def __init__(self, doubt: frozenset[str] = frozenset(), pause: float = 0.0) -> None:
        self.got: Counter[str] = Counter()
        self.doubt = doubt
        self.pause = pause
        self._lock = threading.Lock()

    def send(self, phone: str | None, text: str, message: OutboxMessage) -> None:
        if self.pause:
            time.sleep(self.pause)
        with self._lock:
            self.got[message.id] += 1
        if message.id in self.doubt:
            raise SendInDoubt("no answer")


def _messages(platform: Platform, clock: FixedClock, n: int) -> list[str]:
    seed_example_city(platform, people=20)
    with platform.deps.uow() as uow:
        conn = uow.conn  # type: ignore[attr-defined]
        people = [r[0] for r in conn.exec_driver_sql("SELECT id FROM people ORDER BY id")]
        ids = [f"{i:032d}" for i in range(n)]
        conn.execute(insert(outbox), [
            {"id": mid, "dedup_key": f"once:{mid}", "person_id": people[i % len(people)],
             # a result's message: never closed as no longer true (docs/SMS.md), whatever
             # the clock of the process that delivers it
             "tube_id": None, "template": "positive", "params": {},
             "created_at": clock.now(), "next_attempt_at": clock.now(), "attempts": 0}
            for i, mid in enumerate(ids)])
        uow.commit()
    return ids


def _platform(settings: Settings, clock: FixedClock, sender: object) -> Platform:
    return bootstrap(settings.model_copy(update={"sms_rate_per_s": 10_000.0}), clock=clock,
                     sender=sender, migrate=False)  # type: ignore[arg-type]


@pytest.fixture
def recorder_platform(settings: Settings,
                      clock: FixedClock) -> Iterator[tuple[Platform, Recorder, list[str]]]:
    sender = Recorder(doubt=frozenset({f"{3:032d}"}))
    p = _platform(settings, clock, sender)
    try:
        yield p, sender, _messages(p, clock, 8)
    finally:
        p.close()


def test_a_message_in_doubt_is_not_resent_until_an_operator_decides(
        recorder_platform: tuple[Platform, Recorder, list[str]], clock: FixedClock) -> None:
    p, gw, ids = recorder_platform
    doubtful = f"{3:032d}"
    first = p.outbox.deliver(SYSTEM)
    assert (first.sent, first.failed, first.in_doubt) == (7, 0, 1)
    clock.advance(timedelta(hours=2))  # past any back-off and the claim timeout
    again = p.outbox.deliver(SYSTEM)
    assert (again.sent, again.failed, again.in_doubt) == (0, 0, 1)  # reported, not resent
    assert gw.got[doubtful] == 1 and set(gw.got.values()) == {1}
    listed = p.outbox.in_doubt(SYSTEM)
    assert [m.id for m in listed] == [doubtful]
    assert listed[0].last_error is not None and listed[0].last_error.startswith("in_doubt")
    # the operator checked the gateway's log: it never went out
    assert p.outbox.settle(SYSTEM, [doubtful, ids[0]], taken=False) == 1  # a sent one: no
    gw.doubt = frozenset()
    resent = p.outbox.deliver(SYSTEM)
    assert (resent.sent, resent.in_doubt) == (1, 0) and gw.got[doubtful] == 2
    assert p.outbox.in_doubt(SYSTEM) == []
    assert p.outbox.deliver(SYSTEM).sent == 0


def test_an_operator_marks_a_message_in_doubt_sent(
        recorder_platform: tuple[Platform, Recorder, list[str]], clock: FixedClock) -> None:
    p, gw, _ = recorder_platform
    doubtful = f"{3:032d}"
    p.outbox.deliver(SYSTEM)
    assert p.outbox.settle(SYSTEM, [doubtful], taken=True) == 0  # still in flight: not yet
    clock.advance(timedelta(minutes=2))
    assert p.outbox.settle(SYSTEM, [doubtful], taken=True) == 1
    clock.advance(timedelta(hours=2))
    assert p.outbox.deliver(SYSTEM).in_doubt == 0 and p.outbox.in_doubt(SYSTEM) == []
    assert gw.got[doubtful] == 1
    with p.deps.uow(readonly=True) as uow:
        sent_at = uow.conn.execute(  # type: ignore[attr-defined]
            select(outbox.c.sent_at).where(outbox.c.id == doubtful)).scalar_one()
    assert sent_at is not None


def test_a_crashed_claim_is_settled_by_the_file_senders_record(
        settings: Settings, clock: FixedClock, tmp_path: Path) -> None:
    sender = JsonlFileSender(tmp_path / "gw.jsonl")
    p = _platform(settings, clock, sender)
    try:
        ids = _messages(p, clock, 4)
        handed, lost = ids[0], ids[1]
        # what a process killed mid-send leaves: two claims without sent marks, one of them
        # already in the gateway's file
        msg = OutboxMessage(handed, "p", "reminder", {}, None, "zh", 0)
        sender.send("13800138000", "x", msg)
        with p.deps.uow() as uow:
            uow.conn.execute(update(outbox).where(  # type: ignore[attr-defined]
                outbox.c.id.in_([handed, lost])).values(claimed_at=clock.now()))
            uow.commit()
        fresh = p.outbox.deliver(SYSTEM)  # the claims may still be in flight: left alone
        assert (fresh.sent, fresh.in_doubt) == (2, 0)
        clock.advance(timedelta(seconds=61))
        settled = p.outbox.deliver(SYSTEM)
        assert (settled.sent, settled.in_doubt) == (1, 0)  # the lost one, once
    finally:
        p.close()
    lines = (tmp_path / "gw.jsonl").read_text().splitlines()
    counts = Counter(line.split('"id": "')[1][:32] for line in lines)
    assert counts == {i: 1 for i in ids}


def test_two_deliverers_at_once_hand_each_message_over_once(
        settings: Settings, clock: FixedClock) -> None:
    gw = Recorder(pause=0.001)
    a = _platform(settings, clock, gw)
    b = _platform(settings, clock, gw)
    try:
        ids = _messages(a, clock, 200)
        errors: list[BaseException] = []

        def run(p: Platform) -> None:
            try:
                p.outbox.deliver(SYSTEM, limit=1000)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(p,)) for p in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
    finally:
        a.close()
        b.close()
    assert set(gw.got) == set(ids)
    twice = [i for i, n in gw.got.items() if n > 1]
    assert twice == [], f"{len(twice)} messages handed over twice"


# -- the Kannel sender: an answer that never comes is a doubt, a refused connection is not --


@pytest.fixture
def silent_gateway() -> Iterator[str]:
    """Accepts a request, reads it, and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            conn.recv(65536)
            held.append(conn)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.getsockname()[1]}/cgi-bin/sendsms"
    finally:
        stop.set()
        t.join(5)
        for c in held:
            c.close()
        srv.close()


def test_kannel_without_an_answer_is_in_doubt_and_refused_is_not(silent_gateway: str) -> None:
    msg = OutboxMessage("m" * 32, "p", "reminder", {}, None, "zh", 0)
    with pytest.raises(SendInDoubt, match="no answer"):
        KannelSender(silent_gateway, "u", "p", timeout=0.5, connect_timeout=0.5).send(
            "13800138000", "x", msg)
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()
    with pytest.raises(KannelError, match="unreachable"):
        KannelSender(f"http://127.0.0.1:{port}/", "u", "p", timeout=0.5,
                     connect_timeout=0.5).send("13800138000", "x", msg)


def test_the_operator_settles_doubts_from_the_command_line(
        recorder_platform: tuple[Platform, Recorder, list[str]], settings: Settings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    p, _, _ = recorder_platform
    doubtful = f"{3:032d}"
    assert p.outbox.deliver(SYSTEM).in_doubt == 1  # claimed at the fixed clock: long stale now
    for name, value in {"DATABASE_URL": settings.database_url, "ENVIRONMENT": "test",
                        "SECRET_KEY": "test-secret", "KEY_FILE": str(settings.key_file),
                        "PASS_KEY_DIR": str(settings.pass_key_dir),
                        "AUDIT_CHECKPOINT_DIR": str(settings.audit_checkpoint_dir),
                        "SMS_FILE": str(settings.sms_file)}.items():
        monkeypatch.setenv(f"HESUAN_{name}", value)
    listed = CliRunner().invoke(cli_app, ["notify", "--in-doubt"])
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.stdout)
    assert row["id"] == doubtful and row["template"] == "positive"
    assert row["last_error"].startswith("in_doubt")
    resend = CliRunner().invoke(cli_app, ["notify", "--resend", doubtful])
    assert resend.exit_code == 0 and "released for resending 1" in resend.output, resend.output
    sent = CliRunner().invoke(cli_app, ["notify"])  # the file sender this time
    assert sent.exit_code == 0 and "sent 1," in sent.output, sent.output
    assert json.loads(settings.sms_file.read_text())["id"] == doubtful
    assert json.loads(CliRunner().invoke(cli_app, ["notify", "--in-doubt"]).stdout) == []
