"""A Jupyter server with deploykit's extension (pytest-jupyter), talking to a real deploykit
server on loopback (LiveServer) seeded with the models of ``seeding``.

pytest-jupyter's fixtures and hooks are imported here instead of being named in
``pytest_plugins``, which pytest allows only in the root conftest: the rest of the
suite does not pay their ~2.4 s import.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403

from deploykit.client import Client
from deploykit.server.testing import LiveServer
from tests.serverext.seeding import seeded_server


@pytest.fixture(scope="module")
def deploykit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with seeded_server(tmp_path_factory.mktemp("deploykit-home")) as server:
        yield server


@pytest.fixture
def server_client(deploykit_server: LiveServer) -> Iterator[Client]:
    """The deploykit server as an admin sees it, to check what the extension did."""
    with Client(deploykit_server.url, token=deploykit_server.token) as client:
        yield client


@pytest.fixture
def lab_config(deploykit_server: LiveServer) -> dict[str, Any]:
    """``c.DeployKitLab``; a test overrides it to point elsewhere."""
    return {"server_url": deploykit_server.url, "token": deploykit_server.token}


@pytest.fixture
def jp_server_config(lab_config: dict[str, Any]) -> dict[str, Any]:
    return {
        "ServerApp": {
            "jpserver_extensions": {"deploykit": True},
            "allow_unauthenticated_access": False,
        },
        "DeployKitLab": lab_config,
    }
