"""The schema's foreign keys hold on both backends: a row naming a tube or a person that is not
stored is refused, and a stored person cannot go while a sample still names them. SQLite checks
foreign keys only on connections that ask for it (``PRAGMA foreign_keys``); the engine asks on
every connection it opens, so the demo's database keeps the same integrity as a city's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, insert, text
from sqlalchemy.exc import IntegrityError

from hesuan.adapters.db.schema import people, samples, tubes
from hesuan.bootstrap import Platform, bootstrap
from hesuan.config import Settings
from hesuan.sim.example import seed_example_city
from tests.helpers import barcodes

AT = datetime(2026, 12, 1, 9, tzinfo=UTC)


@pytest.fixture
def stored(platform: Platform) -> tuple[str, str]:
    """A person of the example city, and a tube of one of its sites with a sample of them."""
    city = seed_example_city(platform, people=3)
    with platform.engine.begin() as c:
        person = c.execute(text("SELECT id FROM people ORDER BY id LIMIT 1")).scalar_one()
        c.execute(insert(tubes).values(
            id="t" * 32, barcode=next(barcodes(9100)), site_id=city.sites["140105"],
            capacity=10, count=1, priority=False, status="open", opened_at=AT))
        c.execute(insert(samples).values(tube_id="t" * 32, person_id=person,
                                         event_id="01a2435d-ec50-72aa-920f-32535533ab43",
                                         sampled_at=AT))
    return person, "t" * 32


@pytest.mark.parametrize("missing", ["tube_id", "person_id"])
def test_a_sample_of_a_tube_or_person_not_stored_is_refused(
        platform: Platform, stored: tuple[str, str], missing: str) -> None:
    person, tube = stored
    row = {"tube_id": tube, "person_id": person, missing: "x" * 32}
    with pytest.raises(IntegrityError), platform.engine.begin() as c:
        c.execute(insert(samples).values(**row, event_id="01a2435d-ec50-72aa-920f-32535533ab44",
                                         sampled_at=AT))


def test_a_sampled_person_stays_while_their_sample_does(platform: Platform,
                                                         stored: tuple[str, str]) -> None:
    person, _ = stored
    with pytest.raises(IntegrityError), platform.engine.begin() as c:
        c.execute(text("DELETE FROM person_status WHERE person_id = :p"), {"p": person})
        c.execute(delete(people).where(people.c.id == person))
    with platform.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM people WHERE id = :p"),
                         {"p": person}).scalar_one() == 1
    # it was the sample that held them: without it they go
    with platform.engine.begin() as c:
        c.execute(delete(samples).where(samples.c.person_id == person))
        c.execute(text("DELETE FROM person_status WHERE person_id = :p"), {"p": person})
        c.execute(delete(people).where(people.c.id == person))


@pytest.mark.parametrize("backend", ["sqlite"], indirect=False)
def test_the_connection_that_migrated_holds_the_keys_again(settings: Settings) -> None:
    """The migrations run with SQLite's keys off (a table is changed by copying it); the
    connection goes back to the pool with them on."""
    fresh = settings.model_copy(update={"database_url": settings.database_url + ".new"})
    p = bootstrap(fresh, migrate=True)
    try:
        with p.engine.connect() as c:
            assert c.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
    finally:
        p.close()
