"""schemathesis against a live server, every endpoint, with an admin token (issue 12, point 7).

Two runs against the same real server: every operation on its own (positive examples
from the schema), then stateful scenarios that chain operations through the links
schemathesis infers (a pushed version's number into a deploy, a created token's id
into its revocation, ...). Both check that no answer is a 5xx and that every answer
(status, content type, body) is what ``/openapi.json`` says. Deterministic (derandomized
Hypothesis) and bounded: about a minute on a 2-core machine.

The run's own admin token is kept from revocation (a fuzzed DELETE /v1/tokens/{id}
aimed at it is redirected to an id that does not exist); every other token is fair game.
"""

from __future__ import annotations

import io
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import joblib
import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from deploykit.registry import Registry
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer
from deploykit.settings import Settings

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
COLUMNS = ["age", "tenure", "calls", "spend", "visits"]


@dataclass
class Fuzzed:
    url: str
    token: str
    token_id: str
    calls: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)

    def kwargs(self) -> dict[str, Any]:
        return {"headers": {"authorization": f"Bearer {self.token}"}, "timeout": 30}

    def guard(self, case: schemathesis.Case) -> None:
        token_id = str((case.path_parameters or {}).get("token_id"))
        if case.operation.path == "/v1/tokens/{token_id}" and token_id == self.token_id:
            case.path_parameters = {"token_id": "987654321"}  # no such token

    def record(self, case: schemathesis.Case, response: Any) -> None:
        self.calls[f"{case.operation.method.upper()} {case.operation.path}"] += 1
        self.statuses[response.status_code] += 1


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    X, y = make_classification(n_samples=200, n_features=5, random_state=0)
    frame = pd.DataFrame(X, columns=COLUMNS)
    home: Path = tmp_path_factory.mktemp("fuzz-home")
    settings_ = Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"})
    with Registry(settings_.replace(actor="tester")) as registry:
        model = LogisticRegression().fit(frame, y)
        registry.push(model, "churn", X=frame, deploy=True)
        registry.push(LogisticRegression(C=0.1).fit(frame, y), "churn", X=frame, deploy=True)
        registry.push(model, "draft", X=frame)
    config = ServerConfig(log_flush_seconds=0.5, max_body_bytes=256 * 1024)
    with LiveServer(settings_, config) as live:
        assert live.token is not None
        admin = httpx.post(
            f"{live.url}/v1/tokens",
            json={"role": "admin", "name": "fuzzer"},
            headers={"authorization": f"Bearer {live.token}"},
        ).json()
        fuzz = Fuzzed(live.url, admin["token"], str(admin["id"]))
        # Bytes for pushes to point at: a real artifact, so a draft can get past the store.
        buffer = io.BytesIO()
        joblib.dump(model, buffer)
        httpx.post(
            f"{live.url}/v1/artifacts",
            content=buffer.getvalue(),
            headers={**fuzz.kwargs()["headers"], "content-type": "application/octet-stream"},
        )
        yield fuzz


def _report(fuzz: Fuzzed, what: str, started: float, failures: list[str]) -> str:
    return (
        f"{what}: {sum(fuzz.calls.values())} requests over {len(fuzz.calls)} operations in "
        f"{time.monotonic() - started:.0f} s; statuses {dict(sorted(fuzz.statuses.items()))}; "
        f"{len(failures)} failing; operations: {sorted(fuzz.calls)}"
    )


def test_every_operation_alone(fuzzed: Fuzzed, capsys: pytest.CaptureFixture[str]) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json")
    started = time.monotonic()
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=20,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            fuzzed.guard(case)
            response = case.call(**fuzzed.kwargs())
            fuzzed.record(case, response)
            case.validate_response(response, checks=CHECKS)

        try:
            check()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    with capsys.disabled():
        print("\n" + _report(fuzzed, "schemathesis, each operation", started, failures))
    assert operations >= 28  # every route, DELETEs included
    assert failures == [], "\n\n".join(failures)


def test_stateful_scenarios(fuzzed: Fuzzed, capsys: pytest.CaptureFixture[str]) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json")
    base = schema.as_state_machine()
    fuzzed.calls.clear()
    fuzzed.statuses.clear()

    class Scenarios(base):  # type: ignore[valid-type, misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return fuzzed.kwargs()

        def before_call(self, case: schemathesis.Case) -> None:
            fuzzed.guard(case)

        def after_call(self, response: Any, case: schemathesis.Case) -> None:
            fuzzed.record(case, response)

        def validate_response(self, response: Any, case: schemathesis.Case, **_: Any) -> None:
            case.validate_response(response, checks=CHECKS)

    started = time.monotonic()
    failures: list[str] = []
    try:
        Scenarios.run(
            settings=settings(
                max_examples=80,
                stateful_step_count=8,
                deadline=None,
                derandomize=True,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
        )
    except Exception as exc:
        failures.append(str(exc))
    with capsys.disabled():
        print("\n" + _report(fuzzed, "schemathesis, stateful", started, failures))
    assert len(fuzzed.calls) >= 10  # the scenarios reached well past a few operations
    assert failures == [], "\n\n".join(failures)
