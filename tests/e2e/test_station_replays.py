"""Station replays and event ids (``POST /scans/batch``, ``POST /scans``), on both backends.

A station that times out resends its batch while the first request may still be waiting on a
lock: every event of the replay is answered ``duplicate``, whatever the timing. An event id is
one value whatever its spelling; the same id with other content is a ``conflict`` (rejected,
the first kept, an alert raised); a malformed item is rejected alone, never the whole batch;
times outside the station's offline window, or running backwards within a tube, are rejected
per event with the rule named.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import create_engine, text

from hesuan.adapters.db.schema import alerts
from hesuan.domain.access import Role
from hesuan.sim.example import DEMO_PASSWORD, OPERATOR
from tests.helpers import Api, Station, barcodes, boxes

TRIALS = 20


def _post(api: Api, events: list[dict[str, Any]]) -> dict[str, Any]:
    r = api.client.post("/scans/batch", headers=api.h("sampler"), json={"events": events})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _station(api: Api) -> Station:
    return Station(api.city.sites["140105"], api.clock)


class _Lock:
    """What a first request waits on: on PostgreSQL a row lock on the tube, taken by another
    connection; on SQLite the write turn, held by a unit of work of this process."""

    def __init__(self, api: Api, barcode: str) -> None:
        self._api = api
        self._barcode = barcode
        self._pg = api.platform.deps.uow.engine.dialect.name == "postgresql"  # type: ignore[attr-defined]

    def __enter__(self) -> _Lock:
        if self._pg:
            url = self._api.platform.deps.uow.engine.url  # type: ignore[attr-defined]
            self._engine = create_engine(url)
            self._conn = self._engine.connect()
            self._tx = self._conn.begin()
            self._conn.execute(text("SELECT id FROM tubes WHERE barcode = :b FOR UPDATE"),
                               {"b": self._barcode})
        else:
            self._uow = self._api.platform.deps.uow()
            self._uow.__enter__()
        return self

    def wait_for(self, n: int) -> None:
        """Until ``n`` requests wait on the lock (on SQLite, whose turn has no waiters to
        count, a moment)."""
        if not self._pg:
            time.sleep(0.05)
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with self._engine.connect() as c:
                if c.execute(text(  # other test sessions share the server
                        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a "
                        "ON a.pid = l.pid WHERE NOT l.granted "
                        "AND a.datname = current_database()")).scalar_one() >= n:
                    return
            time.sleep(0.01)
        raise AssertionError(f"{n} requests never waited on the lock")

    def __exit__(self, *exc: object) -> None:
        if self._pg:
            self._tx.rollback()
            self._conn.close()
            self._engine.dispose()
        else:
            self._uow.__exit__(None, None, None)


def test_a_replay_posted_while_the_first_waits_on_a_lock_is_all_duplicate(api: Api) -> None:
    st = _station(api)
    people = api.people(limit=5 * TRIALS)
    tubes, box_codes = barcodes(770_001), boxes(770_001)
    headers = api.h("sampler")
    outcomes: list[tuple[list[str], list[str]]] = []
    for trial in range(TRIALS):
        tube, box = next(tubes), next(box_codes)
        assert _post(api, [st.ev("open_tube", barcode=tube, mode=5)])["accepted"] == 1
        batch = [st.ev("sample", barcode=tube, code=api.code(p))
                 for p in people[5 * trial:5 * trial + 5]]
        batch += [st.ev("box_tube", barcode=tube, box_code=box), st.ev("seal_box", box_code=box)]
        answers: list[dict[str, Any]] = []

        def send(batch: list[dict[str, Any]], answers: list[dict[str, Any]]) -> None:
            r = api.client.post("/scans/batch", headers=headers, json={"events": batch})
            assert r.status_code == 200, r.text
            answers.append(r.json())

        with _Lock(api, tube) as lock:
            first = threading.Thread(target=send, args=(batch, answers))
            first.start()
            lock.wait_for(1)
            # the station timed out and resends
            replay = threading.Thread(target=send, args=(batch, answers))
            replay.start()
            lock.wait_for(2)
        first.join(20)
        replay.join(20)
        assert len(answers) == 2
        statuses = sorted(([r["status"] + ":" + str(r["reason"]) for r in a["results"]]
                           for a in answers), key=lambda s: s[0])
        outcomes.append((statuses[0], statuses[1]))
    wrong = [o for o in outcomes
             if sorted([o[0][0].split(":")[0], o[1][0].split(":")[0]]) != ["accepted",
                                                                          "duplicate"]
             or len(set(o[0])) != 1 or len(set(o[1])) != 1]
    assert not wrong, f"{len(wrong)} of {TRIALS} trials answered wrongly, e.g. {wrong[0]}"
    # every event stored once
    assert api.count("SELECT count(*) FROM samples") == 5 * TRIALS


def test_an_id_resent_in_another_spelling_is_a_duplicate(api: Api) -> None:
    st = _station(api)
    tube = next(barcodes(771_001))
    person = api.code(api.people(limit=1)[0])
    opened, sample = st.ev("open_tube", barcode=tube, mode=10), st.ev("sample", barcode=tube,
                                                                         code=person)
    assert _post(api, [opened, sample])["accepted"] == 2
    upper = {**sample, "event_id": sample["event_id"].upper()}
    bare = {**sample, "event_id": uuid.UUID(sample["event_id"]).hex}
    braced = {**opened, "event_id": "{" + opened["event_id"] + "}"}
    out = _post(api, [upper, bare])
    assert [r["status"] for r in out["results"]] == ["duplicate"] * 2, out
    out2 = _post(api, [braced])
    assert [r["status"] for r in out2["results"]] == ["duplicate"], out2
    # each answer names the id as the station spelt it
    assert [r["event_id"] for r in out["results"] + out2["results"]] == [
        upper["event_id"], bare["event_id"], braced["event_id"]]
    r = api.client.post("/scans", headers=api.h("sampler"), json=upper)
    assert r.json()["status"] == "duplicate", r.text
    assert api.count("SELECT count(*) FROM samples") == 1
    assert api.count("SELECT count(*) FROM station_events") == 2


def test_a_window_the_site_has_not_and_a_scanners_blanks(api: Api) -> None:
    """Window 99 at a site of a few was taken and fed the site's load figures; a sampling
    code with the newline or blank a hand scanner adds was refused as forged."""
    st = _station(api)
    tube = next(barcodes(772_001))
    people = api.people(limit=2)
    out = _post(api, [st.ev("open_tube", barcode=tube, mode=10, window=99)])
    (r,) = out["results"]
    assert (r["status"], r["reason"], r["field"]) == ("rejected", "bad_window", "window"), r
    out = _post(api, [st.ev("open_tube", barcode=tube, mode=10, window=1),
                      st.ev("sample", barcode=tube, code=api.code(people[0]) + "\n"),
                      st.ev("sample", barcode=tube, code=" " + api.code(people[1]) + " ")])
    assert [r["status"] for r in out["results"]] == ["accepted"] * 3, out


def test_the_same_id_with_other_content_is_a_conflict_and_the_first_stands(api: Api) -> None:
    st = _station(api)
    tube = next(barcodes(772_001))
    first, other = (api.code(p) for p in api.people(limit=2))
    sample = st.ev("sample", barcode=tube, code=first)
    assert _post(api, [st.ev("open_tube", barcode=tube, mode=10), sample])["accepted"] == 2
    forged = {**sample, "code": other}  # the same id, another person
    later = {**sample, "at": (api.clock.now() + timedelta(seconds=5)).isoformat()}
    out = _post(api, [forged, sample, later])
    got = [(r["status"], r["reason"], r["field"]) for r in out["results"]]
    assert got == [("rejected", "event_conflict", "event_id"), ("duplicate", None, None),
                   ("rejected", "event_conflict", "event_id")], out
    r = api.client.post("/scans", headers=api.h("sampler"),
                        json={**forged, "event_id": forged["event_id"].upper()})
    assert (r.json()["status"], r.json()["reason"]) == ("rejected", "event_conflict"), r.text
    # the first content stands: one sample, of the first person
    assert api.count("SELECT count(*) FROM samples") == 1
    first_pid = api.platform.deps.codes.verify(first)
    assert api.count("SELECT person_id FROM samples") == first_pid
    # and someone is told: one alert for the id, however often it is resent
    with api.platform.deps.uow(readonly=True) as uow:
        rows = uow.conn.execute(alerts.select()).all()  # type: ignore[attr-defined]
    assert [(a.kind, a.subject_id) for a in rows] == [
        ("event_conflict", uuid.UUID(sample["event_id"]).hex)]
    assert rows[0].detail["event_id"] == sample["event_id"]
    assert first not in str(rows[0].detail) and other not in str(rows[0].detail)
    # the officers of the station's region see it; another district's do not
    for name, scope in (("officer-xiaodian", "140105"), ("officer-yingze", "140106")):
        api.platform.auth.create_user(OPERATOR, name, DEMO_PASSWORD, Role.HEALTH_OFFICER, scope)
    kinds = {user: [a["kind"] for a in api.client.get("/alerts", headers=api.h(user)).json()]
             for user in ("officer", "officer-xiaodian", "officer-yingze")}
    assert kinds == {"officer": ["event_conflict"], "officer-xiaodian": ["event_conflict"],
                     "officer-yingze": []}, kinds


def _lanes(api: Api, events: list[Any]) -> dict[str, Any]:
    r = api.client.post("/lanes/batch", headers=api.h("sampler"), json={"events": events})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_a_malformed_lane_item_is_rejected_alone(api: Api) -> None:
    """The two lanes' batch as the spine's: one malformed item (a time without a zone, an
    unknown kind) was a 422 for the whole batch, the registrar's offline queue lost whole."""
    st = _station(api)
    tube = next(barcodes(774_001))
    first, second = (api.code(p) for p in api.people(limit=2))
    naive = st.ev("register", barcode=tube, code=second)
    naive["at"] = api.clock.now().replace(tzinfo=None).isoformat()
    out = _lanes(api, [st.ev("open_tube", barcode=tube, mode=10), naive,
                       st.ev("swabb", code=first), st.ev("register", barcode=tube, code=first)])
    got = [(r["status"], r["reason"], r["field"]) for r in out["results"]]
    assert got == [("accepted", None, None), ("rejected", "naive_time", "at"),
                   ("rejected", "bad_kind", "kind"), ("accepted", None, None)], out
    assert out["results"][1]["event_id"] == naive["event_id"]
    for body in ({"events": "no"}, {"events": [naive], "more": 1}, [naive], {}):
        r = api.client.post("/lanes/batch", headers=api.h("sampler"), json=body)
        assert r.status_code == 422, (body, r.text)


