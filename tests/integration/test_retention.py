"""History that expires, on SQLite and on PostgreSQL: after a simulated round, a retention pass
forgets each kind of personal data once its period has passed and not before, counts every
forgotten sample into the daily aggregates first (the same counts the rows gave), records counts
only in the audit log, and a second pass changes nothing."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, func, insert, select, text

from hesuan.adapters.clock import FixedClock
from hesuan.adapters.db.schema import fence_scans, from_ms, passes, samples, tubes, venue_checks
from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.domain.errors import InvalidInput, PermissionDenied
from hesuan.domain.local_time import local_date
from hesuan.domain.retention import Kind, RetentionReport
from hesuan.domain.sampling import make_tube_barcode
from hesuan.entrypoints.scheduler import Scheduler
from hesuan.services.auth import SYSTEM
from hesuan.services.interop_ports import LabMessageFormat
from hesuan.services.lab_messages_ports import MessageVia
from hesuan.sim.city import generate_city
from hesuan.sim.example import seed_example_city
from hesuan.sim.simulate import CountingSender, simulate_round

pytestmark = pytest.mark.slow
REPORTSTREAM = Path(__file__).parent.parent / "fixtures" / "interop" / "reportstream"


def _count(p: Platform, table: str, where: str = "") -> int:
    with p.engine.connect() as c:
        return int(c.execute(text(f"SELECT count(*) FROM {table} {where}")).scalar_one())


def _expected_aggregates(p: Platform) -> Counter[tuple[str, str, str]]:
    """Per (local day, district) the counts the daily aggregates must hold, read row by row:
    ``sampled`` the people sampled in routine testing that day (a recall's re-sample is the
    same person again: it counted them twice, 121 % of a city over a round)."""
    with p.engine.connect() as c:
        rows = c.execute(text(
            "SELECT s.sampled_at, pe.grid_code, t.result, t.capacity, t.resulted_at, "
            "s.person_id, s.recall_id FROM samples s JOIN people pe ON pe.id = s.person_id "
            "JOIN tubes t ON t.id = s.tube_id")).all()
    out: Counter[tuple[str, str, str]] = Counter()
    people: set[tuple[str, str, str]] = set()
    for sampled_at, grid, result, capacity, resulted_at, person, recall in rows:
        key = (local_date(from_ms(int(sampled_at))).isoformat(), grid[:6])
        if recall is None and (*key, person) not in people:
            people.add((*key, person))
            out[(*key, "sampled")] += 1
        if result in ("negative", "positive"):
            out[(*key, "resulted")] += 1
        if result == "positive":
            out[(*key, "positive" if capacity == 1 else "in_positive_pools")] += 1
        if resulted_at is not None:
            out[(*key, "turnaround_n")] += 1
            out[(*key, "turnaround_sum_s")] += (int(resulted_at) - int(sampled_at)) // 1000
    return out


def _held(p: Platform) -> Counter[tuple[str, str, str]]:
    out: Counter[tuple[str, str, str]] = Counter()
    for a in p.retention.aggregates(SYSTEM):
        for name in ("sampled", "resulted", "positive", "in_positive_pools", "turnaround_n",
                     "turnaround_sum_s"):
            if getattr(a, name):
                out[(a.day, a.district, name)] += getattr(a, name)
    return out


def _venue_data(p: Platform, clock: FixedClock) -> None:
    """Two venue checks, two checkpoint scans and two passes: one of each old, one recent."""
    now = clock.now()
    person = text("SELECT id FROM people ORDER BY id LIMIT 1")
    with p.engine.begin() as c:
        pid = c.execute(person).scalar_one()
        for i, at in enumerate((now - timedelta(days=20), now)):
            c.execute(insert(venue_checks).values(
                id=f"vc{i}", venue_id="v1", at=at, colour="green", pass_valid=True,
                temperature_ok=True, code_ok=True, certificate_ok=True, mask_ok=True,
                admitted=True, checked_by="u1"))
            c.execute(insert(fence_scans).values(
                event_id=f"fs{i}", place_kind="venue", place_id="v1", person_id=pid,
                via="pass", at=at, received_at=at, actor="u1", alerts=0))
            c.execute(insert(passes).values(
                id_hash=f"h{i}", person_id=pid, key_id="k", colour="green",
                issued_at=at - timedelta(hours=1), expires_at=at + timedelta(hours=1)))


def test_retention_forgets_each_kind_after_its_period(sim: tuple[Platform, CountingSender],
                                                      clock: FixedClock) -> None:
    p, sender = sim
    start = clock.now()
    generate_city(p, 400, seed=21, workers=0)
    summary = simulate_round(p, clock, sender, start, hours=24, prevalence=0.02, seed=21)
    doors = summary.door_checks
    assert doors["checked"] > 0  # the round's passes shown at its venue
    through = summary.checkpoints["scans"]
    assert through > 0  # and the people scanned through its checkpoint
    p.outbox.deliver(SYSTEM, limit=10_000)
    _venue_data(p, clock)
    samples = _count(p, "samples")
    arrivals = _count(p, "arrivals")  # the first-landing checkpoint's: origin, place, time
    assert arrivals > 0
    resulted = _count(p, "samples", "WHERE tube_id IN (SELECT id FROM tubes "
                                    "WHERE resulted_at IS NOT NULL)")
    expected = _expected_aggregates(p)
    assert samples > 100 and 0 < resulted <= samples
    # the round's prevalence: routine pools only, the recalls' re-test tubes left out
    round_end = clock.now()
    prevalence = p.analytics.prevalence(SYSTEM, as_of=round_end, window=timedelta(days=2))
    assert _count(p, "station_events") > 0 and _count(p, "outbox", "WHERE sent_at IS NOT NULL")

    # 20 hours on: only what expires within a day (the old venue data, the old pass, and the
    # round's passes that have expired by then; its venue checks are from the last day)
    clock.set(clock.now() + timedelta(hours=20))
    cutoff = p.settings.retention().cutoff(Kind.PASSES, clock.now())
    with p.engine.connect() as c:
        gone = c.execute(select(func.count()).select_from(passes)
                         .where(passes.c.expires_at < cutoff)).scalar_one()
    passes_left = _count(p, "passes") - gone
    early = p.retention.run(SYSTEM)
    assert gone >= 1  # the old pass, and the round's that expired a day ago
    assert early == RetentionReport(passes=gone, venue_checks=1, fence_scans=1)
    assert _count(p, "samples") == samples and _count(p, "passes") == passes_left

    # past every period: every kind goes; samples counted into the aggregates first
    clock.set(clock.now() + timedelta(days=40))
    report = p.retention.run(SYSTEM)
    assert report.samples == report.aggregated == resulted
    assert _count(p, "samples") == samples - resulted
    assert report.station_events > 0 and _count(p, "station_events") == 0
    assert report.sms > 0 and _count(p, "outbox", "WHERE sent_at IS NOT NULL") == 0
    assert report.passes == passes_left
    assert report.arrivals == arrivals and _count(p, "arrivals") == 0
    assert report.venue_checks == 1 + doors["checked"]
    assert report.fence_scans == 1 + doors["checked"] + through
    assert _count(p, "passes") == _count(p, "venue_checks") == _count(p, "fence_scans") == 0
    assert _count(p, "recalls", "WHERE status <> 'open'") == 0
    assert report.lane_entries == 0 or _count(p, "lane_entries") == 0

    held = _held(p)
    if resulted == samples:
        assert held == expected
    assert 0 < sum(n for (_, _, k), n in held.items() if k == "sampled") <= resulted
    assert all(len(d) == 6 and len(day) == 10 for day, d, _ in held)
    # coverage's denominator: each district's people when its samples were counted
    with p.engine.connect() as c:
        living: dict[str, int] = dict(c.execute(text(
            "SELECT substr(grid_code, 1, 6), count(*) FROM people "
            "GROUP BY substr(grid_code, 1, 6)")).all())
    assert {a.district: a.people for a in p.retention.aggregates(SYSTEM)} == {
        d: living[d] for d in {a.district for a in p.retention.aggregates(SYSTEM)}}

    # the audit log records counts, never the data
    with p.engine.connect() as c:
        detail = c.execute(text("SELECT detail FROM audit_log WHERE action = 'retention.run' "
                                "ORDER BY seq DESC LIMIT 1")).scalar_one()
    detail = detail if isinstance(detail, dict) else json.loads(detail)
    assert detail == report.counts()

    # the round's prevalence still leaves the re-test tubes out, their samples forgotten
    assert p.analytics.prevalence(SYSTEM, as_of=round_end,
                                  window=timedelta(days=2)) == prevalence

    # a second pass forgets nothing more and counts nothing twice
    assert p.retention.run(SYSTEM) == RetentionReport()
    assert _held(p) == held
    assert p.audit.verify(SYSTEM).intact


def _tube(c: Connection, n: int, site: str, sampled: list[tuple[str, datetime]],
          resulted: datetime | None) -> None:
    """A tube of ``sampled`` (person, when), negative at ``resulted`` (None: no result)."""
    opened = min(at for _, at in sampled)
    tid = f"{int(opened.timestamp() * 1000):012x}{n:020x}"  # time-led, as the server's ids
    c.execute(insert(tubes).values(
        id=tid, barcode=make_tube_barcode(8800 + n), site_id=site, capacity=10,
        count=len(sampled), priority=False, status="resulted" if resulted else "sealed",
        opened_at=opened, result="negative" if resulted else None, resulted_at=resulted))
    for i, (pid, at) in enumerate(sampled):
        c.execute(insert(samples).values(tube_id=tid, person_id=pid, event_id=f"e{n}-{i}",
                                         sampled_at=at))


def test_a_person_sampled_twice_a_day_is_counted_once_across_passes(
        platform: Platform, clock: FixedClock) -> None:
    """One person's two routine samples of one day, in tubes whose results come days apart,
    are forgotten by two passes: ``sampled`` counts them once (each pass added the people it
    saw, and they were counted twice), whichever of the two samples goes first; one whose
    other sample of the day is in a tube with no result is counted once, by the close."""
    city = seed_example_city(platform, people=30)
    with platform.engine.connect() as c:
        rows = c.execute(text("SELECT id, grid_code FROM people ORDER BY id")).all()
    district = rows[0][1][:6]
    p1, p2, q, lost = [pid for pid, grid in rows if grid[:6] == district][:4]
    site = city.sites[district]
    day = datetime(2022, 8, 29, 1, tzinfo=UTC)  # 09:00 in Taiyuan
    early, late = day + timedelta(days=1), day + timedelta(days=6)
    with platform.engine.begin() as c:
        # p1's morning tube resulted first, p2's afternoon tube first; q sampled once
        _tube(c, 1, site, [(p1, day), (q, day), (lost, day)], early)
        _tube(c, 2, site, [(p1, day + timedelta(hours=6))], late)
        _tube(c, 3, site, [(p2, day)], late)
        _tube(c, 4, site, [(p2, day + timedelta(hours=6))], early)
        _tube(c, 5, site, [(lost, day + timedelta(hours=14))], None)  # 23:00, a lost tube
    period = platform.settings.retention().samples
    clock.set(early + period + timedelta(days=1))  # the two tubes resulted early expire
    assert platform.retention.run(SYSTEM).samples == 4
    clock.set(late + period + timedelta(days=1))  # then the other two
    assert platform.retention.run(SYSTEM).samples == 2
    [held] = platform.retention.aggregates(SYSTEM)
    assert (held.day, held.district) == ("2022-08-29", district)
    assert held.sampled == 3  # p1, p2 and q, each once; the lost tube's person still held
    assert held.resulted == held.turnaround_n == 6  # the other counts are of samples
    with platform.deps.uow() as uow:  # the close counts what is left
        assert uow.retention.aggregate_samples(None) == 1
        uow.commit()
    [held] = platform.retention.aggregates(SYSTEM)
    assert held.sampled == 4 and held.resulted == 6


def test_retention_is_the_administrators_and_aggregates_read_by_officers(
        platform: Platform) -> None:
    officer = Principal("o1", "officer", Role.HEALTH_OFFICER, "1401")
    with pytest.raises(PermissionDenied):
        platform.retention.run(officer)
    assert platform.retention.aggregates(officer) == []
    assert platform.retention.aggregates(officer, "2022-08-29") == []
    with pytest.raises(InvalidInput) as garbage:  # it answered [] as if none were kept
        platform.retention.aggregates(officer, "garbage")
    assert (garbage.value.code, garbage.value.field) == ("bad_date", "since")


def test_the_scheduler_runs_a_retention_pass_once_an_hour(platform: Platform,
                                                          clock: FixedClock) -> None:
    with platform.engine.begin() as c:
        for i, age in enumerate((timedelta(days=15), timedelta(days=14, minutes=-30))):
            c.execute(insert(venue_checks).values(
                id=f"vc{i}", venue_id="v1", at=clock.now() - age,
                colour="green", pass_valid=True, temperature_ok=True, code_ok=True,
                certificate_ok=True, mask_ok=True, admitted=True, checked_by="u1"))
    scheduler = Scheduler(platform, 3600)
    scheduler.tick()
    assert _count(platform, "venue_checks") == 1
    clock.advance(timedelta(minutes=45))  # the second check has expired: the pass is not due
    scheduler.tick()
    assert _count(platform, "venue_checks") == 1
    clock.advance(timedelta(minutes=15))  # the last pass an hour ago
    scheduler.tick()
    assert _count(platform, "venue_checks") == 0


def test_lab_messages_go_once_settled_and_their_period_has_passed(
        platform: Platform, clock: FixedClock) -> None:
    """A lab system's message names its patient (PID) with their result: kept while it waits
    in the inbox (never dropped: DESIGN I3), forgotten a period after it was settled — applied,
    or set aside by a person."""
    city = seed_example_city(platform, people=10)
    lab_id = city.labs["lab1"]
    data = (REPORTSTREAM / "sample_AK_20240220-0001.hl7").read_bytes()
    waiting = platform.lab_messages.receive(SYSTEM, lab_id, data, LabMessageFormat.HL7V2,
                                            MessageVia.API).messages[0]
    settled = platform.lab_messages.receive(
        SYSTEM, lab_id, _another_control_id(data), LabMessageFormat.HL7V2,
        MessageVia.API).messages[0]
    assert waiting.state == settled.state == "unclear"  # tubes this city does not know
    period = platform.settings.retention().lab_messages
    clock.advance(period + timedelta(days=1))  # in the inbox all that time: it stays
    assert platform.retention.run(SYSTEM).lab_messages == 0
    platform.lab_messages.discard(SYSTEM, settled.message_id, "a test message")
    assert platform.retention.run(SYSTEM).lab_messages == 0  # kept from its settling
    clock.advance(period + timedelta(days=1))
    report = platform.retention.run(SYSTEM)
    assert report.lab_messages == 1
    with platform.engine.connect() as c:
        assert c.execute(text("SELECT id FROM lab_messages")).scalars().all() == [
            waiting.message_id]


def _another_control_id(hl7: bytes) -> bytes:
    """The same message with another MSH-10 (a different message to the inbox)."""
    fields = hl7.split(b"\r", 1)
    msh = fields[0].split(b"|")
    msh[9] = msh[9] + b"-2"
    return b"|".join(msh) + b"\r" + fields[1]
