"""Canary and shadow on a real 3-worker server: the split every worker honours, stickiness,
production's answers under a shadow, and both predictions logged under one request id."""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from deploykit.errors import ExperimentNotFollowedError
from deploykit.monitoring.logs import read_predictions

from .conftest import Trial, worker_clients

ROW = {
    "dataframe_split": {
        "columns": ["age", "tenure", "calls", "spend"],
        "data": [[0.1, -0.3, 1.2, 0.4]],
    }
}
REQUESTS = 20_000  # ~1 min on a busy 2-core machine; bench/progressive/split.py sends 100,000


def _send(client: httpx.Client, path: str, count: int) -> list[str]:
    versions = []
    for _ in range(count):
        r = client.post(path, json=ROW)
        assert r.status_code == 200, r.text
        versions.append(r.headers["x-model-version"])
    return versions


def test_canary_share_is_ten_percent_on_every_worker(trial: Trial) -> None:
    trial.fresh("split")
    started = trial.client.canary("split", 2, percent=10, reason="split test")
    assert started.label == "canary 10%"  # returned once every worker splits so
    by_pid = worker_clients(trial.url, 24)
    assert len(by_pid) == 3, f"connections reached {len(by_pid)} workers, not 3"
    clients = [(pid, c) for pid, cs in by_pid.items() for c in cs]
    per = REQUESTS // len(clients)
    path = "/v1/models/split/predict"
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda pc: (pc[0], _send(pc[1], path, per)), clients))
    for _, c in clients:
        c.close()
    total = [v for _, vs in answers for v in vs]
    share = total.count("2") / len(total)
    assert 0.09 <= share <= 0.11, f"candidate answered {share:.2%} of {len(total)} requests"
    for pid in by_pid:  # each worker splits on its own, so each must be near 10% too
        mine = [v for p, vs in answers if p == pid for v in vs]
        assert 0.08 <= mine.count("2") / len(mine) <= 0.12, (pid, len(mine))
    assert set(total) == {"1", "2"}
    trial.client.abort("split", "split measured")


def test_a_sticky_key_keeps_one_caller_on_one_version_on_every_worker(trial: Trial) -> None:
    trial.fresh("sticky")
    trial.client.canary("sticky", 2, percent=50)
    by_pid = worker_clients(trial.url, 12)
    clients = [c for cs in by_pid.values() for c in cs]
    seen: dict[str, set[str]] = {}
    for i in range(40):
        key = f"customer-{i}"
        for c in clients[:6]:
            r = c.post("/v1/models/sticky/predict", json=ROW, headers={"x-deploykit-key": key})
            seen.setdefault(key, set()).add(r.headers["x-model-version"])
            assert r.headers["x-deploykit-variant"] in ("production", "candidate")
    for c in clients:
        c.close()
    assert all(len(v) == 1 for v in seen.values()), seen
    assert {next(iter(v)) for v in seen.values()} == {"1", "2"}  # 40 keys land on both
    trial.client.abort("sticky", "done")


def test_a_sticky_column_keeps_one_customer_on_one_version(trial: Trial) -> None:
    trial.fresh("column")
    trial.client.canary("column", 2, percent=50, sticky="age")
    by_value: dict[float, set[str]] = {}
    with httpx.Client(base_url=trial.url, timeout=30) as c:
        for i in range(30):
            for j in range(5):  # same age, other features vary
                body = {
                    "dataframe_records": [{"age": float(i), "tenure": j, "calls": 0, "spend": 1}]
                }
                r = c.post("/v1/models/column/predict", json=body)
                assert r.status_code == 200, r.text
                by_value.setdefault(float(i), set()).add(r.headers["x-model-version"])
    assert all(len(v) == 1 for v in by_value.values()), by_value
    trial.client.abort("column", "done")


