"""The lab's plates in a real browser at phone size: a lab user builds a plate by scanning its
controls' labels and 42 received tubes into wells (the suggested well, a wrong scan taken back,
errors in plain words), marks it ready, uploads a real QuantStudio export whose sample names are
the tubes' barcodes, sees the interpretation per well and plate QC before importing, imports it
and is told that a second person must release; a second lab user releases it from the review
queue, and a resident of a released tube sees the result on their page."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, FilePayload, Page, expect

from hesuan.adapters.instruments import read_run_file
from hesuan.domain.access import Principal, Role
from hesuan.domain.assays import DEFAULT_ASSAY, TargetRole
from hesuan.domain.sampling import make_box_code, make_tube_barcode
from hesuan.services.assays import TargetInput
from hesuan.services.sampling import EventKind, StationEvent
from hesuan.sim.example import OPERATOR
from tests.browser.conftest import Site, ensure_user, login, shot
from tests.integration.lab_bench import QS_TXT, fixture_bytes, renamed_qs_txt

#: The real export's control wells (its no-template, negative and positive controls); every
#: other well of the file holds a tube.
CONTROLS = {"A1": "NTC", "B1": "NTC", "C1": "NTC", "D1": "NTC", "A2": "NC", "A7": "PC"}
FIRST_TUBE = 930_001  # (910_001: the round, 920_001: the offline test)


def _restore_default_assay(site: Site) -> None:
    site.platform.assays.set_version(OPERATOR, DEFAULT_ASSAY.id, DEFAULT_ASSAY.name, [
        TargetInput(t.name, t.dye, t.cutoff, t.grey_from,
                    t.role is TargetRole.INTERNAL_CONTROL) for t in DEFAULT_ASSAY.targets],
        no_template_control=DEFAULT_ASSAY.no_template_control)


@pytest.fixture
def tgfb_assay(site: Site) -> Iterator[None]:
    """The assay of the real export (TGFb with an IPC internal control and NTC wells), current
    while the plate is made; the default assay current again afterwards."""
    site.platform.assays.set_version(OPERATOR, "tgfb-ipc", "TGFb with IPC", [
        TargetInput("TGFb", "FAM", 40, 37), TargetInput("IPC", "VIC", 40, internal_control=True)],
        no_template_control=True)
    try:
        yield
    finally:
        _restore_default_assay(site)


def _people(site: Site, n: int) -> list[str]:
    """People no other browser test samples or looks at: not a demo resident, not in the grids
    of the demo residents and grid worker, never sampled."""
    keep_out = [r[0] for r in site.rows(
        "SELECT p.grid_code FROM users u JOIN people p ON p.id = u.scope "
        "WHERE u.role = 'resident'")] + [site.city.grids[0]]
    marks = ", ".join(f"'{g}'" for g in keep_out)
    rows = site.rows("SELECT id FROM people WHERE id NOT IN (SELECT person_id FROM samples) "
                     f"AND grid_code NOT IN ({marks}) ORDER BY id DESC LIMIT {n}")
    assert len(rows) == n
    return [r[0] for r in rows]


def _received_tubes(site: Site, people: list[str]) -> list[str]:
    """One single tube per person, sampled, boxed, handed over and received by the demo lab
    through the platform's services; their barcodes."""
    p, now = site.platform, site.platform.deps.clock.now()
    site_id = site.city.sites["140105"]
    sampler = Principal("u-sampler", "sampler", Role.SAMPLER, site_id)
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
    out = p.sampling.submit(sampler, events)
    assert all(o.status == "accepted" for o in out), [o.reason for o in out
                                                      if o.status != "accepted"]
    p.delivery.hand_over(Principal("u-courier", "courier", Role.COURIER), str(uuid.uuid4()),
                         box, now)
    lab = site.city.labs["lab1"]
    receipt = p.delivery.receive(Principal("u-lab", "lab", Role.LAB, lab), str(uuid.uuid4()),
                                 lab, box, now, barcodes)
    assert receipt.received == len(barcodes) and not receipt.discrepancy
    return barcodes


