"""With no deploykit server configured, the sidebar reads the embedded registry and says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from deploykit.registry import Registry
from tests.serverext.seeding import home_settings, seed


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "deploykit-home"
    with Registry(home_settings(home)) as registry:
        seed(registry)
    return home


@pytest.fixture
def lab_config(home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.delenv("DEPLOYKIT_SERVER_URL", raising=False)
    monkeypatch.setenv("DEPLOYKIT_HOME", str(home))
    monkeypatch.setenv("DEPLOYKIT_ACTOR", "ana")
    return {}


async def get(jp_fetch: Any, *parts: str, **kwargs: Any) -> Any:
    response = await jp_fetch("deploykit", "api", *parts, **kwargs)
    return json.loads(response.body)


async def test_status_says_the_figures_need_a_server(jp_fetch, home: Path):
    status = await get(jp_fetch, "status")
    assert status["mode"] == "embedded"
    assert status["figures"] is False
    assert str(home / "registry.db") in status["target"]
    assert "c.DeployKitLab.server_url" in status["note"]
    assert status["access"]["can_act"] is True  # the Jupyter user's own registry
    assert status["console"]["kind"] == "none"  # the console reads a server: it says so


async def test_models_show_live_versions_without_figures(jp_fetch):
    rows = {row["name"]: row for row in (await get(jp_fetch, "models"))["models"]}
    assert (rows["iris"]["live_version"], rows["iris"]["status"]) == (2, "deployed")
    assert rows["iris"]["status_detail"] == (
        "In production; serving figures need a deploykit server."
    )
    assert rows["iris"]["requests_per_s"] is None
    assert rows["iris"]["p95_ms"] is None
    assert rows["iris"]["drift_share"] is None
    assert rows["draft"]["status"] == "not deployed"


async def test_rollback_moves_the_registry_alias_as_the_login_user(jp_fetch, home: Path):
    moved = await get(
        jp_fetch,
        "models",
        "iris",
        "rollback",
        method="POST",
        body=json.dumps({"reason": "back to the linear model", "to": 1}),
    )
    assert (moved["from_version"], moved["version"], moved["updated_by"]) == (2, 1, "ana")
    with Registry(home_settings(home)) as registry:
        assert registry.model("iris").production == 1
        event = registry.events("iris", limit=1)[0]
    assert (event.action, event.actor, event.reason) == (
        "rollback",
        "ana",
        "back to the linear model",
    )
