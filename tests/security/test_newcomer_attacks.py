"""What a new user and an attacker met in their first hour with a running server.

Against a real ``deploykit serve`` on loopback (two models, v2 gRPC on): the hints in
error messages keep this server's own routes readable; an error quoting a value of
megabytes stays a few kilobytes on every door (gRPC refuses status details over
16 KiB); a token sent without ``Bearer`` is never echoed back; a CSV header of 50,000
columns is refused before pandas reads it; a CSV whose rows are wider than its header,
or that has no header, gets a 400 saying so instead of predictions on shifted columns;
a server that loads no pickle does not unpickle one to compare two versions on rows sent.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import joblib
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from deploykit.errors import PickleWarning
from deploykit.registry import Registry, prepare_draft
from deploykit.server.auth import TokenStore
from deploykit.server.config import ServerConfig
from deploykit.server.payloads import Limits
from deploykit.server.protocols import inference_pb2 as pb
from deploykit.server.protocols.inference_service import Stub
from deploykit.server.protocols.mlflow import _csv
from deploykit.server.testing import LiveServer, free_port
from deploykit.server.wire import MAX_MESSAGE_CHARS, public
from deploykit.settings import Settings

pytestmark = pytest.mark.slow

COLUMNS = ["age", "tenure", "calls"]
HUGE = "x" * 3_000_000  # under the body limit, far over any sane error


@dataclass
class Server:
    url: str
    grpc: str
    token: str
    home: Path

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(self.url + path, timeout=60, **kwargs)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    X, y = make_classification(n_samples=120, n_features=3, n_informative=3, n_redundant=0)
    frame = pd.DataFrame(X, columns=COLUMNS)
    home = tmp_path_factory.mktemp("first-hour-home")
    settings = Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"})
    with Registry(settings.replace(actor="tester")) as registry:
        for name in ("churn", "upsell"):  # two models: /invocations cannot guess
            registry.push(LogisticRegression().fit(frame, y), name, X=frame, deploy=True)
    port = free_port()
    config = ServerConfig(grpc_port=port, log_sample_rate=0.0)
    with LiveServer(settings, config) as live:
        assert live.token is not None
        yield Server(live.url, f"127.0.0.1:{port}", live.token, home)


def healthy(server: Server) -> None:
    assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200


# -- hints name this server's routes ------------------------------------------------------


def test_route_hints_are_not_mistaken_for_server_paths(server: Server) -> None:
    answer = server.post("/invocations", json={"instances": [[0.1, 0.2, 0.3]]})
    assert answer.status_code == 404
    assert "Post to /models/NAME/invocations" in answer.json()["message"]
    answer = server.post("/v2/models/churn/versions/abc/infer", json={})
    assert answer.status_code == 422
    assert "/v2/models/churn/versions/3/infer" in answer.json()["error"]
    assert "<path>" not in answer.text


def test_server_paths_are_still_hidden() -> None:
    message = public("cannot read /srv/models/churn/model.joblib; see /models/x/invocations")
    assert "/srv/models" not in message
    assert "/models/x/invocations" in message


# -- errors stay small whatever they quote ------------------------------------------------


def test_a_megabyte_value_gets_a_small_error_on_v1_mlflow_and_v2(server: Server) -> None:
    record = {"age": HUGE, "tenure": 1.0, "calls": 2.0}
    v1 = server.post("/v1/models/churn/predict", json={"dataframe_records": [record]})
    assert v1.status_code == 422
    mlflow = server.post("/models/churn/invocations", json={"dataframe_records": [record]})
    assert mlflow.status_code == 400
    tensor = {"name": "input", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}
    v2 = server.post(
        "/v2/models/churn/infer", json={"inputs": [tensor], "outputs": [{"name": HUGE}]}
    )
    assert v2.status_code == 422
    for answer in (v1, mlflow, v2):
        assert len(answer.content) < 3 * MAX_MESSAGE_CHARS, len(answer.content)
        assert "characters cut" in answer.text
    assert "'age'" in v1.text
    assert "expected float64" in v1.text
    assert "must be one of 'predict', 'predict_proba'" in v2.text
    healthy(server)


def test_a_huge_datatype_over_grpc_gets_its_status_not_a_broken_stream(server: Server) -> None:
    request = pb.ModelInferRequest(model_name="churn")
    tensor = request.inputs.add(name="input", datatype="Q" * 1_000_000, shape=[1, 3])
    tensor.contents.fp64_contents.extend([0.1, 0.2, 0.3])
    with grpc.insecure_channel(server.grpc) as channel:
        stub = Stub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.ModelInfer(request, timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    details = caught.value.details() or ""
    assert "datatype must be one of" in details
    assert len(details) < 2 * MAX_MESSAGE_CHARS
    healthy(server)


def test_many_problems_are_listed_up_to_a_bound(server: Server) -> None:
    # 3 bad columns each quoting a long value: every problem is cut, the list stays short
    record = {name: "y" * 200_000 for name in COLUMNS}
    answer = server.post("/v1/models/churn/predict", json={"dataframe_records": [record]})
    assert answer.status_code == 422
    assert len(answer.content) < 8 * MAX_MESSAGE_CHARS
    problems = answer.json()["error"].get("problems", [])
    assert all(len(p) < 2 * MAX_MESSAGE_CHARS for p in problems)


# -- a token is never echoed ---------------------------------------------------------------


def test_a_token_sent_without_bearer_is_refused_without_echoing_it(server: Server) -> None:
    answer = server.post(
        "/v1/models/churn/rollback", json={"reason": "x"}, headers={"authorization": server.token}
    )
    assert answer.status_code == 401
    assert server.token not in answer.text
    assert "'Bearer <token>'" in answer.json()["error"]["message"]
    basic = server.post("/v1/models/churn/rollback", json={}, headers={"authorization": "Basic x"})
    assert "Got a 'Basic' header" in basic.json()["error"]["message"]
    request = pb.ModelInferRequest(model_name="churn", model_version="1")
    with grpc.insecure_channel(server.grpc) as channel:
        stub = Stub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.ModelInfer(request, metadata=(("authorization", server.token),), timeout=30)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert server.token not in (caught.value.details() or "")


# -- CSV bodies ---------------------------------------------------------------------------


def csv_post(server: Server, text: str) -> httpx.Response:
    return server.post(
        "/models/churn/invocations", content=text.encode(), headers={"content-type": "text/csv"}
    )


def test_a_csv_header_of_50000_columns_is_refused_before_it_is_parsed(server: Server) -> None:
    wide = ",".join(f"c{i}" for i in range(50_000)) + "\n" + ",".join(["1"] * 50_000) + "\n"
    answer = csv_post(server, wide)
    assert answer.status_code == 413
    assert answer.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    assert "50,000 columns" in answer.json()["message"]
    assert "max_columns" in answer.json()["message"]
    healthy(server)
    # the cost, in this process: pandas took ~5 s of CPU to read this header before
    limits = Limits(rows=100_000, columns=1_000, cells=500_000)
    started = time.process_time()
    with pytest.raises(Exception, match="50,000 columns"):
        _csv(wide.encode(), limits, COLUMNS)
    assert time.process_time() - started < 1.0


def test_csv_rows_wider_than_the_header_are_refused_not_shifted(server: Server) -> None:
    # pandas alone reads the first field as an index and scores (2, 3, 4) as (age, tenure, calls)
    answer = csv_post(server, "age,tenure,calls\n1,2,3,4\n")
    assert answer.status_code == 400, answer.text
    message = answer.json()["message"]
    assert "header names 3 columns" in message
    assert "holds 4 values" in message
    assert csv_post(server, "age,tenure,calls\n1,2,3\n").status_code == 200


def test_a_csv_without_a_header_row_is_told_so(server: Server) -> None:
    answer = csv_post(server, "0.1,0.2,0.3\n")
    assert answer.status_code == 400
    message = answer.json()["message"]
    assert "no data rows" in message
    assert "'0.1', '0.2', '0.3'" in message
    healthy(server)


# -- compare on rows sent, on a server that loads no pickle -----------------------------------


class Payload:
    """Unpickling this calls os.makedirs(marker): the stand-in for a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.makedirs, (self.marker,)


