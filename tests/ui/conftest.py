"""The browser tests of the JupyterLab extension, against a real deploykit server.

They need the extension built (node; editable installs never build it) and
Debian's Chromium. Without the build they are *deselected*, never passed: a
closing line says so and how to build it, and under ``CI`` the run fails instead
(``.ci/run`` builds it before the tests).

They live apart from tests/serverext: pytest-jupyter's autouse event loop there
clashes with Playwright's synchronous API.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_core.paths import jupyter_path

from deploykit.client import Client
from deploykit.server.testing import LiveServer
from tests.serverext.seeding import seeded_server
from tests.ui.lab import BUILD

HERE = Path(__file__).parent
BUILD_HINT = "cd labextension && jlpm install && jlpm develop"
_deselected: list[int] = []


def labextension_built() -> bool:
    """Whether this checkout's labextension is built, or Jupyter finds one (wheel, `develop`)."""
    return (BUILD / "static" / "style.js").exists() or any(
        Path(folder, "deploykit-labextension", "static", "style.js").exists()
        for folder in jupyter_path("labextensions")
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ours = [item for item in items if HERE in Path(str(item.path)).parents]
    if not ours or labextension_built():
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        raise pytest.UsageError(
            f"The JupyterLab extension is not built, so tests/ui cannot run: {BUILD_HINT} "
            "(.ci/run builds it before the tests)."
        )
    config.hook.pytest_deselected(items=ours)
    items[:] = [item for item in items if item not in ours]
    _deselected.append(len(ours))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _deselected:
        terminalreporter.write_line(
            f"JupyterLab UI tests NOT RUN ({sum(_deselected)} deselected): the labextension is "
            f"not built. Build it with: {BUILD_HINT}",
            yellow=True,
            bold=True,
        )


@pytest.fixture(scope="module")
def deploykit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with seeded_server(tmp_path_factory.mktemp("deploykit-home")) as server:
        yield server


@pytest.fixture
def server_client(deploykit_server: LiveServer) -> Iterator[Client]:
    with Client(deploykit_server.url, token=deploykit_server.token) as client:
        yield client
