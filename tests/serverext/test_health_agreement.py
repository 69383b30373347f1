"""One health rule, four front ends: the console, the Lab sidebar, ``%deploy status`` in a
real kernel and ``deploykit status`` give every model the same badge and the same sentence.

The server (real, on loopback) holds ``iris`` (served: "serving"), ``churn`` (deployed,
then an alert recorded against it: "alert"), ``draft`` (never deployed) and ``quiet``
(deployed, never called: "idle").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from deploykit.client import Client
from deploykit.console.data import fetch_overview
from deploykit.registry import Registry
from deploykit.server.testing import LiveServer
from tests.serverext.seeding import seeded_server

pytestmark = pytest.mark.slow  # a kernel, a CLI process and two servers

Verdicts = dict[str, tuple[str, str]]

EXPECTED = {"iris": "serving", "churn": "alert", "draft": "not deployed", "quiet": "idle"}


@pytest.fixture(scope="module")
def deploykit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The sidebar tests' fleet, plus ``quiet`` and an alert on ``churn``."""
    with seeded_server(tmp_path_factory.mktemp("deploykit-home")) as server:
        with Registry(server.settings) as registry:
            X, y = load_iris(return_X_y=True, as_frame=True)
            registry.push(LogisticRegression(max_iter=300).fit(X, y), "quiet", deploy=True)
            registry.record_alert("churn", "error_rate 0.31 > 0.05 over 300 s", version=2)
        yield server


@pytest.fixture
def environ(deploykit_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a user's shell holds when aimed at the server; a kernel and the CLI inherit it."""
    for key in list(os.environ):
        if key.startswith("DEPLOYKIT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DEPLOYKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DEPLOYKIT_SERVER_URL", deploykit_server.url)
    monkeypatch.setenv("DEPLOYKIT_TOKEN", deploykit_server.token)
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))


def console_verdicts(server: LiveServer) -> Verdicts:
    with Client(server.url, token=server.token) as client:
        return {s.name: (s.status, s.status_note) for s in fetch_overview(client)}


async def sidebar_verdicts(jp_fetch: Any) -> Verdicts:
    response = await jp_fetch("deploykit", "api", "models")
    rows = json.loads(response.body)["models"]
    return {row["name"]: (row["status"], row["status_detail"]) for row in rows}


def magic_verdicts(tmp_path: Path) -> Verdicts:
    code = (
        "%load_ext deploykit\n"
        "statuses = %deploy status\n"
        "import json\n"
        "print(json.dumps({s.model: [s.health.status, s.health.detail] for s in statuses}))"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    printed = "".join(o.get("text", "") for o in nb.cells[0].outputs if o.output_type == "stream")
    return {name: (status, detail) for name, (status, detail) in json.loads(printed).items()}


def cli_verdicts() -> Verdicts:
    done = subprocess.run(
        [sys.executable, "-m", "deploykit", "status", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return {row["model"]: (row["status"], row["status_detail"]) for row in json.loads(done.stdout)}


async def test_console_sidebar_magic_and_cli_give_every_model_the_same_verdict(
    jp_fetch: Any, deploykit_server: LiveServer, environ: None, tmp_path: Path
) -> None:
    console = console_verdicts(deploykit_server)
    sidebar = await sidebar_verdicts(jp_fetch)
    magic = magic_verdicts(tmp_path)
    cli = cli_verdicts()
    assert {name: status for name, (status, _) in console.items()} == EXPECTED
    assert "error_rate 0.31" in console["churn"][1]
    assert "requests in the last 5 minutes" in console["iris"][1]
    assert sidebar == console
    assert magic == console
    assert cli == console
