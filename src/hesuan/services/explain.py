"""Plain words for a status (F18 回应社会关切): what each reason means and what to do next, in
Simplified Chinese and English, for the resident's page and the API.

Imports: standard library, ``hesuan.domain``, ``hesuan.services.status`` (its types only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hesuan.domain.local_time import short

if TYPE_CHECKING:
    from hesuan.services.status import StatusRead

__all__ = ["REASON_TEXT", "Explanation", "ReasonText", "RuleRef", "explain"]


@dataclass(frozen=True, slots=True)
class ReasonText:
    """A reason code and its plain words."""

    code: str
    text: str


@dataclass(frozen=True, slots=True)
class RuleRef:
    """The status rule that decided, and its version."""

    id: str
    version: int


@dataclass(frozen=True, slots=True)
class Explanation:
    """A status in plain words: its colour, each reason, what to do next, the rule that set
    it, how long it holds by itself (None: until something happens) and its evidence."""

    colour: str
    reasons: list[ReasonText]
    next_steps: list[str]
    rule: RuleRef
    valid_until: datetime | None
    evidence: dict[str, Any]


REASON_TEXT: dict[str, dict[str, str]] = {
    "not_yet_tested": {"zh": "本轮尚未检测", "en": "Not yet tested this round"},
    "awaiting_result": {"zh": "已采样，等待结果", "en": "Sampled, waiting for the result"},
    "up_to_date": {"zh": "按时检测，结果阴性", "en": "Tested on time, negative"},
    "exempt": {"zh": "已登记免检", "en": "Exempt from routine testing"},
    "overdue": {"zh": "超过检测时限未检（未检赋码）", "en": "Overdue for the routine test"},
    "pending_retest": {"zh": "混管检测异常，待单管复核", "en": "Pooled test needs a re-test"},
    "positive_result": {"zh": "核酸检测结果阳性", "en": "PCR result positive"},
    "arrival_pending": {"zh": "外地来（返）并人员，落地检结果待出",
                        "en": "Arrival: landing test still to come"},
    "in_zone": {"zh": "所在区域为封控/管控区", "en": "You live in a sealed or controlled zone"},
    "manual_override": {"zh": "经两名卫生健康工作人员审批的人工赋码",
                        "en": "Set by two health officers (manual override)"},
}

_NEXT: dict[str, dict[str, str]] = {
    "not_yet_tested": {"zh": "请在{due}前到任意采样点检测",
                       "en": "Get tested at any site before {due}"},
    "awaiting_result": {"zh": "结果通常在6小时内出具，请留意",
                        "en": "Results usually come within 6 h"},
    "up_to_date": {"zh": "下次请在{due}前检测", "en": "Next test due before {due}"},
    "exempt": {"zh": "免检至{until}", "en": "Exempt until {until}"},
    "overdue": {"zh": "请尽快到任意采样点检测，检测后立即恢复",
                "en": "Get tested at any site now; your status clears at once"},
    "pending_retest": {"zh": "请居家，并在{recall}前到任意采样点单管复检",
                       "en": "Stay home and get a single-tube re-test at any site before "
                             "{recall}"},
    "positive_result": {"zh": "请原地等待，疾控人员将与您联系",
                        "en": "Stay where you are; the health authority will contact you"},
    "arrival_pending": {"zh": "请在落地24小时内完成核酸检测，并于72小时内完成第二次检测",
                        "en": "Get tested within 24 h of arrival and again within 72 h"},
    "in_zone": {"zh": "请遵守所在区域的管控要求，配合上门采样",
                "en": "Follow your zone's rules and wait for door-to-door sampling"},
    "manual_override": {"zh": "如有疑问，请联系所在社区",
                        "en": "Questions: contact your community"},
}




def explain(read: StatusRead, language: str = "zh") -> Explanation:
    lang = "en" if language == "en" else "zh"
    status = read.status
    ev = status.evidence
    fill = {
        "due": short(read.next_due_at),
        "until": short(None if read.row is None else read.row.exempt_until),
        "recall": (ev.get("recall") or {}).get("due") or "—",
    }
    if fill["recall"] != "—":
        fill["recall"] = short(datetime.fromisoformat(fill["recall"]))
    reasons = [ReasonText(r, REASON_TEXT.get(r, {}).get(lang, r)) for r in status.reasons]
    steps = [_NEXT[r][lang].format(**fill) for r in status.reasons if r in _NEXT]
    return Explanation(status.colour.value, reasons, steps,
                       RuleRef(status.rule_id, status.rule_version), status.valid_until, ev)
