"""The rules of history that expires and of the end of the programme: periods and their checks,
the settings that carry them, the two officers of a close, the certificate's signed bytes."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from hesuan.config import Settings
from hesuan.domain.errors import Conflict, InvalidInput, RuleViolation
from hesuan.domain.programme import Certificate, DataKeyState, check_approver, check_pending
from hesuan.domain.retention import Kind, Retention

NOW = datetime(2022, 9, 1, tzinfo=UTC)


def test_defaults_and_cutoffs() -> None:
    r = Retention()
    assert (r.samples, r.station_events, r.notifications, r.passes, r.venue_scans) == (
        timedelta(days=30), timedelta(days=30), timedelta(days=7), timedelta(days=1),
        timedelta(days=14))
    assert r.cutoff(Kind.VENUE_SCANS, NOW) == NOW - timedelta(days=14)
    assert r.cutoff(Kind.SAMPLES, NOW) == NOW - timedelta(days=30)


def test_periods_are_checked() -> None:
    with pytest.raises(InvalidInput) as neg:
        Retention(samples=timedelta(days=-1)).check(timedelta(days=1))
    assert neg.value.field == "samples"
    with pytest.raises(InvalidInput) as short:
        Retention(station_events=timedelta(hours=12)).check(timedelta(days=1))
    assert short.value.field == "station_events"
    Retention().check(timedelta(days=30))


def test_settings_carry_the_periods_and_refuse_station_events_inside_the_window() -> None:
    s = Settings(retention_samples=timedelta(days=60), venue_retention=timedelta(days=10))
    assert s.retention().samples == timedelta(days=60)
    assert s.retention().venue_scans == timedelta(days=10)
    with pytest.raises(ValidationError, match="station"):
        Settings(retention_station_events=timedelta(hours=1))


def test_a_close_needs_a_second_officer_and_is_decided_once() -> None:
    with pytest.raises(RuleViolation):
        check_approver("u1", "u1")
    check_approver("u1", "u2")
    check_pending("requested")
    with pytest.raises(Conflict):
        check_pending("closed")


def test_the_certificate_signs_sorted_compact_json() -> None:
    c = Certificate("c1", "a", "b", NOW, NOW, {"samples": 3, "people": 2}, ("root.key",),
                    "00" * 32, 7, "ab" * 32, NOW.isoformat())
    data = c.canonical()
    assert json.loads(data) == c.document()
    assert data == json.dumps(c.document(), sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False).encode()
    assert list(c.document()["destroyed"]) == ["people", "samples"]
    # the master secret is kept for the audit chain only; personal data's keys went with the
    # data key, unless they were the legacy ones derived from the master secret
    assert "audit chain" in c.document()["kept"]["HESUAN_SECRET_KEY"]
    assert "personal-data and lookup keys" not in c.document()["kept"]
    legacy = dataclasses.replace(c, data_key=DataKeyState.LEGACY).document()
    assert "HESUAN_SECRET_KEY" in legacy["kept"]["personal-data and lookup keys"]
