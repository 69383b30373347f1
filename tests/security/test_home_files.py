"""What deploykit keeps under its home is private to the user: files 0600, folders 0700,
whatever the process umask, and files found too open are tightened when a registry opens.
"""

from __future__ import annotations

import os
import stat
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from deploykit.errors import PickleWarning
from deploykit.registry import Registry
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer
from deploykit.settings import Settings

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The umask most accounts have: new files 0644 unless deploykit says otherwise."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def too_open(home: Path) -> list[str]:
    """Everything under ``home`` (and home itself) that others could read or enter."""
    found = []
    for path in [home, *home.rglob("*")]:
        wanted = 0o700 if path.is_dir() else 0o600
        if mode(path) & 0o077 or (mode(path) & wanted) != mode(path):
            found.append(f"{path.relative_to(home.parent)} {oct(mode(path))}")
    return found


def settings_for(home: Path) -> Settings:
    return Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"}).replace(
        actor="tester"
    )


def model_and_data() -> tuple[LogisticRegression, pd.DataFrame]:
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(40, 3)), columns=["a", "b", "c"])
    return LogisticRegression().fit(X, (X["a"] > 0).astype(int)), X


def test_an_embedded_push_leaves_nothing_readable_by_others(tmp_path: Path) -> None:
    home = tmp_path / "home"
    model, X = model_and_data()
    with Registry(settings_for(home)) as reg, warnings.catch_warnings():
        warnings.simplefilter("ignore", PickleWarning)
        reg.push(model, "churn", X=X, deploy=True)
        reg.push(model, "churn", X=X, format="skops")
        reg.deploy("churn", 2)
    assert (home / "registry.db").is_file()
    assert list((home / "artifacts" / "sha256").rglob("*"))
    assert too_open(home) == []


@pytest.mark.slow
def test_a_server_writes_logs_and_token_privately(tmp_path: Path) -> None:
    home = tmp_path / "home"
    model, X = model_and_data()
    with Registry(settings_for(home)) as reg, warnings.catch_warnings():
        warnings.simplefilter("ignore", PickleWarning)
        reg.push(model, "churn", X=X, deploy=True)
    with LiveServer(settings_for(home), ServerConfig(log_flush_seconds=0.2)) as server:
        for _ in range(3):
            answer = httpx.post(f"{server.url}/v1/models/churn/predict",
                                json={"inputs": X.iloc[:5].to_numpy().tolist()})  # fmt: skip
            assert answer.status_code == 200, answer.text
        deadline = time.monotonic() + 10
        while not list((home / "artifacts" / "predictions").rglob("*.parquet")):
            assert time.monotonic() < deadline, "no prediction log was written"
            time.sleep(0.1)
    assert (home / "token").is_file()
    assert too_open(home) == []


def test_files_left_open_by_an_older_version_are_tightened(tmp_path: Path) -> None:
    home = tmp_path / "home"
    model, X = model_and_data()
    with Registry(settings_for(home)) as reg, warnings.catch_warnings():
        warnings.simplefilter("ignore", PickleWarning)
        reg.push(model, "churn", X=X)
    (home / "token").write_text("dk_old\n")
    for path, loose in ((home, 0o755), (home / "registry.db", 0o644), (home / "token", 0o644)):
        path.chmod(loose)
    with Registry(settings_for(home)) as reg:
        reg.models()
    assert mode(home) == 0o700
    assert mode(home / "registry.db") == 0o600
    assert mode(home / "token") == 0o600
