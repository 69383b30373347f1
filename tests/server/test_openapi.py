"""schemathesis against /openapi.json of a live server: no input earns a 500.

Generated requests carry the admin token, so they reach past authentication into
every handler. Token revocation is left out: a fuzzed DELETE could revoke the
very token the run uses and turn the rest of it into 401s.
"""

from __future__ import annotations

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, status_code_conformance

from tests.server.conftest import Served


def test_the_document_lists_every_route(served: Served) -> None:
    doc = httpx.get(f"{served.url}/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    for path in (
        "/v1/models",
        "/v1/models/{name}/predict",
        "/v1/models/{name}/versions/{version}/predict",
        "/v1/models/{name}/deploy",
        "/v1/models/{name}/rollback",
        "/v1/models/{name}/feedback",
        "/v1/models/{name}/metrics",
        "/v1/events",
        "/healthz",
        "/metrics",
    ):
        assert path in doc["paths"], path


def test_no_generated_request_gets_a_500(served: Served) -> None:
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json").exclude(method="DELETE")
    headers = {"authorization": f"Bearer {served.token}"}
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers=headers, checks=[not_a_server_error, status_code_conformance], timeout=30
            )

        try:
            check()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert operations >= 20
    assert failures == [], "\n\n".join(failures)
