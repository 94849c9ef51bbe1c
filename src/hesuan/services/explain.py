"""Plain words for a status (F18 回应社会关切): what each reason means and what to do next, in
Simplified Chinese and English, for the resident's page and the API.

Imports: standard library, ``hesuan.domain``, ``hesuan.services.status`` (its types only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from hesuan.domain.json import Json
from hesuan.domain.local_time import short
from hesuan.domain.results import RecallReason
from hesuan.domain.status import Colour

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
    evidence: dict[str, Json]


REASON_TEXT: dict[str, dict[str, str]] = {
    "not_yet_tested": {"zh": "本轮尚未检测", "en": "Not yet tested this round"},
    "awaiting_result": {"zh": "已采样，等待结果", "en": "Sampled, waiting for the result"},
    "up_to_date": {"zh": "按时检测，结果阴性", "en": "Tested on time, negative"},
    "exempt": {"zh": "已登记免检", "en": "Exempt from routine testing"},
    "overdue": {"zh": "超过检测时限未检（未检赋码）", "en": "Overdue for the routine test"},
    "pending_retest": {"zh": "混管检测异常，待单管复核", "en": "Pooled test needs a re-test"},
    # a recall after an invalid or rejected sample, not a positive pool (``_variant``)
    "pending_resample": {"zh": "样本未能检测，需重新采样",
                         "en": "The sample could not be tested: a new one is needed"},
    # a released result the lab withdrew: a new sample (``_variant``)
    "result_withdrawn": {"zh": "检测结果已被实验室撤销，需重新采样",
                         "en": "The result was withdrawn: a new sample is needed"},
    # the recall's re-test or new sample taken, its result still to come (``_variant``)
    "retest_taken": {"zh": "已单管复检采样，等待复检结果",
                     "en": "Re-test taken: waiting for its result"},
    "resample_taken": {"zh": "已重新采样，等待结果",
                       "en": "New sample taken: waiting for its result"},
    "positive_result": {"zh": "核酸检测结果阳性", "en": "PCR result positive"},
    "arrival_pending": {"zh": "外地来（返）人员，待落地后检测结果阴性",
                        "en": "Arrival: waiting for a negative test taken after arrival"},
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
    # past the due time, in the grace before the status turns (``_variant``)
    "late": {"zh": "已过检测时限（{due}），请在{overdue}前到任意采样点检测，否则将转为{turns}",
             "en": "Your test was due at {due}: get tested at any site before {overdue}, when "
                   "your status turns {turns}"},
    "exempt": {"zh": "免检至{until}", "en": "Exempt until {until}"},
    "overdue": {"zh": "请尽快到任意采样点检测，检测后立即恢复",
                "en": "Get tested at any site now; your status clears at once"},
    "pending_retest": {"zh": "请居家，并在{recall}前到任意采样点单管复检",
                       "en": "Stay home and get a single-tube re-test at any site before "
                             "{recall}"},
    "pending_resample": {"zh": "请在{recall}前到任意采样点重新采样",
                         "en": "Get a new sample taken at any site before {recall}"},
    "result_withdrawn": {"zh": "请在{recall}前到任意采样点重新采样",
                         "en": "Get a new sample taken at any site before {recall}"},
    "retest_taken": {"zh": "请居家等待复检结果", "en": "Stay home until the re-test's result"},
    "resample_taken": {"zh": "结果通常在6小时内出具，请留意",
                       "en": "Results usually come within 6 h"},
    "positive_result": {"zh": "请原地等待，疾控人员将与您联系",
                        "en": "Stay where you are; the health authority will contact you"},
    "arrival_pending": {"zh": "请在{due}前完成下一次核酸检测（落地三天两检）",
                        "en": "Get your next test before {due} (two tests in three days after "
                              "arrival)"},
    "in_zone": {"zh": "请遵守所在区域的管控要求，配合上门采样",
                "en": "Follow your zone's rules and wait for door-to-door sampling"},
    "manual_override": {"zh": "如有疑问，请联系所在社区",
                        "en": "Questions: contact your community"},
}




#: Reasons whose holder stays where they are, and the steps that send a person out to a site,
#: which are not given beside them: one instruction, never "stay" and "go" at once.
_STAY = frozenset({"positive_result", "in_zone"})
_GO_OUT = frozenset({"not_yet_tested", "up_to_date", "late", "overdue", "pending_retest",
                     "pending_resample", "result_withdrawn", "arrival_pending"})


#: The colour a status turns to, as the late words name it.
_TURNS = {"zh": {Colour.GREEN: "绿码", Colour.YELLOW: "黄码", Colour.POPUP: "弹窗",
                 Colour.RED: "红码"},
          "en": {Colour.GREEN: "green", Colour.YELLOW: "yellow", Colour.POPUP: "to the pop-up",
                 Colour.RED: "red"}}


def _variant(reason: str, read: StatusRead) -> str:
    """The words of ``reason`` for this status: a recall after an invalid or rejected sample
    (not a positive pool) asks for a new sample, and once its re-test or new sample is taken
    waits for its result; a due time passed, in the grace, is late."""
    evidence = read.status.evidence
    if reason == "pending_retest":
        recall = read.recall
        if recall is not None and recall.reason == RecallReason.RESULT_CANCELLED.value:
            return "resample_taken" if recall.answered else "result_withdrawn"
        after_positive = (evidence.get("recall") or {}).get("after") == "positive"
        if recall is not None and recall.answered:
            return "retest_taken" if after_positive else "resample_taken"
        return "pending_retest" if after_positive else "pending_resample"
    due = read.next_due_at
    if (reason in ("up_to_date", "not_yet_tested") and due is not None
            and read.decided_at is not None and read.decided_at > due):
        return "late"
    return reason


def explain(read: StatusRead, language: str = "zh") -> Explanation:
    lang = "en" if language == "en" else "zh"
    status = read.status
    ev = status.evidence
    fill = {
        "due": short(read.next_due_at),
        "until": short(None if read.row is None else read.row.exempt_until),
        "recall": (ev.get("recall") or {}).get("due") or "—",
        "overdue": short(status.valid_until),
        "turns": _TURNS[lang][read.turns_to or Colour.YELLOW],
    }
    if fill["recall"] != "—":
        fill["recall"] = short(datetime.fromisoformat(fill["recall"]))
    words = [(r, _variant(r, read)) for r in status.reasons]
    reasons = [ReasonText(r, REASON_TEXT.get(v, REASON_TEXT.get(r, {})).get(lang, r))
               for r, v in words]
    stay = any(r in _STAY for r in status.reasons)
    steps = [_NEXT[v][lang].format(**fill) for r, v in words
             if v in _NEXT and not (stay and v in _GO_OUT)]
    return Explanation(status.colour.value, reasons, steps,
                       RuleRef(status.rule_id, status.rule_version), status.valid_until, ev)
