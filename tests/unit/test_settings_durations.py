"""Durations in the settings: an ISO 8601 duration or a number of seconds, as docs/RETENTION.md
says; a period that must pass is more than nothing. A zero ``HESUAN_SWEEP_EVERY`` ran the
scheduler's housekeeping in a tight loop, a negative token lifetime made every token expired,
and ``HESUAN_RETENTION_SAMPLES=5184000`` was refused with 'invalid character in hour'."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hesuan.config import settings_from_environment
from hesuan.domain.errors import InvalidFields


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> object:
    for name, value in env.items():
        monkeypatch.setenv(f"HESUAN_{name}", value)
    return settings_from_environment()


@pytest.mark.parametrize("value, expected", [
    ("5184000", timedelta(days=60)), ("P60D", timedelta(days=60)), (" 86400 ", timedelta(1)),
    ("90.5", timedelta(seconds=90.5))])
def test_a_duration_is_iso_8601_or_seconds(monkeypatch: pytest.MonkeyPatch, value: str,
                                           expected: timedelta) -> None:
    s = _settings(monkeypatch, RETENTION_SAMPLES=value)
    assert s.retention_samples == expected  # type: ignore[attr-defined]


@pytest.mark.parametrize("name, value", [
    ("SWEEP_EVERY", "PT0S"), ("SWEEP_EVERY", "-PT5M"), ("SWEEP_EVERY", "0.5"),
    ("TOKEN_TTL", "-PT1H"), ("TOKEN_TTL", "0"), ("RECALL_DUE", "-P1D"),
    ("TRANSPORT_LIMIT", "PT0S"), ("LAB_LIMIT", "0"), ("PASS_REVOCATION_REFRESH", "-PT5S"),
    ("RETENTION_SAMPLES", "sixty days")])
def test_a_duration_that_cannot_be_is_refused_in_words(monkeypatch: pytest.MonkeyPatch,
                                                        name: str, value: str) -> None:
    with pytest.raises(InvalidFields) as refused:
        _settings(monkeypatch, **{name: value})
    (error,) = refused.value.errors
    assert error.field == f"HESUAN_{name}" and error.code == "invalid_setting"
    if name == "RETENTION_SAMPLES":
        assert "ISO 8601" in error.message and "seconds" in error.message, error.message

