"""A real server (uvicorn subprocess on loopback) serving compiled versions.

It answers what verification allowed (the ONNX outputs, labels identical to
scikit-learn's), with the same validation and messages as for a scikit-learn version;
rows with nulls go to the original when verification said so; a model that cannot
convert serves as before; and a worker serving only compiled versions never imports
scikit-learn, SciPy or pandas.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from deploykit import Client
from deploykit.compile import CompiledModel, RuntimeInfo, _convert
from deploykit.registry import Registry
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer, free_port
from deploykit.settings import Settings
from tests.compile.models import ShiftedLogistic

COLUMNS = ["age", "tenure", "calls", "spend"]


def settings_for(home: Path, **changes: Any) -> Settings:
    settings = Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"})
    return settings.replace(actor="tester", **changes)


@dataclass
class Setup:
    registry: Registry
    server: LiveServer
    X: pd.DataFrame
    models: dict[str, Any]

    def predict(self, name: str, body: Any, query: str = "") -> httpx.Response:
        url = f"{self.server.url}/v1/models/{name}/predict{query}"
        return httpx.post(url, json=body, timeout=30)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    home = tmp_path_factory.mktemp("compiled-home")
    X_, y = make_classification(n_samples=400, n_features=4, random_state=0)
    X = pd.DataFrame(X_, columns=COLUMNS)
    gaps = X.copy()  # HistGradientBoosting learns where NaN goes from these
    gaps.iloc[::7, 1] = np.nan
    models = {
        "lr": LogisticRegression().fit(X, y),
        "rf": RandomForestClassifier(n_estimators=25, random_state=0).fit(X, y),
        "hgb": HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(gaps, y),
        "odd": ShiftedLogistic().fit(X, y),
    }
    registry = Registry(settings_for(home))
    for name, model in models.items():
        registry.push(model, name, X=X, deploy=True)
    _convert.VECTORISED_TREES = False  # skl2onnx's trees, which route NaN differently
    try:
        models["rf-skl2onnx"] = models["rf"]
        registry.push(models["rf"], "rf-skl2onnx", X=X, deploy=True)
    finally:
        _convert.VECTORISED_TREES = True
    plain = Registry(settings_for(home, compile=False))
    plain.push(models["lr"], "lr-plain", X=X, deploy=True)
    plain.close()
    with LiveServer(registry.settings, ServerConfig()) as server:
        yield Setup(registry, server, X, models)
    registry.close()


def compiled(reg: Registry, name: str) -> CompiledModel:
    version = reg.version(name)
    path = reg.compiled_path(name)
    assert path is not None
    return CompiledModel(path.read_bytes(), RuntimeInfo.from_dict(version.runtime))


@pytest.mark.parametrize("name", ["lr", "rf", "hgb"])
def test_the_server_answers_what_verification_allowed(setup: Setup, name: str) -> None:
    rows = setup.X.head(50)
    body = {"dataframe_split": {"columns": COLUMNS, "data": rows.to_numpy().tolist()}}
    answer = setup.predict(name, body, "?proba=true")
    assert answer.status_code == 200, answer.text
    data = answer.json()
    model = setup.models[name]
    assert data["predictions"] == model.predict(rows).tolist()  # labels: identical
    assert np.abs(np.array(data["probabilities"]) - model.predict_proba(rows)).max() <= 1e-5
    # bit for bit the ONNX outputs that were verified (float32 for the trees, float64
    # for the logistic regression: each in its shortest JSON form)
    ours = compiled(setup.registry, name)
    _, proba = ours.run(ours.feed(rows.to_numpy()), True)
    assert proba.dtype == (np.float64 if name == "lr" else np.float32)
    np.testing.assert_array_equal(np.array(data["probabilities"], dtype=proba.dtype), proba)
    assert data["classes"] == [0, 1]
    # every MLflow format gives the same answer
    for other in (
        {"dataframe_records": rows.to_dict(orient="records")},
        {"inputs": {c: rows[c].tolist() for c in COLUMNS}},
        {"instances": rows.to_numpy().tolist()},
    ):
        assert setup.predict(name, other).json()["predictions"] == data["predictions"]


def test_the_version_record_says_how_it_runs(setup: Setup) -> None:
    url = f"{setup.server.url}/v1/models/lr/versions/1"
    answer = httpx.get(url, headers={"authorization": f"Bearer {setup.server.token}"})
    assert answer.status_code == 200, answer.text
    runtime = answer.json()["runtime"]
    assert runtime["runtime"] == "onnx"
    assert runtime["speedup"] > 1
    assert runtime["max_abs_diff"] <= 1e-5
    health = httpx.get(f"{setup.server.url}/healthz", timeout=10).json()
    assert health["runtimes"]["lr"] == "onnx"  # what the worker runs it on
    assert health["runtimes"]["odd"] == "sklearn"
    client = Client(setup.server.url, token=setup.server.token)
    try:
        assert client.version("odd", 1).runtime_label.startswith("sklearn: unsupported step")
        assert client.version("lr", 1).runtime_label.startswith("onnx (")
    finally:
        client.close()


def test_validation_and_its_messages_are_those_of_a_scikit_learn_version(setup: Setup) -> None:
    bodies = [
        {"dataframe_records": [{"age": 1.0}]},  # missing columns
        {"dataframe_records": [{"age": "x", "tenure": 1, "calls": 1, "spend": 1}]},
        {"inputs": [[None, 1.0, 1.0, 1.0]]},  # a null the logistic regression refuses
        {"inputs": [[1.0, 2.0]]},  # a short row
        {"instances": []},
        {"nothing": 1},
    ]
    for body in bodies:
        ours, theirs = setup.predict("lr", body), setup.predict("lr-plain", body)
        assert ours.status_code == theirs.status_code != 200, body
        mine, plain = ours.json()["error"], theirs.json()["error"]
        for error in (mine, plain):
            error.pop("request_id")
        assert json.dumps(mine).replace("lr:1", "X") == json.dumps(plain).replace(
            "lr-plain:1", "X"
        ), body


def null_rows(setup: Setup) -> tuple[pd.DataFrame, dict[str, Any]]:
    rows = setup.X.head(8).copy()
    rows.iloc[::2, 1] = np.nan
    body = {"dataframe_split": {"columns": COLUMNS, "data": rows.to_numpy().tolist()}}
    return rows, json.loads(json.dumps(body).replace("NaN", "null"))


def test_rows_with_nulls_go_to_scikit_learn_when_verification_said_so(setup: Setup) -> None:
    runtime = setup.registry.version("rf-skl2onnx").runtime
    assert runtime["nulls"] == "sklearn"  # skl2onnx's trees do not route NaN as sklearn's
    rows, body = null_rows(setup)
    answer = setup.predict("rf-skl2onnx", body, "?proba=true").json()
    model = setup.models["rf"]
    assert answer["predictions"] == model.predict(rows).tolist()
    # float64: scikit-learn's own (up to BLAS summation order), not float32 ONNX values
    np.testing.assert_allclose(answer["probabilities"], model.predict_proba(rows), atol=1e-12)


@pytest.mark.parametrize("name", ["rf", "hgb"])
def test_trees_answer_rows_with_nulls_on_onnx(setup: Setup, name: str) -> None:
    """deploykit's tree converter sends NaN where scikit-learn does: verified at push,
    so rows with nulls are answered by ONNX too (float32 values, bit for bit)."""
    assert setup.registry.version(name).runtime["nulls"] == "onnx"
    rows, body = null_rows(setup)
    answer = setup.predict(name, body, "?proba=true").json()
    model = setup.models[name]
    assert answer["predictions"] == model.predict(rows).tolist()
    assert np.abs(np.array(answer["probabilities"]) - model.predict_proba(rows)).max() <= 1e-5
    ours = compiled(setup.registry, name)
    _, proba = ours.run(ours.feed(rows.to_numpy()), True)
    np.testing.assert_array_equal(np.array(answer["probabilities"], dtype=np.float32), proba)


def test_a_model_that_cannot_convert_serves_as_before(setup: Setup) -> None:
    rows = setup.X.tail(30)
    body = {"inputs": rows.to_numpy().tolist()}
    answer = setup.predict("odd", body, "?proba=true").json()
    model = setup.models["odd"]
    assert answer["predictions"] == model.predict(rows).tolist()
    np.testing.assert_allclose(answer["probabilities"], model.predict_proba(rows), atol=1e-12)


def test_a_client_push_uploads_the_compiled_artifact_too(setup: Setup) -> None:
    client = Client(setup.server.url, token=setup.server.token)
    try:
        version = client.push(setup.models["lr"], "remote", X=setup.X, deploy=True)
        assert version.runtime["runtime"] == "onnx"
        assert setup.registry.artifacts.exists(version.runtime["digest"])
        path = client.compiled_path("remote")
        assert path is not None
        assert path.read_bytes() == setup.registry.compiled_path("remote").read_bytes()
        rows = setup.X.head(5).to_numpy().tolist()
        assert client.predict("remote", rows).predictions == (
            setup.models["lr"].predict(setup.X.head(5)).tolist()
        )
    finally:
        client.close()


# -------------------------------------------------------------- no scikit-learn in the worker
_WORKER = """
import json, signal, sys
from pathlib import Path
out = Path(sys.argv[1])
def dump(*_):
    loaded = {m.split(".")[0] for m in sys.modules}
    out.write_text(json.dumps(sorted(loaded & {"sklearn", "scipy", "pandas", "joblib"})))
