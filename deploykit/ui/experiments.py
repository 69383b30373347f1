"""Experiments in a notebook: what ``%deploy shadow|canary|compare|...`` show, and a widget.

:class:`ExperimentView` and :class:`ComparisonView` wrap the core records
(:class:`~deploykit.records.Experiment`, :class:`~deploykit.monitoring.compare.Comparison`)
with rich HTML and plain text; attribute access goes through to the record, so code can
read ``view.candidate`` or ``view.agreement``. :class:`ExperimentWidget` is a split
slider with step, promote and abort buttons (each with the reason typed beside it); its
actions are methods, so a test drives it without a browser.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from deploykit.ui.markup import (
    BAD,
    GOOD,
    MUTED,
    WARN,
    badge,
    block,
    color,
    escape,
    html_table,
    text_table,
)
from deploykit.ui.results import Shown

if TYPE_CHECKING:
    from deploykit.backend import Backend
    from deploykit.monitoring.compare import Comparison
    from deploykit.records import Experiment

__all__ = ["ComparisonView", "ExperimentView", "ExperimentWidget", "experiment_badge"]

_STATE_COLORS = {"running": WARN, "promoted": GOOD, "aborted": BAD, "ended": MUTED}


def experiment_badge(found: Experiment | None) -> str:
    """The short label a sidebar or a list shows: ``canary 10%``, ``shadow`` (or "")."""
    return found.label if found is not None and found.running else ""


def _lines(e: Experiment) -> list[tuple[str, str]]:
    rows = [
        ("model", e.model),
        ("kind", e.label),
        ("versions", f"production {e.production}, candidate {e.candidate}"),
        ("state", e.state),
        ("started", f"{e.started_at:%Y-%m-%d %H:%M:%S} UTC by {e.started_by}"),
    ]
    if e.sticky:
        rows.append(("sticky", f"column {e.sticky!r} (or the X-Deploykit-Key header)"))
    if e.promote_when:
        extra = f", max_duration {e.max_duration:g}s" if e.max_duration else ""
        rows.append(("policy", f"{e.promote_when} (min_requests {e.min_requests}{extra})"))
    if not e.running:
        rows.append(("ended", f"{e.ended_at:%Y-%m-%d %H:%M:%S} UTC by {e.ended_by}"))
        rows.append(("why", e.end_reason or ""))
    decision = e.statistics or {}
    if decision.get("action"):
        rows.append(("evidence", f"{decision['action']}: {decision.get('reason', '')}"))
    return rows


@dataclasses.dataclass(frozen=True)
class ExperimentView(Shown):
    """An experiment, shown; attributes read through to the record."""

    experiment: Experiment

    def __getattr__(self, name: str) -> Any:
        return getattr(self.experiment, name)

    def _text(self) -> str:
        return "\n".join(f"{k:<9} {v}" for k, v in _lines(self.experiment))

    def _html(self) -> str:
        e = self.experiment
        head = f"<b>{escape(e.model)}</b>" + badge(e.label, _STATE_COLORS.get(e.state, MUTED))
        head += " " + color(escape(e.state), _STATE_COLORS.get(e.state, MUTED), bold=True)
        rows = [[escape(k), escape(v)] for k, v in _lines(e)[1:]]
        return block(head + html_table(None, rows))


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} ms"


def _delta(value: float | None, unit: str = "") -> str:
    if value is None:
        return "–"
    return f"{value:+.4g}{unit}"


@dataclasses.dataclass(frozen=True)
class ComparisonView(Shown):
    """Two versions compared, shown; attributes read through to the comparison."""

    comparison: Comparison

    def __getattr__(self, name: str) -> Any:
        return getattr(self.comparison, name)

    def _serving_rows(self) -> list[list[str]]:
        s = self.comparison.serving
        a, b, d = s.get("a", {}), s.get("b", {}), s.get("delta", {})
        if "p95_ms" not in a:
            return []
        return [
            ["requests", str(a.get("requests", 0)), str(b.get("requests", 0)), ""],
            ["error rate", _percent(a.get("error_rate")), _percent(b.get("error_rate")),
             _delta(d.get("error_rate"))],
            ["p50", _ms(a.get("p50_ms")), _ms(b.get("p50_ms")), _delta(d.get("p50_ms"), " ms")],
            ["p95", _ms(a.get("p95_ms")), _ms(b.get("p95_ms")), _delta(d.get("p95_ms"), " ms")],
        ]  # fmt: skip

    def _crosstab(self) -> tuple[list[str], list[list[str]]]:
        table = self.comparison.crosstab
        labels = list(table)
        rows = [[f"a={k}", *(str(table[k].get(c, 0)) for c in labels)] for k in labels]
        return ["", *(f"b={c}" for c in labels)], rows

    def _text(self) -> str:
        c = self.comparison
        parts = [c.summary()]
        if c.crosstab:
            head, rows = self._crosstab()
            parts.append(text_table(head, rows))
        if c.disagreement:
            parts.append(
                text_table(
                    ["feature", "bin", "rows", "disagree"],
                    [
                        [d["feature"], d["bin"], f"{d['rows']:,}", _percent(d["disagreement"])]
                        for d in c.disagreement[:5]
                    ],
                )
            )
        serving = self._serving_rows()
        if serving:
            parts.append(text_table(["", f"v{c.a}", f"v{c.b}", "delta"], serving))
        return "\n\n".join(parts)

    def _html(self) -> str:
        c = self.comparison
        agree = "" if c.agreement is None else badge(f"agreement {c.agreement:.1%}", GOOD)
        out = [f"<b>{escape(c.model)}</b>: version {c.a} vs {c.b} on {escape(c.source)}{agree}"]
        out.append(f"<div>{escape(c.summary())}</div>")
        if c.crosstab:
            head, rows = self._crosstab()
            out.append("<div><b>cross-table</b></div>" + html_table(head, rows))
        if c.disagreement:
            rows = [
                [escape(d["feature"]), escape(d["bin"]), f"{d['rows']:,}",
                 color(_percent(d["disagreement"]), BAD if d["disagreement"] > 0.1 else WARN)]
                for d in c.disagreement[:5]
            ]  # fmt: skip
            out.append(
                "<div><b>where they disagree most</b></div>"
                + html_table(["feature", "bin", "rows", "disagree"], rows)
            )
        serving = self._serving_rows()
        if serving:
            out.append(
                "<div><b>serving</b></div>"
                + html_table(
                    ["", f"v{c.a}", f"v{c.b}", "delta"], [[escape(x) for x in r] for r in serving]
                )
            )
        if c.accuracy and c.accuracy.get("delta") is not None:
            acc = c.accuracy
            tone = GOOD if acc["delta"] >= 0 else BAD
            shift = color(f"({acc['delta']:+.3f})", tone, bold=True)
            out.append(
                f"<div>accuracy on labelled rows: {acc['a']:.3f} → {acc['b']:.3f} {shift}</div>"
            )
        if c.examples:
            rows = [
                [escape(e.get("a")), escape(e.get("b")), escape(e.get("input", ""))]
                for e in c.examples[:5]
            ]
            out.append(
                "<div><b>example rows where they differ</b></div>"
                + html_table([f"v{c.a}", f"v{c.b}", "input"], rows)
            )
        return block("".join(out))


class ExperimentWidget:
    """A split slider with step, promote and abort buttons for one model's experiment."""

    def __init__(self, backend: Backend, name: str) -> None:
        import ipywidgets as w

        self.backend = backend
        self.name = name
        self.split = w.IntSlider(
            value=10, min=1, max=100, step=1, description="split %", continuous_update=False
        )
        self.reason = w.Text(placeholder="why (kept in the audit log)", description="reason")
        self.step_button = w.Button(description="Step", tooltip="Set the split to the slider")
        self.promote_button = w.Button(description="Promote", button_style="success")
        self.abort_button = w.Button(description="Abort", button_style="danger")
        self.status = w.HTML()
        self.step_button.on_click(lambda _: self.step())
        self.promote_button.on_click(lambda _: self.promote())
        self.abort_button.on_click(lambda _: self.abort())
        self.box = w.VBox(
            [
                self.status,
                self.split,
                self.reason,
                w.HBox([self.step_button, self.promote_button, self.abort_button]),
            ]
        )
        self.refresh()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.box)

    def refresh(self) -> None:
        found = self.backend.experiment(self.name)
        if found is None:
            self.status.value = block(f"<b>{escape(self.name)}</b>: no experiment")
        else:
            self.status.value = ExperimentView(found)._html()
            if found.running:
                self.split.value = max(1, round(found.percent))
        running = found is not None and found.running
        for button in (self.step_button, self.promote_button, self.abort_button):
            button.disabled = not running

    def _run(self, action: Any) -> None:
        from deploykit.errors import DeployKitError
        from deploykit.ui.render import error_html

        try:
            action()
        except DeployKitError as exc:
            self.status.value = error_html(str(exc))
            return
        self.refresh()

    def step(self) -> None:
        self._run(
            lambda: self.backend.step(self.name, self.split.value, reason=self.reason.value or None)
        )

    def promote(self) -> None:
        self._run(lambda: self.backend.promote(self.name, self.reason.value))

    def abort(self) -> None:
        self._run(lambda: self.backend.abort(self.name, self.reason.value))
