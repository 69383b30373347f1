"""Pairing logged rows of two versions and comparing them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from deploykit.monitoring.compare import compare_predictions, id_keys, pair_rows


def test_pairs_follow_request_and_row_whatever_the_order_and_chunks() -> None:
    ids = ["aa.1", "bb.2", "cc.3", "aa.1", "cc.3", "bb.2", "aa.1", "aa.1", "dd.4"]
    version = [1, 1, 1, 2, 2, 2, 1, 2, 2]
    prediction = ["x0", "y", "z", "x0'", "z'", "y'", "x1", "x1'", "lonely"]
    chunked = pa.chunked_array([pa.array(ids[:4]), pa.array(ids[4:])])
    for column in (pd.Series(ids), pd.Series(pd.arrays.ArrowStringArray(chunked))):
        log = pd.DataFrame({"request_id": column, "version": version, "prediction": prediction})
        a, b = pair_rows(log, 1, 2)
        pairs = sorted(zip(log["prediction"][a], log["prediction"][b], strict=True))
        # request aa.1 had two rows: its first rows pair up, and its second rows
        assert pairs == [("x0", "x0'"), ("x1", "x1'"), ("y", "y'"), ("z", "z'")]


def test_ids_of_other_lengths_are_hashed_and_still_pair() -> None:
    keys = id_keys(pd.Series(["a", "bbbbbbbbbbbbbbbbbbbbb", "a"]))
    assert keys[0] == keys[2]
    assert keys[0] != keys[1]


def test_regression_predictions_compare_by_difference() -> None:
    a = np.linspace(0, 1, 100)
    b = a.copy()
    b[:10] += 0.5
    found = compare_predictions(a, b)
    assert found["agreement"] == 0.9
    assert abs(found["mean_abs_difference"] - 0.05) < 1e-9


def test_the_split_chart_steps_through_start_step_and_end() -> None:
    from datetime import datetime, timedelta, timezone

    from deploykit.console.charts import split_figure
    from deploykit.records import Event

    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def event(minutes: int, action: str, percent: float) -> Event:
        at = t0 + timedelta(minutes=minutes)
        return Event(1, at, "ana", action, "m", details={"percent": percent})

    events = [
        event(20, "experiment-promote", 50),
        event(0, "experiment-start", 10),
        event(10, "experiment-step", 50),
        event(1, "deploy", 0),  # not an experiment's: ignored
    ]
    fig = split_figure(events, now=t0 + timedelta(minutes=30))
    assert list(fig.data[0].y) == [10.0, 50.0, 0.0, 0.0]
    assert fig.data[0].line.shape == "hv"


def test_a_flush_mixing_rows_with_and_without_inputs_keeps_both() -> None:
    from deploykit.server.predlog import _Record, _table

    with_inputs = _Record("r1", 1.0, "m", 2, ("a", "b"), np.array([[1.0, 2.0]]), np.array([1]))
    shadow_row = _Record("r2", 1.0, "m", 2, None, None, np.array([0]))
    table = _table(2, [shadow_row, with_inputs]).to_pandas()
    assert list(table["request_id"]) == ["r2", "r1"]
    assert table["input.a"].isna().tolist() == [True, False]
    only_shadow = _table(2, [shadow_row]).to_pandas()
    assert not [c for c in only_shadow.columns if c.startswith("input.")]
