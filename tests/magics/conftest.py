"""An in-process IPython shell with ``%deploy`` loaded on a fresh home folder per test."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from traitlets.config import Config

from deploykit.magics import load_ipython_extension, unload_ipython_extension
from deploykit.ui.session import Session, session_of


@pytest.fixture(autouse=True)
def deploykit_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in list(os.environ):
        if key.startswith("DEPLOYKIT_"):
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    monkeypatch.setenv("DEPLOYKIT_HOME", str(home))
    monkeypatch.setenv("DEPLOYKIT_ACTOR", "tester")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the client's downloads
    return home


@pytest.fixture(scope="session")
def shell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InteractiveShell]:
    # One shell for the whole run (it is a singleton), its profile in a temporary folder.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IPYTHONDIR", str(tmp_path_factory.mktemp("ipython")))
        InteractiveShell.clear_instance()
        # History in memory: IPython's atexit hook would otherwise write to a history
        # database in a temporary folder gone by then ("attempt to write a readonly database").
        config = Config()
        config.HistoryManager.hist_file = ":memory:"
        ip = InteractiveShell.instance(config=config)
        ip.history_manager.enabled = False
        yield ip
        InteractiveShell.clear_instance()


@pytest.fixture
def ip(shell: InteractiveShell, deploykit_home: Path) -> Iterator[InteractiveShell]:
    """The shell with ``%deploy`` freshly loaded: a new session on this test's home."""
    before = set(shell.user_ns)
    load_ipython_extension(shell)
    yield shell
    unload_ipython_extension(shell)
    for name in set(shell.user_ns) - before:  # cheaper than %reset -f, which runs gc
        del shell.user_ns[name]


@pytest.fixture(scope="session")
def cancer() -> dict[str, Any]:
    """Breast-cancer data (bundled with scikit-learn) split, and a fitted pipeline."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(X_train, y_train)
    return {
        "X_train": X_train,
        "X_test": X_test,
        "y_train": y_train,
        "y_test": y_test,
        "model": model,
    }


@pytest.fixture
def nb(ip: InteractiveShell, cancer: dict[str, Any]) -> InteractiveShell:
    """The shell with the data and a fitted ``model`` in its namespace, as in a notebook.

    The model is a copy: a test that refits it must not change it for the others.
    """
    ip.user_ns.update(cancer)
    ip.user_ns["model"] = copy.deepcopy(cancer["model"])
    return ip


@pytest.fixture
def deploy(ip: InteractiveShell) -> Callable[[str], Any]:
    """``deploy("versions churn")`` runs ``%deploy versions churn`` as a cell; errors fail."""

    def run(line: str) -> Any:
        result = ip.run_cell(f"%deploy {line}")
        if not result.success:
            raise AssertionError(f"%deploy {line} failed: {result.error_in_exec!r}")
        return result.result

    return run


@pytest.fixture
def deploy_fails(ip: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> Callable[[str], str]:
    """Run ``%deploy LINE`` expecting a user error: one line, no traceback. Returns the line."""

    def run(line: str) -> str:
        capsys.readouterr()
        result = ip.run_cell(f"%deploy {line}")
        out, err = capsys.readouterr()
        assert not result.success, f"%deploy {line} succeeded"
        assert type(result.error_in_exec).__name__ == "UsageError", repr(result.error_in_exec)
        printed = (out + err).strip()
        assert "Traceback" not in printed, printed
        assert "\n" not in printed.splitlines()[-1]
        assert printed.splitlines()[-1].startswith("UsageError: "), printed
        return printed.splitlines()[-1].removeprefix("UsageError: ")

    return run


@pytest.fixture
def session(ip: InteractiveShell) -> Session:
    found = session_of(ip)
    assert found is not None
    return found
