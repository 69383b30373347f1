"""Who may start, steer and end an experiment: a deployer; a viewer only reads; a stranger
nothing. Every refusal leaves production and the experiment as they were."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from deploykit.registry import Registry
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer
from deploykit.settings import Settings


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Registry, str]]:
    home: Path = tmp_path_factory.mktemp("experiment-roles")
    settings = Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"})
    reg = Registry(settings)
    X = pd.DataFrame({"a": np.arange(40.0), "b": np.arange(40.0) % 7})
    y = (X.a > 20).astype(int)
    for c in (1.0, 0.01):
        reg.push(LogisticRegression(C=c).fit(X, y), "m", X=X, format="skops")
    reg.deploy("m", 1)
    with LiveServer(settings, ServerConfig()) as live:
        assert live.token is not None
        viewer = httpx.post(
            f"{live.url}/v1/tokens",
            json={"role": "viewer", "name": "vera"},
            headers={"authorization": f"Bearer {live.token}"},
        ).json()["token"]
        yield live, reg, viewer
    reg.close()


@pytest.mark.parametrize("verb", ["canary", "shadow", "step", "promote", "abort"])
def test_only_a_deployer_changes_an_experiment(server, verb: str) -> None:  # type: ignore[no-untyped-def]
    live, reg, viewer = server
    body = {"version": 2, "percent": 50, "reason": "x"}
    url = f"{live.url}/v1/models/m/experiment/{verb}"
    assert httpx.post(url, json=body).status_code == 401
    r = httpx.post(url, json=body, headers={"authorization": f"Bearer {viewer}"})
    assert r.status_code == 403
    assert reg.experiment("m") is None
    assert reg.model("m").production == 1


def test_a_viewer_reads_and_a_stranger_does_not(server) -> None:  # type: ignore[no-untyped-def]
    live, _, viewer = server
    assert httpx.get(f"{live.url}/v1/models/m/experiment").status_code == 401
    r = httpx.get(
        f"{live.url}/v1/models/m/experiment", headers={"authorization": f"Bearer {viewer}"}
    )
    assert r.status_code == 200
    assert r.json() is None
    compare = httpx.post(
        f"{live.url}/v1/models/m/compare",
        json={"a": 1, "b": 2, "data": [{"a": 1.0, "b": 2.0}]},
        headers={"authorization": f"Bearer {viewer}"},
    )
    assert compare.status_code == 403  # scoring rows with any version loads it: deployer


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"version": 2, "percent": "ten"}, "percent"),
        ({"version": 2, "percent": 500}, "percent"),
        ({"percent": 5}, "version"),
        ({"version": 2, "promote_when": "latency<1"}, "promote_when"),
        ({"version": 2, "max_duration": -1}, "max_duration"),
    ],
)
def test_bad_bodies_are_422_naming_the_field(server, body, field: str) -> None:  # type: ignore[no-untyped-def]
    live, reg, _ = server
    r = httpx.post(
        f"{live.url}/v1/models/m/experiment/canary",
        json=body,
        headers={"authorization": f"Bearer {live.token}"},
    )
    assert r.status_code == 422, r.text
    message = r.json()["error"]["message"]
    assert field in message
    assert str(live.settings.home) not in message
    assert reg.experiment("m") is None
