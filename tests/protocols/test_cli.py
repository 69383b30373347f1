"""`deploykit serve --model NAME --grpc-port N` starts what it says, as a user runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import httpx
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from deploykit.registry import Registry
from deploykit.server.protocols import inference_pb2 as pb
from deploykit.server.protocols.inference_service import Stub
from deploykit.server.testing import free_port
from deploykit.settings import Settings

pytestmark = pytest.mark.slow


def test_serve_with_model_and_grpc_port(tmp_path: Path) -> None:
    X, y = make_classification(n_samples=100, n_features=2, n_informative=2, n_redundant=0)
    frame = pd.DataFrame(X, columns=["p", "q"])
    env = {**os.environ, "DEPLOYKIT_HOME": str(tmp_path), "DEPLOYKIT_FSYNC": "0"}
    with Registry(Settings.from_env(env)) as registry:
        registry.push(LogisticRegression().fit(frame, y), "churn", X=frame, deploy=True)
        registry.push(LogisticRegression().fit(frame, y), "other", X=frame, deploy=True)
    port, grpc_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deploykit",
            "serve",
            "--port",
            str(port),
            "--model",
            "churn",
            "--grpc-port",
            str(grpc_port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/ping").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        answer = httpx.post(f"{url}/invocations", json={"dataframe_records": [{"p": 0, "q": 1}]})
        assert answer.status_code == 200, answer.text  # two models: --model picked churn
        assert answer.headers["x-model-version"] == "1"
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = Stub(channel)
            assert stub.ServerReady(pb.ServerReadyRequest(), timeout=10).ready
            assert stub.ModelReady(pb.ModelReadyRequest(name="other"), timeout=10).ready
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        output = proc.communicate(timeout=20)[0].decode()
    assert f"Open Inference v2 over gRPC on 127.0.0.1:{grpc_port}" in output
