"""`deploykit serve --model NAME --grpc-port N` starts what it says, as a user runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
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


def test_up_with_grpc_port_serves_the_demo_over_grpc(tmp_path: Path) -> None:
    """`deploykit up`, the README's main command, takes --grpc-port as serve does."""
    port, grpc_port = free_port(), free_port()
    env = {**os.environ, "DEPLOYKIT_HOME": str(tmp_path / "home"), "DEPLOYKIT_FSYNC": "0"}
    env.pop("DEPLOYKIT_SERVER_URL", None)
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "deploykit", "up", "--no-console"),
            *("--port", str(port), "--grpc-port", str(grpc_port)),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(line.decode() for line in proc.stdout or ()), daemon=True
    )
    reader.start()
    try:
        # the banner is up's "ready": it appears once the server answers
        deadline = time.monotonic() + 120
        while not any("Ctrl+C stops" in line for line in lines):
            assert proc.poll() is None, f"deploykit up exited: {''.join(lines)}"
            assert time.monotonic() < deadline, f"no banner in 120 s: {''.join(lines)}"
            time.sleep(0.2)
        model = "demo-breast-cancer"
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = Stub(channel)
            assert stub.ModelReady(pb.ModelReadyRequest(name=model), timeout=30).ready
            meta = stub.ModelMetadata(pb.ModelMetadataRequest(name=model), timeout=30)
            (tensor,) = meta.inputs
            width = int(tensor.shape[1])
            request = pb.ModelInferRequest(model_name=model)
            request.inputs.add(name=tensor.name, datatype="FP64", shape=[1, width])
            request.inputs[0].contents.fp64_contents.extend([0.0] * width)
            answer = stub.ModelInfer(request, timeout=30)
            assert answer.model_name == model
            assert answer.outputs[0].name == "predict"
            # the same validation as HTTP: a row one value short is refused, naming the shape
            short = pb.ModelInferRequest(model_name=model)
            short.inputs.add(name=tensor.name, datatype="FP64", shape=[1, width])
            short.inputs[0].contents.fp64_contents.extend([0.0] * (width - 1))
            with pytest.raises(grpc.RpcError) as refused:
                stub.ModelInfer(short, timeout=30)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert f"holds {width} values" in (refused.value.details() or "")
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        reader.join(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert f"Open Inference v2 over gRPC on 127.0.0.1:{grpc_port}" in "".join(lines)


def test_up_refuses_a_busy_grpc_port_before_starting_anything(tmp_path: Path) -> None:
    import socket

    env = {**os.environ, "DEPLOYKIT_HOME": str(tmp_path / "home"), "DEPLOYKIT_FSYNC": "0"}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        done = subprocess.run(
            [
                *(sys.executable, "-m", "deploykit", "up", "--no-console"),
                *("--port", str(free_port()), "--grpc-port", str(taken)),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode != 0
    assert f"Port {taken} on 127.0.0.1 is already in use" in done.stdout + done.stderr
    assert "--grpc-port" in done.stdout + done.stderr
    assert not (tmp_path / "home" / "token").exists()  # nothing started, no token made
