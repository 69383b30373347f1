"""``deploykit demo`` leaves a console-worthy history: traffic, drift, an alert, a rollback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deploykit.demo import DEMO_MODEL
from deploykit.demo_traffic import run_demo
from deploykit.monitoring import alerts
from deploykit.registry import Registry
from deploykit.settings import Settings


@pytest.mark.slow  # a server in a child process, half a minute of traffic squeezed to seconds
def test_the_demo_drifts_alerts_and_rolls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in list(os.environ):
        if key.startswith("DEPLOYKIT_"):
            monkeypatch.delenv(key)
    settings = Settings.from_env({"DEPLOYKIT_HOME": str(tmp_path), "DEPLOYKIT_FSYNC": "0"})
    lines: list[str] = []
    summary = run_demo(settings, echo=lines.append, seconds=0.1)
    assert (summary.production_before, summary.production_after) == (2, 1)
    assert [e.action for e in summary.events] == ["alert", "auto-rollback"]
    assert summary.events[0].reason.startswith("alert 'drift': drift_share")
    assert set(summary.drifted_features) >= {"mean radius", "worst area"}
    assert summary.requests > 20
    calm, drifted = summary.estimated_accuracy  # from scores alone: no label came back
    assert calm is not None
    assert drifted is not None
    assert drifted < calm - 0.03
    assert any(line.startswith("estimated accuracy (no labels needed)") for line in lines)
    assert any(line.startswith("event auto-rollback") for line in lines)
    with Registry(settings) as reg:
        assert [r.name for r in alerts(reg, DEMO_MODEL)] == ["drift", "latency"]
        assert reg.model(DEMO_MODEL).production == 1