signal.signal(signal.SIGUSR1, dump)
from deploykit.server import ServerConfig, run
from deploykit.server.spec import settings_from_dict
spec = json.loads(sys.argv[2])
run(settings_from_dict(spec["settings"]), ServerConfig.from_dict(spec["config"]))
"""


def test_a_worker_serving_only_compiled_versions_imports_no_sklearn_scipy_or_pandas(
    tmp_path: Path,
) -> None:
    """The real server in a subprocess; after predictions (proba too), a prediction-log
    flush, a telemetry flush and an alert-rule evaluation, it reports its sys.modules."""
    from deploykit.server.spec import settings_to_dict

    home = tmp_path / "home"
    X_, y = make_classification(n_samples=300, n_features=4, random_state=1)
    X = pd.DataFrame(X_, columns=COLUMNS)
    with Registry(settings_for(home)) as reg:
        reg.push(LogisticRegression().fit(X, y), "churn", X=X, deploy=True)
        reg.set_alert("churn", "errors", metric="error_rate", threshold=0.5)
        settings = reg.settings
    config = ServerConfig(
        port=free_port(),
        log_flush_seconds=0.2,
        alert_interval_seconds=0.2,
        telemetry_flush_seconds=0.2,
    )
    out = tmp_path / "modules.json"
    spec = json.dumps({"settings": settings_to_dict(settings), "config": config.to_dict()})
    proc = subprocess.Popen(
        [sys.executable, "-c", _WORKER, str(out), spec],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{config.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, "the server exited"
            assert time.monotonic() < deadline, "the server did not start in 60 s"
            time.sleep(0.1)
        url = f"{config.url}/v1/models/churn/predict"
        for query in ("", "?proba=true"):
            answer = httpx.post(url + query, json={"inputs": X.head(20).to_numpy().tolist()})
            assert answer.status_code == 200, answer.text
        logs = home / "artifacts" / "predictions"
        while not any(logs.rglob("*.parquet")) and time.monotonic() < deadline:
            time.sleep(0.1)  # the prediction log was flushed (pyarrow, not pandas)
        assert any(logs.rglob("*.parquet"))
        time.sleep(1.0)  # an alert evaluation and a telemetry flush, at least
        os.kill(proc.pid, signal.SIGUSR1)
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert json.loads(out.read_text()) == []
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
