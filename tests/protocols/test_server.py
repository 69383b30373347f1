"""What /v1 has applies on the other protocols too: hot swap, signed request ids that
feedback accepts, telemetry, the prediction log, the limits; and the wire details
(binary tensors, MLflow's error shape, which model /invocations scores)."""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import numpy as np
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

COLUMNS = ["a", "b", "c"]


class Live:
    def __init__(
        self, url: str, grpc_address: str, token: str, frame: pd.DataFrame, home: Path
    ) -> None:
        self.home = home
        self.url = url
        self.grpc = grpc_address
        self.token = token
        self.frame = frame

    def infer(self, body: object, path: str = "/v2/models/m/infer", **kw: object) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", json=body, timeout=30, **kw)  # type: ignore[arg-type]

    def admin(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


def _row_tensor(rows: list[list[float]]) -> dict[str, object]:
    return {
        "inputs": [
            {
                "name": "input",
                "shape": [len(rows), len(rows[0])],
                "datatype": "FP64",
                "data": rows,  # nested: the spec allows it
            }
        ],
        "outputs": [{"name": "predict"}],
    }


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    X, y = make_classification(n_samples=200, n_features=3, n_informative=3, n_redundant=0,
                               random_state=1)  # fmt: skip
    frame = pd.DataFrame(X, columns=COLUMNS)
    home: Path = tmp_path_factory.mktemp("protocols-server")
    settings = Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"})
    with Registry(settings.replace(actor="tester")) as registry:
        registry.push(LogisticRegression().fit(frame, y), "m", X=frame, deploy=True)
        registry.push(LogisticRegression().fit(frame, 1 - y), "m", X=frame, deploy=True)
        registry.push(LogisticRegression().fit(frame, y), "other", X=frame, deploy=True)
    port = free_port()
    config = ServerConfig(workers=2, grpc_port=port, log_flush_seconds=0.2, max_rows=50)
    with LiveServer(settings, config) as server:
        assert server.token is not None
        yield Live(server.url, f"127.0.0.1:{port}", server.token, frame, home)


def test_deploy_reaches_v2_and_grpc_on_every_worker(live: Live) -> None:
    rows = live.frame.head(2).to_numpy().tolist()
    before = live.infer(_row_tensor(rows)).json()
    assert before["model_version"] == "2"
    moved = httpx.post(
        f"{live.url}/v1/models/m/deploy", json={"version": 1}, headers=live.admin(), timeout=30
    )
    assert moved.status_code == 200
    # every worker follows (tests/server/test_hotswap.py holds the latency to account;
    # here a 2-core machine shared with other jobs gets a few seconds)
    deadline = time.monotonic() + 5.0
    versions: set[str] = set()
    while time.monotonic() < deadline:
        versions = {live.infer(_row_tensor(rows)).json()["model_version"] for _ in range(20)}
        if versions == {"1"}:
            break
        time.sleep(0.2)
    assert versions == {"1"}
    request = pb.ModelInferRequest(model_name="m")
    tensor = request.inputs.add(name="input", datatype="FP64", shape=[1, 3])
    tensor.contents.fp64_contents.extend(rows[0])
    answers = set()
    for _ in range(8):  # a connection each: the kernel spreads them over the workers
        with grpc.insecure_channel(live.grpc) as channel:
            stub = Stub(channel)
            answers.add(stub.ModelInfer(request, timeout=30).model_version)
    assert answers == {"1"}
    httpx.post(f"{live.url}/v1/models/m/deploy", json={"version": 2}, headers=live.admin())


def test_v2_request_ids_take_feedback_and_count_in_telemetry(live: Live) -> None:
    rows = live.frame.head(3).to_numpy().tolist()
    answer = live.infer(_row_tensor(rows), headers={"x-request-id": "trace-1"})
    assert answer.status_code == 200
    body = answer.json()
    assert answer.headers["x-request-id"] == body["parameters"]["request_id"]
    assert body["id"] == body["parameters"]["request_id"]  # no id in the request
    signed = body["parameters"]["request_id"]
    feedback = httpx.post(
        f"{live.url}/v1/models/m/feedback",
        json={"request_id": signed, "label": [1, 0, 1]},
        headers=live.admin(),
    )
    assert feedback.status_code == 200, feedback.text
    # MLflow's scoring path is counted as well
    mlflow = httpx.post(
        f"{live.url}/models/m/invocations", json={"inputs": rows}, timeout=30
    )  # fmt: skip
    assert mlflow.status_code == 200
    assert len(mlflow.json()["predictions"]) == 3
    time.sleep(3.0)  # telemetry flushes every 2 s
    metrics = httpx.get(f"{live.url}/metrics").text
    rows_line = next(
        line for line in metrics.splitlines()
        if line.startswith('deploykit_prediction_rows_total{model="m"')
    )  # fmt: skip
    assert float(rows_line.rsplit(" ", 1)[1]) >= 6


def test_binary_tensors_and_their_errors(live: Live) -> None:
    rows = np.asarray(live.frame.head(2).to_numpy(), dtype="<f4")
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "shape": [2, 3],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": rows.nbytes},
                }
            ],
            "outputs": [{"name": "predict_proba", "parameters": {"binary_data": True}}],
        }
    ).encode()
    answer = httpx.post(
        f"{live.url}/v2/models/m/infer",
        content=header + rows.tobytes(),
        headers={
            "content-type": "application/octet-stream",
            "inference-header-content-length": str(len(header)),
        },
    )
    assert answer.status_code == 200
    size = int(answer.headers["inference-header-content-length"])
    meta = json.loads(answer.content[:size])
    out = meta["outputs"][0]
    assert out["name"] == "predict_proba"
    assert out["shape"] == [2, 2]
    proba = np.frombuffer(answer.content[size:], dtype="<f8").reshape(2, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # fewer bytes than the shape needs: a 400/422 naming the input and the byte counts
    short = httpx.post(
        f"{live.url}/v2/models/m/infer",
        content=header + rows.tobytes()[:-4],
        headers={"inference-header-content-length": str(len(header))},
    )
    assert short.status_code == 422
    assert "binary_data_size 24, but only 20 bytes" in short.json()["error"]
    bogus = httpx.post(
        f"{live.url}/v2/models/m/infer",
        content=b"{}",
        headers={"inference-header-content-length": "99"},
    )
    assert bogus.status_code == 400
    assert "Inference-Header-Content-Length is 99" in bogus.json()["error"]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"inputs": []}, 422, "'inputs' must be a non-empty list"),
        (
            {"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP99", "data": [1]}]},
            422,
            "datatype must be one of BOOL",
        ),
        (
            {"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP64", "data": [1, 2]}]},
            422,
            "shape [1, 3] holds 3 values. Got 2 values",
        ),
        (
            {
                "inputs": [
                    {"name": "input", "shape": [1, 3], "datatype": "INT64", "data": [1, 2.5, 3]}
                ]
            },
            422,
            "must hold integers for datatype INT64. Got a number 2.5 at position 1",
        ),
        (
            {"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": ["x"]}]},
            422,
            "must hold numbers for datatype FP64. Got a string 'x'",
        ),
        (
            {
                "inputs": [
                    {"name": "input", "shape": [60, 3], "datatype": "FP64", "data": [0.0] * 180}
                ]
            },
            413,
            "max_rows",
        ),
    ],
)
def test_v2_errors_name_the_field(live: Live, body: object, status: int, words: str) -> None:
    answer = live.infer(body)
    assert answer.status_code == status, answer.text
    assert set(answer.json()) == {"error"}
    assert words in answer.json()["error"]


