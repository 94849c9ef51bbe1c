"""The synthetic city stored through the bulk loader, and simulated rounds through the real
services: reconciliation shows exactly the injected faults, the reports agree with the round, and
the prevalence interval covers the true prevalence. The rounds' last lab is a LIS lab: its results
come as HL7 v2 ORU^R01 over MLLP (``sim/round_lis``), and the round expects exactly those among
the results released without a run file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from sqlalchemy import text
from stdnum.cn import ric

from hesuan.adapters.clock import FixedClock
from hesuan.adapters.db import bulk
from hesuan.adapters.db.schema import from_ms
from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.domain.arrivals import ARRIVAL_RISKS
from hesuan.domain.local_time import local
from hesuan.domain.people import IdKind
from hesuan.domain.regions import Level
from hesuan.entrypoints.mllp import MllpListener
from hesuan.services.auth import SYSTEM
from hesuan.services.lab_messages_ports import MessageState
from hesuan.sim import round_zones
from hesuan.sim.city import CityExists, generate_city
from hesuan.sim.city_plan import person_id
from hesuan.sim.example import DEMO_PASSWORD
from hesuan.sim.round_rosters import CALL_HOUR, CALLS_A_DAY
from hesuan.sim.round_state import HOME_AFTER_LANDING_S
from hesuan.sim.simulate import FAULTS, CountingSender, simulate_round


def test_generated_city_is_stored_and_readable(sim: tuple[Platform, CountingSender]) -> None:
    p, _ = sim
    report = generate_city(p, 1200, seed=4, workers=0)
    assert report.people == 1200 == bulk.people_count(p.engine)
    assert report.districts == 6 and report.grids >= 6 and report.sites >= 6
    assert [c.kind for c in p.fence.checkpoints(SYSTEM)] == ["highway"]
    view = p.people.get(SYSTEM, person_id(4, 7), unmask=True)
    if view.id_kind == "resident":
        assert ric.validate(view.id_number) == view.id_number
        assert p.people.find_by_id_number(SYSTEM, IdKind.RESIDENT,
                                          view.id_number) == person_id(4, 7)
    assert view.test_state == "none"
    if p.engine.dialect.name == "postgresql":
        # the loader leaves the planner statistics of what it filled (none: a seq scan of
        # person_status on every station transaction, 1-2 s each at 5.4 M people)
        with p.engine.connect() as c:
            analysed: dict[str, bool] = dict(c.exec_driver_sql(
                "SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables "
                "WHERE relname IN ('people', 'person_status')").all())
        assert analysed == {"people": True, "person_status": True}
    for user in ("admin", "officer", "sampler", "sitelead", "courier", "lab", "grid", "resident",
                 "checkpoint"):
        assert p.auth.login(user, DEMO_PASSWORD)
    assert p.auth.authenticate(p.auth.login("checkpoint", DEMO_PASSWORD)).scope == (
        p.fence.checkpoints(SYSTEM)[0].id)
    assert p.auth.login("courier001", DEMO_PASSWORD)
    assert p.auth.authenticate(p.auth.login("resident", DEMO_PASSWORD)).scope == person_id(4, 0)
    coverage = p.analytics.coverage(SYSTEM, level=Level.DISTRICT)
    assert coverage.total.due == 1200 and coverage.total.sampled == 0
    assert len(coverage.districts) == 6 and coverage.grids == []
    with pytest.raises(CityExists):
        generate_city(p, 10, seed=4, workers=0)
    audit = p.audit.verify(SYSTEM)
    assert audit.entries > 0 and audit.intact


def _reminders(p: Platform) -> tuple[int, int]:
    """(reminders queued, reminders handed to the gateway): the rest were closed unsent, for
    people with no mobile phone or no longer to be reminded, or wait for the morning
    (docs/SMS.md)."""
    with p.engine.connect() as c:
        return c.execute(text(
            "SELECT count(*), count(CASE WHEN sent_at IS NOT NULL AND last_error IS NULL "
            "THEN 1 END) FROM outbox WHERE template = 'reminder'")).one()


def test_round_reconciles_exactly_the_injected_faults(sim: tuple[Platform, CountingSender],
                                                      clock: FixedClock) -> None:
    p, sender = sim
    start = clock.now()
    generate_city(p, 2000, seed=5, workers=0)
    s = simulate_round(p, clock, sender, start, hours=24, prevalence=0.01, faults=FAULTS,
                       seed=5, lis_listener=MllpListener)
    assert s.faults == dict.fromkeys(FAULTS, 1)
    assert s.reconcile_matches, (s.reconcile_counts, s.expected_reconcile)
    assert s.expected_reconcile["sampled_not_boxed"] == 1
    assert s.expected_reconcile["box_discrepancies"] == 1
    assert s.expected_reconcile["results_for_unknown_tubes"] == 1
    assert s.expected_reconcile["late_boxes"] == 1
    # those four lists (the tube missing from its box is declared so: rejected, its people
    # recalled, not left in missing_from_received_boxes), the result a re-run took past the
    # lab's target, and the pool the round's correction made positive: its members re-tested
    # negative, so its investigation is closed for review
    assert s.expected_reconcile["missing_from_received_boxes"] == 0
    assert s.expected_reconcile["late_results"] == 1
    assert s.expected_reconcile["pools_for_review"] == 1
    assert sum(s.reconcile_counts.values()) == 6
    assert not s.events_rejected
    assert 0 < s.sampled <= s.people_due <= s.people
    assert s.pooled_positive > 0 and s.recalls_opened > 0
    assert s.recalls_resolved == s.recalls_opened
    if p.engine.dialect.name == "sqlite":
        # PostgreSQL refuses an orphan row as it is written; SQLite checks the rows written
        # before its connections asked it to (the bulk loader's, too) only when asked
        with p.engine.connect() as c:
            assert c.exec_driver_sql("PRAGMA foreign_key_check").all() == []
    # and each positive single tube told its site's health officers
    assert s.single_positive > 0
    assert s.alerts_by_kind == {"late_box": 1, "positive_result": s.single_positive} | (
        {"late_result": s.late_results} if s.late_results else {})
    assert s.messages["recall"] > 0
    # the venue's door: people show the pass they were issued; each check recorded, only a
    # green pass admitted, each a scan for the fence rules
    doors = s.door_checks
    assert doors["checked"] == doors["passes_issued"] > 0
    assert doors["admitted"] + doors["refused"] == doors["checked"]
    assert sum(doors["colours"].values()) == doors["checked"]
    with p.engine.connect() as c:
        rows = c.exec_driver_sql("SELECT colour, admitted FROM venue_checks").all()
        issued = c.exec_driver_sql("SELECT count(*) FROM passes").scalar_one()
        scans = c.exec_driver_sql(
            "SELECT count(*) FROM fence_scans WHERE place_kind = 'venue'").scalar_one()
    # every simulated hour the city's housekeeping ran as the server's scheduler runs it
    # (``test_the_round_keeps_the_city_as_the_server_does``); in a day's round no pass is yet
    # a day past its expiry
    kept = s.housekeeping
    hours = int((s.drained_until - start).total_seconds() // 3600)
    assert kept["ticks"] == kept["retention_passes"] == hours
    assert kept["forgotten"] == {}
    assert (kept["reminders"], s.messages["reminder"]) == tuple(_reminders(p))
    assert len(rows) == doors["checked"] and issued == doors["passes_issued"]
    assert sum(bool(a) for _, a in rows) == doors["admitted"]
    assert all(colour == "green" for colour, admitted in rows if admitted)
    assert scans == doors["checked"]
    # once the building was sealed, one of its people went out to the venue: refused on a red
    # pass, and the fence rules raised a zone_exit alert for their grid worker
    with p.engine.connect() as c:
        zone_exits = c.execute(text(
            "SELECT fa.grid_code, ps.grid_code FROM fence_alerts fa JOIN person_status st ON "
            "st.person_id = fa.person_id JOIN people ps ON ps.id = fa.person_id "
            "WHERE fa.rule = 'zone_exit' AND fa.place_kind = 'venue' "
            "AND st.zone_id IS NOT NULL")).all()
    assert doors["seal_breaches"] == 1 and doors["colours"]["red"] >= 1
    assert zone_exits and all(alerted == home for alerted, home in zone_exits)
    # the city's highway checkpoint: people scanned through it every hour, day and night;
    # once the building was sealed its support team was moved there, its people on 4 h stints
    # in turn (all off after the drain), and one of the building's people was turned back; the
    # grid workers closed each zone_exit alert as returned home and acknowledged the others
    # two hours after it was raised (those of the last two hours before the drain are open)
    cp = s.checkpoints
    assert cp["checkpoints"] == 1 and cp["team_moves"] == 1 and cp["seal_breaches"] == 1
    assert cp["alerts"]["zone_exit"] == 1
    with p.engine.connect() as c:
        (cp_id,), = c.exec_driver_sql("SELECT id FROM checkpoints").all()
        cp_scans = c.execute(text(
            "SELECT fs.at, fs.alerts, st.zone_id FROM fence_scans fs JOIN person_status st "
            "ON st.person_id = fs.person_id WHERE fs.place_kind = 'checkpoint' "
            "AND fs.place_id = :cp ORDER BY fs.at"), {"cp": cp_id}).all()
        moved = c.execute(text(
            "SELECT tm.to_id, t.kind FROM team_moves tm JOIN teams t ON t.id = tm.team_id "
            "WHERE tm.to_kind = 'checkpoint'")).all()
        cp_stints = c.execute(text(
            "SELECT started_at, ended_at FROM shifts WHERE place_kind = 'checkpoint' "
            "ORDER BY started_at")).all()
        handled = c.exec_driver_sql(
            "SELECT rule, status, outcome, raised_at FROM fence_alerts").all()
    assert len(cp_scans) == cp["scans"] > 24
    assert len({local(from_ms(at)).hour for at, *_ in cp_scans}) == 24
    assert [alerts for _, alerts, zone in cp_scans if zone is not None] == [1]
    assert moved == [(cp_id, "checkpoint")]
    assert len(cp_stints) == cp["stints"] >= 2
    assert all(end is not None and end - start == 4 * 3600_000 for start, end in cp_stints[:-1])
    assert all(a[1] == b[0] for a, b in pairwise(cp_stints)) and cp_stints[-1][1] is not None
    recent = s.drained_until - timedelta(hours=2)
    taken_up = [(rule, status, outcome) for rule, status, outcome, raised in handled
                if from_ms(raised) <= recent]
    assert {x for x in taken_up if x[0] == "zone_exit"} == {
        ("zone_exit", "closed", "returned_home")}
    assert {(status, outcome) for rule, status, outcome in taken_up if rule != "zone_exit"} <= {
        ("acknowledged", None)}
    assert all(status == "open" for _, status, _, raised in handled if from_ms(raised) > recent)
    assert len(taken_up) == sum(cp["fence_alerts_handled"].values())
    # travellers: each registered at a first-landing checkpoint as they landed, and swabbed
    # there after landing in a priority tube of their own; every origin risk among them (a
    # medium or high one holds the status until a negative test after arrival); after the
    # drain each has a result since landing and none is held for the arrival any longer
    landed = s.arrivals
    assert landed["travellers"] == sum(landed["by_risk"].values()) > 0
    assert set(landed["by_risk"]) == set(ARRIVAL_RISKS)
    with p.engine.connect() as c:
        tested = c.exec_driver_sql(
            "SELECT a.person_id, t.capacity, t.priority, t.result FROM arrivals a "
            "JOIN sites si ON si.id = a.checkpoint_site_id AND si.kind = 'first_landing' "
            "JOIN samples sa ON sa.person_id = a.person_id AND sa.sampled_at >= a.arrived_at "
            "JOIN tubes t ON t.id = sa.tube_id AND t.site_id = si.id").all()
    assert len(tested) == len({pid for pid, *_ in tested}) == landed["travellers"]
    assert {(capacity, bool(priority)) for _, capacity, priority, _ in tested} == {(1, True)}
    assert {result for *_, result in tested} <= {"negative", "positive", None}
    assert not [pid for pid, *_ in tested
                if "arrival_pending" in p.status.status_of(SYSTEM, pid).status.reasons]
    # a traveller was away: no sample at any other site before landing, nor on the way home
    with p.engine.connect() as c:
        while_away = c.execute(text(
            "SELECT count(*) FROM arrivals a JOIN samples sa ON sa.person_id = a.person_id "
            "JOIN tubes t ON t.id = sa.tube_id AND t.site_id <> a.checkpoint_site_id "
            "WHERE sa.sampled_at < a.arrived_at + :home_ms"),
            {"home_ms": int(HOME_AFTER_LANDING_S * 1000)}).scalar_one()
    assert while_away == 0
    # the first confirmed case's building sealed: its people held at home and sampled at
    # their doors by the district's team, one tube per household, through the team's box and
    # a courier to a lab like any site's tubes; after the drain each of them is red for the
    # zone (a positive result among the reasons too), none came to a site after the sealing
    zone = s.zones
    assert zone["zones"] == 1 and zone["days"] >= 1
    assert zone["households"] > 0 and 0 < zone["sampled"] <= zone["people"] * zone["days"]
    with p.engine.connect() as c:
        (zone_id, kind, starts), = c.exec_driver_sql(
            "SELECT id, kind, starts_at FROM zones WHERE status = 'active'").all()
        held = c.execute(text(
            "SELECT person_id, colour, reasons FROM person_status WHERE zone_id = :z"),
            {"z": zone_id}).all()
        at_the_door = c.exec_driver_sql(
            "SELECT t.capacity, t.count, t.status, t.box_id IS NOT NULL FROM tubes t "
            "JOIN sites si ON si.id = t.site_id WHERE si.kind = 'door_to_door'").all()
        at_sites_after = c.execute(text(
            "SELECT count(*) FROM person_status ps JOIN samples sa ON sa.person_id = "
            "ps.person_id JOIN tubes t ON t.id = sa.tube_id JOIN sites si ON si.id = t.site_id "
            "WHERE ps.zone_id = :z AND si.kind <> 'door_to_door' AND sa.sampled_at > :starts "
            # someone already in the two lanes' queue when the building was sealed is swabbed
            "AND NOT EXISTS (SELECT 1 FROM lane_entries l WHERE l.person_id = sa.person_id "
            "  AND l.registered_at <= :starts AND l.swabbed_at = sa.sampled_at)"),
            {"z": zone_id, "starts": starts}).scalar_one()
    assert kind == "sealed" and len(held) == zone["people"]
    assert all(colour == "red" and "in_zone" in reasons.split(",") for _, colour, reasons in held)
    assert len(at_the_door) == sum(zone["tubes"].values())
    assert sum(count for _, count, *_ in at_the_door) == zone["sampled"]
    assert all(count <= capacity and status == "resulted" and boxed
               for capacity, count, status, boxed in at_the_door)
    assert at_sites_after == 0
    # the site of the demo's site lead runs two lanes: the registrar binds people to a tube in
    # the order they came, the windows swab them from it; after the drain no one is waiting
    lanes = s.two_lanes
    assert lanes["registered"] == lanes["swabbed"] > 0
    with p.engine.connect() as c:
        entries, waiting, swabbed_at_lanes = c.execute(text(
            "SELECT count(*), count(*) - count(l.swabbed_at), count(sa.tube_id) "
            "FROM lane_entries l JOIN tubes t ON t.barcode = l.barcode "
            "LEFT JOIN samples sa ON sa.tube_id = t.id AND sa.person_id = l.person_id")).one()
        lead_site = c.execute(text(
            "SELECT scope FROM users WHERE username = 'sitelead'")).scalar_one()
        lane_sites = {r[0] for r in c.execute(text("SELECT site_id FROM lane_entries"))}
    assert entries == swabbed_at_lanes == lanes["registered"] and waiting == 0
    assert lane_sites == {lead_site}
    # that site's staff on shifts: one at a time at each window and at the registrar's
    # lane, each stint at most the 4 h a window allows, everyone off once the round drained
    assert s.shifts["staff"] > 0 and s.shifts["stints"] > 0
    with p.engine.connect() as c:
        stints = c.exec_driver_sql(
            "SELECT place_id, \"window\", started_at, ended_at FROM shifts "
            "WHERE place_kind = 'site' ORDER BY place_id, \"window\", started_at").all()
    assert len(stints) == s.shifts["stints"] and {place for place, *_ in stints} == {lead_site}
    assert all(end is not None and 0 < end - start <= 4 * 3600_000 for *_, start, end in stints)
    assert all(a[3] <= b[2] for a, b in pairwise(stints) if a[1] == b[1])
    assert {window for _, window, *_ in stints} >= {None, 1, 2}
    # the lab stage as labs run it (the same seed gives the same round): every received tube
    # but the LIS's on a plate of 96 with its controls, each plate's instrument file imported
    # and released by a second lab user; two plates' controls failed and their 5 tubes were
    # re-run, grey-zone tubes were re-run (one stayed so and was recalled), a single-target
    # tube was re-run, an internal control failed once
    assert (s.plates, s.control_failures) == (57, 2)
    assert s.reruns == {"plate_control_failed": 5, "grey_zone": 3, "internal_control_failed": 1,
                        "single_target": 1}
    assert s.released == {"negative": 247, "positive": 15, "invalid": 1}
    assert s.recalled_at_bench == {"grey_zone": 1} and s.invalid_tubes == 1
    assert s.seeded == {"control_failure": 2, "single_target": 4, "stays_single": 1,
                        "internal_control_failed": 1, "rejected_at_receipt": 2,
                        "rejected_at_bench": 1}
    # a re-run took one tube past the lab's target (listed, alerted)
    assert s.late_results == 1 and s.reconcile_counts["plates_not_released"] == 0
    # the last lab is a LIS lab for a share of its boxes (5 here): each of their received
    # tubes' final result sent as an HL7 v2 ORU^R01 over MLLP, each answered AA and applied;
    # the first message resent once, answered the same ACK, nothing changed; before it, the
    # LIS checked its link with a training message: refused (AR), in the lab's inbox
    lis_lab = s.lis["lab_id"]
    assert s.lis == {"lab_id": lis_lab, "boxes": 5, "messages_sent": 15, "acks": {"AA": 14},
                     "applied": {"negative": 13}, "resent": 1, "resend_same_ack": True,
                     "link_check": "AR"}
    # its results trace to no run file: its integrity list shows exactly them, no other lab's
    assert s.unfiled_results == s.expected_unfiled_results == {lis_lab: 13}
    # two tubes rejected as their box was scanned in and one declared missing from its box
    # (the ``box_missing_tube`` fault), one rejected as a run took it; their people
    # recalled, told why and re-tested; one negative pool (2 people) corrected to positive by
    # the lab's reviewer and approved by its other user, its people told once and re-tested
    assert s.rejected_at_receipt == {"leaked": 1, "wrong_container": 1, "missing": 1}
    assert s.rejected_at_bench == {"leaked": 1}
    assert s.corrections == {"negative_to_positive": 1}
    assert s.messages["rejected"] == 10 and s.messages["corrected_recall"] == 1
    with p.engine.connect() as c:  # the other has no phone: closed unsent, not handed over
        told = c.execute(text("SELECT last_error FROM outbox WHERE template = "
                              "'corrected_recall'")).scalars().all()
    assert sorted(told, key=str) == [None, "no_phone"]
    # each received tube released once, by a plate or by the LIS, but the rejected ones (the
    # one missing from its box among them) and the tube lost before its box; the
    # reconciliation's tally of the lab stage (its plates) is the round's own
    rejected = sum(s.rejected_at_receipt.values()) + sum(s.rejected_at_bench.values())
    lis_applied = sum(s.lis["applied"].values())
    assert sum(s.released.values()) + lis_applied == sum(s.tubes.values()) - 1 - rejected
    assert (s.released["positive"] + s.lis["applied"].get("positive", 0)
            + s.corrections["negative_to_positive"] == s.pooled_positive + s.single_positive)
    assert s.lab_tally == s.expected_lab_tally == {
        "plates": 57, "plates_released": 57, "control_failures": 2, "reruns": 10,
        "released": {"invalid": 1, "negative": 247, "positive": 15},
        "rejected": {"bench": 1, "receipt": 3}, "corrections": {"corrected": 1}}
    # every released result leads to a well of a plate or to a LIS message (the direct path
    # took only the fault), and the correction to its own entry in the result log
    with p.engine.connect() as c:
        logged, by_wells, by_lis = c.execute(text(
            "SELECT (SELECT count(*) FROM result_log), "
            "(SELECT count(*) FROM well_results WHERE result_log_id IS NOT NULL), "
            "(SELECT count(*) FROM lab_messages WHERE via = 'mllp')")).one()
    assert by_wells == sum(s.released.values()) and logged == by_wells + lis_applied + 1
    # the resend is no message of its own; the link check is one, which applied nothing
    assert by_lis == lis_applied + 1
    (check,) = [m for m in p.lab_messages.messages(SYSTEM, lis_lab)
                if m.control_id.startswith("CHECK-")]
    assert check.state is MessageState.UNCLEAR and check.ack_code == "AR"
    assert [line.reason for line in check.specimens] == ["unsupported_processing_id"]
    # the reports agree with the round
    cov = p.analytics.coverage(SYSTEM, level=Level.DISTRICT).total
    assert cov.due == 2000 and cov.sampled == s.sampled
    assert cov.outstanding == 2000 - s.sampled - s.rosters["exempted"]
    pos = p.analytics.positives(SYSTEM)
    assert pos.positive_pools == s.pooled_positive
    assert pos.investigations == {"closed": s.pooled_positive - 1, "review": 1}
    assert sum(len(x.recalls) for x in pos.pools) == pos.recalls
    prev = p.analytics.prevalence(SYSTEM)
    assert prev.city.pools_positive == sum(x for _, x in s.routine_pools.values())
    assert {d.code for d in prev.districts} <= {f"14010{i}" for i in range(5, 10)} | {
        "140110"}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_results_a_re_run_took_past_the_lab_target_are_expected(
        sim: tuple[Platform, CountingSender], clock: FixedClock) -> None:
    """A round starting at midnight in Taiyuan: some re-runs take their tubes past the lab's
    6 h from receipt to release. The round counts them; the reconciliation lists them and an
    alert is raised for each, and nothing else is off."""
    p, sender = sim
    generate_city(p, 2000, seed=5, workers=0)
    start = datetime(2022, 8, 25, 16, tzinfo=UTC)
    s = simulate_round(p, clock, sender, start, hours=24, prevalence=0.01, faults=FAULTS,
                       seed=53, lis_listener=MllpListener)
    assert s.late_results == 1  # with the seed; plates failed their controls here
    assert s.control_failures == 3 and s.reruns["plate_control_failed"] == 9
    assert s.reconcile_matches, (s.reconcile_counts, s.expected_reconcile)
    assert s.reconcile_counts["late_results"] == s.late_results
    assert s.alerts_by_kind == {"late_box": 1, "late_result": s.late_results} | (
        {"positive_result": s.single_positive} if s.single_positive else {})


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_zone_that_ends_in_the_round_frees_its_people(
        sim: tuple[Platform, CountingSender], clock: FixedClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A sealed building whose planned end falls inside the round (a one-day zone here): the
    round runs the scheduler's zone changes every hour, as the server does, so the zone
    expires at its planned end; its people are then free (no longer red for the zone, no door
    visit after it, the team's assignment closed), and the round still reconciles."""
    monkeypatch.setattr(round_zones, "ZONE_DAYS", 1)
    p, sender = sim
    start = clock.now()
    generate_city(p, 2000, seed=5, workers=0)
    s = simulate_round(p, clock, sender, start, hours=72, prevalence=0.01, faults=FAULTS,
                       seed=5)
    assert s.zones["zones"] == 1 and s.zones["expired"] == 1
    assert s.reconcile_matches, (s.reconcile_counts, s.expected_reconcile)
    assert not s.events_rejected
    with p.engine.connect() as c:
        (zone_id, status, ended), = c.exec_driver_sql(
            "SELECT id, status, ended_at FROM zones").all()
        in_zone = c.execute(text(
            "SELECT count(*) FROM person_status WHERE zone_id = :z OR reasons LIKE '%in_zone%'"),
            {"z": zone_id}).scalar_one()
        late_doors = c.execute(text(
            "SELECT count(*) FROM samples sa JOIN tubes t ON t.id = sa.tube_id JOIN sites si "
            "ON si.id = t.site_id WHERE si.kind = 'door_to_door' AND sa.sampled_at > :e"),
            {"e": ended}).scalar_one()
        open_assignments = c.exec_driver_sql(
            "SELECT count(*) FROM team_assignments WHERE closed_at IS NULL").scalar_one()
    assert status == "expired" and in_zone == 0
    assert late_doors == 0 and open_assignments == 0
    assert s.zones["days"] >= 1 and s.zones["sampled"] > 0


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_round_keeps_the_city_as_the_server_does(sim: tuple[Platform, CountingSender],
                                                     clock: FixedClock) -> None:
    """Every simulated hour the round runs the city's housekeeping as the server's scheduler
    runs it (``services/housekeeping``). Over three days a retention pass forgets the passes a
    day past their expiry (the audit log has the counts), the venue's checks stay (14 days);
    when the round ends the roster's coverage snapshot is fresh and the audit chain's head is
    signed."""
    p, sender = sim
    start = clock.now()
    generate_city(p, 1500, seed=6, workers=0)
    s = simulate_round(p, clock, sender, start, hours=72, prevalence=0.002, seed=6)
    kept = s.housekeeping
    hours = int((s.drained_until - start).total_seconds() // 3600)
    assert kept["ticks"] == kept["retention_passes"] == kept["snapshots_refreshed"] == hours
    assert kept["audit_checkpoints"] == hours + 1  # and one as the round ends
    assert (kept["reminders"], s.messages["reminder"]) == tuple(_reminders(p))
    forgotten = kept["forgotten"]
    assert set(forgotten) == {"passes"} and forgotten["passes"] > 0
    with p.engine.connect() as c:
        left = [from_ms(x) if isinstance(x, int) else x for x, in c.exec_driver_sql(
            "SELECT expires_at FROM passes").all()]
        checks = c.exec_driver_sql("SELECT count(*) FROM venue_checks").scalar_one()
        logged = [d for d, in c.execute(text(
            "SELECT detail FROM audit_log WHERE action = 'retention.run'")).all()]
    assert len(left) + forgotten["passes"] == s.door_checks["passes_issued"]
    assert min(left).replace(tzinfo=UTC) > s.drained_until - timedelta(days=1, hours=1)
    assert checks == s.door_checks["checked"]
    assert sum((d if isinstance(d, dict) else json.loads(d))["passes"] for d in logged) == (
        forgotten["passes"])
    audit = p.audit.verify(SYSTEM)
    assert audit.intact and audit.checkpoint is not None
    assert audit.checkpoint.seq == audit.head_seq
    assert p.rosters.refresh_snapshot_if_stale(SYSTEM) is None  # fresh: not refreshed again


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_tube_missing_from_a_box_is_a_routine_one(sim: tuple[Platform, CountingSender],
                                                      clock: FixedClock) -> None:
    """The ``box_missing_tube`` fault leaves one box discrepancy and nothing else: the lab
    declares the tube missing and its people are recalled and re-tested. In this seeded round
    the last tube of the box it picks holds a recall's re-test; a routine tube of the box goes
    missing instead, and the round reconciles."""
    p, sender = sim
    start = datetime(2026, 11, 1, 16, tzinfo=UTC)
    generate_city(p, 5000, seed=3, workers=0)
    s = simulate_round(p, clock, sender, start, hours=72, prevalence=0.002, faults=FAULTS,
                       seed=3)
    assert s.reconcile_matches, (s.reconcile_counts, s.expected_reconcile)
    assert s.reconcile_counts["recalls_open"] == s.reconcile_counts["recalls_overdue"] == 0
    assert s.reconcile_counts["missing_from_received_boxes"] == 0
    assert s.reconcile_counts["box_discrepancies"] == 1
    assert s.rejected_at_receipt["missing"] == 1


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_grid_workers_call_the_outstanding_people_of_their_rosters(
        sim: tuple[Platform, CountingSender], clock: FixedClock) -> None:
    """Every day of the round at 18:00 each grid's worker opens their list of outstanding
    people and records how each of the first 20 answered: those who said they would come did
    come in the round, those who refused did not; each outcome is the last one the worker's
    list shows."""
    p, sender = sim
    start = clock.now()
    generate_city(p, 1500, seed=7, workers=0)
    s = simulate_round(p, clock, sender, start, hours=72, prevalence=0.002, seed=7)
    calls = s.rosters
    with p.engine.connect() as c:
        grids = c.exec_driver_sql("SELECT count(DISTINCT grid_code) FROM people").scalar_one()
        rows = c.exec_driver_sql(
            "SELECT o.person_id, o.grid_code, o.outcome, o.at, p.grid_code, "
            "(SELECT max(sa.sampled_at) FROM samples sa WHERE sa.person_id = o.person_id) "
            "FROM roster_outcomes o JOIN people p ON p.id = o.person_id").all()
    days = sum(1 for h in range(72) if local(start + timedelta(hours=h)).hour == CALL_HOUR)
    assert calls["lists"] == grids * days
    assert len(rows) == calls["calls"] == sum(calls["outcomes"].values())
    assert 0 < calls["calls"] <= grids * days * CALLS_A_DAY
    assert all(grid == home for _, grid, _, _, home, _ in rows)
    assert {"reached", "refused"} <= set(calls["outcomes"]) <= {
        "reached", "refused", "away", "needs_door_to_door"}
    # (a swab of the minutes before the call may still be on its way from the station)
    came = {o: [last is not None and from_ms(last) >= start for _, _, out, _, _, last in rows
                if out == o] for o in calls["outcomes"]}
    assert all(came["reached"]) and not any(came["refused"])
    # someone out of town was exempted by the officer: no longer outstanding, on the exempt
    # list, and never came
    with p.engine.connect() as c:
        exempt: dict[str, str] = dict(c.exec_driver_sql(
            "SELECT person_id, exempt_reason FROM person_status "
            "WHERE exempt_until IS NOT NULL").all())
    away = {pid for pid, _, out, *_ in rows if out == "away"}
    assert 0 < len(exempt) == calls["exempted"] and set(exempt) <= away
    assert set(exempt.values()) == {"away"}
    assert not any(last is not None and from_ms(last) >= start
                   for pid, *_, last in rows if pid in exempt)
    worker = Principal("g", "g", Role.GRID_WORKER, rows[0][1])
    shown = {e.person_id: e.outcome for e in p.rosters.people(
        worker, which="due", as_of=clock.now(), limit=5000).people}
    assert all(shown[pid] is not None for pid, grid, *_ in rows if grid == rows[0][1])


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_prevalence_interval_covers_the_true_prevalence(sim: tuple[Platform, CountingSender],
                                                        clock: FixedClock) -> None:
    """Three rounds, four days apart, on one city with different seeds: each round's reported
    95% interval holds the true prevalence among the routine samples it tested."""
    p, sender = sim
    first = clock.now()
    generate_city(p, 1500, seed=6, workers=0)
    for k, seed in enumerate((21, 22, 23)):
        start = first + timedelta(days=4 * k)
        s = simulate_round(p, clock, sender, start, hours=14, prevalence=0.03, seed=seed,
                           tick=timedelta(minutes=60), lis_listener=MllpListener)
        assert s.reconcile_matches
        end = s.drained_until
        est = p.analytics.prevalence(SYSTEM, as_of=end, window=end - start).city
        true = s.true_prevalence
        assert true is not None and true > 0 and est.ci95 is not None
        assert est.ci95[0] <= true <= est.ci95[1], (seed, true, est)
        assert est.p_hat == pytest.approx(s.estimate().p_hat)
