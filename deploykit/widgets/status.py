"""A model's live status with a small chart of recent requests and p95 latency.

The chart is a plain ``plotly.graph_objects.Figure`` drawn into an ``Output``
widget, not a ``FigureWidget``: it is redrawn on refresh, and a FigureWidget
would ship ~5 MB of JavaScript per chart. :func:`status_figure` is pure (time
buckets in, figure out), so it is tested without a browser.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import ipywidgets as widgets
from IPython.display import display

from deploykit.ui import actions, render
from deploykit.ui.feedback import Feedback, current_session
from deploykit.ui.results import ModelStatus
from deploykit.ui.session import Session

__all__ = ["StatusView", "status_figure"]


def status_figure(series: Sequence[dict[str, Any]], *, title: str = "") -> Any:
    """Requests/s (bars) and p95 latency (lines) per time bucket, one colour per version.

    ``series`` holds the server's buckets: ``start`` (unix seconds), ``version``,
    ``throughput_rps`` and ``latency_p95_ms``.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(specs=[[{"secondary_y": True}]])
    versions = sorted({int(b["version"]) for b in series})
    for version in versions:
        rows = sorted((b for b in series if int(b["version"]) == version), key=lambda b: b["start"])
        x = [datetime.fromtimestamp(b["start"], tz=timezone.utc) for b in rows]
        fig.add_trace(
            go.Bar(
                x=x,
                y=[b.get("throughput_rps") or 0 for b in rows],
                name=f"v{version} req/s",
                opacity=0.5,
            ),
            secondary_y=False,
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=[b.get("latency_p95_ms") for b in rows],
                name=f"v{version} p95 ms",
                mode="lines+markers",
            ),
            secondary_y=True,
        )
    fig.update_layout(
        title=title or None,
        height=260,
        margin={"l": 40, "r": 40, "t": 30, "b": 30},
        barmode="stack",
        legend={"orientation": "h"},
    )
    fig.update_yaxes(title_text="requests/s", secondary_y=False)
    fig.update_yaxes(title_text="p95 latency (ms)", secondary_y=True)
    return fig


class StatusView(widgets.VBox):
    """Live version, last move and serving figures of ``name``; ``refresh()`` re-reads them."""

    def __init__(
        self, name: str, *, session: Session | None = None, window_seconds: int = 3600
    ) -> None:
        self.name = name
        self.window_seconds = window_seconds
        self.session = current_session(session)
        self.status: ModelStatus | None = None
        self.figure: Any = None
        self.summary = widgets.HTML()
        self.chart = widgets.Output()
        self.refresh_button = widgets.Button(description="Refresh")
        self.feedback = Feedback()
        self.refresh_button.on_click(self.feedback.on_click(self.refresh))
        super().__init__([self.summary, self.chart, self.refresh_button, self.feedback.widget])
        self.refresh()

    @property
    def error(self) -> str | None:
        return self.feedback.error

    def refresh(self) -> ModelStatus | None:
        """Read the status again and redraw the summary and the chart."""
        status = self.feedback.run(
            lambda: actions.model_status(
                self.session, self.name, window_seconds=self.window_seconds
            )
        )
        if status is None:
            return None
        self.status = status
        self.summary.value = render.status_html([status])
        self.chart.clear_output()
        self.figure = None
        if status.series:
            try:
                self.figure = status_figure(status.series, title=self.name)
            except ImportError:
                self.feedback.say("pip install 'deploykit[jupyter]' to see the chart", ok=False)
        if self.figure is not None:
            with self.chart:
                display(self.figure)
        return status
