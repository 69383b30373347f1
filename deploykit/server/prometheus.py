"""The Prometheus exposition (``GET /metrics``) of the fleet's telemetry.

Counters come from the shared database (:func:`deploykit.monitoring.telemetry.all_time`),
so every worker answers a scrape with the same, only-growing figures.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import sqlalchemy as sa

from deploykit.monitoring.telemetry import LATENCY_EDGES_MS, all_time

__all__ = ["prometheus_text"]


def _label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus_text(engine: sa.Engine, served: Iterable[tuple[str, str, int]] = ()) -> str:
    """Prometheus exposition of the fleet's all-time totals, plus what this worker serves.

    The counters come from the shared database, so they are the same (and only grow)
    whichever worker a scrape reaches. ``served`` lists (model, alias, version).
    """
    with engine.connect() as conn:
        totals = all_time(conn)
    lines = [
        "# HELP deploykit_requests_total Predict requests answered, by model, version and class.",
        "# TYPE deploykit_requests_total counter",
    ]
    for (model, ver), c in sorted(totals.items()):
        labels = f'model="{_label(model)}",version="{ver}"'
        ok = c.requests - c.errors_4xx - c.errors_5xx
        lines.append(f'deploykit_requests_total{{{labels},code="2xx"}} {ok}')
        lines.append(f'deploykit_requests_total{{{labels},code="4xx"}} {c.errors_4xx}')
        lines.append(f'deploykit_requests_total{{{labels},code="5xx"}} {c.errors_5xx}')
    lines += [
        "# HELP deploykit_prediction_rows_total Rows predicted, by model and version.",
        "# TYPE deploykit_prediction_rows_total counter",
    ]
    for (model, ver), c in sorted(totals.items()):
        lines.append(
            f'deploykit_prediction_rows_total{{model="{_label(model)}",version="{ver}"}} {c.rows}'
        )
    lines += [
        "# HELP deploykit_request_duration_seconds Predict latency inside the server.",
        "# TYPE deploykit_request_duration_seconds histogram",
    ]
    for (model, ver), c in sorted(totals.items()):
        labels = f'model="{_label(model)}",version="{ver}"'
        cumulative = 0
        for edge, n in zip(LATENCY_EDGES_MS, c.hist[:-1], strict=True):
            cumulative += n
            le = _fmt(round(edge / 1000.0, 9))  # 0.0002531, not 0.00025309999999999997
            lines.append(
                f'deploykit_request_duration_seconds_bucket{{{labels},le="{le}"}} {cumulative}'
            )
        lines.append(
            f'deploykit_request_duration_seconds_bucket{{{labels},le="+Inf"}} {c.requests}'
        )
        lines.append(
            f"deploykit_request_duration_seconds_sum{{{labels}}} {_fmt(c.latency_sum_ms / 1000)}"
        )
        lines.append(f"deploykit_request_duration_seconds_count{{{labels}}} {c.requests}")
    lines += [
        "# HELP deploykit_served_version The version this worker serves for a model's alias.",
        "# TYPE deploykit_served_version gauge",
    ]
    for model, alias, ver in sorted(served):
        lines.append(
            f'deploykit_served_version{{model="{_label(model)}",alias="{_label(alias)}"}} {ver}'
        )
    return "\n".join(lines) + "\n"


def _fmt(x: float) -> str:
    return repr(float(x)) if math.isfinite(x) else "+Inf"