def test_shadow_answers_with_production_and_logs_both_under_one_request_id(trial: Trial) -> None:
    trial.fresh("mirror")
    trial.client.shadow("mirror", 2, reason="look first")
    rows = trial.X.to_numpy()[:200]
    want = trial.registry.load("mirror", 1).predict(trial.X.iloc[:200])
    ids = []
    with httpx.Client(base_url=trial.url, timeout=30) as c:
        for i, row in enumerate(rows):
            body = {"dataframe_split": {"columns": list(trial.X.columns), "data": [row.tolist()]}}
            r = c.post("/v1/models/mirror/predict", json=body)
            assert r.headers["x-model-version"] == "1"
            assert r.json()["predictions"] == [int(want[i])]
            ids.append(r.json()["request_id"])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        log = read_predictions(trial.registry.settings.artifacts_url, "mirror")
        both = log[log["request_id"].isin(ids)].groupby("request_id")["version"].nunique()
        if len(both) == len(ids) and (both == 2).all():
            break
        time.sleep(0.5)
    assert len(both) == len(ids)
    assert (both == 2).all(), both.value_counts()
    compared = trial.client.compare("mirror", 1, 2)
    assert compared.source == "shadow log"
    assert compared.pairs == 200
    expected = np.mean(want == trial.registry.load("mirror", 2).predict(trial.X.iloc[:200]))
    assert compared.agreement == pytest.approx(expected)
    assert sum(sum(r.values()) for r in compared.crosstab.values()) == 200
    assert compared.serving["b"]["requests"] >= 1  # timed by the shadow scorer
    trial.client.abort("mirror", "seen enough")


def test_a_deploy_ends_the_canary_on_every_worker(trial: Trial) -> None:
    trial.fresh("ended")
    trial.client.canary("ended", 2, percent=50)
    moved = trial.client.deploy("ended", 3, reason="hotfix")
    assert moved.version == 3
    ended = trial.client.experiment("ended")
    assert ended is not None
    assert ended.state == "ended"
    assert len(trial.client.wait_for_workers("ended")) == 3  # none runs it any more
    by_pid = worker_clients(trial.url, 12)
    assert len(by_pid) >= 2
    for clients in by_pid.values():
        for c in clients:
            for _ in range(10):
                r = c.post("/v1/models/ended/predict", json=ROW)
                assert r.headers["x-model-version"] == "3"
                assert "x-deploykit-variant" not in r.headers
            c.close()
    metrics = httpx.get(f"{trial.url}/metrics").text
    assert 'deploykit_experiment_percent{model="ended"' not in metrics


def _running_on_each_worker(trial: Trial, name: str) -> dict[int, dict | None]:
    by_pid = worker_clients(trial.url, 24)
    assert len(by_pid) == 3, f"connections reached {len(by_pid)} workers, not 3"
    out = {}
    for pid, clients in by_pid.items():
        out[pid] = clients[0].get("/healthz").json()["experiments"].get(name)
        for c in clients:
            c.close()
    return out


def test_a_shadow_returns_once_every_worker_runs_it(trial: Trial) -> None:
    trial.fresh("ready")
    started = trial.client.shadow("ready", 2, reason="all workers")
    seen = _running_on_each_worker(trial, "ready")  # no pause: each worker runs it already
    assert seen == {
        pid: {"id": started.id, "kind": "shadow", "candidate": 2, "percent": 100.0} for pid in seen
    }
    trial.client.abort("ready", "next: a canary")
    assert set(_running_on_each_worker(trial, "ready").values()) == {None}
    started = trial.client.canary("ready", 2, percent=20, wait=None)  # returns at once...
    assert len(trial.client.wait_for_workers("ready")) == 3  # ...this waits for the 3
    trial.client.step("ready", 40)
    shares = {e["percent"] for e in _running_on_each_worker(trial, "ready").values() if e}
    assert shares == {40.0}
    trial.client.abort("ready", "done")


def test_waiting_for_an_experiment_no_worker_runs_says_so(trial: Trial) -> None:
    trial.fresh("never")
    started = trial.client.canary("never", 2, percent=10)
    ghost = dataclasses.replace(started, id=started.id + 1000)
    with pytest.raises(ExperimentNotFollowedError) as caught:
        trial.client.wait_for_workers("never", ghost, timeout=1.0)
    message = str(caught.value)
    assert "0 of the server's 3 workers run the canary of never" in message
    assert f"runs experiment {started.id}" in message  # what they run instead
    trial.client.abort("never", "done")
