"""Console tests run against a real server with the models of ``seeding`` (one per module)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploykit.client import Client
from deploykit.server.testing import LiveServer
from tests.console.seeding import fleet


@pytest.fixture(autouse=True)
def _no_deploykit_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("DEPLOYKIT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DEPLOYKIT_HOME", str(tmp_path / "client-home"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with fleet(tmp_path_factory.mktemp("deploykit-home")) as live:
        yield live


@pytest.fixture
def client(server: LiveServer) -> Iterator[Client]:
    with Client(server.url, token=server.token) as c:
        yield c


@pytest.fixture
def production(client: Client) -> Iterator[int]:
    """iris's production version; put back after the test, whatever it moved."""
    live = client.model("iris").production
    assert live is not None
    yield live
    if client.model("iris").production != live:
        client.deploy("iris", live, reason="test teardown")
