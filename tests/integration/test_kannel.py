"""SMS through a real Kannel: bearerbox + smsbox started here, with kannel-extras' ``fakesmsc``
standing in for the operator's SMSC. A message goes through the outbox and the Kannel sender and
must arrive at the SMSC exactly once, with the right number and the right (Chinese) text.

Needs the Debian packages ``kannel`` and ``kannel-extras`` (``scripts/test.sh`` installs them);
skipped when they are missing.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert, select, update

from hesuan.adapters.clock import FixedClock
from hesuan.adapters.db.schema import outbox, people
from hesuan.adapters.kannel import KannelError, KannelSender
from hesuan.bootstrap import bootstrap
from hesuan.config import Settings
from hesuan.services.auth import SYSTEM
from hesuan.services.notify import render
from hesuan.services.outbox_ports import OutboxMessage
from hesuan.sim.example import seed_example_city

BEARERBOX = Path("/usr/sbin/bearerbox")
SMSBOX = Path("/usr/sbin/smsbox")
FAKESMSC = Path("/usr/lib/kannel/test/fakesmsc")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not all(p.exists() for p in (BEARERBOX, SMSBOX, FAKESMSC)),
                       reason="Kannel is not installed (apt-get install kannel kannel-extras)"),
]

USER, PASSWORD, ADMIN_PASSWORD = "hesuan", "s3cret-sms", "adm1n"


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the gateway is what is under test here, not the store


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _wait(what: str, check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"Kannel: timed out waiting for {what}")


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Kannel:
    url: str
    smsc_log: Path
    logs: Path

    def received(self) -> list[tuple[str, str, str]]:
        """(from, to, text) of every message the fake SMSC got."""
        out = []
        for m in re.finditer(r"Got message \d+: <(\S*) (\S+) (\S+) (.*)>",
                             self.smsc_log.read_text(errors="replace")):
            sender, to, kind, data = m.groups()
            raw = urllib.parse.unquote_to_bytes(data.replace("+", " "))
            out.append((sender, to, raw.decode("utf-16-be" if kind == "ucs-2" else "latin-1")))
        return out


@pytest.fixture(scope="module")
def kannel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kannel]:
    d = tmp_path_factory.mktemp("kannel")
    admin, box, smsc, sendsms = _free_ports(4)
    conf = d / "kannel.conf"
    conf.write_text(f"""
group = core
admin-port = {admin}
admin-password = {ADMIN_PASSWORD}
smsbox-port = {box}
box-allow-ip = 127.0.0.1
admin-allow-ip = 127.0.0.1
log-file = "{d}/bearerbox.log"
log-level = 0

group = smsc
smsc = fake
smsc-id = operator
port = {smsc}
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {box}
sendsms-port = {sendsms}
global-sender = 10690
log-file = "{d}/smsbox.log"
log-level = 0

group = sendsms-user
username = {USER}
password = {PASSWORD}
max-messages = 3
concatenation = true

group = sms-service
keyword = default
text = "no service"
""")
    procs: list[subprocess.Popen[bytes]] = []

    def start(*args: str, out: Path) -> None:
        procs.append(subprocess.Popen(list(args), cwd=d, stdout=out.open("wb"),
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))

    def status() -> str:
        try:
            return httpx.get(f"http://127.0.0.1:{admin}/status.txt",
                             params={"password": ADMIN_PASSWORD}, timeout=1).text
        except httpx.HTTPError:
            return ""

    smsc_log = d / "fakesmsc.out"
    try:
        start(str(BEARERBOX), "-v", "1", str(conf), out=d / "bearerbox.out")
        _wait("bearerbox", lambda: _listening(admin) and _listening(smsc))
        start(str(FAKESMSC), "-H", "127.0.0.1", "-r", str(smsc), "-i", "0", "-m", "0",
              "1 2 text nop", out=smsc_log)
        _wait("the fake SMSC to connect", lambda: "online" in status())
        start(str(SMSBOX), "-v", "1", str(conf), out=d / "smsbox.out")
        _wait("smsbox", lambda: _listening(sendsms))
        yield Kannel(f"http://127.0.0.1:{sendsms}/cgi-bin/sendsms", smsc_log, d)
    finally:
        for p in reversed(procs):  # smsbox, fakesmsc, bearerbox: only what this test started
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _message(mid: str = "m1") -> OutboxMessage:
    return OutboxMessage(id=mid, person_id="p", template="positive", params={}, phone_enc=None,
                         language="zh", attempts=0)


def _wait_received(k: Kannel, n: int) -> list[tuple[str, str, str]]:
    _wait(f"{n} message(s) at the SMSC", lambda: len(k.received()) >= n)
    time.sleep(0.5)  # a duplicate would arrive now
    return k.received()


def test_outbox_message_reaches_the_smsc_once_with_chinese_text(
        kannel: Kannel, settings: Settings, clock: FixedClock) -> None:
    before = len(kannel.received())
    s = settings.model_copy(update={
        "sms_sender": "kannel", "kannel_url": kannel.url, "kannel_username": USER,
        "kannel_password": Settings(kannel_password=PASSWORD).kannel_password})
    platform = bootstrap(s, clock=clock, migrate=False)
    try:
        seed_example_city(platform, people=3)
        phone = "13912345678"
        with platform.deps.uow() as uow:
            conn = uow.conn  # type: ignore[attr-defined]
            pid = conn.execute(select(people.c.id).where(people.c.language == "zh")).scalar()
            # give this person a known phone; the outbox decrypts it at delivery
            conn.execute(update(people).where(people.c.id == pid)
                         .values(phone_enc=platform.deps.vault.encrypt(phone)))
            conn.execute(insert(outbox).values(
                id="m" * 32, dedup_key="kannel-test", person_id=pid, tube_id=None,
                template="recall", params={"due": "18:00"}, created_at=clock.now(),
                next_attempt_at=clock.now(), attempts=0))
            uow.commit()
        first = platform.outbox.deliver(SYSTEM)
        assert (first.sent, first.failed) == (1, 0)
        again = platform.outbox.deliver(SYSTEM)  # already sent: nothing goes out twice
        assert (again.sent, again.failed) == (0, 0)
    finally:
        platform.close()
    got = _wait_received(kannel, before + 1)[before:]
    expected = render("recall", "zh", {"due": "18:00"})
    assert got == [("10690", phone, expected)]  # once, to the number, the Chinese text intact


def test_sender_directly_short_chinese_text(kannel: Kannel) -> None:
    before = len(kannel.received())
    sender = KannelSender(kannel.url, USER, PASSWORD, sender_id="10690110")
    sender.send("13800138000", "【核酸检测】请于18:00前复检。", _message())
    got = _wait_received(kannel, before + 1)[before:]
    assert got == [("10690110", "13800138000", "【核酸检测】请于18:00前复检。")]
    sender.close()


def test_refusals_and_outages_raise_so_the_outbox_retries(kannel: Kannel) -> None:
    before = len(kannel.received())
    with pytest.raises(KannelError, match=r"40[13]|Authorization"):
        KannelSender(kannel.url, USER, "wrong").send("13800138000", "x", _message())
    with pytest.raises(KannelError, match="no phone"):
        KannelSender(kannel.url, USER, PASSWORD).send(None, "x", _message())
    dead = f"http://127.0.0.1:{_free_ports(1)[0]}/cgi-bin/sendsms"
    with pytest.raises(KannelError, match="unreachable"):
        KannelSender(dead, USER, PASSWORD, timeout=1, connect_timeout=0.5).send(
            "13800138000", "x", _message())
    time.sleep(0.5)
    assert len(kannel.received()) == before