def test_a_lane_event_id_is_one_value_and_its_time_is_checked(api: Api) -> None:
    """A lane event resent with its id spelt otherwise is a duplicate (it was registered
    again: ``already_registered``, or a 422 for a braced id); a registration stamped older than
    a station may hold events offline is rejected ``stale_time`` (it was accepted)."""
    st = _station(api)
    tube = next(barcodes(775_001))
    first, second = (api.code(p) for p in api.people(limit=2))
    register = st.ev("register", barcode=tube, code=first)
    assert _lanes(api, [st.ev("open_tube", barcode=tube, mode=10), register])["accepted"] == 2
    for spelt in (register["event_id"].upper(), "{" + register["event_id"] + "}"):
        out = _lanes(api, [register | {"event_id": spelt}])
        assert [r["status"] for r in out["results"]] == ["duplicate"], out
    stale = st.ev("register", at=api.clock.now() - timedelta(days=5), barcode=tube, code=second)
    out = _lanes(api, [stale])
    assert [(r["status"], r["reason"], r["field"]) for r in out["results"]] == [
        ("rejected", "stale_time", "at")], out


def test_a_malformed_item_is_rejected_alone(api: Api) -> None:
    st = _station(api)
    tube = next(barcodes(773_001))
    person = api.code(api.people(limit=1)[0])
    naive = st.ev("sample", barcode=tube, code=person)
    naive["at"] = api.clock.now().replace(tzinfo=None).isoformat()
    long_id = st.ev("seal_tube", barcode=tube)
    long_id["event_id"] = "x" * 40
    unknown_kind = st.ev("scan_twice", barcode=tube)
    not_an_object: Any = "open_tube"
    opened, sample = st.ev("open_tube", barcode=tube, mode=10), st.ev("sample", barcode=tube,
                                                                         code=person)
    out = _post(api, [opened, naive, long_id, unknown_kind, not_an_object, sample])
    got = [(r["status"], r["reason"], r["field"]) for r in out["results"]]
    assert got[0] == ("accepted", None, None) and got[5] == ("accepted", None, None), out
    assert got[1] == ("rejected", "naive_time", "at"), out
    assert got[2] == ("rejected", "bad_event_id", "event_id"), out
    assert got[3][:2] == ("rejected", "bad_kind") and got[3][2] == "kind", out
    assert got[4][0] == "rejected" and got[4][1], out
    assert out["results"][1]["event_id"] == naive["event_id"]
    assert (out["accepted"], out["rejected"]) == (2, 4)
    assert api.count("SELECT count(*) FROM samples") == 1
    # a body that is not a batch at all is still a 422
    for body in ({"events": "no"}, {"events": [opened], "more": 1}, [opened], {}):
        r = api.client.post("/scans/batch", headers=api.h("sampler"), json=body)
        assert r.status_code == 422, (body, r.text)


