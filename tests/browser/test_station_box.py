"""The sampling station asks about a box when it is scanned: a box of another site is refused
at once, in words that name the box, and packing does not start; a refused seal is logged as
not done, with the reason."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import BrowserContext, Page, expect

from hesuan.domain.access import Principal, Role
from hesuan.domain.sampling import make_box_code, make_tube_barcode
from hesuan.services.sampling import EventKind, StationEvent
from tests.browser.conftest import Site, login

FIRST = 960_001  # (910_001 the round, 920_001 offline, 930_001 plates, 940_001 corrections)


def _scan(page: Page, value: str) -> None:
    page.fill("#scan", value)
    page.press("#scan", "Enter")


def test_a_box_of_another_site_is_refused_when_scanned(site: Site,
                                                       context: BrowserContext) -> None:
    first, other = list(site.city.sites.values())[:2]
    p, now = site.platform, site.platform.deps.clock.now()
    tube, box = make_tube_barcode(FIRST), make_box_code(FIRST)
    person = site.rows("SELECT id FROM people WHERE groups = '' AND id NOT IN "
                       "(SELECT person_id FROM samples) ORDER BY id LIMIT 1")[0][0]

    def ev(kind: EventKind, **kw: object) -> StationEvent:
        return StationEvent(str(uuid.uuid4()), kind, other, now, **kw)  # type: ignore[arg-type]

    out = p.sampling.submit(Principal("u-admin", "admin", Role.ADMIN), [
        ev(EventKind.OPEN_TUBE, barcode=tube, mode=1),
        ev(EventKind.SAMPLE, barcode=tube, code=p.deps.codes.sign(person)),
        ev(EventKind.BOX_TUBE, barcode=tube, box_code=box)])
    assert [o.status for o in out] == ["accepted"] * 3

    page = context.new_page()
    login(page, site, "sampler")
    page.wait_for_selector(f"#station[data-site='{first}'][data-ready='1']")
    _scan(page, box)
    expect(page.locator("#panel")).to_have_class(re.compile("bad"))
    expect(page.locator("#prompt")).to_contain_text("该转运箱属于其他采样点")
    expect(page.locator("#now-box")).to_have_text("—")  # not packing it
    expect(page.locator("#log li").first).to_contain_text("✗")

    # a new box of this site: packing starts; sealing it empty is refused and logged as not done
    fresh = make_box_code(FIRST + 1)
    _scan(page, fresh)
    expect(page.locator("#now-box")).to_have_text(fresh)
    _scan(page, fresh)
    expect(page.locator("#panel")).to_have_class(re.compile("bad"))
    line = page.locator("#log li").first
    expect(line).to_have_class("bad")
    expect(line).to_contain_text(f"✗ 未封箱：{fresh}")
    expect(line).not_to_contain_text("已封箱")
