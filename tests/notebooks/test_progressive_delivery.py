"""notebooks/progressive_delivery.ipynb runs against a real server: shadow, compare, canary,
promote, and says what happened."""

import re

import pytest

from deploykit.registry import Registry
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer
from deploykit.settings import Settings

from .outputs import cell_starting, html_of, read, text_of

pytestmark = pytest.mark.slow


def test_shadow_compare_canary_promote_against_a_real_server(execute, deploykit_home, monkeypatch):
    settings = Settings.from_env()
    config = ServerConfig(workers=2, log_flush_seconds=0.5, telemetry_flush_seconds=0.5)
    with LiveServer(settings, config) as server:
        monkeypatch.setenv("DEPLOYKIT_SERVER_URL", server.url)
        nb = execute(read("progressive_delivery.ipynb"))
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", out
            assert not (out["output_type"] == "stream" and out["name"] == "stderr"), out["text"]
    shadow = text_of(cell_starting(nb, "%deploy shadow"))
    assert "kind      shadow" in shadow
    assert "production 1, candidate 2" in shadow
    mirrored = text_of(cell_starting(nb, "from deploykit.backend"))
    assert "workers mirroring: 2" in mirrored  # %deploy shadow returned once both did
    assert "answered by version(s): [1]" in mirrored
    compared = cell_starting(nb, "%deploy compare")
    assert re.search(r"143 pairs, agreement \d+\.\d%", text_of(compared)), text_of(compared)
    assert "cross-table" in html_of(compared)
    share = re.search(
        r"candidate answered (\d+)% of 300", text_of(cell_starting(nb, "answers = [client"))
    )
    assert share is not None
    assert 15 <= int(share[1]) <= 45
    assert "canary 30%" in text_of(cell_starting(nb, "%deploy experiment"))
    with Registry(settings) as reg:
        assert reg.model("cancer").production == 2
        actions = [e.action for e in reg.events("cancer", limit=8)]
        assert actions[:6] == [
            "deploy",
            "experiment-promote",
            "experiment-start",
            "experiment-abort",
            "experiment-start",
            "push",
        ]