@dataclass
class Safe:
    url: str
    deployer: dict[str, str]
    marker: Path
    hostile: int  # the version whose artifact runs code when unpickled
    compiled: int  # a joblib version that serves from its ONNX artifact


@pytest.fixture(scope="module")
def safe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Safe]:
    X, y = make_classification(n_samples=120, n_features=3, n_informative=3, n_redundant=0)
    frame = pd.DataFrame(X, columns=COLUMNS)
    home = tmp_path_factory.mktemp("safe-home")
    marker = tmp_path_factory.mktemp("safe-marker") / "code-ran"
    settings = Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"})
    model = LogisticRegression().fit(frame, y)
    with Registry(settings.replace(actor="tester")) as registry, warnings.catch_warnings():
        warnings.simplefilter("ignore", PickleWarning)
        registry.push(model, "churn", X=frame, format="skops", deploy=True)
        compiled = registry.push(model, "churn", X=frame, format="joblib").version
        # what a deployer achieves over HTTP: upload crafted bytes, register them as joblib
        buffer = io.BytesIO()
        joblib.dump(Payload(marker), buffer)
        stored = registry.artifacts.put_stream([buffer.getvalue()])
        draft = prepare_draft(model, X=frame, format="joblib")
        hostile = registry.register("churn", draft.with_artifact(stored.digest, stored.size))
        deployer, _ = TokenStore(registry.engine).create("deployer", name="mallory")
    config = ServerConfig.from_env({"DEPLOYKIT_SERVE_FORMATS": "onnx,skops"}, log_sample_rate=0.0)
    with LiveServer(settings, config) as live:
        yield Safe(
            live.url, {"authorization": f"Bearer {deployer}"}, marker, hostile.version, compiled
        )


