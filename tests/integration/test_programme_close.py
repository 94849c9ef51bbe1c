"""The end of the programme, on SQLite and on PostgreSQL: two different health officers of the
city close it; the close exports the final aggregates, destroys every row of personal data and
the pass keys, and writes a destruction certificate signed by the pass root key that names the
two officers, the counts and the audit checkpoint after it. Afterwards the aggregates remain and
nothing personal does; the audit chain still verifies."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import SecretStr
from sqlalchemy import text, update

from hesuan.adapters.clock import FixedClock
from hesuan.adapters.crypto import KeyRing, load_data_key, load_master_secret
from hesuan.adapters.db.schema import audit_log, from_ms
from hesuan.adapters.passes.cose import verify_sign1
from hesuan.adapters.passes.keys import PassKeyStore
from hesuan.bootstrap import Platform, bootstrap
from hesuan.config import Settings
from hesuan.domain.access import Principal, Role
from hesuan.domain.errors import Conflict, PermissionDenied, RuleViolation
from hesuan.domain.local_time import local_date
from hesuan.domain.programme import DESTROYED
from hesuan.services.auth import SYSTEM
from hesuan.services.interop_ports import LabMessageFormat
from hesuan.services.lab_messages_ports import MessageVia
from hesuan.services.people import PersonInput
from hesuan.sim.city import generate_city
from hesuan.sim.example import make_resident_id
from hesuan.sim.simulate import CountingSender, simulate_round, simulation_settings
from tests.integration.test_audit_log import _tamper

pytestmark = pytest.mark.slow

PASSWORD = "a long enough password 1"
REPORTSTREAM = Path(__file__).parent.parent / "fixtures" / "interop" / "reportstream"


@pytest.fixture
def closing(settings: Settings, clock: FixedClock,
            tmp_path: Path) -> Iterator[tuple[Platform, CountingSender]]:
    sender = CountingSender()
    s = simulation_settings(settings).model_copy(
        update={"programme_dir": tmp_path / "programme"})
    p = bootstrap(s, clock=clock, sender=sender, migrate=False)
    yield p, sender
    p.close()


def _count(p: Platform, table: str) -> int:
    with p.engine.connect() as c:
        return int(c.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def _officer(p: Platform, name: str, scope: str) -> Principal:
    p.auth.create_user(SYSTEM, name, PASSWORD, Role.HEALTH_OFFICER, scope)
    return p.auth.authenticate(p.auth.login(name, PASSWORD))


def test_close_by_two_officers_destroys_personal_data_and_certifies_it(
        closing: tuple[Platform, CountingSender], clock: FixedClock, tmp_path: Path) -> None:
    p, sender = closing
    start = clock.now()
    generate_city(p, 300, seed=22, workers=0)
    round_ = simulate_round(p, clock, sender, start, hours=24, prevalence=0.02, seed=22)
    p.passes.issue(SYSTEM, _first_person(p))
    people, samples = _count(p, "people"), _count(p, "samples")
    routine = _routine_people_days(p)
    # the round's venue checks issued passes too
    assert people == 300 and samples > 50
    assert _count(p, "passes") == 1 + round_.door_checks["passes_issued"]
    first, second = _officer(p, "closer1", "1401"), _officer(p, "closer2", "1401")
    district = _officer(p, "closer3", "140105")
    hashes, filenode = _stored_traces(p)

    with pytest.raises(PermissionDenied):  # an officer of one district does not end the city's
        p.programme.request_close(district, "the programme ends")
    with pytest.raises(PermissionDenied):  # nor does an administrator
        p.programme.request_close(SYSTEM, "the programme ends")
    closure = p.programme.request_close(first, "the programme ends")
    with pytest.raises(RuleViolation) as same:
        p.programme.approve_close(first, closure)
    assert same.value.code == "same_officer"
    assert _count(p, "people") == people  # nothing happens until a second officer approves

    cert = p.programme.approve_close(second, closure)

    # every row of personal data is gone; the counts are on the certificate
    for table in DESTROYED:
        assert _count(p, table) == 0, table
    doc = cert.document
    assert doc["destroyed"]["people"]["rows"] == people
    assert doc["destroyed"]["samples"]["rows"] == samples
    assert (doc["requested_by"], doc["approved_by"]) == ("closer1", "closer2")
    assert doc["keys_destroyed"] and not list((tmp_path / "keys").glob("*.key"))

    # nor in the database's files: SQLite's pages and WAL hold no trace of a person; a
    # PostgreSQL table of personal data was rewritten (VACUUM FULL), its old file gone
    assert doc["compacted"] is True
    if p.engine.dialect.name == "sqlite":
        path = Path(p.engine.url.database or "")
        stored = b"".join(f.read_bytes() for f in (path, Path(f"{path}-wal")) if f.exists())
        assert not [h for h in hashes if h in stored]
    else:
        assert _stored_traces(p)[1] != filenode

    # the final aggregates were exported, and remain on the platform, for the province's
    # account too (made after the close: staff accounts are not personal data of residents)
    aggregates = p.retention.aggregates(first)
    assert sum(a.sampled for a in aggregates) == routine
    p.auth.create_user(SYSTEM, "province-feed", PASSWORD, Role.PROVINCE)
    province = p.auth.authenticate(p.auth.login("province-feed", PASSWORD))
    assert p.retention.aggregates(province) == aggregates
    exported = (tmp_path / "programme" / cert.aggregates_file).read_bytes()
    assert hashlib.sha256(exported).hexdigest() == doc["aggregates_sha256"]
    assert sum(r["sampled"] for r in json.loads(exported)["days"]) == routine

    # the certificate is signed by the pass root key, which venues already trust
    root = Ed25519PublicKey.from_public_bytes(
        base64.b64decode((tmp_path / "keys" / "root.pub").read_text()))
    signed = (tmp_path / "programme" / cert.certificate_file).read_bytes()
    assert json.loads(verify_sign1(signed, root)) == doc

    # the audit checkpoint it names is the one written after the destruction; the chain holds
    checkpoint = doc["audit_checkpoint"]
    files = sorted((tmp_path / "audit").glob("checkpoint-*.json"))
    assert json.loads(files[-1].read_text())["head"] == checkpoint["head"]
    assert p.audit.verify(SYSTEM).intact
    assert p.programme.closures(first)[0].certificate == doc

    with pytest.raises(Conflict):  # closed once
        p.programme.approve_close(first, closure)
    with pytest.raises(RuleViolation) as no_passes:  # the running process's keys went too
        p.passes.trust_list(first)
    assert no_passes.value.code == "programme_closed"

    # a closed programme takes no personal data again
    grid = _a_grid(p)
    newcomer = PersonInput(make_resident_id("140105", date(1990, 1, 2), 7), "张三", grid)
    with pytest.raises(RuleViolation) as refused:
        p.people.register(SYSTEM, newcomer)
    assert refused.value.code == "programme_closed"
    with pytest.raises(RuleViolation):
        p.people.import_rows(SYSTEM, [{"id_number": newcomer.id_number, "name": "张三",
                                       "grid_code": grid}], {grid})
    with pytest.raises(RuleViolation) as bulk:  # nor through the synthetic city's loader
        generate_city(p, 10, seed=23, workers=0)
    assert bulk.value.code == "programme_closed"
    assert _count(p, "people") == 0
    # nor a lab system's message, which names its patient (a LIS still sending after the end)
    lab_id = _a_lab(p)
    with pytest.raises(RuleViolation) as lis:
        p.lab_messages.receive(SYSTEM, lab_id,
                               (REPORTSTREAM / "sample_AK_20240220-0001.hl7").read_bytes(),
                               LabMessageFormat.HL7V2, MessageVia.API)
    assert lis.value.code == "programme_closed" and _count(p, "lab_messages") == 0
    # a resident's own account went with them; the staff's stay
    with p.engine.connect() as c:
        roles = set(c.execute(text("SELECT role FROM users")).scalars())
    assert "resident" not in roles and "health_officer" in roles
    assert doc["destroyed"]["users"]["rows"] >= 1


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=False)
def test_the_destruction_itself_leaves_no_file_that_held_personal_data(
        platform: Platform) -> None:
    """PostgreSQL: destroying gives every table of personal data new files — each month's
    partition and every index too — so that the old ones go at the commit, even where the
    compaction after it cannot run; the counts are the rows the tables held."""
    generate_city(platform, 50, seed=24, workers=0)
    before = _files(platform)
    assert {"people", "pk_people", "samples_default"} <= set(before)
    with platform.deps.uow() as uow:
        counts = uow.programme.destroy(list(DESTROYED))
        uow.commit()
    after = _files(platform)
    assert set(after) == set(before)
    assert [name for name in before if after[name] == before[name]] == []
    assert counts["people"] == 50 and counts["person_status"] == 50
    assert all(_count(platform, t) == 0 for t in DESTROYED)


def _files(p: Platform) -> dict[str, int]:
    """The file of each table of personal data, of each of its partitions and of their
    indexes (PostgreSQL)."""
    with p.engine.connect() as c:
        return {str(name): int(node) for name, node in c.execute(text(
            "WITH RECURSIVE rel AS (SELECT oid FROM pg_class WHERE relname = ANY(:t) "
            "AND relnamespace = 'public'::regnamespace UNION ALL "
            "SELECT i.inhrelid FROM pg_inherits i JOIN rel ON i.inhparent = rel.oid) "
            "SELECT relname, relfilenode FROM pg_class WHERE relfilenode <> 0 AND "
            "(oid IN (SELECT oid FROM rel) "
            "OR oid IN (SELECT indexrelid FROM pg_index WHERE indrelid IN (SELECT oid FROM rel)))"),
            {"t": list(DESTROYED)})}


def _routine_people_days(p: Platform) -> int:
    """The people sampled in routine testing, once a local day each (the aggregates' count)."""
    with p.engine.connect() as c:
        rows = c.execute(text("SELECT sampled_at, person_id FROM samples "
                              "WHERE recall_id IS NULL")).all()
    return len({(local_date(from_ms(int(at))), person) for at, person in rows})


def _first_person(p: Platform) -> str:
    with p.engine.connect() as c:
        return str(c.execute(text("SELECT id FROM people ORDER BY id LIMIT 1")).scalar_one())


def _a_lab(p: Platform) -> str:
    with p.engine.connect() as c:
        return str(c.execute(text("SELECT id FROM labs ORDER BY id LIMIT 1")).scalar_one())


def _a_grid(p: Platform) -> str:
    with p.engine.connect() as c:
        return str(c.execute(text("SELECT code FROM regions WHERE level = 'grid' "
                                  "ORDER BY code LIMIT 1")).scalar_one())


def _stored_traces(p: Platform) -> tuple[list[bytes], int | None]:
    """The people's ID-number hashes (32 random-looking bytes each: found in a file only if
    the row is still there), and PostgreSQL's file of the people table."""
    with p.engine.connect() as c:
        hashes = [bytes(h) for h in c.execute(text("SELECT id_hash FROM people")).scalars()]
        node = (c.execute(text("SELECT pg_relation_filenode('people')")).scalar_one()
                if p.engine.dialect.name == "postgresql" else None)
    return hashes, node


def test_a_broken_audit_chain_refuses_the_close_before_anything_goes(
        closing: tuple[Platform, CountingSender]) -> None:
    p, _ = closing
    generate_city(p, 20, seed=24, workers=0)
    first, second = _officer(p, "closer1", "1401"), _officer(p, "closer2", "1401")
    closure = p.programme.request_close(first, "the programme ends")
    _tamper(p, lambda c: c.execute(update(audit_log).where(audit_log.c.seq == 2)
                                   .values(actor="someone else")))
    with pytest.raises(RuleViolation) as broken:
        p.programme.approve_close(second, closure)
    assert broken.value.code == "audit_broken"
    assert _count(p, "people") == 20 and p.programme.closures(first)[0].status == "requested"


def _ciphertexts(p: Platform) -> list[bytes]:
    with p.engine.connect() as c:
        return [bytes(b) for b in c.execute(text("SELECT name_enc FROM people")).scalars()]


def _what_remains(p: Platform) -> KeyRing:
    """The key ring a reader of the copies could build after the close: the master secret (it
    is kept, it keys the audit chain) and whatever data key file is left."""
    secret = p.settings.secret_key
    assert secret is not None
    master = load_master_secret(secret.get_secret_value(), p.settings.key_file, create=False)
    return KeyRing(master, load_data_key(p.settings.data_key_path, create=False))


def test_the_close_destroys_the_data_key_so_no_copy_can_be_read(
        closing: tuple[Platform, CountingSender]) -> None:
    p, _ = closing
    generate_city(p, 20, seed=25, workers=0)
    path = p.settings.data_key_path
    assert path.exists()  # made at the first start, outside the database
    copied = _ciphertexts(p)  # as a backup taken before the close holds them
    assert p.deps.vault.decrypt(copied[0])
    first, second = _officer(p, "closer1", "1401"), _officer(p, "closer2", "1401")

    doc = p.programme.approve_close(second, p.programme.request_close(first, "ends")).document

    assert not path.exists()
    assert doc["data_key"] == "destroyed" and path.name in doc["keys_destroyed"]
    assert not [k for k in doc["kept"] if "personal-data" in k]
    remains = _what_remains(p)
    for blob in copied:
        with pytest.raises(InvalidTag):
            remains.decrypt(blob)
    assert p.audit.verify(SYSTEM).intact  # the audit chain's keys are kept


def test_a_database_from_before_data_keys_still_reads_and_the_close_says_legacy(
        settings: Settings, clock: FixedClock, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    s = simulation_settings(settings).model_copy(
        update={"programme_dir": tmp_path / "programme"})
    old = bootstrap(s, clock=clock, migrate=False)
    try:  # people stored as before data key files: under the keys of the master secret
        secret = s.secret_key
        assert secret is not None
        legacy = KeyRing(load_master_secret(secret.get_secret_value(), s.key_file,
                                            create=False))
        generate_city(replace(old, deps=replace(old.deps, vault=legacy)), 20, seed=26,
                      workers=0)
    finally:
        old.close()
    s.data_key_path.unlink()  # there was none then
    with caplog.at_level(logging.WARNING):
        p = bootstrap(s, clock=clock, migrate=False)
    try:
        assert not s.data_key_path.exists()  # not made: it would read no one's name
        warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any("legacy" in m and str(s.data_key_path) in m for m in warned), warned
        copied = _ciphertexts(p)
        assert p.deps.vault.decrypt(copied[0]) == legacy.decrypt(copied[0])
        first, second = _officer(p, "closer1", "1401"), _officer(p, "closer2", "1401")

        doc = p.programme.approve_close(second, p.programme.request_close(first, "ends")).document

        assert _count(p, "people") == 0
        assert doc["data_key"] == "legacy" and s.data_key_path.name not in doc["keys_destroyed"]
        kept = " ".join(doc["kept"].values())
        assert "HESUAN_SECRET_KEY" in kept and "legacy" in kept
        assert _what_remains(p).decrypt(copied[0])  # backups can still be read: say so
    finally:
        p.close()


def test_a_production_start_after_the_close_serves_the_aggregates(
        settings: Settings, clock: FixedClock, tmp_path: Path) -> None:
    """The close destroys the pass keys with the rest; a production start, which needs whole
    pass keys while the programme runs, still starts on the closed programme's database and
    serves what remains: the aggregates and the audit check (docs/RETENTION.md "After the
    close")."""
    s = simulation_settings(settings).model_copy(update={
        "secret_key": SecretStr("s" * 32), "programme_dir": tmp_path / "programme"})
    p = bootstrap(s, clock=clock, sender=CountingSender(), migrate=False)
    try:
        generate_city(p, 100, seed=24, workers=0)
        simulate_round(p, clock, CountingSender(), clock.now(), hours=24, prevalence=0.02,
                       seed=24)
        first, second = _officer(p, "closer1", "1401"), _officer(p, "closer2", "1401")
        p.programme.approve_close(second, p.programme.request_close(first, "it ends"))
        aggregates = p.retention.aggregates(first)
    finally:
        p.close()
    assert sum(a.sampled for a in aggregates) > 0

    prod = bootstrap(s.model_copy(update={"environment": "production"}), clock=clock,
                     migrate=False)
    try:
        assert prod.retention.aggregates(SYSTEM) == aggregates
        assert prod.audit.verify(SYSTEM).intact
        assert _count(prod, "people") == 0
        # passes are neither issued nor checked: their keys are gone, and none are made again
        for use in (prod.passes.trust_list, prod.passes.revocation_list):
            with pytest.raises(RuleViolation) as closed:
                use(SYSTEM)
            assert closed.value.code == "programme_closed"
        with pytest.raises(RuleViolation):
            PassKeyStore(s.pass_key_dir, s.issuer, create=True, alg="Ed25519").init(clock.now())
        assert not list(s.pass_key_dir.glob("*.key"))
        assert (s.pass_key_dir / "root.pub").exists()  # what checks the certificate stays
    finally:
        prod.close()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=False)
def test_a_reader_holding_the_wal_is_named_on_the_certificate(
        closing: tuple[Platform, CountingSender]) -> None:
    """SQLite: a connection still reading (a report, a backup) keeps the WAL from being
    truncated, and its frames hold the rows deleted; the certificate said compacted."""
    import sqlite3

    p, _ = closing
    generate_city(p, 20, seed=25, workers=0)
    first, second = _officer(p, "closer1", "1401"), _officer(p, "closer2", "1401")
    closure = p.programme.request_close(first, "the programme ends")
    reader = sqlite3.connect(p.engine.url.database or "", isolation_level=None)
    try:
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM people").fetchone() == (20,)
        doc = p.programme.approve_close(second, closure).document
    finally:
        reader.close()
    assert doc["compacted"] is False
    assert "another connection" in doc["not_compacted"]
