"""The MLflow and Open Inference v2 doors are no way around /v1's locks (issue 16).

A server that wants a token for predictions wants it on ``/invocations``, ``/v2`` and
gRPC alike; a stranger learns no other model's name; oversized requests are refused
before they cost the worker anything; errors name no folder or database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from deploykit.registry import Registry
from deploykit.server.config import ServerConfig
from deploykit.server.protocols import inference_pb2 as pb
from deploykit.server.protocols.inference_service import Stub
from deploykit.server.testing import LiveServer, free_port
from deploykit.settings import Settings

pytestmark = pytest.mark.slow

BODY = {"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP64", "data": [0.1, 0.2]}]}


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str, Path]]:
    X, y = make_classification(n_samples=100, n_features=2, n_informative=2, n_redundant=0)
    frame = pd.DataFrame(X, columns=["x", "z"])
    home: Path = tmp_path_factory.mktemp("locked-home")
    settings = Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"})
    with Registry(settings.replace(actor="tester")) as registry:
        registry.push(LogisticRegression().fit(frame, y), "secret-model", X=frame, deploy=True)
    port = free_port()
    config = ServerConfig(predict_requires_token=True, grpc_port=port, max_body_bytes=4096)
    with LiveServer(settings, config) as server:
        assert server.token is not None
        yield server.url, f"127.0.0.1:{port}", server.token, home


def test_http_doors_want_the_token(locked: tuple[str, str, str, Path]) -> None:
    url, _, token, home = locked
    calls = [
        ("POST", "/v2/models/secret-model/infer", BODY),
        ("GET", "/v2/models/secret-model", None),
        ("GET", "/v2/models/secret-model/ready", None),
        ("POST", "/invocations", {"inputs": [[0.1, 0.2]]}),
        ("POST", "/models/secret-model/invocations", {"inputs": [[0.1, 0.2]]}),
    ]
    for method, path, body in calls:
        answer = httpx.request(method, url + path, json=body)
        assert answer.status_code == 401, (path, answer.text)
        assert "needs a token" in answer.text
        forged = httpx.request(
            method, url + path, json=body, headers={"authorization": "Bearer dk_forged"}
        )
        assert forged.status_code == 401, path
        good = httpx.request(
            method, url + path, json=body, headers={"authorization": f"Bearer {token}"}
        )
        assert good.status_code == 200, (path, good.text)
        assert str(home) not in answer.text


def test_strangers_learn_no_model_names(locked: tuple[str, str, str, Path]) -> None:
    url, address, _, _ = locked
    # a wrong token is refused before the name is looked at: nothing to compare
    answer = httpx.post(f"{url}/v2/models/secret-modl/infer", json=BODY)
    assert answer.status_code == 401
    assert "secret-model" not in answer.text
    with grpc.insecure_channel(address) as channel:
        stub = Stub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.ModelMetadata(pb.ModelMetadataRequest(name="secret-modl"))
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "secret-model" not in (caught.value.details() or "")
        assert stub.ServerLive(pb.ServerLiveRequest()).live  # health stays open


def test_grpc_wants_the_token_in_metadata(locked: tuple[str, str, str, Path]) -> None:
    _, address, token, _ = locked
    request = pb.ModelInferRequest(model_name="secret-model")
    tensor = request.inputs.add(name="input", datatype="FP64", shape=[1, 2])
    tensor.contents.fp64_contents.extend([0.1, 0.2])
    with grpc.insecure_channel(address) as channel:
        stub = Stub(channel)
        for metadata in ((), (("authorization", "Bearer dk_forged"),)):
            with pytest.raises(grpc.RpcError) as caught:
                stub.ModelInfer(request, metadata=metadata)
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        answer = stub.ModelInfer(request, metadata=(("authorization", f"Bearer {token}"),))
        assert answer.model_name == "secret-model"


def test_oversized_requests_are_refused(locked: tuple[str, str, str, Path]) -> None:
    url, address, token, _ = locked
    auth = {"authorization": f"Bearer {token}"}
    big = {"inputs": [{"name": "input", "shape": [400, 2], "datatype": "FP64",
                       "data": [0.123456] * 800}]}  # fmt: skip
    answer = httpx.post(f"{url}/v2/models/secret-model/infer", json=big, headers=auth)
    assert answer.status_code == 413
    assert "max_body_bytes" in answer.json()["error"]
    csv = "x,z\n" + "0.123456,0.654321\n" * 400
    answer = httpx.post(
        f"{url}/invocations", content=csv, headers={**auth, "content-type": "text/csv"}
    )
    assert answer.status_code == 413
    assert answer.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    request = pb.ModelInferRequest(model_name="secret-model")
    request.raw_input_contents.append(b"\0" * 8000)
    with grpc.insecure_channel(address) as channel:
        stub = Stub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.ModelInfer(request, metadata=(("authorization", f"Bearer {token}"),))
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
