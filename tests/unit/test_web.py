"""The web layer's pure parts: what a scan at the station means, the snapshots, and the
catalogs (every string translated into Chinese, placeholders kept)."""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime

import pytest
from babel.messages.pofile import read_po

from hesuan.domain.access import Principal, Role
from hesuan.domain.errors import HesuanError
from hesuan.domain.sampling import make_box_code, make_tube_barcode
from hesuan.entrypoints.web.i18n import locale_dir, translations
from hesuan.entrypoints.web.snapshots import Snapshots
from hesuan.entrypoints.web.station import StationState, interpret
from hesuan.services.sampling import EventKind

AT = datetime(2022, 8, 29, tzinfo=UTC)
TUBE, OTHER, BOX = make_tube_barcode(1), make_tube_barcode(2), make_box_code(1)


def test_a_scan_means_what_its_shape_says() -> None:
    s = StationState(mode=10)
    ev, s = interpret(TUBE, s, "site", AT)
    assert ev is not None and ev.kind is EventKind.OPEN_TUBE and ev.mode == 10 and s.tube == TUBE
    ev, s = interpret("HS1:abc", s, "site", AT)
    assert ev is not None and ev.kind is EventKind.SAMPLE and ev.barcode == TUBE
    with pytest.raises(HesuanError) as exc:
        interpret(OTHER, s, "site", AT)
    assert exc.value.code == "tube_open"
    ev, s = interpret(TUBE, s, "site", AT)  # the same tube again seals it
    assert ev is not None and ev.kind is EventKind.SEAL_TUBE and s.tube == ""
    with pytest.raises(HesuanError) as exc:
        interpret("HS1:abc", s, "site", AT)
    assert exc.value.code == "no_open_tube"
    ev, s = interpret(BOX.lower(), s, "site", AT)  # start packing: no event yet
    assert ev is None and s.box == BOX
    ev, s = interpret(TUBE, s, "site", AT)
    assert ev is not None and ev.kind is EventKind.BOX_TUBE and ev.box_code == BOX
    ev, s = interpret(BOX, s, "site", AT)
    assert ev is not None and ev.kind is EventKind.SEAL_BOX and s.box == ""


OFFICER_A = Principal("u-a", "a", Role.HEALTH_OFFICER, "140106")


def test_snapshots_serve_the_last_value_and_refresh_in_the_background() -> None:
    snaps = Snapshots(min_interval=0.5)
    calls: list[int] = []
    refreshed = threading.Event()

    def compute() -> int:
        calls.append(1)
        if len(calls) > 1:
            refreshed.set()
        return len(calls)

    assert snaps.get(OFFICER_A, "k", compute) == 1
    assert snaps.get(OFFICER_A, "k", compute) == 1  # fresh: no recomputation
    time.sleep(0.6)
    assert snaps.get(OFFICER_A, "k", compute) == 1  # stale: served at once, refreshed behind
    assert refreshed.wait(2)
    deadline = time.monotonic() + 2  # the refresh stores its value just after computing it
    while snaps.last(OFFICER_A, "k") != 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert snaps.get(OFFICER_A, "k", compute) == 2
    assert len(calls) == 2


def test_a_snapshot_is_served_only_within_the_scope_it_was_computed_for() -> None:
    snaps = Snapshots()
    city = Principal("u-c", "city", Role.HEALTH_OFFICER, "1401")
    assert snaps.get(city, "roster-coverage:140105", lambda: "140105's numbers") == (
        "140105's numbers")
    # another district's officer asking for the same page is computed (and so authorised)
    # for their own scope, never handed the city officer's snapshot
    assert snaps.get(OFFICER_A, "roster-coverage:140105", lambda: "refused") == "refused"


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_catalogs_load_and_keep_placeholders(locale: str) -> None:
    with (locale_dir() / locale / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalog = read_po(f)
    with (locale_dir() / "messages.pot").open("rb") as f:
        template = {m.id for m in read_po(f) if m.id}
    ids = {m.id for m in catalog if m.id}
    assert ids == template, "run scripts/web-messages.sh"
    for m in catalog:
        if not m.id or not m.string:
            continue
        assert sorted(re.findall(r"%\(\w+\)s", str(m.id))) == sorted(
            re.findall(r"%\(\w+\)s", str(m.string))), m.id
        assert str(m.id).count("%%") == str(m.string).count("%%"), m.id
    if locale == "zh_CN":
        missing = [m.id for m in catalog if m.id and not m.string]
        assert not missing, f"untranslated: {missing[:5]}"
    assert translations(locale).gettext("Sign in") == ("登录" if locale == "zh_CN" else "Sign in")


def test_the_pages_have_words_for_every_value_of_the_kinds_they_show() -> None:
    """Each label map of the pages names every value of its enum, so a page never falls back
    to showing the raw value (``swabber``) in Chinese."""
    from hesuan.domain.access import Role
    from hesuan.domain.fence import AlertOutcome, FenceRule
    from hesuan.domain.sampling import SiteKind
    from hesuan.domain.shifts import StaffRole
    from hesuan.domain.status import Colour
    from hesuan.domain.zones import ZoneKind
    from hesuan.entrypoints.web import messages
    from hesuan.services.fence import CheckpointKind

    for labels, kind in ((messages.CHECKPOINT_KINDS, CheckpointKind),
                         (messages.STAFF_ROLES, StaffRole), (messages.SITE_KINDS, SiteKind),
                         (messages.ZONE_KINDS, ZoneKind), (messages.ALERT_RULES, FenceRule),
                         (messages.ALERT_OUTCOMES, AlertOutcome), (messages.ROLES, Role),
                         (messages.COLOURS, Colour)):
        assert set(labels) >= {k.value for k in kind}, kind
