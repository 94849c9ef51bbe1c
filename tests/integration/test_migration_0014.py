"""Migration 0014 (monthly partitions of samples, station events and the result log), on a
database with rows: on PostgreSQL the three tables become partitioned with every row kept (a
station's UUIDv7 ids in their month's partition, a UUIDv4 in the default one), a replay of a
stored event is still a duplicate, the schema agrees with the migrated database, and the
downgrade gives plain tables with the same rows; on SQLite it changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, insert, inspect, text

from hesuan.adapters.clock import FixedClock
from hesuan.adapters.db.migrate import alembic_config, upgrade
from hesuan.adapters.db.partitions import is_partition, month_of, partition_name
from hesuan.adapters.db.schema import result_log, to_ms, tubes
from hesuan.bootstrap import Platform, bootstrap, new_id
from hesuan.config import Settings
from hesuan.domain.access import Principal, Role
from hesuan.domain.event_ids import time_ordered_id
from hesuan.services.sampling import EventKind, StationEvent
from tests.conftest import START
from tests.helpers import barcodes
from tests.integration.migrations import BACKENDS, differences, fresh_engine

TABLES = {"samples", "station_events", "result_log"}


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with fresh_engine(request.param, tmp_path, "m0014") as eng:
        yield eng


def _platform(engine: Engine, tmp_path: Path) -> Platform:
    settings = Settings(database_url=engine.url.render_as_string(hide_password=False),
                        environment="test", secret_key="test-secret",
                        sms_file=tmp_path / "sms.jsonl", key_file=tmp_path / "k",
                        pass_key_dir=tmp_path / "keys", audit_checkpoint_dir=tmp_path / "audit")
    return bootstrap(settings, clock=FixedClock(START), migrate=False)


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as c:
        return {t: int(c.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())
                for t in sorted(TABLES)}


def _where(engine: Engine, event_id: str) -> str:
    with engine.connect() as c:
        return str(c.execute(text("SELECT tableoid::regclass::text FROM station_events "
                                  "WHERE event_id = :e"), {"e": event_id}).scalar_one())


def _relkinds(engine: Engine) -> dict[str, str]:
    with engine.connect() as c:
        return {t: c.execute(text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:t)"),
                             {"t": t}).scalar_one() for t in sorted(TABLES)}


def test_0014_partitions_the_tables_with_their_rows_and_its_downgrade_undoes_it(
        engine: Engine, tmp_path: Path) -> None:
    pg = engine.dialect.name == "postgresql"
    config = alembic_config(engine)
    command.upgrade(config, "0013")

    # a station's round at 0013, as its rows stand (today's code reads columns 0013 does not
    # have): a tube of three, its events UUIDv7 of the station's clock (today) but one UUIDv4;
    # two result-log entries
    p = _platform(engine, tmp_path)
    site, people = new_id(), [new_id() for _ in range(3)]
    sampler = Principal("u-s", "s", Role.SAMPLER, site)
    barcode = next(barcodes(9300))
    now = datetime.now(UTC)
    v4 = "f" + str(uuid.uuid4())[1:]  # its leading bits name no month a partition covers

    def ev(event_id: str, kind: EventKind, **kw: Any) -> StationEvent:
        return StationEvent(event_id, kind, site, START, **kw)

    events = [ev(time_ordered_id(now, 1), EventKind.OPEN_TUBE, barcode=barcode, mode=10)]
    events += [ev(time_ordered_id(now, 10 + n), EventKind.SAMPLE, barcode=barcode,
                  code=p.deps.codes.sign(pid)) for n, pid in enumerate(people)]
    events.append(ev(v4, EventKind.SEAL_TUBE, barcode=barcode))
    tube, at = new_id(), to_ms(START)
    sealed = p.deps.vault.encrypt("x")
    p.close()
    with engine.begin() as c:
        c.execute(text("INSERT INTO sites (id, name, kind, region_code, opening_hours, "
                       "windows, status, created_at) VALUES (:s, 's', 'fixed', '140105', "
                       "'00:00-24:00', 2, 'open', 0)"), {"s": site})
        c.execute(text("INSERT INTO people (id, id_kind, id_hash, id_enc, id_last4, name_enc, "
                       "name_masked, grid_code, groups, language, created_at) VALUES (:p, "
                       "'resident', :h, :x, '0000', :x, 'x*', '140105001001001', '', 'zh', 0)"),
                  [{"p": pid, "h": pid.encode().ljust(32, b"0"), "x": sealed} for pid in people])
        c.execute(insert(tubes).values(
            id=tube, barcode=barcode, site_id=site, capacity=10, count=3, priority=False,
            status="sealed", opened_at=START, first_sampled_at=START, sealed_at=START))
        c.execute(text("INSERT INTO samples (tube_id, person_id, event_id, sampled_at) "
                       "VALUES (:t, :p, :e, :at)"),
                  [{"t": tube, "p": pid, "e": e.event_id, "at": at}
                   for pid, e in zip(people, events[1:4], strict=True)])
        c.execute(text("INSERT INTO station_events (event_id, kind, site_id, actor, client_at, "
                       "received_at) VALUES (:e, :k, :s, 'u-s', :at, :at)"),
                  [{"e": e.event_id, "k": e.kind.value, "s": site, "at": at} for e in events])
        for _ in range(2):
            c.execute(insert(result_log).values(id=new_id(), tube_id=tube, lab_id="lab",
                                                result="negative", actor="u", at=START))
    before = _counts(engine)
    assert before == {"result_log": 2, "samples": 3, "station_events": 5}

    upgrade(engine)
    assert _counts(engine) == before
    assert differences(engine, TABLES) == []
    if pg:
        assert _relkinds(engine) == dict.fromkeys(TABLES, "p")
        assert _where(engine, v4) == "station_events_default"
        month = partition_name("station_events", month_of(now))
        assert _where(engine, events[0].event_id) == month
        column = next(c for c in inspect(engine).get_columns("station_events")
                      if c["name"] == "event_id")
        assert getattr(column["type"], "collation", None) == "C"
        with engine.connect() as c:
            assert c.execute(text("SELECT count(*) FROM ONLY samples")).scalar_one() == 0
            part = partition_name("samples", month_of(now))
            assert c.execute(text(f"SELECT count(*) FROM {part}")).scalar_one() == 3

    # replays are still no-ops, by their id, whatever partition holds it; a new v4 goes in
    p = _platform(engine, tmp_path)
    assert {o.status for o in p.sampling.submit(sampler, events)} == {"duplicate"}
    other = "e" + str(uuid.uuid4())[1:]
    out = p.sampling.submit(sampler, [ev(other, EventKind.OPEN_TUBE, barcode=next(
        barcodes(9400)), mode=10)])
    assert [o.status for o in out] == ["accepted"], out
    p.close()
    assert _counts(engine) == before | {"station_events": 6}
    if pg:
        assert _where(engine, other) == "station_events_default"

    command.downgrade(config, "0013")
    assert _counts(engine) == before | {"station_events": 6}
    assert not [t for t in inspect(engine).get_table_names() if is_partition(t)]
    if pg:
        assert _relkinds(engine) == dict.fromkeys(TABLES, "r")
    assert differences(engine, TABLES) == []
    upgrade(engine)
    assert _counts(engine) == before | {"station_events": 6}
    assert differences(engine, TABLES) == []
