"""Notifications through the outbox, and lateness alerts.

Messages are written to the outbox in the same transaction as the state change that causes
them, with a de-duplication key, and delivered afterwards by a ``Sender``: a crash between the
two loses nothing and sends nothing twice. Failed sends retry with exponential back-off.
Templates exist in Simplified Chinese and English, chosen by the person's language.
SMS goes to mobiles only: a message for a person whose phone is a landline is closed
unsent (``last_error`` ``no_mobile``) instead of being handed to the SMS gateway.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from hesuan.domain.access import Action, Principal, authorize, region_prefix
from hesuan.domain.people import is_mobile
from hesuan.services.context import Deps
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
}

_MAX_BACKOFF = timedelta(hours=1)
_MARK_BATCH = 500


def render(template: str, language: str, params: dict[str, Any]) -> str:
    texts = TEMPLATES[template]
    return texts.get(language, texts["zh"]).format(**params)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    sent: int
    failed: int
    no_mobile: int = 0  # closed unsent: the person's phone is a landline


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
    def __init__(self, deps: Deps, sender: Sender, rate: RateLimit | None = None) -> None:
        self._d = deps
        self._sender = sender
        self._rate = rate

    def deliver(self, actor: Principal, limit: int = 500) -> DeliveryReport:
        authorize(actor, Action.DELIVER_NOTIFICATIONS)
        now = self._d.clock.now()
        with self._d.uow(readonly=True) as uow:
            batch = uow.pending_outbox(now, limit)
        sent = failed = 0
        done: list[str] = []
        landlines: list[str] = []

        def mark_sent() -> None:
            # Sent marks are committed a few hundred at a time (a reminder burst is tens of
            # thousands of messages); a crash in between re-sends at most that many.
            with self._d.uow() as uow:
                uow.outbox_sent_many(done, self._d.clock.now())
                uow.commit()
            done.clear()

        for m in batch:
            try:
                phone = self._d.vault.decrypt(m.phone_enc) if m.phone_enc else None
                if phone is not None and not is_mobile(phone):
                    landlines.append(m.id)  # an SMS cannot reach a landline
                    continue
                if self._rate is not None:
                    self._rate.acquire()
                self._sender.send(phone, render(m.template, m.language, m.params), m)
            except Exception as exc:  # any sender failure is retried later
                failed += 1
                backoff = min(timedelta(seconds=30 * 2 ** m.attempts), _MAX_BACKOFF)
                with self._d.uow() as uow:
                    uow.outbox_failed(m.id, type(exc).__name__, now + backoff)
                    uow.commit()
                continue
            sent += 1
            done.append(m.id)
            if len(done) >= _MARK_BATCH:
                mark_sent()
        if done:
            mark_sent()
        if landlines:
            with self._d.uow() as uow:
                uow.outbox_unsent(landlines, "no_mobile", self._d.clock.now())
                uow.commit()
        return DeliveryReport(sent, failed, len(landlines))


class AlertService:
    """Raises alerts for boxes late to the lab and results late after receipt (one per subject)."""

    def __init__(self, deps: Deps) -> None:
        self._d = deps

    def check(self, actor: Principal) -> int:
        authorize(actor, Action.CHECK_ALERTS)
        now = self._d.clock.now()
        with self._d.uow() as uow:
            raised = uow.raise_alerts(now, _ms(self._d.limits.transport),
                                      _ms(self._d.limits.lab), self._d.new_id)
            if raised:
                uow.audit(now, actor.username, "alerts.raise", "alerts", {"raised": raised})
            uow.commit()
        return raised

    def list(self, actor: Principal, open_only: bool = True,
             limit: int = 200) -> list[dict[str, Any]]:
        authorize(actor, Action.READ_ALERTS)
        with self._d.uow(readonly=True) as uow:
            return uow.alerts(open_only, limit, region_prefix(actor))


def _ms(d: timedelta) -> int:
    return int(d.total_seconds() * 1000)

