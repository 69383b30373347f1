"""Building blocks of the console's pages: number formats, badges, HTML snippets, charts.

:class:`ChartArea` shows a plotly figure through its mime bundle in an ``Output`` widget
and redraws it only when the figure changed. A ``FigureWidget`` would keep zoom across
updates, but costs ~5 MB of JavaScript per chart and ~2 s to create; nothing here needs it.
Plotly's ``responsive`` option is left off: in Voila's output areas it let a chart's
container collapse to zero height, and the chart vanished.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import orjson
import plotly.graph_objects as go

from deploykit.ui.markup import BAD, GOOD, MUTED, badge, html_table, when

if TYPE_CHECKING:
    from deploykit.monitoring.rules import AlertRule

__all__ = [
    "EVIDENCE_ANCHOR",
    "ChartArea",
    "audit_html",
    "empty_state_html",
    "millis",
    "rate",
    "rules_html",
    "share",
    "status_badge",
]

_STATUS_COLORS = {
    "serving": GOOD,
    "idle": MUTED,
    "not deployed": MUTED,
    "errors": BAD,
    "alert": BAD,
    "unknown": "#9a6700",
}
_PLOTLY_CONFIG = {"displaylogo": False}
#: The id of the model page's "why the alert fired" section; audit-log entries link to it.
EVIDENCE_ANCHOR = "dk-evidence"
_AUDIT_HEAD = ["when", "actor", "action", "model", "alias", "move", "reason"]


# ---------------------------------------------------------------------- formatting
def rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}/s" if value < 100 else f"{value:,.0f}/s"


def millis(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"


def share(value: float | None) -> str:
    if value is None:
        return "-"
    return "0%" if value == 0 else f"{value:.1%}" if value < 0.1 else f"{value:.0%}"


def status_badge(status: str, note: str = "") -> str:
    title = f' title="{html.escape(note)}"' if note else ""
    return f"<span{title}>{badge(status, _STATUS_COLORS.get(status, MUTED))}</span>"


def empty_state_html(server_url: str) -> str:
    """What an empty registry shows: the two lines that push a first model from a notebook."""
    url = html.escape(server_url)
    code = "%load_ext deploykit\n%deploy push model --name churn --data X_train --deploy"
    return (
        '<div class="dk-empty" style="padding:16px;border:1px dashed #8c959f;border-radius:6px;'
        'max-width:720px">'
        "<b>No models yet.</b> Push a first one from a notebook where <code>model</code> is a "
        "fitted scikit-learn estimator and <code>X_train</code> its training data:"
        f'<pre style="background:#f6f8fa;padding:8px;border-radius:4px;font-family:monospace;'
        f'line-height:1.4">{code}</pre>'
        f'<span style="color:{MUTED}">The notebook\'s kernel talks to this server when '
        f"DEPLOYKIT_SERVER_URL={url} is set, or after <code>%deploy target {url}</code>. "
        "The model shows up here within seconds.</span></div>"
    )


# ---------------------------------------------------------------------- charts
class ChartArea(widgets.Output):
    """A plotly figure shown by its mime bundle; redrawn only when the figure changed."""

    def __init__(self, css_class: str) -> None:
        super().__init__(layout=widgets.Layout(width="100%", min_height="120px"))
        self.add_class(css_class)
        self.figure: go.Figure | None = None
        self._json: str | None = None
        self.draws = 0  # how many times the browser was sent a figure (tests, benchmarks)

    def draw(self, figure: go.Figure) -> bool:
        """Show ``figure``; False if it equals the one shown (nothing is sent)."""
        text = figure.to_json(validate=False)
        if text == self._json:
            return False
        self.figure, self._json = figure, text
        # Hold the chart's height while the browser redraws it, so the page does not jump.
        self.layout.min_height = f"{int(figure.layout.height or 300)}px"
        bundle = {**orjson.loads(text), "config": _PLOTLY_CONFIG}
        title = figure.layout.title.text or "chart"
        # Setting `outputs` (not `with self: display(...)`) works from any thread: the
        # console refreshes from a background thread, where the display hook has no cell.
        self.outputs = (
            {
                "output_type": "display_data",
                "data": {"application/vnd.plotly.v1+json": bundle, "text/plain": title},
                "metadata": {},
            },
        )
        self.draws += 1
        return True


def rules_html(rules: Sequence[AlertRule]) -> str:
    """The model's alert rules, each with when it last fired."""
    if not rules:
        return (
            f'<span style="color:{MUTED}">No alert rules: the badge turns red on errors only. '
            "Add rules with client.set_alert(...).</span>"
        )
    rows = []
    for r in rules:
        fired = r.last_fired_at
        state = (
            badge("off", MUTED)
            if not r.enabled
            else badge(f"fired {fired:%Y-%m-%d %H:%M}", BAD)
            if fired
            else badge("quiet", GOOD)
        )
        rows.append(
            [
                html.escape(r.name),
                html.escape(f"{r.metric} > {r.threshold:g} over {r.window_seconds // 60} min"),
                "rolls back" if r.rollback else "-",
                state,
            ]
        )
    return html_table(["rule", "when", "action", "status"], rows)


def audit_html(events: Sequence[Any], *, evidence_for: Sequence[int] = ()) -> str:
    """The audit log; the entries in ``evidence_for`` (an alert and the automatic rollback
    it caused) link to the page's section that shows the figures behind them."""
    if not events:
        return f'<span style="color:{MUTED}">No events yet.</span>'
    rows = []
    for e in events:
        move = f"{e.from_version or '-'} → {e.to_version}" if e.to_version is not None else "-"
        reason = html.escape(e.reason or "")
        if e.id in evidence_for:
            reason += f' <a href="#{EVIDENCE_ANCHOR}" class="dk-evidence-link">evidence ↑</a>'
        rows.append(
            [
                html.escape(when(e.at)),
                html.escape(e.actor),
                html.escape(e.action),
                html.escape(e.model),
                html.escape(e.alias or "-"),
                move,
                reason,
            ]
        )
    return html_table(_AUDIT_HEAD, rows)