def test_times_outside_the_offline_window_or_backwards_in_a_tube_are_rejected(
        api: Api) -> None:
    st = _station(api)
    tube, tube2 = next(barcodes(774_001)), next(barcodes(774_101))
    people = [api.code(p) for p in api.people(limit=3)]
    now = api.clock.now()
    day = timedelta(days=1)
    stale = [st.ev("open_tube", at=now - day - timedelta(minutes=1), barcode=tube2, mode=10)]
    for year in (2021, 1970, 2001):
        e = st.ev("open_tube", barcode=tube2, mode=10)
        e["at"] = now.replace(year=year).isoformat()
        stale.append(e)
    opened = st.ev("open_tube", at=now - timedelta(hours=2), barcode=tube, mode=10)
    before_open = st.ev("sample", at=now - timedelta(hours=3), barcode=tube, code=people[0])
    sample = st.ev("sample", at=now - timedelta(hours=1), barcode=tube, code=people[1])
    early_seal = st.ev("seal_tube", at=now - timedelta(hours=1, minutes=30), barcode=tube)
    seal = st.ev("seal_tube", at=now - timedelta(minutes=30), barcode=tube)
    within = st.ev("open_tube", at=now - day + timedelta(minutes=1), barcode=tube2, mode=10)
    out = _post(api, [*stale[:2], opened, before_open, sample, early_seal, seal, within])
    got = [(r["status"], r["reason"], r["field"]) for r in out["results"]]
    assert got == [("rejected", "stale_time", "at"), ("rejected", "stale_time", "at"),
                   ("accepted", None, None), ("rejected", "before_tube_open", "at"),
                   ("accepted", None, None), ("rejected", "before_first_sample", "at"),
                   ("accepted", None, None), ("accepted", None, None)], out
    # outside the platform's life (domain/instants.py): rejected alone too, the rule named
    out = _post(api, stale[2:])
    assert [(r["status"], r["reason"], r["field"]) for r in out["results"]] == [
        ("rejected", "implausible_time", "at")] * 2, out
    # the stored times are the ones that passed
    assert api.count("SELECT count(*) FROM station_events") == 4
    # a sample before its tube's open, sent later on its own, is rejected too
    r = api.client.post("/scans", headers=api.h("sampler"), json=st.ev(
        "sample", at=now - day + timedelta(seconds=30), barcode=tube2, code=people[2]))
    assert (r.json()["status"], r.json()["reason"]) == ("rejected", "before_tube_open"), r.text


def test_the_offline_window_is_a_setting() -> None:
    import pytest
    from pydantic import ValidationError

    from hesuan.config import Settings

    assert Settings(environment="test").station_offline_window == timedelta(days=1)
    assert Settings(environment="test",
                    station_offline_window="PT6H").station_offline_window == timedelta(hours=6)
    for bad in ("PT0S", "P400D"):
        with pytest.raises(ValidationError):
            Settings(environment="test", station_offline_window=bad)

