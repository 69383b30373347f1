"""``deploykit demo``: live traffic through a real server, drift, an alert, an auto-rollback.

The demo model (two versions, see :func:`deploykit.demo.seed_demo`) is served by
``deploykit serve`` in a child process (:class:`~deploykit.server.process.LiveServer`)
on the configured registry, and driven through :class:`deploykit.Client`:

1. calm: rows of the held-out data, with true labels sent back as feedback;
2. a few malformed requests (they count as 4xx errors in the metrics);
3. drift: a third of the features shifted by 1.5 standard deviations, until the
   ``drift`` alert rule (drifted share > 0.2, with rollback) fires and production
   rolls back to version 1 on its own; no labels come back, yet the accuracy
   estimated from the model's scores (``Client.estimated_performance``) falls;
4. calm again, now answered by version 1.

What stays behind for the console: telemetry per version over time, prediction
logs with drift, feedback for accuracy, the alert rules, and ``alert`` and
``auto-rollback`` events naming the rule and its figures.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from typing import Any

from deploykit.records import Event
from deploykit.settings import Settings

__all__ = ["DemoSummary", "play", "run_demo"]

SHIFTED = (
    "mean radius",
    "mean texture",
    "mean perimeter",
    "mean area",
    "mean smoothness",
    "worst radius",
    "worst texture",
    "worst perimeter",
    "worst area",
    "worst smoothness",
)


@dataclasses.dataclass(frozen=True)
class DemoSummary:
    """What the demo left behind."""

    model: str
    requests: int
    rows: int
    production_before: int
    production_after: int
    events: tuple[Event, ...]
    drifted_features: tuple[str, ...]
    #: accuracy estimated from the scores alone: calm traffic, then the drifted traffic
    estimated_accuracy: tuple[float | None, float | None] = (None, None)

    def lines(self) -> list[str]:
        out = [
            f"model {self.model}: {self.requests} requests, {self.rows} rows predicted",
            f"drifted features: {', '.join(self.drifted_features) or 'none'}",
            f"production: version {self.production_before} -> {self.production_after}",
        ]
        calm, drifted = self.estimated_accuracy
        if calm is not None and drifted is not None:
            out.append(
                f"estimated accuracy (no labels needed): {calm:.3f} calm -> {drifted:.3f} drifted"
            )
        out += [f"event {e.action}: {e.reason}" for e in self.events]
        return out


def run_demo(
    settings: Settings | None = None, *, echo: Callable[[str], Any] = print, seconds: float = 1.0
) -> DemoSummary:
    """Seed the demo model, then play traffic, drift, an alert and an auto-rollback.

    ``seconds`` scales the phases of traffic (1.0: about half a minute in all);
    ``echo`` gets progress lines.
    """
    return play(settings, echo=echo, scale=seconds)


def play(
    settings: Settings | None = None,
    *,
    echo: Callable[[str], Any] = print,
    scale: float = 1.0,
) -> DemoSummary:
    """Run the demo on ``settings``' registry (``Settings.from_env()`` by default)."""
    import numpy as np
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    from deploykit.client import Client
    from deploykit.demo import DEMO_MODEL, seed_demo
    from deploykit.errors import DeployKitError
    from deploykit.monitoring import delete_alert, set_alert
    from deploykit.registry import Registry
    from deploykit.server.config import ServerConfig
    from deploykit.server.process import LiveServer

    settings = settings or Settings.from_env()
    name = DEMO_MODEL
    with Registry(settings) as reg:
        info = seed_demo(reg, name=name)
        latest = info.latest_version or 1
        if info.production != latest:  # a previous demo rolled it back: start from the top
            reg.deploy(name, latest, reason="demo: the forest again, for a new run")
        for rule in ("drift", "latency"):  # fresh rules, not cooling down from an earlier run
            with contextlib.suppress(DeployKitError):
                delete_alert(reg, name, rule)
        set_alert(
            reg, name, "drift", metric="drift_share", threshold=0.2, window_seconds=120,
            min_count=200, rollback=True,
        )  # fmt: skip
        set_alert(reg, name, "latency", metric="latency_p95_ms", threshold=250, window_seconds=300)
        before = reg.model(name).production or latest
        last_event = reg.last_event_id()

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    rng = np.random.default_rng(0)
    config = ServerConfig(
        telemetry_bucket_seconds=2,
        telemetry_flush_seconds=0.5,
        log_flush_seconds=0.5,
        alert_interval_seconds=1.0,
    )
    requests = rows = 0
    echo("starting a deploykit server for the demo ...")
    with LiveServer(settings, config) as server, Client(server.url, token=server.token) as client:
        echo(f"serving {name} at {server.url}")

        def send(frame: pd.DataFrame, labels: pd.Series | None = None) -> int:
            nonlocal requests, rows
            answer = client.predict(name, frame)
            requests += 1
            rows += len(frame)
            if labels is not None:
                client.feedback(name, answer.request_id, labels.tolist())
            return answer.version

        def calm(duration: float, feedback: bool) -> None:
            end = time.monotonic() + duration * scale
            while time.monotonic() < end:
                pick = rng.choice(len(X), size=int(rng.integers(1, 12)), replace=False)
                send(X.iloc[pick], y.iloc[pick] if feedback else None)
                time.sleep(0.02)

        echo("phase 1: calm traffic, with feedback labels")
        calm(8, feedback=True)
        echo("phase 2: a few malformed requests")
        for _ in range(5):
            try:
                client.predict(name, X.iloc[:2].drop(columns=["mean radius"]))
            except DeployKitError:
                requests += 1

        def estimated(since: float) -> float | None:
            try:
                found = client.estimated_performance(name, since=since, version=before)
            except DeployKitError:
                return None
            return None if found.estimate is None else found.estimate.value

        calm_accuracy = estimated(time.time() - 600)
        if calm_accuracy is not None:
            echo(
                f"  estimated accuracy of version {before} on the calm traffic of phase 1, from "
                f"its scores alone: {calm_accuracy:.3f}"
            )
        echo(f"phase 3: drift in {len(SHIFTED)} of {X.shape[1]} features, until an alert fires")
        drift_start = time.time()
        std = X[list(SHIFTED)].std()
        deadline = time.monotonic() + 60 * max(scale, 0.5)
        while time.monotonic() < deadline:
            pick = rng.choice(len(X), size=20, replace=False)
            frame = X.iloc[pick].copy()
            frame[list(SHIFTED)] += 1.5 * std
            if send(frame) != before:
                break  # the auto-rollback reached this server
            time.sleep(0.02)
        drifted_accuracy = estimated(drift_start)
        if drifted_accuracy is not None:
            echo(
                f"  estimated accuracy of version {before} on the drifted traffic, before any "
                f"label: {drifted_accuracy:.3f}"
            )
        echo("phase 4: calm traffic on the version production rolled back to")
        calm(5, feedback=False)
        # the version that took the drifted traffic, over the demo
        drift = client.drift(name, since=time.time() - 600, version=before)
        drifted = drift.overall.drifted_features
        after = client.model(name).production or before
        events = tuple(e for e in client.events(name, limit=20) if e.id > last_event)
    summary = DemoSummary(
        name,
        requests,
        rows,
        before,
        after,
        events[::-1],
        drifted,
        (calm_accuracy, drifted_accuracy),
    )
    for line in summary.lines():
        echo(line)
    return summary
