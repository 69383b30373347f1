"""The console's charts: pure functions, data in, ``plotly.graph_objects.Figure`` out.

Nothing here fetches or displays; :mod:`deploykit.console.data` shapes the server's
answers into the frames taken here, and the views draw the figures. So every chart
is tested by looking at its traces, without a browser.

A version keeps one colour across every chart (``version_color``), so v7's latency
and v7's traffic read as the same line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = [
    "accuracy_figure",
    "distribution_figure",
    "drift_scores_figure",
    "estimated_figure",
    "latency_figure",
    "split_figure",
    "traffic_figure",
    "version_color",
]

# Colour-blind friendly (Okabe-Ito, then Tableau); a version number picks one.
_PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#4E79A7",
    "#F28E2B",
    "#59A14F",
)
_BAD = "#cf222e"
_MUTED = "#6e7781"
_HEIGHT = 280
_PERCENTILES = (
    ("p50", "latency_p50_ms", "dot"),
    ("p95", "latency_p95_ms", "solid"),
    ("p99", "latency_p99_ms", "dash"),
)


def version_color(version: int) -> str:
    """The colour of ``version`` in every chart."""
    return _PALETTE[(int(version) - 1) % len(_PALETTE)]


def _layout(fig: go.Figure, title: str, *, height: int = _HEIGHT, **extra: Any) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left", "font": {"size": 14}},
        height=height,
        margin={"l": 50, "r": 20, "t": 40, "b": 40},
        template="plotly_white",
        **{
            "hovermode": "x unified",
            "legend": {
                "orientation": "h",
                "y": 1.0,
                "yanchor": "bottom",
                "x": 1,
                "xanchor": "right",
            },
            **extra,
        },
    )
    return fig


def _empty(title: str, message: str) -> go.Figure:
    """A chart with nothing to plot says why, instead of drawing empty axes."""
    fig = go.Figure()
    fig.add_annotation(
        text=message,
        showarrow=False,
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        font={"color": _MUTED, "size": 13},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, title, hovermode=False)


def _per_window(frame: pd.DataFrame, column: str, name: str, mode: str, **style: Any) -> go.Scatter:
    """One trace of ``frame[column]`` against each window's start (drift, accuracy, estimates)."""
    return go.Scatter(x=frame["since"], y=frame[column], name=name, mode=mode, **style)


def _period(fig: go.Figure, x_range: tuple[Any, Any] | None) -> go.Figure:
    """Show the whole period asked for: one point must not zoom the axis to milliseconds."""
    if x_range is not None:
        fig.update_xaxes(range=[pd.Timestamp(x_range[0]), pd.Timestamp(x_range[1])])
    return fig


def _versions(frame: pd.DataFrame) -> list[int]:
    return sorted(int(v) for v in frame["version"].unique())


def latency_figure(
    serving: pd.DataFrame,
    *,
    title: str = "Latency: p50 dotted, p95 solid, p99 dashed",
    x_range: tuple[Any, Any] | None = None,
) -> go.Figure:
    """p50 (dotted), p95 (solid) and p99 (dashed) latency over time, one colour per version.

    ``serving`` has one row per time bucket and version: ``time``, ``version`` and
    ``latency_p50_ms`` / ``latency_p95_ms`` / ``latency_p99_ms`` (see ``serving_frame``).
    """
    if serving.empty or serving["requests"].sum() == 0:
        return _empty(title, "No requests in this period")
    fig = go.Figure()
    for version in _versions(serving):
        rows = serving[(serving["version"] == version) & (serving["requests"] > 0)]
        for label, column, dash in _PERCENTILES:
            fig.add_trace(
                go.Scatter(
                    x=rows["time"],
                    y=rows[column],
                    name=f"v{version} {label}",
                    legendgroup=f"v{version}",
                    mode="lines+markers",
                    # big enough that a single bucket of traffic (a burst) reads as a point
                    marker={"size": 6 if len(rows) < 4 else 3},
                    line={"color": version_color(version), "dash": dash, "width": 1.5},
                )
            )
    fig.update_yaxes(title_text="ms", rangemode="tozero")
    return _period(_layout(fig, title), x_range)


