"""The shadow scorer on real loaded versions, a real prediction log and telemetry: what it
logs for a batch of mirrored requests, and that a batch costs one predict call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from deploykit.monitoring.logs import read_predictions
from deploykit.monitoring.telemetry import shadow_key
from deploykit.registry import Registry
from deploykit.server.config import ServerConfig
from deploykit.server.experiments import ShadowScorer, Split
from deploykit.server.models import ModelHost
from deploykit.server.payloads import Parsed
from deploykit.server.predlog import PredictionLog
from deploykit.server.telemetry import Telemetry

from .conftest import settings_for

COLUMNS = ["a", "b", "c", "d"]


@pytest.fixture
def two(tmp_path: Path) -> Any:
    X, y = make_classification(n_samples=300, n_features=4, random_state=3)
    frame = pd.DataFrame(X, columns=COLUMNS)
    reg = Registry(settings_for(tmp_path))
    reg.push(LogisticRegression().fit(frame, y), "m", X=frame, format="skops")
    reg.push(DecisionTreeClassifier(max_depth=4).fit(frame, y), "m", X=frame, format="skops")
    # v3 takes two of the columns only: production's model input is not its input
    reg.push(
        DecisionTreeClassifier(max_depth=3).fit(frame[["b", "d"]], y),
        "m",
        X=frame[["b", "d"]],
        format="skops",
    )
    reg.deploy("m", 1)
    host = ModelHost(reg, ServerConfig(workers=1))
    yield reg, host, frame
    host.close()
    reg.close()


def _mirror(
    reg: Registry,
    host: ModelHost,
    frame: pd.DataFrame,
    candidate: int,
    *,
    drain: bool = True,
    **kw: Any,
):
    """Shadow ``candidate`` and queue every row of ``frame`` as a 1-row request."""
    experiment = reg.shadow("m", candidate)
    production, loaded = host.served("m"), host.version("m", candidate)
    split = Split(experiment, loaded)
    log = PredictionLog(reg.settings.artifacts_url)
    telemetry = Telemetry(None)
    scorer = ShadowScorer(log, telemetry, **kw)
    ids = []
    for i, row in enumerate(frame.to_numpy()):
        parsed = Parsed("rows", [row.tolist()], list(frame.columns), "dataframe_split")
        data, rows = production.to_input(parsed)
        ids.append(f"req-{i}")
        scorer.submit(split, production, parsed, data, rows, ids[-1], 0.001, i % 3 != 0)
    if drain:
        scorer.drain()
    scorer.stop()  # scores what is still queued first: a worker's shutdown keeps them
    log.flush()
    return scorer, telemetry, ids, loaded


def _logged(reg: Registry, version: int) -> pd.DataFrame:
    out = read_predictions(reg.settings.artifacts_url, "m")
    return out[out["version"] == version].set_index("request_id")


def _requests(telemetry: Telemetry, version: int) -> int:
    return sum(
        c.requests
        for (m, v, _), c in telemetry._pending.items()
        if m == shadow_key("m") and v == version
    )


def test_a_batch_is_scored_in_one_call_and_logged_under_each_request_id(two: Any) -> None:
    reg, host, frame = two
    scorer, telemetry, ids, loaded = _mirror(reg, host, frame, 2)
    assert scorer.scored["m"] == 300
    assert not scorer.failed
    assert not scorer.dropped
    assert scorer.batches <= 3  # queued in microseconds, scored together: not 300 calls
    logged = _logged(reg, 2)
    # only the requests production logged (here 2 in 3) have the shadow's row: every
    # logged shadow prediction has its pair
    wanted = [rid for i, rid in enumerate(ids) if i % 3 != 0]
    assert sorted(logged.index) == sorted(wanted)
    expected = loaded.predict_sync(frame.to_numpy(), False)[0]
    got = logged.loc[wanted, "prediction"].to_numpy()
    np.testing.assert_array_equal(got, expected[[i for i in range(300) if i % 3 != 0]])
    assert _requests(telemetry, 2) == 300  # the candidate's model time, per request
    assert _requests(telemetry, 1) == 300  # production's, beside it


def test_a_candidate_with_other_inputs_gets_its_own(two: Any) -> None:
    reg, host, frame = two
    scorer, _, ids, loaded = _mirror(reg, host, frame, 3)
    assert scorer.scored["m"] == 300
    assert not scorer.failed
    logged = _logged(reg, 3)
    expected = loaded.predict_sync(frame[["b", "d"]].to_numpy(), False)[0]
    np.testing.assert_array_equal(logged.loc[ids[1:3], "prediction"].to_numpy(), expected[1:3])


def test_a_full_queue_drops_and_counts_instead_of_waiting(two: Any) -> None:
    reg, host, frame = two
    scorer, *_ = _mirror(reg, host, frame, 2, queue_size=50)
    assert scorer.scored["m"] + scorer.dropped["m"] == 300
    assert scorer.dropped["m"] > 0


def test_stopping_scores_what_was_queued(two: Any) -> None:
    reg, host, frame = two
    scorer, *_ = _mirror(reg, host, frame, 2, drain=False)
    assert scorer.scored["m"] == 300
    assert len(_logged(reg, 2)) == 200  # production logged 2 requests in 3
