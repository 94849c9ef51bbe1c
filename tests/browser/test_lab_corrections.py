"""Rejection and correction in a real browser at phone size: a lab user rejects a received tube
at the bench (it leaves the queue; the lab page shows its report), finds a released result by its
barcode and requests its correction, and is told a second person must approve it; a second lab
user approves it; the tube's resident sees the corrected result on their page, and the command
centre shows the lab's panel."""

from __future__ import annotations

import uuid
from typing import Any

from playwright.sync_api import BrowserContext, expect

from hesuan.domain.access import Principal, Role
from hesuan.domain.sampling import make_box_code, make_tube_barcode
from hesuan.services.lab import ResultInput
from hesuan.services.sampling import EventKind, StationEvent
from tests.browser.conftest import Site, ensure_user, login, shot
from tests.browser.test_lab_plates import _people

FIRST_TUBE = 940_001  # (910_001: the round, 920_001: the offline test, 930_001: the plates)


def _received_tubes(site: Site, people: list[str]) -> list[str]:
    """One single tube per person, received by the demo lab through the services."""
    p, now = site.platform, site.platform.deps.clock.now()
    site_id, lab = site.city.sites["140105"], site.city.labs["lab1"]
    barcodes = [make_tube_barcode(FIRST_TUBE + i) for i in range(len(people))]
    box = make_box_code(FIRST_TUBE)

    def ev(kind: EventKind, **kw: Any) -> StationEvent:
        return StationEvent(str(uuid.uuid4()), kind, site_id, now, **kw)

    events = []
    for bc, pid in zip(barcodes, people, strict=True):
        events += [ev(EventKind.OPEN_TUBE, barcode=bc, mode=1),
                   ev(EventKind.SAMPLE, barcode=bc, code=p.deps.codes.sign(pid)),
                   ev(EventKind.BOX_TUBE, barcode=bc, box_code=box)]
    events.append(ev(EventKind.SEAL_BOX, box_code=box))
    out = p.sampling.submit(Principal("u-sampler", "sampler", Role.SAMPLER, site_id), events)
    assert all(o.status == "accepted" for o in out)
    p.delivery.hand_over(Principal("u-courier", "courier", Role.COURIER), str(uuid.uuid4()),
                         box, now)
    p.delivery.receive(Principal("u-lab", "lab", Role.LAB, lab), str(uuid.uuid4()), lab, box,
                       now, barcodes)
    return barcodes


def test_reject_and_correct(site: Site, context: BrowserContext) -> None:
    people = _people(site, 2)
    rejected, corrected = _received_tubes(site, people)
    lab = site.city.labs["lab1"]
    lab_user = site.rows("SELECT id FROM users WHERE username = 'lab'")[0][0]
    out = site.platform.lab.record(Principal(lab_user, "lab", Role.LAB, lab), lab,
                                   [ResultInput(corrected, "negative")])
    assert out[0].status == "accepted"
    ensure_user(site, "lab2", Role.LAB, lab)
    ensure_user(site, "resident_corr", Role.RESIDENT, people[1])

    # -- at the bench: rejected with a reason in words; out of the queue ------------------------
    page = context.new_page()
    login(page, site, "lab")
    expect(page.locator(f"#queue tr[data-barcode='{rejected}']")).to_have_count(1)
    page.fill("#reject input[name=barcode]", rejected)
    page.select_option("#reject select[name=code]", "leaked")
    page.click("#reject button[type=submit]")
    expect(page.locator("#rejected")).to_contain_text("样本管渗漏")
    expect(page.locator(f"#queue tr[data-barcode='{rejected}']")).to_have_count(0)
    expect(page.locator("#report #integrity li")).to_have_count(4)
    shot(page, "55-lab-rejected-report")

    # -- a correction requested: the requester may not approve it ------------------------------
    page.click("nav.pages a[href='/web/lab/corrections']")
    page.fill("#released input[name=barcode]", corrected[:10])
    page.press("#released input[name=barcode]", "Enter")
    page.click(f"#released tr[data-barcode='{corrected}'] a")
    expect(page.locator("#request input[name=barcode]")).to_have_value(corrected)
    page.select_option("#request select[name=change]", "positive")
    page.fill("#request textarea[name=reason]", "样本顺序错位")
    page.click("#request button[type=submit]")
    expect(page.locator("#requested")).to_be_visible()
    expect(page.locator("#pending [data-own='1']")).to_contain_text("另一名实验室人员")
    expect(page.locator("#pending [data-approve]")).to_have_count(0)
    shot(page, "56-correction-requested")

    # -- a second lab user approves it ---------------------------------------------------------
    login(page, site, "lab2")
    page.goto(f"{site.url}/web/lab/corrections")
    page.click(f"#pending li[data-barcode='{corrected}'] [data-approve]")
    expect(page.locator("#approved")).to_have_attribute("data-applied", "1")
    shot(page, "57-correction-approved")
    assert site.count(f"SELECT result FROM tubes WHERE barcode = '{corrected}'") == "positive"

    # -- the resident reads both results; the command centre shows the lab ----------------------
    login(page, site, "resident_corr")
    expect(page.locator("#corrections")).to_contain_text("阳性")
    expect(page.locator("#corrections")).to_contain_text("样本顺序错位")
    login(page, site, "officer")
    page.goto(f"{site.url}/web/dashboard")
    expect(page.locator(f"#labs .lab-panel[data-lab='{lab}']")).to_be_visible()
    shot(page, "58-dashboard-labs")