def traffic_figure(
    serving: pd.DataFrame,
    *,
    title: str = "Requests/s; errors (5xx dark, 4xx light)",
    x_range: tuple[Any, Any] | None = None,
) -> go.Figure:
    """Requests per second (top, stacked by version) and errors per bucket (bottom).

    Errors are split into 5xx (the server failed) and 4xx (the callers sent bad input),
    because they call for different people.
    """
    if serving.empty or serving["requests"].sum() == 0:
        return _empty(title, "No requests in this period")
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.65, 0.35], vertical_spacing=0.08
    )
    width = _bar_width_ms(serving["time"], x_range)
    for version in _versions(serving):
        rows = serving[serving["version"] == version]
        color = version_color(version)
        # Bars, not a line: sparse or bursty traffic (one busy minute in an hour) stays visible.
        fig.add_trace(
            go.Bar(
                x=rows["time"],
                y=rows["throughput_rps"],
                width=width,
                name=f"v{version}",
                legendgroup=f"v{version}",
                marker={"color": color, "line": {"width": 0}},
            ),
            row=1,
            col=1,
        )
        for column, label, opacity in (("errors_5xx", "5xx", 0.9), ("errors_4xx", "4xx", 0.45)):
            counts = rows[column]
            fig.add_trace(
                go.Bar(
                    x=rows["time"],
                    y=counts,
                    width=width,
                    name=f"v{version} {label}",
                    legendgroup=f"v{version}",
                    showlegend=False,
                    marker={"color": color, "opacity": opacity, "line": {"width": 0}},
                    # the count written on the bar: 3 refused requests in an hour are news
                    text=[f"{int(c)} {label}" if c else "" for c in counts],
                    textposition="outside",
                    constraintext="none",  # a narrow bar must not shrink its label away
                    cliponaxis=False,
                ),
                row=2,
                col=1,
            )
    most = _most_errors(serving)
    fig.update_yaxes(title_text="req/s", rangemode="tozero", row=1, col=1)
    # a whole number of errors, with headroom for the labels; 1 at least, so a few show
    fig.update_yaxes(
        title_text="errors", range=[0, max(1, most) * 1.5], rangemode="tozero", row=2, col=1
    )
    # whole errors only, and few ticks: the errors strip is a hundred pixels high
    fig.update_yaxes(tickformat=",d", nticks=4, row=2, col=1)
    if most <= 2:
        fig.update_yaxes(dtick=1, row=2, col=1)
    return _period(_layout(fig, title, height=_HEIGHT + 60, barmode="stack"), x_range)


def _most_errors(serving: pd.DataFrame) -> int:
    """The highest error count of one bucket (5xx and 4xx stacked, across versions)."""
    per_bucket = serving.groupby("time")[["errors_5xx", "errors_4xx"]].sum().sum(axis=1)
    return int(per_bucket.max()) if len(per_bucket) else 0


def _bar_width_ms(times: pd.Series, x_range: tuple[Any, Any] | None) -> float:
    """A bar's width in ms: one bucket (the smallest gap between times), and at least
    1/150 of the period, so that a lone bucket in a long period is still seen."""
    unique = pd.Series(sorted(pd.to_datetime(times.unique(), utc=True)))
    gaps = unique.diff().dropna().dt.total_seconds()
    bucket = float(gaps[gaps > 0].min()) if (gaps > 0).any() else 60.0
    if x_range is not None:
        span = (pd.Timestamp(x_range[1]) - pd.Timestamp(x_range[0])).total_seconds()
        bucket = max(bucket, span / 150)
    return bucket * 1000 * 0.9


