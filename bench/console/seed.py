"""A fleet for the console benchmark: N models × M versions × D days of serving metrics.

Versions go through the registry (one real push per model, then ``register`` of the same
artifact with other metrics: an identical artifact is stored once), so deploy and rollback
load real models. Telemetry rows are written straight into the registry database's
``telemetry_counts`` / ``telemetry_latency`` tables, one-minute buckets, as the server's
flushes would have left them (the server writes 10 s buckets; readers sum any width).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import sqlalchemy as sa
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier

from deploykit.registry import Registry
from deploykit.server.tables import telemetry_counts, telemetry_latency
from deploykit.server.telemetry import LATENCY_EDGES_MS
from deploykit.settings import Settings

BUCKET = 60
LIVE_SEGMENTS = 5  # production moved through the last 5 versions over the period


def seed_fleet(
    settings: Settings, *, models: int = 20, versions: int = 50, days: float = 7.0, seed: int = 0
) -> dict[str, Any]:
    """Seed the registry of ``settings``; returns names, timings and row counts."""
    rng = np.random.default_rng(seed)
    X, y = load_iris(return_X_y=True, as_frame=True)
    trees = [DecisionTreeClassifier(max_depth=d, random_state=0).fit(X, y) for d in (2, 3)]
    names = [f"model-{i:02d}" for i in range(models)]
    started = time.perf_counter()
    with Registry(settings) as reg:
        for name in names:
            first = reg.push(trees[0], name, X=X, description="first cut")
            other = reg.push(trees[1], name, X=X, description="deeper tree")
            drafts = [_draft(reg, first), _draft(reg, other)]
            for v in range(3, versions + 1):
                acc = float(np.clip(0.90 + 0.0015 * v + rng.normal(0, 0.005), 0, 1))
                draft = dataclasses.replace(
                    drafts[v % 2],
                    metrics={"accuracy": acc, "f1_macro": acc - 0.01},
                    description=f"retrain {v}",
                    author=("ana", "bo", "chen")[v % 3],
                )
                reg.register(name, draft)
            for v in range(versions - LIVE_SEGMENTS + 1, versions + 1):
                reg.deploy(name, v, reason=f"release {v}")
        versions_s = time.perf_counter() - started
        rows = _telemetry(reg.engine, names, versions, days, rng)
    return {
        "models": names,
        "versions": versions,
        "seconds_versions": round(versions_s, 1),
        "seconds_total": round(time.perf_counter() - started, 1),
        **rows,
    }


def _draft(reg: Registry, version: Any) -> Any:
    """A draft that registers ``version``'s artifact and reference profile again."""
    from deploykit.registry.drafts import VersionDraft, json_safe

    profile = reg.profile(version.model, version.version)
    data = {
        **version.to_dict(),
        "profile": None if profile is None else json_safe(profile.to_dict()),
    }
    return VersionDraft.from_dict(data)


def _telemetry(
    engine: sa.Engine, names: list[str], versions: int, days: float, rng: np.random.Generator
) -> dict[str, int]:
    now = int(time.time()) // BUCKET * BUCKET
    starts = np.arange(now - int(days * 86400), now + BUCKET, BUCKET)
    hours = (starts % 86400) / 3600
    daily = 1.0 + 0.6 * np.sin((hours - 9) / 24 * 2 * np.pi)  # busier by day
    edges = np.asarray(LATENCY_EDGES_MS)
    n_counts = n_latency = 0
    for name in names:
        base_rps = rng.uniform(0.5, 20)
        requests = rng.poisson(base_rps * BUCKET * daily)
        segment = np.minimum((np.arange(len(starts)) * LIVE_SEGMENTS) // len(starts), 4)
        version = versions - LIVE_SEGMENTS + 1 + segment
        errors_5xx = rng.binomial(requests, 0.002)
        errors_4xx = rng.binomial(requests, 0.01)
        median = rng.uniform(1, 8)
        counts_rows, latency_rows = [], []
        for i, bucket in enumerate(starts.tolist()):
            n = int(requests[i])
            if not n:
                continue
            sample = rng.lognormal(np.log(median), 0.5, size=min(n, 200))
            hist = np.bincount(np.searchsorted(edges, sample), minlength=len(edges) + 1)
            hist = np.round(hist * n / len(sample)).astype(int)
            hist[np.argmax(hist)] += n - hist.sum()
            counts_rows.append(
                {
                    "model": name,
                    "version": int(version[i]),
                    "bucket": bucket,
                    "width": BUCKET,
                    "requests": n,
                    "errors_4xx": int(errors_4xx[i]),
                    "errors_5xx": int(errors_5xx[i]),
                    "rows": n,
                    "latency_sum_ms": float(sample.mean() * n),
                }
            )
            latency_rows += [
                {
                    "model": name,
                    "version": int(version[i]),
                    "bucket": bucket,
                    "le_index": j,
                    "count": int(c),
                }
                for j, c in enumerate(hist.tolist())
                if c
            ]
        with engine.begin() as conn:
            conn.execute(telemetry_counts.insert(), counts_rows)
            conn.execute(telemetry_latency.insert(), latency_rows)
        n_counts += len(counts_rows)
        n_latency += len(latency_rows)
    return {"telemetry_count_rows": n_counts, "telemetry_latency_rows": n_latency}