def test_invocations_needs_a_model_when_several_are_served(live: Live) -> None:
    answer = httpx.post(f"{live.url}/invocations", json={"inputs": [[0.0, 0.0, 0.0]]})
    assert answer.status_code == 404
    body = answer.json()
    assert set(body) == {"error_code", "message"}
    assert body["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert "serve --model NAME" in body["message"]
    assert httpx.get(f"{live.url}/ping").status_code == 200  # the server is up all the same
    assert httpx.get(f"{live.url}/models/nope/ping").status_code == 404
    csv = httpx.post(
        f"{live.url}/models/m/invocations",
        content="a,b,c\n0.1,abc,0.3\n",
        headers={"content-type": "text/csv"},
    )
    assert csv.status_code == 400
    assert csv.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "'b'" in csv.json()["message"]


def test_bytes_in_raw_grpc_inputs_decode_per_element() -> None:
    from deploykit.errors import InvalidInputError
    from deploykit.server.protocols.tensors import decode_raw, encode_raw

    raw = encode_raw(np.array(["pro", "é"], dtype=object), "BYTES")
    assert raw == struct.pack("<I", 3) + b"pro" + struct.pack("<I", 2) + "é".encode()
    assert decode_raw(raw, "BYTES", [2], "inputs[0]") == ["pro", "é"]
    with pytest.raises(InvalidInputError, match="runs past the data sent"):
        decode_raw(raw[:-1], "BYTES", [2], "inputs[0]")


def test_grpc_contents_mistakes_name_the_field(live: Live) -> None:
    """Values in both contents and raw_input_contents are refused (the v2 spec), and values
    in the wrong typed field are named instead of counted as none."""
    values = live.frame.head(1).to_numpy()[0]
    both = pb.ModelInferRequest(model_name="m")
    tensor = both.inputs.add(name="input", datatype="FP64", shape=[1, 3])
    tensor.contents.fp64_contents.extend(values.tolist())
    both.raw_input_contents.append(values.astype("<f8").tobytes())
    wrong = pb.ModelInferRequest(model_name="m")
    tensor = wrong.inputs.add(name="input", datatype="INT32", shape=[1, 3])
    tensor.contents.fp64_contents.extend(values.tolist())
    with grpc.insecure_channel(live.grpc) as channel:
        stub = Stub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.ModelInfer(both, timeout=30)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "either in contents or in raw_input_contents" in (refused.value.details() or "")
        with pytest.raises(grpc.RpcError) as refused:
            stub.ModelInfer(wrong, timeout=30)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        details = refused.value.details() or ""
        assert "contents.int_contents. Got them in contents.fp64_contents" in details
        # the raw form alone still answers
        raw = pb.ModelInferRequest(model_name="m")
        raw.inputs.add(name="input", datatype="FP64", shape=[1, 3])
        raw.raw_input_contents.append(values.astype("<f8").tobytes())
        assert stub.ModelInfer(raw, timeout=30).model_name == "m"


def test_a_canary_and_a_shadow_hold_on_every_protocol(live: Live) -> None:
    """A sticky key lands on the same version whichever protocol asks, and a shadow mirrors
    v2 requests as it mirrors /v1 ones (both predictions logged under one request id)."""
    from deploykit.client import Client
    from deploykit.monitoring.logs import read_predictions

    rows = live.frame.head(1).to_numpy().tolist()
    request = pb.ModelInferRequest(model_name="m")
    tensor = request.inputs.add(name="input", datatype="FP64", shape=[1, 3])
    tensor.contents.fp64_contents.extend(rows[0])
    with Client(live.url, token=live.token) as client:
        client.canary("m", 1, percent=50, reason="every protocol")  # returns once all follow
        try:
            seen: dict[str, set[str]] = {}
            for i in range(24):
                key = {"x-deploykit-key": f"customer-{i}"}
                versions = seen.setdefault(key["x-deploykit-key"], set())
                for path, body in (
                    ("/v1/models/m/predict", {"inputs": rows}),
                    ("/v2/models/m/infer", _row_tensor(rows)),
                    ("/models/m/invocations", {"inputs": rows}),
                ):
                    answer = live.infer(body, path=path, headers=key)
                    assert answer.status_code == 200, answer.text
                    assert answer.headers["x-deploykit-variant"] in ("production", "candidate")
                    versions.add(answer.headers["x-model-version"])
                with grpc.insecure_channel(live.grpc) as channel:
                    metadata = (("x-deploykit-key", key["x-deploykit-key"]),)
                    reply = Stub(channel).ModelInfer(request, metadata=metadata, timeout=30)
                    versions.add(reply.model_version)
            assert all(len(v) == 1 for v in seen.values()), seen  # one key, one version
            assert {next(iter(v)) for v in seen.values()} == {"1", "2"}  # both answer someone
        finally:
            client.abort("m", "canary checked")
        client.shadow("m", 1, reason="mirror v2")
        try:
            ids = []
            for _ in range(20):
                answer = live.infer(_row_tensor(rows))
                assert answer.json()["model_version"] == "2"  # production answers
                ids.append(answer.json()["parameters"]["request_id"])
            settings = Settings.from_env({"DEPLOYKIT_HOME": str(live.home)})
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                log = read_predictions(settings.artifacts_url, "m")
                both = log[log["request_id"].isin(ids)].groupby("request_id")["version"].nunique()
                if len(both) == len(ids) and (both == 2).all():
                    break
                time.sleep(0.5)
            assert len(both) == len(ids)
            assert (both == 2).all(), both.value_counts()
        finally:
            client.abort("m", "shadow checked")


def test_a_canary_without_predict_proba_answers_its_classes_on_every_protocol(
    live: Live,
) -> None:
    """Production has predict_proba, the canary's candidate has not: a caller routed to the
    candidate that asks for probabilities gets the candidate's classes, as on /v1 (it was a
    500 on v2 REST and gRPC), and production's callers keep their probabilities."""
    from sklearn.svm import LinearSVC

    from deploykit.client import Client

    y = (live.frame["a"] > 0).astype(int)
    rows = live.frame.head(1).to_numpy().tolist()
    request = pb.ModelInferRequest(model_name="m")
    tensor = request.inputs.add(name="input", datatype="FP64", shape=[1, 3])
    tensor.contents.fp64_contents.extend(rows[0])
    request.outputs.add(name="predict_proba")
    request.outputs.add(name="predict")
    with Client(live.url, token=live.token) as client:
        candidate = client.push(LinearSVC().fit(live.frame, y), "m", X=live.frame)
        client.canary("m", candidate.version, percent=50, reason="no probabilities")
        try:
            outputs: dict[str, set[tuple[str, ...]]] = {}
            for i in range(16):
                key = {"x-deploykit-key": f"customer-{i}"}
                body = {**_row_tensor(rows), "outputs": [{"name": "predict_proba"}]}
                for answer in (
                    live.infer(body, headers=key),
                    live.infer(
                        {"inputs": rows}, path="/v1/models/m/predict?proba=true", headers=key
                    ),
                ):
                    assert answer.status_code == 200, answer.text
                version = answer.headers["x-model-version"]
                v2 = live.infer(body, headers=key).json()
                names = tuple(o["name"] for o in v2["outputs"])
                outputs.setdefault(v2["model_version"], set()).add(names)
                with grpc.insecure_channel(live.grpc) as channel:
                    metadata = tuple(key.items())
                    reply = Stub(channel).ModelInfer(request, metadata=metadata, timeout=30)
                assert reply.model_version == version
                outputs.setdefault(f"grpc {version}", set()).add(
                    tuple(o.name for o in reply.outputs)
                )
            got = str(candidate.version)
            assert outputs == {
                "2": {("predict_proba",)},
                got: {("predict",)},
                "grpc 2": {("predict_proba", "predict")},
                f"grpc {got}": {("predict",)},
            }
        finally:
            client.abort("m", "checked")


_COMMON = {"name": "input", "shape": [2, 3], "datatype": "FP64", "data": [0.1, 0.2, 0.3] * 2}


@pytest.mark.parametrize(
    "body",
    [
        {"inputs": [_COMMON]},
        {"inputs": [_COMMON], "outputs": [{"name": "predict"}], "id": "mine"},
        {"inputs": [_COMMON], "outputs": [{"name": "predict_proba"}, {"name": "predict"}]},
        {"inputs": [_COMMON], "outputs": [{"name": "predict"}, {"name": "predict"}]},
        {"inputs": [{**_COMMON, "datatype": "FP32"}]},
        {"inputs": [{**_COMMON, "datatype": "INT64", "data": [1, 0, -2, 3, 4, 5]}]},
        {"inputs": [{**_COMMON, "datatype": "UINT8", "data": [1, 0, 2, 3, 4, 5]}]},
        {"inputs": [{**_COMMON, "data": [1, 0, -2, 3, 4, 5]}]},  # integers as FP64
        {"inputs": [_COMMON], "outputs": [{"name": "logits"}]},
        {"inputs": [_COMMON], "outputs": [{"name": 5}]},
        {"inputs": [_COMMON], "outputs": {"name": "predict"}},
        {"inputs": [{**_COMMON, "shape": [1, 4], "data": [0.1] * 4}]},
        {"inputs": [{**_COMMON, "data": [0.1] * 5}]},
        {"inputs": [{**_COMMON, "data": [0.1, "x", 0.3] * 2}]},
        {"inputs": [{**_COMMON, "data": [0.1, None, 0.3] * 2}]},
        {"inputs": [{**_COMMON, "data": [[0.1], 0.2, 0.3] * 2}]},
        {"inputs": [{**_COMMON, "datatype": "INT64"}]},  # fractions in an integer tensor
        {"inputs": [{**_COMMON, "name": "a"}]},  # a column's name: one tensor per column
        {"inputs": [{**_COMMON, "name": ""}]},
        {"inputs": [{**_COMMON, "shape": [0, 3], "data": []}]},
        {"inputs": [{**_COMMON, "shape": [60, 3], "data": [0.1] * 180}]},  # over max_rows
        {"inputs": [{**_COMMON, "shape": [2.0, 3]}]},
        {"inputs": [{**_COMMON, "shape": [-2, -3]}]},
        {"inputs": [{**_COMMON, "datatype": "FP99"}]},
        {"inputs": [{**_COMMON, "datatype": "BYTES"}]},
        {"inputs": [_COMMON, _COMMON]},
    ],
)
def test_the_common_request_answers_as_the_general_path_does(live: Live, body: dict) -> None:
    """One flat numeric tensor with outputs named plainly takes a shortcut; the same request
    with (empty) parameters takes the general path. Same answer, same error, word for word."""
    short = live.infer(body)
    general = live.infer({**body, "parameters": {}})
    assert short.status_code == general.status_code, (short.text, general.text)
    got, expected = short.json(), general.json()
    for answer in (got, expected):
        if "parameters" in answer:
            assert answer.pop("id") in ("mine", answer["parameters"].pop("request_id"))
    assert got == expected


def test_grpc_typed_contents_answer_as_raw_bytes_do(live: Live) -> None:
    """Typed FP64 contents take a shortcut, raw bytes the general path: same outputs; a
    tensor of the wrong width is refused by name either way."""
    rows = live.frame.head(3).to_numpy()

    def request(width: int, raw: bool) -> pb.ModelInferRequest:
        values = rows[:, :width] if width <= 3 else np.hstack([rows, rows])[:, :width]
        message = pb.ModelInferRequest(model_name="m")
        message.outputs.add(name="predict_proba")
        message.outputs.add(name="predict")
        tensor = message.inputs.add(name="input", datatype="FP64", shape=[3, width])
        if raw:
            message.raw_input_contents.append(values.astype("<f8").tobytes())
        else:
            tensor.contents.fp64_contents.extend(values.reshape(-1).tolist())
        return message

    with grpc.insecure_channel(live.grpc) as channel:
        stub = Stub(channel)
        typed = stub.ModelInfer(request(3, raw=False), timeout=30)
        raw = stub.ModelInfer(request(3, raw=True), timeout=30)
        assert [o.name for o in typed.outputs] == ["predict_proba", "predict"]
        proba = np.frombuffer(raw.raw_output_contents[0], dtype="<f8")
        assert list(typed.outputs[0].contents.fp64_contents) == proba.tolist()
        labels = np.frombuffer(raw.raw_output_contents[1], dtype="<i8")
        assert list(typed.outputs[1].contents.int64_contents) == labels.tolist()
        details = []
        for raw_form in (False, True):
            with pytest.raises(grpc.RpcError) as refused:
                stub.ModelInfer(request(4, raw=raw_form), timeout=30)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            details.append(refused.value.details())
        assert details[0] == details[1]
        assert "expected 3 columns (a, b, c), got 4" in details[0]


def test_every_protocol_logs_a_classifiers_scores(live: Live) -> None:
    """As on /v1, a classifier's probabilities are logged whether or not the caller asked
    for them: estimated performance reads them before any label arrives."""
    from deploykit.monitoring.logs import read_predictions

    rows = live.frame.head(2).to_numpy()
    v2 = live.infer(_row_tensor(rows.tolist())).json()  # asks for predict alone
    assert [o["name"] for o in v2["outputs"]] == ["predict"]
    assert "classes" not in v2["parameters"]
    mlflow = live.infer({"inputs": rows.tolist()}, path="/models/m/invocations")
    request = pb.ModelInferRequest(model_name="m")
    request.outputs.add(name="predict")
    tensor = request.inputs.add(name="input", datatype="FP64", shape=[2, 3])
    tensor.contents.fp64_contents.extend(rows.reshape(-1).tolist())
    with grpc.insecure_channel(live.grpc) as channel:
        reply = Stub(channel).ModelInfer(request, timeout=30)
    ids = {
        "v2": v2["parameters"]["request_id"],
        "mlflow": mlflow.headers["x-request-id"],
        "grpc": reply.parameters["request_id"].string_param,
    }
    settings = Settings.from_env({"DEPLOYKIT_HOME": str(live.home)})
    deadline = time.monotonic() + 20
    mine = pd.DataFrame()
    while time.monotonic() < deadline:
        log = read_predictions(settings.artifacts_url, "m")
        mine = log[log["request_id"].isin(ids.values())]
        if len(mine) == 6:
            break
        time.sleep(0.5)
    assert len(mine) == 6, mine
    scores = mine[[c for c in mine.columns if c.startswith("probability.")]]
    assert scores.shape[1] == 2
    assert scores.notna().all().all(), mine
    np.testing.assert_allclose(scores.sum(axis=1), 1.0)
