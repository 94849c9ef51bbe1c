"""An SMS tells the truth when it is handed over, not only when it was queued, on both backends
(docs/SMS.md "Still true when sent"): a gateway down for a while, a reminder whose person was
sampled meanwhile, a recall the lab corrected away; no routine reminder beside a positive result
or an open recall; one deadline a recall; the words of a recall for someone a zone keeps at
home; a message retried for days, or for a person with no phone, never stops the loop."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from sqlalchemy import text

from hesuan.adapters.clock import FixedClock
from hesuan.adapters.kannel import KannelError
from hesuan.bootstrap import bootstrap
from hesuan.config import Settings
from hesuan.domain.access import Principal, Role
from hesuan.domain.corrections import CorrectionKind
from hesuan.domain.local_time import local, short
from hesuan.domain.zones import Area, ZoneKind
from hesuan.services.auth import SYSTEM
from hesuan.services.lab import ResultInput
from hesuan.services.outbox_ports import OutboxMessage
from hesuan.services.people import PersonInput
from hesuan.services.zones import ZoneInput
from hesuan.sim.example import OPERATOR, make_resident_id, seed_example_city
from tests.integration.lab_bench import Bench

ADMIN = Principal("u-admin", "admin", Role.ADMIN)
OFFICER = Principal("u-o", "officer", Role.HEALTH_OFFICER, "1401")
H = timedelta(hours=1)


class Gateway:
    """A gateway that can be down (it refuses, as Kannel answering 503) and records what it
    took: (person, template, text)."""

    def __init__(self) -> None:
        self.down = False
        self.took: list[tuple[str, str, str]] = []
        self.phones: list[str | None] = []

    def send(self, phone: str | None, text: str, message: OutboxMessage) -> None:
        if self.down:
            raise KannelError(f"message {message.id}: Kannel answered 503")
        self.phones.append(phone)
        self.took.append((message.person_id, message.template, text))

    def to(self, person: str) -> list[tuple[str, str]]:
        return [(t, s) for p, t, s in self.took if p == person]


@pytest.fixture
def gateway() -> Gateway:
    return Gateway()


@pytest.fixture
def bench(settings: Settings, clock: FixedClock, gateway: Gateway) -> Iterator[Bench]:
    p = bootstrap(settings.model_copy(update={"sms_rate_per_s": 10_000.0}), clock=clock,
                  sender=gateway, migrate=False)
    try:
        yield Bench(p, clock, seed_example_city(p, people=60))
    finally:
        p.close()


def _closed_unsent(b: Bench, gateway: Gateway, person: str,
                   closed: list[tuple[str, str]]) -> None:
    """A delivery run hands the person nothing: their messages are closed, each with why."""
    b.p.outbox.deliver(SYSTEM)
    assert gateway.to(person) == []
    assert [(t, e) for t, _, e in _outbox(b, person)] == closed


def _outbox(b: Bench, person: str) -> list[tuple[str, object, object]]:
    return [(r[0], r[1], r[2]) for r in b.rows(
        "SELECT template, sent_at, last_error FROM outbox WHERE person_id = :p "
        "ORDER BY created_at, template", p=person)]


def test_a_reminder_for_someone_sampled_meanwhile_is_not_sent(
        bench: Bench, gateway: Gateway) -> None:
    b = bench
    person = b.person()
    b.clock.advance(60 * H)  # 20:00 local, inside the 12 h lead of the 72 h cadence
    gateway.down = True
    b.p.status.sweep(ADMIN)
    assert b.p.outbox.deliver(SYSTEM).failed >= 1
    b.clock.advance(H)
    b.tubes(1, mode=10, members=[[person]])
    gateway.down = False
    b.clock.advance(2 * H)
    _closed_unsent(b, gateway, person, [("reminder", "superseded")])


def test_a_recall_corrected_away_is_not_sent_after_its_correction(
        bench: Bench, gateway: Gateway) -> None:
    b = bench
    person, other = b.person(), b.person()
    (pool,) = b.tubes(1, mode=10, members=[[person, other]])
    gateway.down = True
    b.p.lab.record(b.lab_user(1), b.lab_id, [ResultInput(pool, "positive")])
    assert b.p.outbox.deliver(SYSTEM).failed == 2
    b.clock.advance(20 * timedelta(minutes=1))
    asked = b.p.corrections.request(b.lab_user(1), b.lab_id, pool, CorrectionKind.CORRECTION,
                                    "contaminated well", "negative")
    assert b.p.corrections.approve(b.lab_user(2), asked.id).applied
    gateway.down = False
    b.clock.advance(2 * H)
    b.p.outbox.deliver(SYSTEM)
    assert [t for t, _ in gateway.to(person)] == ["corrected_negative"]


def test_no_routine_reminder_beside_a_positive_result_or_an_open_recall(
        bench: Bench, gateway: Gateway) -> None:
    b = bench
    red, recalled = b.person(), b.person()
    (single,) = b.tubes(1, members=[[red]])
    (pool,) = b.tubes(1, mode=10, members=[[recalled, b.person()]])
    b.p.lab.record(b.lab_user(1), b.lab_id, [ResultInput(single, "positive"),
                                              ResultInput(pool, "positive")])
    for _ in range(80):
        b.clock.advance(H)
        b.p.status.sweep(ADMIN)
    b.p.outbox.deliver(SYSTEM)
    assert [t for t, _ in gateway.to(red)] == ["positive"]
    assert [t for t, _ in gateway.to(recalled)] == ["recall"]


def test_an_invalid_re_sample_gives_the_recalls_own_deadline(
        bench: Bench, gateway: Gateway) -> None:
    b = bench
    person = b.person()
    (pool,) = b.tubes(1, mode=10, members=[[person, b.person()]])
    b.p.lab.record(b.lab_user(1), b.lab_id, [ResultInput(pool, "positive")])
    (due,) = b.rows("SELECT due_at FROM recalls WHERE person_id = :p", p=person)
    b.p.outbox.deliver(SYSTEM)
    b.clock.advance(3 * H)
    (single,) = b.tubes(1, members=[[person]])
    b.clock.advance(3 * H)
    b.p.lab.record(b.lab_user(1), b.lab_id, [ResultInput(single, "invalid")])
    assert b.rows("SELECT due_at FROM recalls WHERE person_id = :p", p=person) == [due]
    b.p.outbox.deliver(SYSTEM)
    (first, second) = gateway.to(person)
    assert (first[0], second[0]) == ("recall", "invalid")
    assert _deadline(first[1]) == _deadline(second[1])


def _deadline(sms: str) -> str:
    """The time a message asks for, as it is written in it (``MM-DD HH:MM``)."""
    (found,) = re.findall(r"\d\d-\d\d \d\d:\d\d", sms)
    return str(found)


def test_a_recall_for_someone_a_zone_keeps_at_home_asks_them_to_wait_at_home(
        bench: Bench, gateway: Gateway) -> None:
    b = bench
    person = b.person()
    (pool,) = b.tubes(1, mode=10, members=[[person, b.person()]])
    (grid,) = b.rows("SELECT grid_code FROM people WHERE id = :p", p=person)
    b.p.zones.designate(OFFICER, ZoneInput("封控", ZoneKind.SEALED, [Area(grid[0])]))
    b.p.lab.record(b.lab_user(1), b.lab_id, [ResultInput(pool, "positive")])
    b.p.outbox.deliver(SYSTEM)
    ((template, sms),) = gateway.to(person)
    assert template == "recall"
    assert "上门" in sms or "at your door" in sms
    assert "采样点" not in sms and "any site" not in sms


def test_a_message_refused_for_days_waits_an_hour_between_tries(
        bench: Bench, gateway: Gateway) -> None:
    """The back-off was computed before its cap: at the 42nd refusal it overflowed, and the
    delivery run (and the scheduler's whole tick) raised on it, every time."""
    b = bench
    person = b.person()
    b.clock.advance(60 * H)
    b.p.status.sweep(ADMIN)
    with b.p.deps.uow() as uow:
        uow.conn.execute(text(  # type: ignore[attr-defined]
            "UPDATE outbox SET attempts = 60 WHERE person_id = :p"), {"p": person})
        uow.commit()
    gateway.down = True
    assert b.p.outbox.deliver(SYSTEM).failed >= 1
    (nxt,) = b.rows("SELECT next_attempt_at FROM outbox WHERE person_id = :p", p=person)
    assert nxt[0] == int((b.clock.now() + H).timestamp() * 1000)


def test_a_message_for_someone_without_a_phone_is_closed_unsent(
        bench: Bench, gateway: Gateway) -> None:
    b = bench
    grid = b.city.grids[0]
    person = b.p.people.register(OPERATOR, PersonInput(
        make_resident_id(grid[:6], date(1990, 1, 1), 901), "无电话", grid, phone=None,
        address="1号楼"))
    b.clock.advance(60 * H)
    b.p.status.sweep(ADMIN)
    _closed_unsent(b, gateway, person, [("reminder", "no_phone")])


def test_a_routine_reminder_waits_for_the_morning_and_a_recall_does_not(
        bench: Bench, gateway: Gateway) -> None:
    """A reminder swept at 02:00 local went out at 02:00; results and recalls are urgent."""
    b = bench
    person = b.person()
    # the example city's clock starts at 08:00 local: sampled at 13:00, due 72 h later; its
    # reminder, due from 01:00, is swept at 02:00
    b.clock.advance(5 * H)
    b.tubes(1, mode=10, members=[[person]])
    b.clock.advance(60 * H + 30 * timedelta(minutes=1))
    assert local(b.clock.now()).hour == 2
    b.p.status.sweep(ADMIN)
    b.p.outbox.deliver(SYSTEM)
    assert gateway.to(person) == []
    (pool,) = b.tubes(1, mode=10, members=[[b.person(), b.person()]])
    b.p.lab.record(b.lab_user(1), b.lab_id, [ResultInput(pool, "positive")])
    b.p.outbox.deliver(SYSTEM)
    assert {t for _, t, _ in gateway.took} == {"recall"}  # at night: the urgent ones only
    b.clock.advance(5 * H)  # 07:30
    b.p.outbox.deliver(SYSTEM)
    assert gateway.to(person) == []
    b.clock.advance(H)  # 08:30
    b.p.outbox.deliver(SYSTEM)
    assert [t for t, _ in gateway.to(person)] == ["reminder"]


def test_the_mornings_reminders_do_not_hold_up_a_recall(bench: Bench, gateway: Gateway) -> None:
    """The night's reminders all wait for 08:00; a recall queued then went out behind every
    one of them (delivery batches read the oldest try first)."""
    b = bench
    b.clock.advance(66 * H)  # 02:00 local: everyone's reminder waits for the morning
    b.p.status.sweep(ADMIN)
    b.clock.advance(6 * H)  # 08:00
    (pool,) = b.tubes(1, mode=10, members=[[b.person(), b.person()]])
    b.p.lab.record(b.lab_user(1), b.lab_id, [ResultInput(pool, "positive")])
    with b.p.deps.uow(readonly=True) as uow:
        first = uow.outbox.pending(b.clock.now(), 2)
    assert [m.template for m in first] == ["recall", "recall"]


def test_a_reminder_not_sent_by_its_due_time_is_not_sent(bench: Bench,
                                                         gateway: Gateway) -> None:
    b = bench
    person = b.person()
    b.clock.advance(60 * H)
    gateway.down = True
    b.p.status.sweep(ADMIN)
    b.p.outbox.deliver(SYSTEM)
    b.clock.advance(13 * H)  # the gateway back after the due time it names
    gateway.down = False
    _closed_unsent(b, gateway, person, [("reminder", "superseded")])


def test_an_invalid_re_sample_after_the_recalls_deadline_asks_from_now(
        bench: Bench, gateway: Gateway) -> None:
    b = bench
    person = b.person()
    (pool,) = b.tubes(1, mode=10, members=[[person, b.person()]])
    b.p.lab.record(b.lab_user(1), b.lab_id, [ResultInput(pool, "positive")])
    b.p.outbox.deliver(SYSTEM)
    b.clock.advance(13 * H)  # past the recall's 12 h
    (single,) = b.tubes(1, members=[[person]])
    b.p.lab.record(b.lab_user(1), b.lab_id, [ResultInput(single, "invalid")])
    b.p.outbox.deliver(SYSTEM)
    (_, (template, sms)) = gateway.to(person)
    assert template == "invalid"
    assert _deadline(sms) == short(b.clock.now() + b.p.deps.limits.recall_due)
