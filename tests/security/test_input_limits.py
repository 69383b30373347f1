"""Issue 12, point 4: a predict request cannot stall a worker, whatever it holds.

Against a real ``deploykit serve`` on loopback: requests naming 50,000 or a million
columns, or too many rows or values, are refused with a 413 that names the limit and
the setting, quickly and with a small body; column checks are linear and their
messages bounded; other clients keep being served while such requests arrive.
"""

from __future__ import annotations

import dataclasses
import io
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import joblib
import orjson
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from deploykit.registry import Registry, prepare_draft
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer
from deploykit.settings import Settings
from deploykit.signature import Signature

COLUMNS = ["age", "tenure", "calls", "spend", "visits"]


@dataclass
class Server:
    url: str
    token: str

    def predict(self, model: str, body: bytes, **kwargs: Any) -> httpx.Response:
        return httpx.post(
            f"{self.url}/v1/models/{model}/predict",
            content=body,
            headers={"content-type": "application/json"},
            timeout=60,
            **kwargs,
        )


def _settings(home: Path) -> Settings:
    return Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"}).replace(
        actor="tester"
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    X, y = make_classification(n_samples=200, n_features=5, random_state=0)
    frame = pd.DataFrame(X, columns=COLUMNS)
    model = LogisticRegression().fit(frame, y)
    settings = _settings(tmp_path_factory.mktemp("limits-home"))
    with Registry(settings) as registry:
        registry.push(model, "lr", X=frame, deploy=True)
        # A version registered without a signature: its payloads go to the model as sent.
        buffer = io.BytesIO()
        joblib.dump(LogisticRegression().fit(X, y), buffer)
        stored = registry.artifacts.put_stream([buffer.getvalue()])
        draft = prepare_draft(model, format="joblib", digest=stored.digest, size=stored.size)
        registry.register("nosig", dataclasses.replace(draft, signature=None), deploy=True)
    config = ServerConfig(max_rows=1_000, log_sample_rate=0.0)
    with LiveServer(settings, config) as live:
        assert live.token is not None
        yield Server(live.url, live.token)


def split(columns: list[str], row: list[Any]) -> bytes:
    return orjson.dumps({"dataframe_split": {"columns": columns, "data": [row]}})


