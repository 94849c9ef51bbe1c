"""Property-based API fuzzing: schemathesis generates requests from the app's own OpenAPI schema
and checks that none of them gets a 5xx answer (``not_a_server_error``).

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
from schemathesis.checks import not_a_server_error
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
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
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
                                   checks=[not_a_server_error])

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{op.label}: {type(exc).__name__}: {exc}")
    assert operations >= 20
    assert not failures, "\n\n".join(failures)
