"""When the audit log counts as not anchored: entries after the latest signed checkpoint (or
none signed at all) and that checkpoint older than the hour the scheduler never lets pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hesuan.domain.audit import ANCHOR_MAX_AGE, AuditReport, Checkpoint

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)


def _report(head: int, cp_seq: int | None, age: timedelta = timedelta(0)) -> AuditReport:
    cp = None if cp_seq is None else Checkpoint(cp_seq, "h" * 64,
                                                (NOW - age).isoformat().replace("+00:00", "Z"))
    return AuditReport("intact", head, head, 0, None, cp, ())


def test_anchor_overdue() -> None:
    assert not _report(0, None).anchor_overdue(NOW)  # an empty log
    assert _report(5, None).anchor_overdue(NOW)  # entries, never anchored
    assert not _report(5, 5, timedelta(days=3)).anchor_overdue(NOW)  # nothing since
    assert not _report(9, 5, ANCHOR_MAX_AGE).anchor_overdue(NOW)  # an hour: still due
    assert _report(9, 5, ANCHOR_MAX_AGE + timedelta(seconds=1)).anchor_overdue(NOW)
