"""Notifications through the outbox, and lateness alerts.

Messages are written to the outbox in the same transaction as the state change that causes
them, with a de-duplication key, and delivered afterwards by a ``Sender``: a crash between the
two loses nothing and sends nothing twice. Each message is claimed, and the claim committed,
before it is handed to the sender, and marked sent in the transaction that claims the next: a
crash leaves at most the one message in flight in doubt, and a message in doubt is never resent
on a guess — the sender's own record settles it (``SendRecord``), or an operator does. Two
delivering processes never hand over the same message (a claim is taken once). Failed sends
retry with exponential back-off.
Templates exist in Simplified Chinese and English, chosen by the person's language.
A message is judged again when it is handed over (``domain.notices``): one no longer true is
closed unsent (``last_error`` ``superseded``), and one asking someone a zone keeps at home to go
to a site takes its at-home words. SMS goes to mobiles only: a message for a person whose phone
is a landline, or who has none, is closed unsent (``no_mobile``, ``no_phone``) instead of being
handed to the SMS gateway.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from hesuan.domain.access import Action, Principal, authorize, region_prefix
from hesuan.domain.json import JsonObject
from hesuan.domain.notices import SUPERSEDED, superseded, wording
from hesuan.domain.people import is_mobile
from hesuan.services.context import Deps
from hesuan.services.handover import HandOver, Unsendable
from hesuan.services.outbox_ports import AlertRow, InDoubtMessage, OutboxMessage
from hesuan.services.ports import Sender

__all__ = ["TEMPLATES", "AlertService", "DeliveryReport", "OutboxService", "RateLimit", "render"]

TEMPLATES: dict[str, dict[str, str]] = {
    "reminder": {
        "zh": "【核酸检测】您的常态化核酸检测将于{due}到期，请及时到就近采样点检测。",
        "en": "[PCR testing] Your routine PCR test is due by {due}. Please visit a nearby "
              "sampling site in time.",
    },
    "recall": {
        "zh": "【核酸检测】您参与的混采管检测结果需复核，请于{due}前到任意采样点单管复检，"
              "复检前请居家。",
        "en": "[PCR testing] Your pooled sample needs a re-test. Please get a single-tube "
              "re-test at any site before {due} and stay home until then.",
    },
    "invalid": {
        "zh": "【核酸检测】您的样本检测无效，请于{due}前到任意采样点重新采样。",
        "en": "[PCR testing] Your sample could not be tested. Please be re-sampled at any site "
              "before {due}.",
    },
    "positive": {
        "zh": "【核酸检测】您的核酸检测结果为阳性，请留在原地，疾控人员将尽快与您联系。",
        "en": "[PCR testing] Your PCR result is positive. Please stay where you are; the health "
              "authority will contact you shortly.",
    },
    # a released result corrected (approved by a second lab user): once per person
    "corrected_negative": {
        "zh": "【核酸检测】实验室更正了您的核酸检测结果：结果为阴性，此前的复检通知作废。",
        "en": "[PCR testing] The lab corrected your PCR result: it is negative. Any re-test you "
              "were asked for is cancelled.",
    },
    "corrected_positive": {
        "zh": "【核酸检测】实验室更正了您的核酸检测结果：结果为阳性，请留在原地，疾控人员将尽快与"
              "您联系。",
        "en": "[PCR testing] The lab corrected your PCR result: it is positive. Please stay where "
              "you are; the health authority will contact you shortly.",
    },
    "corrected_recall": {
        "zh": "【核酸检测】实验室更正了您的核酸检测结果：您参与的混采管需复核，请于{due}前到任意"
              "采样点单管复检，复检前请居家。",
        "en": "[PCR testing] The lab corrected your PCR result: your pooled sample needs a "
              "re-test. Please get a single-tube re-test at any site before {due} and stay home "
              "until then.",
    },
    "corrected_invalid": {
        "zh": "【核酸检测】实验室更正了您的核酸检测结果：样本检测无效，请于{due}前到任意采样点重新"
              "采样。",
        "en": "[PCR testing] The lab corrected your PCR result: your sample could not be tested. "
              "Please be re-sampled at any site before {due}.",
    },
    "result_cancelled": {
        "zh": "【核酸检测】实验室撤销了您的核酸检测结果，请于{due}前到任意采样点重新采样。",
        "en": "[PCR testing] The lab withdrew your PCR result. Please be re-sampled at any site "
              "before {due}.",
    },
    # a specimen the lab could not test; ``why_zh`` / ``why_en``: the reason in plain words
    "rejected": {
        "zh": "【核酸检测】您的样本未能检测（{why_zh}），请于{due}前到任意采样点重新采样。",
        "en": "[PCR testing] Your sample could not be tested ({why_en}). Please be re-sampled at "
              "any site before {due}.",
    },
    # the same asks for someone a zone keeps at home (``domain.notices.wording``): a door team
    # samples them
    "recall_at_home": {
        "zh": "【核酸检测】您参与的混采管检测结果需复核，请居家等待上门单管复检（{due}前），"
              "复检前请勿外出。",
        "en": "[PCR testing] Your pooled sample needs a re-test. Please stay home: a team will "
              "take a single-tube sample at your door before {due}.",
    },
    "invalid_at_home": {
        "zh": "【核酸检测】您的样本检测无效，请居家等待上门重新采样（{due}前）。",
        "en": "[PCR testing] Your sample could not be tested. Please stay home: a team will "
              "sample you again at your door before {due}.",
    },
    "rejected_at_home": {
        "zh": "【核酸检测】您的样本未能检测（{why_zh}），请居家等待上门重新采样（{due}前）。",
        "en": "[PCR testing] Your sample could not be tested ({why_en}). Please stay home: a "
              "team will sample you again at your door before {due}.",
    },
    "result_cancelled_at_home": {
        "zh": "【核酸检测】实验室撤销了您的核酸检测结果，请居家等待上门重新采样（{due}前）。",
        "en": "[PCR testing] The lab withdrew your PCR result. Please stay home: a team will "
              "sample you again at your door before {due}.",
    },
    "corrected_recall_at_home": {
        "zh": "【核酸检测】实验室更正了您的核酸检测结果：您参与的混采管需复核，请居家等待上门单管"
              "复检（{due}前），复检前请勿外出。",
        "en": "[PCR testing] The lab corrected your PCR result: your pooled sample needs a "
              "re-test. Please stay home: a team will take a single-tube sample at your door "
              "before {due}.",
    },
    "corrected_invalid_at_home": {
        "zh": "【核酸检测】实验室更正了您的核酸检测结果：样本检测无效，请居家等待上门重新采样"
              "（{due}前）。",
        "en": "[PCR testing] The lab corrected your PCR result: your sample could not be tested. "
              "Please stay home: a team will sample you again at your door before {due}.",
    },
}

def render(template: str, language: str, params: JsonObject) -> str:
    texts = TEMPLATES[template]
    return texts.get(language, texts["zh"]).format(**params)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    sent: int
    failed: int
    closed: int = 0  # closed unsent: no longer true, a landline, no phone
    in_doubt: int = 0  # claimed, never confirmed, and not settled by the sender's record


class RateLimit:
    """A token bucket: at most ``per_second`` sends a second on average, bursts of ``burst``.
    The operator's SMSC throttles senders that go faster (and may drop what they send)."""

    def __init__(self, per_second: float, burst: int = 10,
                 monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self._rate = per_second
        self._burst = float(burst)
        self._tokens = float(burst)
        self._mono = monotonic
        self._sleep = sleep
        self._last = monotonic()

    def acquire(self) -> None:
        now = self._mono()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens < 1:
            wait = (1 - self._tokens) / self._rate
            self._sleep(wait)
            self._last = self._mono()
            self._tokens = 1.0
        self._tokens -= 1


class OutboxService:
    """Delivers the outbox, each message handed to the sender once (docs/SMS.md), through the
    exactly-once loop (``services/handover.py``).

    ``claim_timeout``: a claim older than this, without a sent mark, is no longer in flight
    (the sender's own timeout is shorter) but in doubt: its process died between the claim and
    the sent mark. It is settled by the sender's record when the sender keeps one, else listed
    for an operator (``in_doubt``, ``settle``)."""

    def __init__(self, deps: Deps, sender: Sender, rate: RateLimit | None = None,
                 claim_timeout: timedelta = timedelta(seconds=60)) -> None:
        self._d = deps
        self._sender = sender
        self._rate = rate
        self._loop: HandOver[str] = HandOver(
            deps, lambda uow: uow.outbox,
            lambda uow, before, limit: [m.id for m in uow.outbox.stale_claims(before, limit)],
            lambda message_id: message_id, claim_timeout)

    def deliver(self, actor: Principal, limit: int = 500) -> DeliveryReport:
        authorize(actor, Action.DELIVER_NOTIFICATIONS)
        done = self._loop.run(
            lambda uow, now: uow.outbox.pending(now, limit),
            key=lambda m: m.id, attempts=lambda m: m.attempts, write=self._write,
            hand=lambda m, sms: self._sender.send(sms[0], sms[1], m), transport=self._sender,
            pace=None if self._rate is None else self._rate.acquire)
        return DeliveryReport(done.sent, done.failed, done.closed, done.in_doubt)

    def in_doubt(self, actor: Principal, limit: int = 1000) -> list[InDoubtMessage]:
        """Messages claimed and never confirmed, older than the claim timeout (oldest first)."""
        authorize(actor, Action.DELIVER_NOTIFICATIONS)
        with self._d.uow(readonly=True) as uow:
            return uow.outbox.stale_claims(self._loop.stale_before(), limit)

    def settle(self, actor: Principal, message_ids: Sequence[str], *, taken: bool) -> int:
        """An operator's decision on messages in doubt: the gateway took them (``taken``: marked
        sent) or it never did (sent again by the next delivery). Only messages in doubt are
        changed; how many were. Audited."""
        authorize(actor, Action.DELIVER_NOTIFICATIONS)
        return self._loop.settle(actor.username, list(dict.fromkeys(message_ids)), taken=taken,
                                 audit_action="outbox.settle", audit_subject="outbox")

    def _write(self, m: OutboxMessage) -> tuple[str, str]:
        """The phone (decrypted) and the text of ``m`` in the words its person's facts now ask
        for (``domain.notices``); a message no longer true, or for a person with no mobile
        phone, is never sent."""
        s = m.standing
        if s is not None and superseded(m.template, m.params, s):
            raise Unsendable(SUPERSEDED)
        phone = self._d.vault.decrypt(m.phone_enc) if m.phone_enc else None
        if phone is None:
            raise Unsendable("no_phone")
        if not is_mobile(phone):
            raise Unsendable("no_mobile")
        return phone, render(m.template if s is None else wording(m.template, s), m.language,
                             m.params)


class AlertService:
    """Raises alerts for boxes late to the lab and results late after receipt (one per subject)."""

    def __init__(self, deps: Deps) -> None:
        self._d = deps

    def check(self, actor: Principal) -> int:
        authorize(actor, Action.CHECK_ALERTS)
        now = self._d.clock.now()
        with self._d.uow() as uow:
            raised = uow.alerts.raise_late(now, _ms(self._d.limits.transport),
                                           _ms(self._d.limits.lab), self._d.new_id)
            if raised:
                uow.audit_log.append(now, actor.username, "alerts.raise", "alerts",
                                     {"raised": raised})
            uow.commit()
        return raised

    def list(self, actor: Principal, open_only: bool = True,
             limit: int = 200) -> list[AlertRow]:
        authorize(actor, Action.READ_ALERTS)
        with self._d.uow(readonly=True) as uow:
            return uow.alerts.recent(open_only, limit, region_prefix(actor))


def _ms(d: timedelta) -> int:
    return int(d.total_seconds() * 1000)

