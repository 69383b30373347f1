"""The console's experiment panel, against the real 3-worker server: what runs, the split
over time, a comparison on demand, and promote/abort that need a reason."""

from __future__ import annotations

import time

import httpx

from deploykit.console import Console

from .conftest import Trial


def test_the_panel_shows_the_canary_compares_and_aborts_with_a_reason(trial: Trial) -> None:
    trial.fresh("panel")
    console = Console(trial.client, refresh_seconds=60)
    try:
        view = console.open("panel")
        assert view is not None
        assert view.experiment.layout.display == "none"  # never had one: no panel
        trial.client.shadow("panel", 2, reason="a look")
        time.sleep(1.0)
        with httpx.Client(base_url=trial.url, timeout=30) as c:
            for i in range(60):
                row = trial.X.iloc[i].to_dict()
                c.post("/v1/models/panel/predict", json={"dataframe_records": [row]})
        console.refresh()
        panel = view.experiment
        assert panel.layout.display is None
        assert "shadow" in panel.status.value
        figure = panel.split.figure
        assert figure is not None
        assert list(figure.data[0].y)[:1] == [100.0]  # started at 100% shadowed
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            panel.compare()
            if "60 pairs" in panel.comparison.value:
                break
            time.sleep(0.5)
        assert "60 pairs" in panel.comparison.value
        assert "cross-table" in panel.comparison.value
        panel.abort()  # no reason typed
        assert "needs a reason" in panel.message.value
        assert trial.registry.experiment("panel").running  # type: ignore[union-attr]
        panel.reason.value = "seen in the console"
        panel.abort()
        ended = trial.registry.experiment("panel")
        assert ended is not None
        assert ended.state == "aborted"
        assert ended.end_reason == "seen in the console"
        assert panel.abort_button.disabled
    finally:
        console.stop()
