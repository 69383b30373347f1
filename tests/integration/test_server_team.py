"""The server on PostgreSQL + S3: push over HTTP, predict, logs, metrics, batch scoring."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from deploykit.batch import score
from deploykit.client import Client
from deploykit.monitoring.logs import read_predictions
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer
from tests.integration.conftest import Team


@pytest.mark.slow
def test_push_over_http_predict_and_logs_land_in_the_bucket(team: Team) -> None:
    X, y = make_classification(n_samples=200, n_features=4, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    model = LogisticRegression().fit(frame, y)
    config = ServerConfig(log_flush_seconds=0.3, telemetry_flush_seconds=0.3)
    server = LiveServer(team.settings, config).start()
    try:
        with Client(server.url, token=server.token, settings=team.settings) as client:
            pushed = client.push(model, "churn", X=frame, deploy=True)  # streamed to S3
            compiled = (pushed.runtime or {}).get("digest")
            assert compiled, pushed.runtime  # the ONNX file streamed beside the original
            assert team.objects() == sorted(
                f"{team.prefix}/sha256/{d[7:9]}/{d[9:]}" for d in (pushed.digest, compiled)
            )
            for start in range(0, 50, 10):
                answer = client.predict("churn", frame.iloc[start : start + 10])
                assert (
                    list(answer.predictions)
                    == model.predict(frame.iloc[start : start + 10]).tolist()
                )
            deadline = time.monotonic() + 10
            while client.metrics("churn")["total"]["requests"] < 5 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert client.metrics("churn")["total"]["requests"] == 5
            # Drift reads the replicas' prediction logs back from the bucket.
            report = client.drift("churn").overall
            while report.rows < 50 and time.monotonic() < deadline:
                time.sleep(0.2)
                report = client.drift("churn").overall
            assert report.rows == 50
            assert sorted(f.feature for f in report.features) == ["a", "b", "c", "d"]
    finally:
        server.stop()  # a graceful stop flushes the last prediction log
    logged = read_predictions(team.settings.artifacts_url, "churn")
    assert len(logged) == 50
    assert np.allclose(np.sort(logged["input.a"].to_numpy()), np.sort(frame["a"].iloc[:50]))


def test_batch_scoring_reads_and_writes_s3(team: Team, tmp_path: Path) -> None:
    X, y = make_classification(n_samples=500, n_features=4, random_state=1)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    model = LogisticRegression().fit(frame, y)
    with team.registry() as reg:
        reg.push(model, "churn", X=frame, deploy=True)
        options = team.settings.storage_options()
        fs = team.s3.filesystem()
        with fs.open(f"{team.prefix}/in/data.parquet", "wb") as f:
            frame.to_parquet(f)
        result = score(
            reg,
            "churn",
            f"s3://{team.prefix}/in/data.parquet",
            f"s3://{team.prefix}/out/scores.parquet",
            chunk_rows=100,
            keep=[],
            storage_options=options,
        )
    assert (result.rows, result.chunks) == (500, 5)
    with fs.open(f"{team.prefix}/out/scores.parquet", "rb") as f:
        out = pd.read_parquet(f)
    assert (out["prediction"].to_numpy() == model.predict(frame)).all()
