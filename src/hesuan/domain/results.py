"""Testing (检) and report (报): results, their fan-out to people, recalls and pool reviews.

A tube's result reaches each member: negative → the person's latest test is negative; positive
in a pooled tube → every member is 待复核 (pending re-test) with a recall (召回复核) for a
single-tube re-sample due within 12 h; positive in a single tube → the person is positive; invalid
→ every member is recalled. A recall re-sample links back to its recall. When every member of a
positive pool is resolved the pool investigation closes; if all re-tested negative the pool is
flagged for review (a possible false positive or lab contamination).

Imports: standard library only.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import timedelta

from hesuan.domain.errors import InvalidInput

__all__ = [
    "CT_TARGETS",
    "RECALL_DUE",
    "PoolInvestigation",
    "RecallReason",
    "Result",
    "TestState",
    "check_ct",
    "member_outcome",
    "pool_outcome",
]

RECALL_DUE = timedelta(hours=12)
CT_TARGETS: tuple[str, ...] = ("ORF1ab", "N", "E")


class Result(enum.StrEnum):
    NEGATIVE = "negative"
    POSITIVE = "positive"
    INVALID = "invalid"

    @classmethod
    def parse(cls, value: str) -> Result:
        aliases = {"阴性": "negative", "阳性": "positive", "无效": "invalid", "neg": "negative",
                   "pos": "positive"}
        v = aliases.get(value.strip(), value.strip().lower())
        try:
            return cls(v)
        except ValueError:
            raise InvalidInput(
                "result must be negative, positive or invalid (阴性/阳性/无效)",
                code="bad_result",
                field="result",
            ) from None


class TestState(enum.StrEnum):
    """A person's state in the sample-to-report chain, kept in their current-status row."""

    NONE = "none"  # never sampled
    SAMPLED = "sampled"  # awaiting result
    NEGATIVE = "negative"
    PENDING_RETEST = "pending_retest"  # 待复核: pool positive or tube invalid, recall open
    POSITIVE = "positive"


class RecallReason(enum.StrEnum):
    POOL_POSITIVE = "pool_positive"
    TUBE_INVALID = "tube_invalid"
    TUBE_REJECTED = "tube_rejected"  # the lab could not test the tube (``domain.specimens``)
    RESULT_CANCELLED = "result_cancelled"  # its released result withdrawn


class PoolInvestigation(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"  # at least one member confirmed positive
    REVIEW = "review"  # every member re-tested negative: flagged for review


def check_ct(ct: dict[str, float] | None) -> dict[str, float] | None:
    if not ct:
        return None
    out: dict[str, float] = {}
    for target, value in ct.items():
        if target not in CT_TARGETS:
            raise InvalidInput(f"ct: unknown target {target!r} (allowed: {', '.join(CT_TARGETS)})",
                               code="bad_ct", field="ct")
        if not isinstance(value, int | float) or math.isnan(value) or not 0 < value <= 45:
            raise InvalidInput(f"ct.{target} must be a number in (0, 45]", code="bad_ct",
                               field="ct")
        out[target] = float(value)
    return out


@dataclass(frozen=True, slots=True)
class MemberOutcome:
    state: TestState
    recall: RecallReason | None
    resolves_recall: bool


def member_outcome(result: Result, pool_size: int) -> MemberOutcome:
    """What a tube's result means for each member of the tube."""
    if result is Result.NEGATIVE:
        return MemberOutcome(TestState.NEGATIVE, None, True)
    if result is Result.POSITIVE:
        if pool_size > 1:
            return MemberOutcome(TestState.PENDING_RETEST, RecallReason.POOL_POSITIVE, False)
        return MemberOutcome(TestState.POSITIVE, None, True)
    return MemberOutcome(TestState.PENDING_RETEST, RecallReason.TUBE_INVALID, False)


def pool_outcome(member_results: list[Result]) -> PoolInvestigation:
    """Close a positive pool's investigation once every member re-test is known."""
    if any(r is Result.POSITIVE for r in member_results):
        return PoolInvestigation.CLOSED
    return PoolInvestigation.REVIEW
