"""The console's two pages, as ipywidgets: every model at a glance, and one model in full.

Both are built once and then fed data by ``show(...)``; a refresh changes widget
values in place (only what changed travels to the browser), so the page never
reloads and never flickers. Their buttons call methods (``open_model``, ``back``,
``set_period``...), which is how tests drive them without a browser.

Charts are plain plotly figures in ``Output`` widgets
(:class:`~deploykit.console.parts.ChartArea`), redrawn only when their data changed.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from deploykit.console import charts
from deploykit.console.card import CardPanel
from deploykit.console.data import (
    Access,
    Evidence,
    ModelPage,
    ModelSummary,
    estimated_frame,
    page_status,
)
from deploykit.console.experiment_panel import ExperimentPanel
from deploykit.console.frames import DriftData
from deploykit.console.parts import (
    EVIDENCE_ANCHOR,
    ChartArea,
    audit_html,
    empty_state_html,
    millis,
    rate,
    rules_html,
    share,
    status_badge,
)
from deploykit.console.table import ConsoleVersionsTable
from deploykit.ui import render
from deploykit.ui.markup import MUTED

if TYPE_CHECKING:
    from deploykit.client import Client

__all__ = ["PERIODS", "ModelView", "OverviewView"]

#: Periods a model page can show, label -> seconds.
PERIODS: dict[str, int] = {"1 hour": 3600, "24 hours": 86400, "7 days": 7 * 86400}
_OVERVIEW_HEAD = ("model", "production", "latest", "status", "req/s", "p95", "errors", "drifted")
_OVERVIEW_COLUMNS = "minmax(140px, 260px) 90px 70px 130px 90px 90px 80px 80px"


# ---------------------------------------------------------------------- overview
class _OverviewRow:
    def __init__(self, name: str, on_open: Callable[[str], None]) -> None:
        self.open_button = widgets.Button(
            description=name,
            tooltip=f"Open {name}",
            layout=widgets.Layout(width="auto", justify_content="flex-start"),
        )
        self.open_button.add_class("dk-open")
        self.open_button.on_click(lambda _: on_open(name))
        self.cells = [widgets.HTML() for _ in _OVERVIEW_HEAD[1:]]

    @property
    def widgets(self) -> list[widgets.Widget]:
        return [self.open_button, *self.cells]

    def show(self, s: ModelSummary) -> None:
        values = (
            f"<b>v{s.live_version}</b>" if s.live_version is not None else "-",
            f"v{s.latest_version}" if s.latest_version is not None else "-",
            status_badge(s.status, s.status_note),
            rate(s.requests_per_s),
            millis(s.latency_p95_ms),
            share(s.error_rate),
            share(s.drifted_share),
        )
        for cell, value in zip(self.cells, values, strict=True):
            cell.value = value


class OverviewView(widgets.VBox):
    """Every model: live version, status, requests/s, p95, error rate, drifted share."""

    def __init__(self, *, server_url: str, on_open: Callable[[str], None]) -> None:
        self.server_url = server_url
        self.on_open = on_open
        self.summaries: list[ModelSummary] = []
        self.rows: dict[str, _OverviewRow] = {}
        self.caption = widgets.HTML()
        self.empty = widgets.HTML(empty_state_html(server_url))
        self.grid = widgets.GridBox(
            layout=widgets.Layout(grid_template_columns=_OVERVIEW_COLUMNS, grid_gap="2px 8px")
        )
        self.grid.add_class("dk-overview")
        self._header = [widgets.HTML(f"<b>{h}</b>") for h in _OVERVIEW_HEAD]
        super().__init__([self.caption, self.empty, self.grid])  # type: ignore[no-untyped-call]

    def open_model(self, name: str) -> None:
        """What the model's button does (``open`` is taken: it opens a widget's comm)."""
        self.on_open(name)

    def show(self, summaries: Sequence[ModelSummary], *, window_seconds: int = 300) -> None:
        self.summaries = list(summaries)
        empty = not self.summaries
        self.empty.layout.display = None if empty else "none"
        self.grid.layout.display = "none" if empty else None
        minutes = max(1, window_seconds // 60)
        self.caption.value = (
            ""
            if empty
            else f'<span style="color:{MUTED}">{len(self.summaries)} model'
            f"{'s' if len(self.summaries) != 1 else ''}; figures over the last {minutes} "
            f"minute{'s' if minutes != 1 else ''}. Open a model for its versions and charts."
            "</span>"
        )
        for s in self.summaries:
            row = self.rows.get(s.name)
            if row is None:
                row = self.rows[s.name] = _OverviewRow(s.name, self.open_model)
            row.show(s)
        children = tuple(self._header) + tuple(
            w for s in self.summaries for w in self.rows[s.name].widgets
        )
        if tuple(self.grid.children) != children:
            self.grid.children = children


# ---------------------------------------------------------------------- one model
class ModelView(widgets.VBox):
    """One model: heading, versions with Deploy/Rollback, serving and drift charts, audit log."""

    def __init__(
        self,
        client: Client,
        page: ModelPage,
        *,
        access: Access,
        on_back: Callable[[], None],
        on_change: Callable[[], None],
        on_period: Callable[[int], None],
        lock: threading.RLock | None = None,
    ) -> None:
        self.name = page.name
        self.page = page
        self.on_back = on_back
        self.on_period = on_period
        self.back_button = widgets.Button(description="All models", tooltip="Back to every model")
        self.back_button.add_class("dk-back")
        self.back_button.on_click(lambda _: self.back())
        self.heading = widgets.HTML()
        self.heading.add_class("dk-model-heading")
        self.access_note = widgets.HTML(
            f'<span style="color:{MUTED}">{html.escape(access.reason, quote=False)}</span>'
            if access.reason
            else ""
        )
        self.access_note.add_class("dk-read-only")
        self.problems = widgets.HTML()
        self.evidence_note = widgets.HTML()
        self.evidence_drift = ChartArea("dk-chart-evidence-drift")
        self.evidence_accuracy = ChartArea("dk-chart-evidence-accuracy")
        self.evidence = widgets.VBox(
            [
                widgets.HTML(f'<h4 id="{EVIDENCE_ANCHOR}">Why the alert fired</h4>'),
                self.evidence_note,
                widgets.HBox(
                    [
                        widgets.Box([self.evidence_drift], layout=widgets.Layout(width="50%")),
                        widgets.Box([self.evidence_accuracy], layout=widgets.Layout(width="50%")),
                    ]
                ),
            ]
        )
        self.evidence.add_class("dk-evidence")
        self.experiment = ExperimentPanel(
            client,
            page.name,
            read_only=None if access.can_act else access.reason or "Read-only.",
            on_change=on_change,
            lock=lock,
        )
        self.table = ConsoleVersionsTable(
            client,
            page.name,
            versions=page.versions,
            read_only=None if access.can_act else access.reason or "Read-only.",
            on_change=on_change,
            lock=lock,
        )
        labels = list(PERIODS)
        seconds = list(PERIODS.values())
        current = (
            labels[seconds.index(page.window_seconds)] if page.window_seconds in seconds else None
        )
        self.period = widgets.ToggleButtons(
            options=labels, value=current, tooltips=[f"Charts over the last {p}" for p in labels]
        )
        self.period.add_class("dk-period")
        self.period.observe(self._period_changed, names="value")
        self.latency = ChartArea("dk-chart-latency")
        self.traffic = ChartArea("dk-chart-traffic")
        self.drift_note = widgets.HTML()
        self.drift_scores = ChartArea("dk-chart-drift")
        self.feature = widgets.Dropdown(description="feature", options=[])
        self.feature.observe(lambda _: self._draw_distribution(), names="value")
        self.distribution = ChartArea("dk-chart-distribution")
        self.distribution_note = widgets.HTML()
        self.rules = widgets.HTML()
        self.rules.add_class("dk-rules")
        self.prediction = ChartArea("dk-chart-prediction")
        self.accuracy = ChartArea("dk-chart-accuracy")
        self.estimated = ChartArea("dk-chart-estimated")
        self.estimated_note = widgets.HTML()
        self.events = widgets.HTML()
        self.events.add_class("dk-events")
        self.card = CardPanel(client, page.name)
        half = widgets.Layout(width="50%")
        self.overview = widgets.VBox(
            [
                self.experiment,
                self.table,
                widgets.HBox(
                    [widgets.HTML("<h4>Serving</h4>"), self.period],
                    layout=widgets.Layout(align_items="center", grid_gap="16px"),
                ),
                widgets.HBox(
                    [
                        widgets.Box([self.latency], layout=half),
                        widgets.Box([self.traffic], layout=half),
                    ]
                ),
                widgets.HTML("<h4>Drift and accuracy</h4>"),
                self.drift_note,
                widgets.HBox(
                    [
                        widgets.Box([self.drift_scores], layout=half),
                        widgets.VBox(
                            [self.feature, self.distribution, self.distribution_note], layout=half
                        ),
                    ]
                ),
                widgets.HBox(
                    [
                        widgets.Box([self.prediction], layout=half),
                        widgets.Box([self.accuracy], layout=half),
                    ]
                ),
                widgets.HTML("<h4>Estimated performance</h4>"),
                self.estimated_note,
                self.estimated,
                widgets.HTML("<h4>Alert rules</h4>"),
                self.rules,
                widgets.HTML("<h4>Audit log</h4>"),
                self.events,
            ]
        )
        # The card is fetched when its tab opens, not at every refresh of the page.
        self.tabs = widgets.Tab(children=[self.overview, self.card], titles=("Overview", "Card"))
        self.tabs.add_class("dk-model-tabs")
        self.tabs.observe(self.card._selected, names="selected_index")
        super().__init__(  # type: ignore[no-untyped-call]
            [
                widgets.HBox([self.back_button]),
                self.heading,
                self.access_note,
                self.problems,
                self.evidence,
                self.tabs,
            ]
        )
        self.show(page)

    # -- actions ---------------------------------------------------------------------------

    def back(self) -> None:
        self.on_back()

    def open_card(self) -> None:
        """Show the Card tab (the live version's card first)."""
        self.tabs.selected_index = 1

    def set_period(self, label: str) -> None:
        """Show the charts over ``label`` (a key of :data:`PERIODS`)."""
        self.period.value = label

    def _period_changed(self, change: dict[str, Any]) -> None:
        if change["new"] is not None:
            self.on_period(PERIODS[change["new"]])

    # -- drawing ---------------------------------------------------------------------------

    def show(self, page: ModelPage) -> None:
        self.page = page
        self.heading.value = _heading_html(page)
        self.problems.value = (
            "".join(render.error_html(p) for p in page.problems) if page.problems else ""
        )
        self.table.show_versions(page.versions)
        self.experiment.show(page.experiment, page.events)
        self.card.set_versions(page.versions, page.live_version)
        self.latency.draw(charts.latency_figure(page.serving, x_range=page.period))
        self.traffic.draw(charts.traffic_figure(page.serving, x_range=page.period))
        self._show_drift(page)
        self._show_estimated(page)
        self.rules.value = rules_html(page.alert_rules)
        self._show_evidence(page.evidence)
        self.events.value = audit_html(
            page.events, evidence_for=page.evidence.event_ids if page.evidence else ()
        )

    def _show_evidence(self, ev: Evidence | None) -> None:
        """The figures behind the latest alert: the judged version's drift and accuracy,
        which the production charts below no longer show after a rollback."""
        self.evidence.layout.display = None if ev is not None else "none"
        if ev is None:
            return
        self.evidence_note.value = _evidence_html(ev)
        for area in (self.evidence_drift, self.evidence_accuracy):
            area.layout.display = None if ev.drift is not None else "none"
        if ev.drift is None:
            return
        period = (ev.since, ev.until)
        self.evidence_drift.draw(
            charts.drift_scores_figure(
                ev.drift.windows,
                title=f"Version {ev.version}: drift score per feature",
                x_range=period,
                threshold=typical_threshold(ev.drift),
            )
        )
        self.evidence_accuracy.draw(
            charts.accuracy_figure(
                ev.drift.accuracy,
                metric=ev.drift.accuracy_metric or "accuracy",
                reference=ev.drift.accuracy_reference,
                title=f"Version {ev.version}: live {ev.drift.accuracy_metric or 'accuracy'}",
                x_range=period,
            )
        )

    def _show_estimated(self, page: ModelPage) -> None:
        """The headline metric estimated from scores (no labels), realized beside it."""
        result = page.estimated
        if result is None or result.headline is None:
            self.estimated_note.value = (
                f'<span style="color:{MUTED}">No estimate: the version has no calibration '
                "evidence (push it with evaluation=deploykit.evaluate(...)) or the server "
                "does not estimate.</span>"
            )
            self.estimated.layout.display = "none"
            return
        self.estimated.layout.display = None
        overall = result.estimate
        text = "-"
        if overall is not None and overall.value is not None:
            text = f"<b>{overall.value:.4f}</b>"
            if overall.lower is not None and overall.upper is not None:
                text += f" [{overall.lower:.4f}, {overall.upper:.4f}]"
        untrusted = (
            ""
            if result.overall.trusted or not result.overall.rows
            else f' <span style="color:{MUTED}">untrusted: '
            f"{html.escape('; '.join(result.overall.reasons))}</span>"
        )
        # a window of a few cases seen many times: say what the band counted
        repeats = f" {html.escape(result.repeats)}." if result.repeats else ""
        self.estimated_note.value = (
            f"Estimated {html.escape(result.headline)} of version {result.version} over this "
            f"period: {text} ({result.confidence:.0%} band, from the model's scores: no "
            f"labels needed).{repeats}{untrusted}"
        )
        self.estimated.draw(
            charts.estimated_figure(
                estimated_frame(result),
                metric=result.headline,
                reference=result.reference.get(result.headline),
                confidence=result.confidence,
                x_range=page.period,
            )
        )

    def _show_drift(self, page: ModelPage) -> None:
        drift = page.drift
        shown = drift is not None
        for area in (self.drift_scores, self.prediction, self.accuracy):
            area.layout.display = None if shown else "none"
        if drift is None:
            why = page.drift_note or (
                "this server does not measure drift (no GET /v1/models/NAME/drift)"
            )
            self.drift_note.value = (
                f'<span style="color:{MUTED}">No drift figures: {html.escape(why)}</span>'
            )
            self.feature.layout.display = self.distribution.layout.display = "none"
            self.distribution_note.value = ""
            return
        drifted = ", ".join(drift.drifted_features) or "none"
        whose = (
            f"version {page.live_version} (production)" if page.live_version is not None else "-"
        )
        self.drift_note.value = (
            f"Drifted features of {whose} over this period: "
            f"<b>{share(drift.drifted_share)}</b> ({html.escape(drifted)}). "
            f'<span style="color:{MUTED}">{DRIFT_EXPLAINED}</span>'
        )
        self.drift_scores.draw(
            charts.drift_scores_figure(
                drift.windows, x_range=page.period, threshold=typical_threshold(drift)
            )
        )
        predicted = drift.distributions.get("prediction")
        if predicted is not None:
            self.prediction.draw(
                charts.distribution_figure(*predicted, title="Predictions: reference vs current")
            )
        else:
            scores = drift.prediction.assign(feature="prediction")
            self.prediction.draw(
                charts.drift_scores_figure(
                    scores, title="Prediction drift score", x_range=page.period
                )
            )
        self.accuracy.draw(
            charts.accuracy_figure(
                drift.accuracy,
                metric=drift.accuracy_metric or "accuracy",
                reference=drift.accuracy_reference,
                x_range=page.period,
            )
        )
        options = [f for f in drift.features if f in drift.distributions]
        if list(self.feature.options) != options:
            keep = self.feature.value if self.feature.value in options else None
            first = ([f for f in drift.drifted_features if f in options] or options)[:1]
            self.feature.options = options
            self.feature.value = keep or (first[0] if first else None)
        self.feature.layout.display = None if options else "none"
        self.distribution_note.value = (
            ""
            if options
            else f'<span style="color:{MUTED}">Reference against current distributions per '
            "feature appear when the server sends the bin counts behind its drift scores."
            "</span>"
        )
        self._draw_distribution()

    def _draw_distribution(self) -> None:
        drift = self.page.drift
        name = self.feature.value
        found = None if drift is None or name is None else drift.distributions.get(name)
        if found is None:
            self.distribution.layout.display = "none"
            return
        self.distribution.layout.display = None
        self.distribution.draw(
            charts.distribution_figure(*found, title=f"{name}: reference vs current")
        )


#: What the drift-score chart's threshold line means (said under the section's heading).
DRIFT_EXPLAINED = (
    "A feature drifts when its score is above the dashed threshold and the change is also "
    "significant for the number of rows seen: a window with few rows can score high "
    "without counting as drift."
)


def typical_threshold(drift: DriftData) -> float | None:
    """The threshold most features share (the chart draws one line)."""
    values = list(drift.thresholds.values())
    return max(set(values), key=values.count) if values else None


def _evidence_html(ev: Evidence) -> str:
    d = ev.alert.details
    fired = (
        f"<b>alert '{html.escape(str(d.get('rule', '?')))}'</b> fired at "
        f"{ev.alert.at:%H:%M:%S} UTC on <b>version {ev.version}</b>: "
        f"{html.escape(str(d.get('metric')))} {float(d.get('value', 0)):.4g} &gt; "
        f"{float(d.get('threshold', 0)):g} over the last {d.get('window_seconds')} s "
        f"({int(d.get('count') or 0):,} {html.escape(str(d.get('unit') or 'rows'))})."
    )
    if ev.rollback is not None:
        fired += (
            f" Production was rolled back automatically: {ev.rollback.from_version} → "
            f"{ev.rollback.to_version}."
        )
    span = f"{ev.since:%H:%M}–{ev.until:%H:%M} UTC"
    if ev.drift is None:
        why = html.escape(ev.problem or "no drift figures")
        missing = f"No figures for version {ev.version}: {why}"
        return f'{fired}<br><span style="color:{MUTED}">{missing}</span>'
    drifted = ", ".join(ev.drift.drifted_features) or "none"
    return (
        f"{fired}<br>Version {ev.version} from {span}: drifted features "
        f"<b>{share(ev.drift.drifted_share)}</b> ({html.escape(drifted)})."
    )


def _heading_html(page: ModelPage) -> str:
    live = page.live_version
    t = page.totals
    requests = int(t.get("requests") or 0)
    errors = int(t.get("errors_5xx") or 0)
    refused = int(t.get("errors_4xx") or 0)
    period = next((k for k, v in PERIODS.items() if v == page.window_seconds), None)
    period = period or f"{page.window_seconds} s"
    live_html = (
        f'<span class="dk-live-version">production: version <b>{live}</b></span>'
        if live is not None
        else '<span class="dk-live-version">production: <b>none</b></span>'
    )
    error_rate = errors / requests if requests else None
    figures = (
        f"{requests:,} requests, {rate(t.get('throughput_rps'))}, "
        f"p95 {millis(t.get('latency_p95_ms'))}, errors {share(error_rate)}"
        + (f" ({refused:,} bad inputs refused)" if refused else "")
    )
    status, note = page_status(page)
    return (
        f'<h3 style="margin:4px 0">{html.escape(page.name)} {status_badge(status, note)}</h3>'
        f"{live_html} · {len(page.versions)} versions · "
        f'<span style="color:{MUTED}">last {period}: {figures}</span>'
    )