def _no_codes(page: Page) -> None:
    """Calls, reasons and decisions are shown in words: no code (``targets_detected``,
    ``recall_single_target``…) is among the interpretation's visible text."""
    shown = page.inner_text("#run") + page.inner_text("#map-card")
    codes = re.findall(r"\b[a-z]+_[a-z_]+\b", shown)
    assert not codes, codes


def _scan(page: Page, well: str, value: str) -> None:
    page.fill("#well", well)
    page.fill("#scan", value)
    page.press("#scan", "Enter")


def test_build_import_review_release(site: Site, context: BrowserContext,
                                     tgfb_assay: None) -> None:
    original = read_run_file(QS_TXT, fixture_bytes(QS_TXT))
    tube_wells = [w.well for w in original.wells if w.well not in CONTROLS]
    people = _people(site, len(tube_wells))
    barcodes = _received_tubes(site, people)
    by_well = dict(zip(tube_wells, barcodes, strict=True))
    negative = next(w.well for w in original.wells if w.sample == "(-)" and w.well in by_well)
    ensure_user(site, "lab2", Role.LAB, site.city.labs["lab1"])
    resident_of = people[tube_wells.index(negative)]
    ensure_user(site, "resident_plate", Role.RESIDENT, resident_of)

    # -- the lab builds a plate: the tubes wait in the queue --------------------------------------
    page = context.new_page()
    login(page, site, "lab")
    expect(page.locator(f"#queue tr[data-barcode='{barcodes[0]}']")).to_have_attribute(
        "data-state", "waiting")
    page.click("nav.pages a[href='/web/lab/plates']")
    page.click("#create")
    expect(page.locator("#plate")).to_have_attribute("data-status", "building")
    plate_id = page.url.rsplit("/", 1)[1]
    expect(page.locator("#well")).to_have_value("A1")  # the next free well, column by column
    for kind in ("positive_control", "negative_control", "no_template_control"):
        expect(page.locator(f"#controls li[data-control='{kind}']")).to_have_class(
            "control missing")
    # the controls by their labels; the suggestion goes down the first column
    for well in ("A1", "B1", "C1", "D1"):
        expect(page.locator("#well")).to_have_value(well)
        page.fill("#scan", "NTC")
        page.press("#scan", "Enter")
        expect(page.locator("#placed")).to_have_attribute("data-well", well)
    _scan(page, "A2", "NC")
    expect(page.locator("#controls li[data-control='negative_control']")).to_have_attribute(
        "data-wells", "A2")
    expect(page.locator("#controls li.missing")).to_have_count(1)  # the positive control
    # a control by its button, into the well typed above
    page.fill("#well", "A7")
    page.click("#controls li[data-control='positive_control'] button")
    expect(page.locator("#controls li.missing")).to_have_count(0)
    expect(page.locator("#plate-map td[data-well='A7']")).to_have_text("PC")
    # a wrong scan (into the suggested well) is taken back
    expect(page.locator("#well")).to_have_value("E1")
    page.fill("#scan", barcodes[0])
    page.press("#scan", "Enter")
    expect(page.locator("#placed")).to_have_attribute("data-well", "E1")
    page.click("#wells tr[data-well='E1'] button")
    expect(page.locator("#removed")).to_be_visible()
    # errors in plain words: an unknown tube, a tube twice
    _scan(page, "A3", make_tube_barcode(999_999))
    expect(page.locator("#error")).to_contain_text("尚未开管")
    for well, bc in by_well.items():
        _scan(page, well, bc)
        expect(page.locator("#placed")).to_have_attribute("data-well", well)
    _scan(page, "H12", barcodes[1])
    expect(page.locator("#error")).to_contain_text("已在本板")
    expect(page.locator("#plate-map td[data-kind='tube']")).to_have_count(42)
    shot(page, "50-plate-built")
    page.click("#ready")
    expect(page.locator("#made-ready")).to_be_visible()
    expect(page.locator("#plate")).to_have_attribute("data-status", "ready")

    # -- the run: preview first (nothing stored), then import -----------------------------------
    page.set_input_files("#preview-form input[type=file]", files=[FilePayload(
        name=QS_TXT, mimeType="text/plain", buffer=renamed_qs_txt(by_well))])
    page.click("#preview-form button[type=submit]")
    expect(page.locator("#preview")).to_be_visible()
    expect(page.locator("#qc")).to_have_attribute("data-passed", "1")
    expect(page.locator("#decisions li[data-decision='release'] b")).to_have_text("42")
    expect(page.locator("#plate-map td[data-well='A8']")).to_have_attribute(
        "data-outcome", "positive")
    expect(page.locator(f"#plate-map td[data-well='{negative}']")).to_have_attribute(
        "data-outcome", "negative")
    expect(page.locator("#plate-map td[data-well='A7']")).to_have_class("w-ctl-pass")
    expect(page.locator("#well-results tr[data-well='A8']")).to_contain_text("阳性")
    _no_codes(page)
    shot(page, "51-plate-preview")
    assert site.count(f"SELECT count(*) FROM well_results WHERE plate_id = '{plate_id}'") == 0
    page.click("#commit")
    expect(page.locator("#imported")).to_be_visible()
    expect(page.locator("#plate")).to_have_attribute("data-status", "imported")
    # the importer built the plate too: the page says why they cannot release it
    expect(page.locator("#bar")).to_have_attribute("data-bar", "built_the_plate")
    expect(page.locator("#release-button")).to_have_count(0)
    shot(page, "52-plate-imported")
    # the same page in English: calls, reasons and decisions in words
    page.goto(f"{site.url}/web/lang/en?next=/web/lab/plates/{plate_id}")
    expect(page.locator("#well-results tr[data-well='A8']")).to_contain_text("Positive")
    expect(page.locator("#well-results tr[data-well='A8']")).to_contain_text("Release")
    expect(page.locator("#bar")).to_contain_text("a second laboratory user")
    _no_codes(page)
    page.goto(f"{site.url}/web/lang/zh_CN?next=/web/lab/plates/{plate_id}")
    assert site.count("SELECT count(*) FROM tubes WHERE barcode = ? AND status = 'resulted'",
                      b=barcodes[0]) == 0

    # -- a second lab user releases it from the review queue ------------------------------------
    page = context.new_page()
    login(page, site, "lab2")
    page.goto(f"{site.url}/web/lab/review")
    item = page.locator(f"#review li[data-plate='{plate_id}']")
    expect(item).to_contain_text("lab")
    expect(item).to_have_attribute("data-bar", "")
    shot(page, "53-review-queue")
    item.locator("button[type=submit]").click()
    expect(page.locator("#released")).to_be_visible()
    expect(page.locator("#plate")).to_have_attribute("data-status", "released")
    expect(page.locator("#steps dd[data-step='released']")).to_contain_text("lab2")
    shot(page, "54-plate-released")
    # a 384-well plate's map fits the phone: it scrolls inside its frame
    page.goto(f"{site.url}/web/lab/plates")
    page.select_option("#new-plate select[name=size]", "384")
    page.click("#create")
    expect(page.locator("#plate-map td[data-well]")).to_have_count(384)
    expect(page.locator("#well")).to_have_value("A1")
    shot(page, "56-plate-384")
    assert site.count("SELECT count(*) FROM tubes WHERE barcode IN "
                      f"({', '.join(repr(b) for b in barcodes)}) AND status = 'resulted'") == 42

    # -- the resident of a released tube sees the result ----------------------------------------
    page = context.new_page()
    login(page, site, "resident_plate")
    expect(page.locator("#history")).to_contain_text("阴性")
    shot(page, "55-resident-after-release")
