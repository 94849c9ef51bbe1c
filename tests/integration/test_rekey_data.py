"""``hesuan keys rekey-data``: personal data stored under the legacy keys (derived from the
master secret, before data key files) re-encrypted under a data key file, on both backends —
every encrypted column and the lookup hashes made with the same keys, in batches, each a
transaction with its audit entry (counts only); idempotent, and an interrupted run finished by
the next one while the platform refuses to start on the half-moved data."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import create_engine, insert, select, text

from hesuan.adapters.clock import FixedClock
from hesuan.adapters.crypto import KeyRing, load_data_key, load_master_secret
from hesuan.adapters.db.schema import lab_messages, labs, people
from hesuan.bootstrap import bootstrap
from hesuan.config import Settings
from hesuan.domain.access import Principal, Role
from hesuan.domain.errors import PermissionDenied, RuleViolation
from hesuan.services.auth import SYSTEM
from hesuan.sim.city import generate_city
from tests.helpers import cli_env

CLI = [sys.executable, "-m", "hesuan.entrypoints.cli"]
ADMIN = Principal("u0", "operator", Role.ADMIN)
MESSAGE = b"MSH|^~\\&|LIS|LAB|||20220829||ORU^R01|1|P|2.5.1\r"


def _master(s: Settings) -> bytes:
    secret = s.secret_key
    assert secret is not None
    return load_master_secret(secret.get_secret_value(), s.key_file, create=False)


def _legacy_ring(s: Settings) -> KeyRing:
    return KeyRing(_master(s))


@pytest.fixture
def legacy(settings: Settings, clock: FixedClock) -> Settings:
    """A database whose people (20, phones among them) and one lab message were stored under
    the legacy keys, and no data key file."""
    old = bootstrap(settings, clock=clock, migrate=False)
    ring = _legacy_ring(settings)
    try:
        generate_city(replace(old, deps=replace(old.deps, vault=ring)), 20, seed=21, workers=0)
        with old.engine.begin() as c:
            lab_id = c.execute(select(labs.c.id).limit(1)).scalar_one()
            c.execute(insert(lab_messages).values(
                id="f" * 32, lab_id=lab_id, format="hl7v2", via="file", sending_facility="LAB",
                control_id="1", sha256="0" * 64,
                raw=ring.encrypt(base64.b64encode(MESSAGE).decode("ascii")),
                received_by="u0", received_at=clock.now(), state="applied", specimens=[],
                ack_code="AA", ack=b"MSA|AA|1\r"))
    finally:
        old.close()
    settings.data_key_path.unlink()
    return settings


def _stored(s: Settings) -> tuple[list[Any], bytes]:
    eng = create_engine(s.database_url)
    with eng.connect() as c:
        rows = c.execute(select(people.c.id_kind, people.c.id_hash, people.c.id_enc,
                                people.c.name_enc, people.c.phone_enc,
                                people.c.phone_hash)).all()
        raw = c.execute(select(lab_messages.c.raw)).scalar_one()
    eng.dispose()
    return list(rows), bytes(raw)


def _under(ring: KeyRing, s: Settings) -> bool:
    """Whether every encrypted column reads under ``ring`` and its lookup hashes are the
    ring's."""
    rows, raw = _stored(s)
    for kind, id_hash, id_enc, name_enc, phone_enc, phone_hash in rows:
        if not (ring.reads(id_enc) and ring.reads(name_enc)):
            return False
        number = ring.decrypt(id_enc)
        assert bytes(id_hash) == ring.lookup_hash(f"{kind}:{number}")
        if phone_enc is not None:
            assert bytes(phone_hash) == ring.lookup_hash(f"phone:{ring.decrypt(phone_enc)}")
    return ring.reads(raw) and base64.b64decode(ring.decrypt(raw)) == MESSAGE


def _audited(s: Settings) -> list[dict[str, Any]]:
    eng = create_engine(s.database_url)
    with eng.connect() as c:
        found = c.execute(text("SELECT detail FROM audit_log WHERE action = 'keys.rekey_data' "
                               "ORDER BY seq")).scalars().all()
    eng.dispose()
    return [d if isinstance(d, dict) else json.loads(d) for d in found]


def _cli(s: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=cli_env(s), capture_output=True, text=True,
                          timeout=120)


def test_rekey_data_moves_every_encrypted_column_to_the_data_key_file(
        legacy: Settings, clock: FixedClock) -> None:
    assert _under(_legacy_ring(legacy), legacy)
    done = _cli(legacy, "keys", "rekey-data", "--batch", "7", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout) == {"people": 20, "lab_messages": 1,
                                       "data_key_file": str(legacy.data_key_path)}
    data = load_data_key(legacy.data_key_path, create=False)
    assert data is not None
    ring = KeyRing(_master(legacy), data)
    assert _under(ring, legacy) and not _under(_legacy_ring(legacy), legacy)
    # three batches of people and one of messages, each audited with its counts only
    assert _audited(legacy) == [{"people": 7}, {"people": 7}, {"people": 6},
                                {"lab_messages": 1},
                                {"people": 20, "lab_messages": 1, "data_key_file": "in place"}]
    p = bootstrap(legacy, clock=clock, migrate=False)
    try:
        assert not p.deps.vault.legacy  # type: ignore[attr-defined]
        assert p.audit.verify(SYSTEM).intact
    finally:
        p.close()
    again = _cli(legacy, "keys", "rekey-data", "--json")  # idempotent
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout)["people"] == 0
    assert json.loads(again.stdout)["lab_messages"] == 0


def test_an_interrupted_rekey_is_finished_by_the_next_run(
        legacy: Settings, clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    from hesuan.adapters.db.sealed_store import SqlSealedData
    from hesuan.bootstrap import data_keys

    reseal = SqlSealedData.reseal_people
    calls = [0]

    def failing(self: SqlSealedData, rows: Any) -> None:
        calls[0] += 1
        if calls[0] == 2:
            raise RuntimeError("the process was killed")
        reseal(self, rows)

    monkeypatch.setattr(SqlSealedData, "reseal_people", failing)
    with pytest.raises(RuntimeError, match="killed"), data_keys(legacy, clock=clock) as keys:
        keys.rekey(ADMIN, batch=8)
    monkeypatch.setattr(SqlSealedData, "reseal_people", reseal)
    assert not legacy.data_key_path.exists()  # put in place only when all is moved
    with pytest.raises(RuleViolation, match="rekey-data"):  # half moved: no start
        bootstrap(legacy, clock=clock, migrate=False)

    with data_keys(legacy, clock=clock) as keys:
        report = keys.rekey(ADMIN, batch=8)
    assert (report.people, report.lab_messages) == (12, 1)  # the first batch stayed moved
    assert legacy.data_key_path.exists()
    assert [d.get("people") for d in _audited(legacy)] == [8, 8, 4, None, 12]
    p = bootstrap(legacy, clock=clock, migrate=False)
    try:
        assert p.audit.verify(SYSTEM).intact
    finally:
        p.close()


def test_a_role_without_the_action_is_refused(legacy: Settings, clock: FixedClock) -> None:
    from hesuan.bootstrap import data_keys

    officer = Principal("u1", "officer", Role.HEALTH_OFFICER, "1401")
    with pytest.raises(PermissionDenied), data_keys(legacy, clock=clock) as keys:
        keys.rekey(officer)
    assert not legacy.data_key_path.exists()
    assert _under(_legacy_ring(legacy), legacy)
    assert _audited(legacy) == []
