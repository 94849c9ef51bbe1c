"""The Kannel sender's own record of a request: what an operator's log shows of it."""

from __future__ import annotations

import urllib.parse

import httpx
import pytest

from hesuan.adapters.kannel import KannelSender
from hesuan.services.outbox_ports import OutboxMessage


def test_the_request_logged_at_info_carries_no_password_phone_or_text(
        caplog: pytest.LogCaptureFixture) -> None:
    """httpx logs each request's URL at INFO, and Kannel's carries the password, the phone
    number and the text in its query: an operator who turned INFO on logged them all."""
    client = httpx.Client(transport=httpx.MockTransport(
        lambda r: httpx.Response(202, text="0: Accepted for delivery")))
    sender = KannelSender("http://127.0.0.1:1/cgi-bin/sendsms", "hesuan", "S3cret-pw",
                          client=client)
    with caplog.at_level("INFO"):
        sender.send("13812345678", "您的核酸检测结果为阳性", OutboxMessage(
            "m1", "p", "positive", {}, None, "zh", 0))
    logged = caplog.text
    assert "cgi-bin/sendsms" in logged  # the request is still logged, without its query
    for secret in ("S3cret-pw", "13812345678", "password", urllib.parse.quote("您的")):
        assert secret not in logged
