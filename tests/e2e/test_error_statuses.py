"""One table maps the error hierarchy to HTTP (``entrypoints.errors``): a web page whose error
reaches the web's error handler answers the status the API answers for the same error, with the
same headers (Retry-After, WWW-Authenticate on the API); on SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.testclient import TestClient

from hesuan.domain.errors import (
    Conflict,
    HesuanError,
    InvalidFields,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RuleViolation,
    StoreUnavailable,
    TooManyAttempts,
)
from hesuan.entrypoints.api import create_app
from hesuan.entrypoints.web.render import WebRoute
from tests.helpers import Api, web_sign_in

_ERRORS: dict[str, HesuanError] = {
    "invalid": InvalidInput("x: bad", code="bad_x", field="x"),
    "fields": InvalidFields([InvalidInput("a: bad", field="a"), InvalidInput("b: bad", field="b")]),
    "missing": NotFound("no such x"),
    "rule": RuleViolation("x is full"),
    "conflict": Conflict("x is used"),
    "denied": PermissionDenied("not yours"),
    "busy": TooManyAttempts("slow down", retry_after=30),
    "down": StoreUnavailable("disk full", retry_after=10),
    "other": HesuanError("something else"),
}
_EXPECTED = {"invalid": 422, "fields": 422, "missing": 404, "rule": 409, "conflict": 409,
             "denied": 403, "busy": 429, "down": 503, "other": 400}


def _raise(kind: str) -> None:
    raise _ERRORS[kind]


def test_web_and_api_answer_the_same_status_for_each_error(api: Api) -> None:
    app = create_app(api.platform)
    web = APIRouter(route_class=WebRoute)
    web.add_api_route("/web/probe/{kind}", _raise, methods=["GET", "POST"])
    app.include_router(web)
    app.add_api_route("/probe/{kind}", _raise, methods=["GET", "POST"])
    with TestClient(app) as client:
        for kind, expected in _EXPECTED.items():
            a = client.post(f"/probe/{kind}")
            assert a.status_code == expected, (kind, a.text)
            assert a.json()["error"]["code"] == _ERRORS[kind].code
            for method, accept in (("GET", "text/html"), ("POST", "text/html"),
                                   ("GET", "application/json")):
                w = client.request(method, f"/web/probe/{kind}", headers={"accept": accept})
                assert w.status_code == a.status_code, (kind, method, accept)
                assert w.headers.get("retry-after") == a.headers.get("retry-after"), kind


def test_a_page_and_the_api_agree_on_a_real_error(api: Api) -> None:
    """An alert that does not exist: the fence service's NotFound, by the page's form and by the
    API's route; a form field that fails its rule: InvalidInput, 422 on both."""
    client = TestClient(api.client.app, base_url="https://testserver")
    csrf = web_sign_in(client, "grid")
    page = client.post("/web/alerts/no-such-alert/acknowledge", data={"csrf": csrf, "note": ""})
    r = api.client.post("/fence/alerts/no-such-alert/acknowledge", headers=api.h("grid"),
                        json={"note": None})
    assert (page.status_code, r.status_code) == (404, 404), (page.text[:300], r.text)
    page = client.post("/web/alerts/no-such-alert/close", data={"csrf": csrf, "outcome": "?"})
    r = api.client.post("/fence/alerts/no-such-alert/close", headers=api.h("grid"),
                        json={"outcome": "?"})
    assert (page.status_code, r.status_code) == (422, 422), (page.text[:300], r.text)
