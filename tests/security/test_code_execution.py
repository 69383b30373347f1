"""Loading a pickle runs code: a server loads only the formats it is told to, and an
anonymous caller can never make a worker load a version nobody deployed.

The hostile artifact is a joblib file whose ``__reduce__`` creates a marker folder
when unpickled (harmless, and observable from the test). Every test that must not run
it asserts the marker is still absent, against a real two-worker server.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from deploykit.errors import ConfigurationError, PickleWarning
from deploykit.registry import Registry, prepare_draft
from deploykit.serialization import _trust
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer, free_port
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
    home: Path
    registry: Registry
    server: LiveServer
    marker: Path
    X: pd.DataFrame

    def url(self, path: str) -> str:
        return f"{self.server.url}{path}"

    def admin(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.server.token}"}

    def token(self, role: str) -> dict[str, str]:
        from deploykit.server.auth import TokenStore

        secret, _ = TokenStore(self.registry.engine).create(role, name=f"a {role}")
        return {"authorization": f"Bearer {secret}"}

    def production(self) -> int | None:
        return self.registry.model("churn").aliases.get("production")


def hostile_file(folder: Path, marker: Path) -> Path:
    path = folder / "hostile.joblib"
    joblib.dump(Payload(marker), path)
    return path


def push_bytes_unloaded(reg: Registry, path: Path, X: pd.DataFrame) -> int:
    """Register ``path``'s bytes as a joblib version without this process loading them
    (what a deployer with a crafted file achieves over HTTP: upload, then register)."""
    draft = prepare_draft(LogisticRegression().fit(X, [0, 1] * (len(X) // 2)), X=X, format="joblib")
    stored = reg.artifacts.put_file(path)
    return reg.register("churn", draft.with_artifact(stored.digest, stored.size)).version


def wait_for_failure(url: str, name: str) -> dict:
    """The failure /healthz reports for ``name`` once the answering worker has polled."""
    deadline = time.monotonic() + 10
    while True:
        failures = httpx.get(url).json()["failures"]
        if name in failures or time.monotonic() > deadline:
            return failures[name]
        time.sleep(0.1)


def settings_for(home: Path) -> Settings:
    return Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"}).replace(
        actor="tester"
    )


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    home = tmp_path_factory.mktemp("exec-home")
    marker = tmp_path_factory.mktemp("exec-marker") / "code-ran"
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(40, 3)), columns=COLUMNS)
    y = (X["age"] > 0).astype(int)
    registry = Registry(settings_for(home))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PickleWarning)
        registry.push(LogisticRegression().fit(X, y), "churn", X=X, format="skops", deploy=True)
        version = push_bytes_unloaded(registry, hostile_file(home.parent, marker), X)
    assert version == 2
    # The documented team setting, read the way `deploykit serve` reads it.
    config = ServerConfig.from_env({"DEPLOYKIT_SERVE_FORMATS": "skops"}, workers=2)
    assert config.formats == ("skops",)
    with LiveServer(registry.settings, config) as server:
        yield Setup(home, registry, server, marker, X)
    registry.close()


def test_the_payload_really_runs_code_when_unpickled(setup: Setup, tmp_path: Path) -> None:
    # The control: without it, "no marker" below would prove nothing.
    marker = tmp_path / "control"
    joblib.load(hostile_file(tmp_path, marker))
    assert marker.is_dir()


def test_an_http_deploy_of_a_refused_format_is_409_naming_the_setting(setup: Setup) -> None:
    answer = httpx.post(
        setup.url("/v1/models/churn/deploy"), json={"version": 2}, headers=setup.admin()
    )
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["type"] == "FormatNotAllowedError"
    assert "DEPLOYKIT_SERVE_FORMATS=skops" in error["message"]
    assert "'production' still serves version 1" in error["message"]
    assert str(setup.home) not in error["message"]
    assert setup.production() == 1
    assert not setup.marker.exists()


def test_anonymous_versioned_predict_of_an_undeployed_version_is_refused(setup: Setup) -> None:
    row = {"inputs": setup.X.iloc[:1].to_numpy().tolist()}
    for headers in ({}, setup.token("viewer")):
        answer = httpx.post(setup.url("/v1/models/churn/versions/2/predict"), json=row,
                            headers=headers)  # fmt: skip
        assert answer.status_code in (401, 403), answer.text
        assert "'deployer' role" in answer.json()["error"]["message"]
    # A deployer gets further, but this server still refuses to unpickle it.
    answer = httpx.post(
        setup.url("/v1/models/churn/versions/2/predict"), json=row, headers=setup.token("deployer")
    )
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["type"] == "FormatNotAllowedError"
    assert not setup.marker.exists()
    # An aliased version stays open, as before.
    answer = httpx.post(setup.url("/v1/models/churn/versions/1/predict"), json=row)
    assert answer.status_code == 200, answer.text


def test_a_move_made_elsewhere_leaves_the_old_version_serving(setup: Setup) -> None:
    # The embedded CLI moves the alias (its digest is sound); the workers refuse to follow.
    setup.registry.deploy("churn", 2, reason="deployed around the server")
    try:
        row = {"inputs": setup.X.iloc[:1].to_numpy().tolist()}
        seen = set()
        for _ in range(30):
            answer = httpx.post(setup.url("/v1/models/churn/predict"), json=row)
            assert answer.status_code == 200, answer.text
            seen.add(answer.json()["version"])
        assert seen == {1}
        failure = wait_for_failure(setup.url("/healthz"), "churn")
        assert failure["version"] == 2
        assert failure["serving"] == 1
        assert "DEPLOYKIT_SERVE_FORMATS=skops" in failure["error"]

        # A worker started now has nothing it may serve: a clear 409, never the pickle.
        fresh_config = setup.server.config.replace(port=free_port())
        with LiveServer(setup.registry.settings, fresh_config) as fresh:
            answer = httpx.post(f"{fresh.url}/v1/models/churn/predict", json=row)
            assert answer.status_code == 409, answer.text
            message = answer.json()["error"]["message"]
            assert "churn:2 is stored as 'joblib'" in message
            assert str(setup.home) not in message
    finally:
        setup.registry.deploy("churn", 1, reason="back")
    assert not setup.marker.exists()


def test_serve_formats_is_checked_when_read() -> None:
    assert ServerConfig().formats == ("onnx", "skops", "joblib")
    assert ServerConfig.from_env({"DEPLOYKIT_SERVE_FORMATS": " skops , joblib "}).formats == (
        "skops",
        "joblib",
    )
    with pytest.raises(ConfigurationError, match=r"DEPLOYKIT_SERVE_FORMATS.*Got 'pickle'"):
        ServerConfig.from_env({"DEPLOYKIT_SERVE_FORMATS": "pickle"})
    # Worker processes get the config as JSON: a list comes back as the same tuple.
    config = ServerConfig(formats=("skops",))
    assert ServerConfig.from_dict(__import__("json").loads(config.to_json())) == config


@pytest.fixture
def fresh_note() -> Iterator[None]:
    _trust._reset()
    yield
    _trust._reset()


def test_a_pickle_push_warns_once_per_session(tmp_path: Path, fresh_note: None) -> None:
    X = pd.DataFrame(np.eye(4)[:, :3], columns=COLUMNS)
    model = LogisticRegression().fit(X, [0, 1, 0, 1])
    with Registry(settings_for(tmp_path / "home")) as reg:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PickleWarning)
            reg.push(model, "quiet", format="skops")  # no pickle, no warning
        with pytest.warns(PickleWarning, match=r"runs any code the file holds.*format='skops'"):
            reg.push(model, "churn")
        with warnings.catch_warnings():
            warnings.simplefilter("error", PickleWarning)
            reg.push(model, "churn", description="second push: said already")


def test_the_cli_says_it_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    fresh_note: None,
) -> None:  # fmt: skip
    from deploykit.cli import main

    monkeypatch.setenv("DEPLOYKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DEPLOYKIT_FSYNC", "0")
    monkeypatch.delenv("DEPLOYKIT_SERVER_URL", raising=False)
    X = pd.DataFrame(np.eye(4)[:, :3], columns=COLUMNS)
    path = tmp_path / "model.joblib"
    joblib.dump(LogisticRegression().fit(X, [0, 1, 0, 1]), path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PickleWarning)  # the CLI prints it, never warns
        with pytest.raises(SystemExit) as done:
            main(["push", str(path), "--name", "churn"])
    assert done.value.code in (0, None)
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1, err
    assert "'model.joblib' (joblib) stores a pickle" in notes[0]
    assert "skops" in notes[0]


def test_deploy_push_says_it_once_in_its_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    fresh_note: None,
) -> None:  # fmt: skip
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    from deploykit.magics import load_ipython_extension, unload_ipython_extension

    for key in list(os.environ):
        if key.startswith("DEPLOYKIT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DEPLOYKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    existing = InteractiveShell.initialized()
    ip = InteractiveShell.instance() if existing else InteractiveShell.instance(config=config)
    load_ipython_extension(ip)
    try:
        X = pd.DataFrame(np.eye(4)[:, :3], columns=COLUMNS)
        ip.user_ns["model"] = LogisticRegression().fit(X, [0, 1, 0, 1])
        with warnings.catch_warnings():
            warnings.simplefilter("error", PickleWarning)  # a note in the summary, no warning
            summaries = []
            for _ in range(2):
                capsys.readouterr()
                assert ip.run_cell("%deploy push model --name churn").success
                summaries.append(capsys.readouterr().out.splitlines()[1])
    finally:
        unload_ipython_extension(ip)
        ip.user_ns.pop("model", None)
    assert "Note: --format joblib (the default) stores a pickle" in summaries[0]
    assert "Push with --format skops" in summaries[0]
    assert "Note:" not in summaries[1]


def test_a_pickle_pushed_to_a_skops_only_server_is_stored_not_deployed(setup: Setup) -> None:
    from deploykit.client import Client
    from deploykit.errors import DeployKitWarning

    model = LogisticRegression().fit(setup.X, (setup.X["age"] > 0).astype(int))
    with Client(setup.server.url, token=setup.server.token) as client:
        with pytest.warns(DeployKitWarning, match=r"does not load \(DEPLOYKIT_SERVE_FORMATS=skops"):
            version = client.push(model, "churn", X=setup.X, format="joblib", deploy=True)
        assert version.format == "joblib"
        assert "production" not in version.aliases
    assert setup.production() == 1