def drift_scores_figure(
    windows: pd.DataFrame,
    *,
    title: str = "Drift score per feature",
    limit: int = 12,
    x_range: tuple[Any, Any] | None = None,
    threshold: float | None = None,
) -> go.Figure:
    """Each feature's drift score per time window; drifted windows marked with a red x.

    ``windows`` has one row per window and feature: ``since``, ``feature``, ``score``
    and ``drifted`` (see ``drift_frames``). The ``limit`` features with the highest
    scores are drawn (the others would hide them); the title says how many were left out.
    """
    scored = windows.dropna(subset=["score"]) if not windows.empty else windows
    if scored.empty:
        return _empty(title, "No traffic to compare with the training data in this period")
    top = scored.groupby("feature")["score"].max().sort_values(ascending=False)
    shown = list(top.index[:limit])
    left = len(top) - len(shown)
    fig = go.Figure()
    for i, feature in enumerate(shown):
        rows = scored[scored["feature"] == feature].sort_values("since")
        fig.add_trace(
            _per_window(
                rows,
                "score",
                str(feature),
                "lines+markers",
                marker={"size": 4},
                line={"width": 1.5, "color": _PALETTE[i % len(_PALETTE)]},
            )
        )
    flagged = scored[(scored["drifted"] == True) & scored["feature"].isin(shown)]  # noqa: E712
    if not flagged.empty:
        fig.add_trace(
            _per_window(
                flagged,
                "score",
                "drifted",
                "markers",
                text=flagged["feature"],
                marker={"symbol": "x", "size": 9, "color": _BAD},
            )
        )
    if threshold is not None:
        # A score above the line drifts only if the change is also significant for the
        # window's row count: a few rows can score high and still not count as drift.
        fig.add_hline(
            y=threshold,
            line={"color": _BAD, "dash": "dash", "width": 1},
            annotation_text=f"threshold {threshold:g}",
            annotation_position="top left",
            annotation_font={"color": _BAD, "size": 11},
        )
    fig.update_yaxes(title_text="score", rangemode="tozero")
    if left:
        title = f"{title} (top {len(shown)} of {len(top)})"
    # feature names are long: one per line at the right, clear of the title
    legend = {"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1, "yanchor": "top"}
    return _period(_layout(fig, title, legend=legend), x_range)


def distribution_figure(
    labels: Sequence[str],
    reference: Sequence[float],
    current: Sequence[float],
    *,
    title: str = "Distribution",
) -> go.Figure:
    """Reference (training data) against current (live traffic) share per bin or category.

    Counts are turned into shares, so a training set of 100,000 rows and an hour of
    traffic compare on one axis.
    """
    if len(labels) != len(reference) or len(labels) != len(current):
        raise ValueError(
            f"distribution_figure needs one count per label: {len(labels)} labels, "
            f"{len(reference)} reference and {len(current)} current counts."
        )
    ref_total, cur_total = float(sum(reference)), float(sum(current))
    if not labels or (ref_total == 0 and cur_total == 0):
        return _empty(title, "No data for this feature")
    fig = go.Figure()
    # "= v" bins hold one value (zeros, a default): hatched, so they read as a point mass.
    shapes = ["/" if str(label).startswith("= ") else "" for label in labels]
    for name, counts, total, color in (
        ("reference", reference, ref_total, _MUTED),
        ("current", current, cur_total, _PALETTE[0]),
    ):
        fig.add_trace(
            go.Bar(
                x=list(labels),
                y=[c / total if total else 0.0 for c in counts],
                name=f"{name} (n={int(total):,})",
                marker={"color": color, "pattern": {"shape": shapes}},
                opacity=0.85,
            )
        )
    fig.update_yaxes(title_text="share", tickformat=".0%", rangemode="tozero")
    fig.update_xaxes(type="category")
    return _layout(fig, title, barmode="group", bargap=0.15)


def _metric_finish(
    fig: go.Figure,
    metric: str,
    reference: float | None,
    title: str,
    x_range: tuple[Any, Any] | None,
) -> go.Figure:
    """A live metric chart's last touches: the figure measured at push as a dashed line
    (live accuracy and estimated performance compare against the same one), axis, title."""
    if reference is not None:
        fig.add_hline(
            y=reference,
            line={"color": _MUTED, "dash": "dash"},
            annotation_text=f"at push: {reference:.4f}",
            annotation_position="top left",
        )
    fig.update_yaxes(title_text=metric)
    return _period(_layout(fig, title), x_range)


def accuracy_figure(
    windows: pd.DataFrame,
    *,
    metric: str = "accuracy",
    reference: float | None = None,
    title: str | None = None,
    x_range: tuple[Any, Any] | None = None,
) -> go.Figure:
    """Live accuracy (or MAE) per window, beside the figure the evaluation recorded at push.

    ``windows`` has ``since``, ``value`` and ``labelled`` (how many predictions got a
    label in that window); windows without labels are left out.
    """
    title = title or f"Live {metric} (from feedback labels)"
    rows = windows.dropna(subset=["value"]) if not windows.empty else windows
    if rows.empty:
        return _empty(title, "No feedback labels in this period")
    fig = go.Figure(
        _per_window(
            rows,
            "value",
            f"live {metric}",
            "lines+markers",
            customdata=rows["labelled"],
            hovertemplate="%{y:.4f} (%{customdata} labels)<extra></extra>",
            line={"color": _PALETTE[0]},
        )
    )
    return _metric_finish(fig, metric, reference, title, x_range)


def split_figure(
    events: Sequence[Any], *, now: Any, title: str = "Candidate's share over time"
) -> go.Figure:
    """The share of an experiment's candidate over time, as a step line: each start, step
    and end event (``experiment-*`` of the audit log, any order) is one corner."""
    moves = sorted(
        (e for e in events if str(getattr(e, "action", "")).startswith("experiment-")),
        key=lambda e: e.at,
    )
    if not moves:
        return _empty(title, "No experiment yet: start one with %deploy canary or shadow.")
    times, shares = [], []
    for e in moves:
        ended = e.action in ("experiment-promote", "experiment-abort", "experiment-end")
        share = 0.0 if ended else float(e.details.get("percent") or 0.0)
        times.append(pd.Timestamp(e.at))
        shares.append(share)
    times.append(pd.Timestamp(now))
    shares.append(shares[-1])
    fig = go.Figure(
        go.Scatter(
            x=times,
            y=shares,
            mode="lines+markers",
            line={"shape": "hv", "color": _PALETTE[1]},
            name="candidate %",
            hovertemplate="%{y:g}%<extra></extra>",
        )
    )
    fig.update_yaxes(title_text="% of requests", range=[0, 105])
    return _layout(fig, title)


def estimated_figure(
    windows: pd.DataFrame,
    *,
    metric: str = "accuracy",
    reference: float | None = None,
    confidence: float = 0.9,
    title: str | None = None,
    x_range: tuple[Any, Any] | None = None,
) -> go.Figure:
    """Estimated ``metric`` per window with its band, and the realized one beside it.

    ``windows`` has ``since``, ``value``, ``lower``, ``upper``, ``realized`` and
    ``trusted`` (one row per window; see :func:`deploykit.console.data.estimated_frame`).
    The estimate needs no label; realized points appear where feedback came back.
    Untrusted estimates are drawn as hollow markers.
    """
    title = title or f"Estimated {metric} (no labels needed) vs realized"
    rows = windows.dropna(subset=["value"]) if not windows.empty else windows
    if rows.empty:
        return _empty(title, "No estimate in this period (no scored traffic, or no evidence)")
    band = rows.dropna(subset=["lower", "upper"])
    fig = go.Figure()
    if not band.empty:
        fig.add_trace(
            go.Scatter(
                x=band["since"], y=band["upper"], mode="lines", line={"width": 0},
                showlegend=False, hoverinfo="skip",
            )
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=band["since"],
                y=band["lower"],
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor="rgba(31, 119, 180, 0.18)",
                name=f"{confidence:.0%} band",
                hoverinfo="skip",
            )
        )
    trusted = rows["trusted"].astype(bool)
    fig.add_trace(
        _per_window(
            rows,
            "value",
            f"estimated {metric}",
            "lines+markers",
            line={"color": _PALETTE[0]},
            marker={"symbol": ["circle" if t else "circle-open" for t in trusted], "size": 7},
            hovertemplate="%{y:.4f} estimated<extra></extra>",
        )
    )
    realized = rows.dropna(subset=["realized"])
    if not realized.empty:
        fig.add_trace(
            _per_window(
                realized,
                "realized",
                f"realized {metric}",
                "markers",
                marker={"color": _PALETTE[1], "size": 8, "symbol": "diamond"},
                hovertemplate="%{y:.4f} realized<extra></extra>",
            )
        )
    return _metric_finish(fig, metric, reference, title, x_range)
