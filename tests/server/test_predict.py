"""Predict over HTTP in MLflow's four scoring formats, on a real server."""

from __future__ import annotations

import time

import httpx
import numpy as np
import pandas as pd
import pytest

from deploykit.monitoring.logs import read_predictions
from tests.server.conftest import Served


def _bodies(frame: pd.DataFrame) -> dict[str, dict]:
    rows = frame.to_numpy().tolist()
    records = frame.to_dict(orient="records")
    return {
        "dataframe_split": {"dataframe_split": {"columns": list(frame.columns), "data": rows}},
        "dataframe_records": {"dataframe_records": records},
        "instances": {"instances": records},
        "inputs_rows": {"inputs": rows},
        "inputs_columns": {"inputs": frame.to_dict(orient="list")},
        "with_params": {"inputs": rows, "params": {"ignored": True}},
    }


@pytest.mark.parametrize("model", ["lr", "rf"])
def test_every_scoring_format_predicts_like_the_model(served: Served, model: str) -> None:
    frame = served.X.iloc[:7]
    expected = served.models[model].predict(frame if model == "lr" else frame.to_numpy())
    if model == "rf":  # fitted on an array: its signature names the columns f0..f4
        frame = frame.set_axis([f"f{i}" for i in range(5)], axis=1)
    for fmt, body in _bodies(frame).items():
        response = served.post(f"/v1/models/{model}/predict", body)
        assert response.status_code == 200, (fmt, response.text)
        answer = response.json()
        assert answer["predictions"] == expected.tolist(), fmt
        assert answer["model"] == model
        assert answer["version"] == 1
        assert answer["request_id"] == response.headers["x-request-id"]


def test_columns_in_another_order_are_matched_by_name(served: Served) -> None:
    frame = served.X.iloc[:5]
    shuffled = frame[list(reversed(frame.columns))]
    body = {
        "dataframe_split": {"columns": list(shuffled.columns), "data": shuffled.values.tolist()}
    }
    answer = served.post("/v1/models/lr/predict", body).json()
    assert answer["predictions"] == served.models["lr"].predict(frame).tolist()


def test_pipeline_with_a_string_column_predicts_on_a_dataframe(served: Served) -> None:
    frame = served.mixed_frame.iloc[:6]
    body = {"dataframe_records": frame.to_dict(orient="records")}
    response = served.post("/v1/models/mixed/predict?proba=true", body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["predictions"] == served.models["mixed"].predict(frame).tolist()
    # compiled at push (ONNX): within the verification's tolerance of scikit-learn
    np.testing.assert_allclose(
        answer["probabilities"], served.models["mixed"].predict_proba(frame), rtol=0, atol=1e-5
    )
    assert answer["classes"] == [0, 1]


def test_probabilities_on_request_and_the_callers_request_id_echoed(served: Served) -> None:
    frame = served.X.iloc[:3]
    response = served.post(
        "/v1/models/lr/predict?proba=true",
        {"inputs": frame.values.tolist()},
        headers={"x-request-id": "my-req-1"},
    )
    answer = response.json()
    assert response.headers["x-request-id"] == "my-req-1"  # echoed for tracing
    assert answer["request_id"] != "my-req-1"  # the server's signed id, the one feedback takes
    np.testing.assert_allclose(answer["probabilities"], served.models["lr"].predict_proba(frame))
    assert "probabilities" not in served.post("/v1/models/lr/predict", {"inputs": [[0] * 5]}).json()


def test_a_named_version_answers_even_when_not_deployed(served: Served) -> None:
    row = served.X.iloc[:2].values.tolist()
    # No alias points at it: a deployer token is needed (tests/security covers refusals).
    response = served.post(
        "/v1/models/draft/versions/1/predict", {"inputs": row}, headers=served.headers()
    )
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 1
    assert response.headers["x-model-version"] == "1"


def test_concurrent_requests_to_a_batched_model_each_get_their_own_rows(served: Served) -> None:
    from concurrent.futures import ThreadPoolExecutor

    rf = served.models["rf"]
    X = served.X.to_numpy()

    def one(i: int) -> bool:
        rows = X[i : i + 1 + i % 3]
        r = httpx.post(f"{served.url}/v1/models/rf/predict", json={"inputs": rows.tolist()})
        return r.json()["predictions"] == rf.predict(rows).tolist()

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(one, range(64)))


def test_predictions_are_logged_to_parquet(served: Served) -> None:
    body = {"inputs": served.X.iloc[:4].values.tolist()}
    request_id = served.post("/v1/models/lr/predict", body).json()["request_id"]
    with_proba = served.post("/v1/models/lr/predict?proba=true", body).json()["request_id"]
    deadline = time.monotonic() + 10
    logged = pd.DataFrame()
    while time.monotonic() < deadline:
        logged = read_predictions(served.settings.artifacts_url, "lr")
        if len(logged) and logged["request_id"].isin([request_id, with_proba]).sum() == 8:
            break
        time.sleep(0.2)
    mine = logged[logged["request_id"] == request_id]
    assert len(mine) == 4
    assert mine["input.age"].tolist() == served.X["age"].iloc[:4].tolist()
    assert mine["prediction"].tolist() == served.models["lr"].predict(served.X.iloc[:4]).tolist()
    assert set(mine["version"]) == {1}
    # A classifier's probabilities are logged (one column per class) whether or not the
    # caller asked for them: estimated performance reads them before labels arrive.
    model = served.models["lr"]
    asked = logged[logged["request_id"] == with_proba]
    for i, label in enumerate(model.classes_):
        column = f"probability.{label}"
        expected = model.predict_proba(served.X.iloc[:4])[:, i]
        np.testing.assert_allclose(asked[column].to_numpy(), expected)
        np.testing.assert_allclose(mine[column].to_numpy(), expected)


def test_probabilities_are_answered_only_when_asked(served: Served) -> None:
    body = {"inputs": served.X.iloc[:2].values.tolist()}
    plain = served.post("/v1/models/lr/predict", body).json()
    asked = served.post("/v1/models/lr/predict?proba=true", body).json()
    assert "probabilities" not in plain
    assert "classes" not in plain
    assert len(asked["probabilities"]) == 2


def test_metrics_count_requests_and_errors_per_version(served: Served) -> None:
    served.post("/v1/models/lr/predict", {"inputs": [[0.0] * 5]})
    served.post("/v1/models/lr/predict", {"inputs": [["x"] * 5]})  # a 422
    response = httpx.get(f"{served.url}/v1/models/lr/metrics", headers=served.headers())
    assert response.status_code == 200
    figures = response.json()["versions"]["1"]
    assert figures["requests"] >= 2
    assert figures["errors_4xx"] >= 1
    assert figures["latency_p50_ms"] is not None
    text = httpx.get(f"{served.url}/metrics").text
    assert 'deploykit_requests_total{model="lr",version="1",code="4xx"}' in text
    assert 'deploykit_served_version{model="lr",alias="production"} 1' in text