def error_of(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


GOOD = split(COLUMNS, [0.1, 0.2, 0.3, 0.4, 0.5])


def test_fifty_thousand_columns_answer_413_at_once_naming_the_limit(server: Server) -> None:
    # The request of the issue: 50,000 names (f0..f19 repeated), one row, no token.
    names = [f"f{i % 20}" for i in range(50_000)]
    body = split(names, [0.0] * 50_000)
    server.predict("lr", GOOD)  # a warm connection pool on the server side, as in real use
    started = time.perf_counter()
    response = server.predict("lr", body)
    elapsed = time.perf_counter() - started
    assert response.status_code == 413, response.text
    message = error_of(response)["message"]
    assert "50,000 columns" in message
    assert "max_columns" in message
    assert "DEPLOYKIT_SERVE_MAX_COLUMNS" in message
    assert "age, tenure, calls, spend, visits" in message  # what to send instead
    assert len(response.content) < 1_000
    assert elapsed < 0.5, f"{elapsed:.3f} s"  # 22 s before; bench/security measures ~ms


@pytest.mark.parametrize("shape", ["dataframe_split", "dataframe_records"])
def test_a_million_unknown_columns_are_refused_before_decoding(server: Server, shape: str) -> None:
    names = [f"c{i}" for i in range(1_000_000)]
    if shape == "dataframe_split":
        body = split(names, [0] * len(names))
    else:
        body = orjson.dumps({"dataframe_records": [dict.fromkeys(names, 0)]})
    started = time.perf_counter()
    response = server.predict("lr", body)
    elapsed = time.perf_counter() - started
    assert response.status_code == 413, response.text[:500]
    message = error_of(response)["message"]
    assert "max_cells" in message
    assert "DEPLOYKIT_SERVE_MAX_CELLS" in message
    assert len(response.content) < 1_000  # was 29.9 MB
    assert elapsed < 2.0, f"{elapsed:.3f} s"  # was 17-19 s; mostly the 12 MB upload now


def test_too_many_rows_name_max_rows(server: Server) -> None:
    body = orjson.dumps({"instances": [[0.0] * 5] * 1_001})
    response = server.predict("lr", body)
    assert response.status_code == 413
    message = error_of(response)["message"]
    assert "1,001 rows" in message
    assert "at most 1,000" in message
    assert "DEPLOYKIT_SERVE_MAX_ROWS" in message
    assert server.predict("lr", orjson.dumps({"instances": [[0.0] * 5] * 1_000})).is_success


def test_wide_records_name_max_columns(server: Server) -> None:
    record = {f"x{i}": 0 for i in range(1_001)}
    response = server.predict("lr", orjson.dumps({"dataframe_records": [record]}))
    assert response.status_code == 413
    assert "1,001 columns" in error_of(response)["message"]


def test_unknown_columns_under_the_cap_are_ignored_and_the_answer_stays_short(
    server: Server,
) -> None:
    names = [*COLUMNS[:4], *(f"extra{i}" for i in range(900))]  # 'visits' is missing
    response = server.predict("lr", split(names, [0.0] * len(names)))
    assert response.status_code == 422
    error = error_of(response)
    assert error["type"] == "SignatureError"
    assert error["problems"] == ["missing column: 'visits'"]  # extras are not problems online
    assert len(response.content) < 4_000
    # with every column there, the 900 extras are ignored and reported, not refused
    response = server.predict("lr", split([*COLUMNS, *names[4:]], [0.0] * (len(names) + 1)))
    assert response.status_code == 200
    assert len(response.json()["ignored_columns"]) == 900


def test_a_misspelt_column_still_gets_its_suggestion(server: Server) -> None:
    names = ["agee", *COLUMNS[1:]]
    response = server.predict("lr", split(names, [0.0] * 5))
    assert response.status_code == 422
    assert "unexpected column 'agee' (did you mean 'age'?)" in error_of(response)["problems"]


def test_duplicate_columns_are_named_once(server: Server) -> None:
    names = [*COLUMNS, "age", "age", "calls"]
    response = server.predict("lr", split(names, [0.0] * 8))
    assert response.status_code == 422
    assert "duplicate columns: 'age', 'calls'" in error_of(response)["problems"]


def test_ragged_instances_without_a_signature_get_a_422(server: Server) -> None:
    response = server.predict("nosig", orjson.dumps({"instances": [[1, 2, 3, 4, 5], [1, 2]]}))
    assert response.status_code == 422, response.text
    assert "same number of values" in error_of(response)["message"]
    ok = server.predict("nosig", orjson.dumps({"instances": [[0.0] * 5]}))
    assert ok.status_code == 200, ok.text


def _fastest(work: Any) -> tuple[float, Any]:
    """(best of three wall times, the result): the least disturbed by other processes."""
    best, result = float("inf"), None
    for _ in range(3):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


def test_column_problems_are_linear_and_bounded() -> None:
    from collections import Counter

    from deploykit._coerce import column_problems

    signature = Signature.infer(pd.DataFrame({c: [0.0] for c in COLUMNS}))
    # Measured against one Counter pass over the same names, so a busy machine slows both
    # alike: the old code was quadratic (duplicates) and called difflib once per name.
    repeated = [f"f{i % 20}" for i in range(1_000_000)]  # a million names, 20 distinct
    distinct = [f"c{i}" for i in range(1_000_000)]  # a million distinct unknown names
    for names in (repeated, distinct):
        one_pass, _ = _fastest(lambda n=names: Counter(n))
        took, problems = _fastest(lambda n=names: column_problems(signature, n, False))
        assert took < 6 * one_pass, f"{took:.3f} s vs {one_pass:.3f} s for one Counter pass"
        assert len(problems) <= 8
        assert sum(map(len, problems)) < 2_000
        assert problems[0].startswith("missing columns: 'age'")
        if names is repeated:
            assert problems[-1].startswith("duplicate columns: 'f0', 'f1'")
        else:
            assert "and 999,995 more unexpected columns" in problems[-1]


def test_other_clients_keep_being_served_during_an_attack(server: Server) -> None:
    attack = split([f"f{i % 20}" for i in range(50_000)], [0.0] * 50_000)
    huge = split([f"c{i}" for i in range(1_000_000)], [0] * 1_000_000)
    stop = threading.Event()
    refused: list[int] = []

    def attacker() -> None:
        with httpx.Client(timeout=60) as client:
            while not stop.is_set():
                for body in (attack, huge):
                    r = client.post(
                        f"{server.url}/v1/models/lr/predict",
                        content=body,
                        headers={"content-type": "application/json"},
                    )
                    refused.append(r.status_code)

    thread = threading.Thread(target=attacker)
    thread.start()
    latencies = []
    try:
        with httpx.Client(timeout=60) as client:
            for _ in range(200):
                started = time.perf_counter()
                r = client.post(
                    f"{server.url}/v1/models/lr/predict",
                    content=GOOD,
                    headers={"content-type": "application/json"},
                )
                latencies.append(time.perf_counter() - started)
                assert r.status_code == 200
    finally:
        stop.set()
        thread.join()
    assert refused
    assert set(refused) == {413}
    # One core each for client and server at best, shared with other work: loose bounds
    # that still catch the 17-22 s stalls this replaced.
    assert statistics.median(latencies) < 0.05
    assert max(latencies) < 1.0, f"max {max(latencies):.3f} s"
