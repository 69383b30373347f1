"""Run notebooks in a real kernel (nbclient + ipykernel) on a throwaway DEPLOYKIT_HOME."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from nbclient import NotebookClient


@pytest.fixture(autouse=True)
def deploykit_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The kernel inherits this process's environment: never the user's ~/.deploykit.
    for key in list(os.environ):
        if key.startswith("DEPLOYKIT_"):
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    monkeypatch.setenv("DEPLOYKIT_HOME", str(home))
    monkeypatch.setenv("DEPLOYKIT_ACTOR", "tester")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the client's downloads
    monkeypatch.setenv("DEPLOYKIT_FSYNC", "0")
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))  # the kernel's profile
    return home


@pytest.fixture
def execute(tmp_path: Path) -> Callable[[Any], Any]:
    """Execute a notebook node in a fresh python3 kernel, working in tmp_path; returns it."""

    def run(nb: Any) -> Any:
        client = NotebookClient(
            nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        )
        client.execute()
        return nb

    return run
