"""Property-based API fuzzing: schemathesis generates requests from the app's own OpenAPI schema
and checks that none of them gets a 5xx answer (``not_a_server_error``) and that every answer
is one the document describes: its status (``status_code_conformance``), media type
(``content_type_conformance``), body (``response_schema_conformance``) and headers
(``response_headers_conformance``), and that a request the document calls invalid is refused
(``negative_data_rejection``). openapi-spec-validator checks the document itself.

The app runs in-process (ASGI) over a small example city, on SQLite and on PostgreSQL (the
stricter store: it refuses NUL bytes and over-long strings that SQLite lets through),
authenticated as the admin so that requests get past the bearer check and reach the services.
For every operation, Hypothesis draws positive (schema-valid) and negative (schema-violating)
requests, and — where the path names a person or a lab — requests about a real one, so that
the services, not only the 404 path, are exercised. Examples per operation are bounded so each
backend runs in well under a minute.

(Schemathesis' own ``from_fixture``/``parametrize`` runner does not work under pytest 9, so the
operations are driven here with ``APIOperation.as_strategy`` and a Hypothesis test each.)
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok
from sqlalchemy import text

from hesuan.bootstrap import Platform
from hesuan.entrypoints.api.app import create_app
from hesuan.sim.example import DEMO_PASSWORD, seed_example_city

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

#: Hypothesis examples per API operation (about 50 operations: ~15 s of CPU per backend), more
#: for the write paths of the sample-to-report chain, where odd input meets storage.
EXAMPLES = 10
CHAIN_EXAMPLES = 30
CHAIN = {"POST /scans", "POST /scans/batch", "POST /boxes/{box_code}/handover",
         "POST /boxes/{box_code}/receive", "POST /labs/{lab_id}/results",
         "POST /labs/{lab_id}/results.csv", "POST /people", "POST /auth/token"}


#: What every answer is checked for.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance, negative_data_rejection]
#: Operations a request the document calls invalid may reach without being refused whole:
#: station events and lab results are answered one by one, in a 200 (an event or result that
#: breaks a rule, a malformed barcode among them, is ``rejected`` alone: docs/API.md), and a
#: file upload's part is bytes, whatever type the generator meant it to have.
NOT_REFUSED_WHOLE = {"POST /scans", "POST /scans/batch", "POST /lanes/batch",
                     "POST /labs/{lab_id}/results",
                     "POST /labs/{lab_id}/results.csv"}


def _strategies(op: Any, known: dict[str, str]) -> Any:
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    out = [op.as_strategy(m) for m in modes]
    names = {p.name for p in op.path_parameters}
    fixed = {k: v for k, v in known.items() if k in names}
    if fixed:
        out.append(op.as_strategy(GenerationMode.POSITIVE, path_parameters=fixed))
    return st.one_of(out)


def test_no_server_errors(platform: Platform) -> None:
    city = seed_example_city(platform, people=20)
    with platform.engine.connect() as c:
        person_id = c.execute(text("SELECT id FROM people ORDER BY id LIMIT 1")).scalar_one()
    known = {"person_id": person_id, "lab_id": city.labs["lab1"]}
    headers = {"Authorization": f"Bearer {platform.auth.login('admin', DEMO_PASSWORD)}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(platform))
    # the bearer token is sent with every request (below), and a query parameter the document
    # does not name is ignored, as HTTP APIs do: neither makes a request invalid
    schema.config.generation.update(allow_extra_parameters=False, with_security_parameters=False)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # every operation's schema is readable
        op = result.ok()
        operations += 1

        @settings(max_examples=CHAIN_EXAMPLES if op.label in CHAIN else EXAMPLES,
                  deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=_strategies(op, known))
        def run(case: Any) -> None:
            # signing out would end the shared token: that operation gets one of its own
            own = (f"Bearer {platform.auth.login('admin', DEMO_PASSWORD)}"
                   if case.operation.label == "POST /auth/logout" else None)
            case.call_and_validate(headers=headers if own is None else {"Authorization": own},
                                   checks=CHECKS, excluded_checks=(
                                       [negative_data_rejection]
                                       if case.operation.label in NOT_REFUSED_WHOLE else []))

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failure
            inner = getattr(exc, "exceptions", None) or [exc]
            failures.append(f"{op.label}: " + "; ".join(f"{type(e).__name__}: {e}"[:1500]
                                                         for e in inner))
    assert operations >= 20
    assert not failures, "\n\n".join(failures)