def test_compare_on_rows_sent_never_unpickles_on_a_safe_server(safe: Safe) -> None:
    rows = {"dataframe_split": {"columns": COLUMNS, "data": [[0.1, 0.2, 0.3]]}}
    for version in (safe.hostile, safe.compiled):
        answer = httpx.post(
            f"{safe.url}/v1/models/churn/compare",
            json={"a": 1, "b": version, "data": rows},
            headers=safe.deployer,
            timeout=60,
        )
        assert answer.status_code == 409, answer.text
        message = answer.json()["error"]["message"]
        assert "DEPLOYKIT_SERVE_FORMATS=onnx,skops" in message
        assert "GET /v1/models/churn/compare" in message
    assert not safe.marker.exists()
    # the compiled version still serves, from ONNX; the skops one compares on rows sent
    answer = httpx.post(
        f"{safe.url}/v1/models/churn/versions/{safe.compiled}/predict",
        json={"dataframe_split": {"columns": COLUMNS, "data": [[0.1, 0.2, 0.3]]}},
        headers=safe.deployer,
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    assert not safe.marker.exists()
    assert httpx.get(f"{safe.url}/healthz", timeout=10).status_code == 200


# -- the CLI's durations --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["estimated", "churn", "--step", "inf"], "--step"),  # was an OverflowError traceback
        (["estimated", "churn", "--step", "0"], "--step"),  # was "cuts 86400 s into 86401 windows"
        (["estimated", "churn", "--since", "inf"], "--since"),  # was "Got -inf instead"
        (["gc", "--older-than", "1e300"], "--older-than"),
    ],
)
def test_cli_durations_out_of_range_are_one_line_naming_the_flag(
    args: list[str],
    flag: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from deploykit.cli import main

    for key in [k for k in os.environ if k.startswith("DEPLOYKIT_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("DEPLOYKIT_HOME", str(tmp_path))
    X, y = make_classification(n_samples=60, n_features=3, n_redundant=0, random_state=0)
    frame = pd.DataFrame(X, columns=COLUMNS)
    with Registry() as registry:
        registry.push(LogisticRegression().fit(frame, y), "churn", X=frame, format="skops")
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 1
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert f"{flag} must be a duration" in err
    assert "at most 36500d" in err


def test_serve_with_a_misspelt_model_says_so_at_start(tmp_path: Path) -> None:
    X, y = make_classification(n_samples=60, n_features=3, n_redundant=0, random_state=0)
    frame = pd.DataFrame(X, columns=COLUMNS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYKIT_")}
    env.update(DEPLOYKIT_HOME=str(tmp_path), DEPLOYKIT_FSYNC="0")
    with Registry(Settings.from_env(env)) as registry:
        registry.push(LogisticRegression().fit(frame, y), "churn", X=frame, deploy=True)
    port = free_port()
    command = [sys.executable, "-m", "deploykit", "serve", "--model", "chrun", "--port", str(port)]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        lines = []
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if not line or line.startswith("note:"):
                break
        assert lines[-1].startswith("note: --model: no model named 'chrun'"), lines
        assert "did you mean 'churn'?" in lines[-1]
    finally:
        process.terminate()
        process.communicate(timeout=30)  # drains and closes the pipe
