"""``DEPLOYKIT_SERVE_FORMATS=onnx,skops``, the team setting: a server that never unpickles.

Each original artifact here is a hostile pickle whose ``__reduce__`` creates a marker
folder when unpickled. Versions whose runtime names a verified ONNX artifact serve from
it; a pickle without one is refused (409, naming the setting); rows the compiled model
was not verified on (nulls in a forest) are refused rather than sent to the pickle. The
marker never appears, against a real server.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from deploykit.compile import _convert
from deploykit.errors import PickleWarning
from deploykit.registry import Registry, prepare_draft
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer
from deploykit.settings import Settings

COLUMNS = ["age", "tenure", "calls"]


class Payload:
    """Unpickling this calls os.makedirs(marker): the stand-in for a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.makedirs, (self.marker,)


@dataclass
class Setup:
    server: LiveServer
    marker: Path
    X: pd.DataFrame
    models: dict[str, object]

    def deploy(self, name: str, version: int) -> httpx.Response:
        return httpx.post(
            f"{self.server.url}/v1/models/{name}/deploy",
            json={"version": version},
            headers={"authorization": f"Bearer {self.server.token}"},
            timeout=30,
        )

    def predict(self, name: str, body: object) -> httpx.Response:
        return httpx.post(f"{self.server.url}/v1/models/{name}/predict", json=body, timeout=30)


def hostile(reg: Registry, name: str, model: object, X: pd.DataFrame, payload: Path, runtime):
    """A version of ``name`` whose original is the hostile pickle and whose runtime is
    ``runtime`` (a real compiled artifact's, or None): what a deployer could register."""
    draft = prepare_draft(model, X=X, format="joblib").with_runtime(runtime)
    stored = reg.artifacts.put_file(payload)
    return reg.register(name, draft.with_artifact(stored.digest, stored.size)).version


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    home = tmp_path_factory.mktemp("safe-home")
    marker = tmp_path_factory.mktemp("safe-marker") / "code-ran"
    payload = home.parent / "hostile.joblib"
    joblib.dump(Payload(marker), payload)
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(300, 3)), columns=COLUMNS)
    y = (X["age"] + X["calls"] > 0).astype(int).to_numpy()
    models = {
        "churn": LogisticRegression().fit(X, y),
        "forest": RandomForestClassifier(n_estimators=15, random_state=0).fit(X, y),
    }
    settings = Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"})
    with Registry(settings.replace(actor="tester")) as reg, warnings.catch_warnings():
        warnings.simplefilter("ignore", PickleWarning)
        for name, model in models.items():
            # skl2onnx's trees route NaN unlike scikit-learn, so this forest's ONNX form is
            # verified on rows without nulls only (deploykit's own tree converter takes them)
            _convert.VECTORISED_TREES = name != "forest"
            try:
                compiled = reg.push(model, name, X=X)  # version 1: honest, compiled
            finally:
                _convert.VECTORISED_TREES = True
            assert compiled.runtime["runtime"] == "onnx"
            assert hostile(reg, name, model, X, payload, compiled.runtime) == 2
        assert hostile(reg, "plain", models["churn"], X, payload, None) == 1
    config = ServerConfig.from_env({"DEPLOYKIT_SERVE_FORMATS": "onnx,skops"})
    assert config.formats == ("onnx", "skops")
    with LiveServer(settings.replace(actor="tester"), config) as server:
        yield Setup(server, marker, X, models)
    assert not marker.exists()


def test_the_payload_really_runs_code_when_unpickled(setup: Setup, tmp_path: Path) -> None:
    probe = tmp_path / "probe"
    joblib.dump(Payload(probe), tmp_path / "p.joblib")
    joblib.load(tmp_path / "p.joblib")
    assert probe.is_dir()


def test_a_compiled_version_serves_from_onnx_without_unpickling(setup: Setup) -> None:
    assert setup.deploy("churn", 2).status_code == 200
    rows = setup.X.head(10)
    answer = setup.predict("churn", {"inputs": rows.to_numpy().tolist()})
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == setup.models["churn"].predict(rows).tolist()
    assert not setup.marker.exists()


def test_a_pickle_without_a_compiled_artifact_is_refused_naming_the_setting(setup: Setup) -> None:
    answer = setup.deploy("plain", 1)
    assert answer.status_code == 409
    error = answer.json()["error"]
    assert error["type"] == "FormatNotAllowedError"
    assert "DEPLOYKIT_SERVE_FORMATS=onnx,skops" in error["message"]
    assert "format='skops' (or with X, so that it compiles to ONNX)" in error["message"]
    assert not setup.marker.exists()


def test_rows_the_compiled_model_was_not_verified_on_are_refused_not_unpickled(
    setup: Setup,
) -> None:
    assert setup.deploy("forest", 2).status_code == 200
    rows = setup.X.head(4).to_numpy().tolist()
    ok = setup.predict("forest", {"inputs": rows})
    assert ok.status_code == 200, ok.text
    assert ok.json()["predictions"] == setup.models["forest"].predict(setup.X.head(4)).tolist()
    rows[1][0] = None  # the forest takes nulls; this ONNX form does not route them the same
    refused = setup.predict("forest", {"inputs": rows})
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["type"] == "FormatNotAllowedError"
    assert error["message"].startswith("This input holds nulls, which forest:2 answers with its")
    assert not setup.marker.exists()
