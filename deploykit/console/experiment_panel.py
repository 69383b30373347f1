"""The model page's experiment panel: the running shadow or canary, its split over time,
a comparison of the two versions on demand, and promote / abort with a reason.

Hidden when the model has never had an experiment. The buttons are methods
(``promote()``, ``abort()``, ``compare()``), so tests drive them without a browser;
they need a token that may deploy, as the versions table's buttons do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from deploykit.console import charts
from deploykit.console.parts import ChartArea
from deploykit.errors import DeployKitError
from deploykit.ui import render
from deploykit.ui.experiments import ComparisonView, ExperimentView

if TYPE_CHECKING:
    from deploykit.backend import Backend
    from deploykit.records import Event, Experiment

__all__ = ["ExperimentPanel"]


class ExperimentPanel(widgets.VBox):
    """A model's experiment: what runs, its split, a comparison, promote and abort."""

    def __init__(
        self,
        client: Backend,
        name: str,
        *,
        read_only: str | None,
        on_change: Callable[[], None],
        lock: threading.RLock | None = None,
    ) -> None:
        self.client = client
        self.name = name
        self.on_change = on_change
        self._lock = lock or threading.RLock()
        self.experiment: Experiment | None = None
        self.status = widgets.HTML()
        self.split = ChartArea("dk-chart-split")
        self.comparison = widgets.HTML()
        self.comparison.add_class("dk-comparison")
        self.reason = widgets.Text(placeholder="why (kept in the audit log)", description="reason")
        self.compare_button = widgets.Button(description="Compare", tooltip="Compare the versions")
        self.promote_button = widgets.Button(description="Promote", button_style="success")
        self.abort_button = widgets.Button(description="Abort", button_style="danger")
        self.compare_button.on_click(lambda _: self.compare())
        self.promote_button.on_click(lambda _: self.promote())
        self.abort_button.on_click(lambda _: self.abort())
        self.message = widgets.HTML()
        self.read_only = read_only
        controls: list[widgets.Widget] = [self.compare_button]
        if read_only is None:
            controls += [self.reason, self.promote_button, self.abort_button]
        super().__init__(  # type: ignore[no-untyped-call]
            [
                widgets.HTML("<h4>Experiment</h4>"),
                self.status,
                widgets.HBox(controls),
                self.message,
                self.split,
                self.comparison,
            ]
        )
        self.add_class("dk-experiment")  # type: ignore[no-untyped-call]
        self.layout.display = "none"

    def show(self, experiment: Experiment | None, events: tuple[Event, ...]) -> None:
        self.experiment = experiment
        self.layout.display = None if experiment is not None else "none"
        if experiment is None:
            return
        self.status.value = ExperimentView(experiment)._html()
        running = experiment.running
        self.promote_button.disabled = self.abort_button.disabled = not running
        self.split.draw(charts.split_figure(events, now=datetime.now(timezone.utc)))

    def _act(self, action: Callable[[], Any], done: str) -> None:
        try:
            with self._lock:
                action()
        except DeployKitError as exc:
            self.message.value = render.error_html(str(exc))
            return
        self.message.value = f"<span>{done}</span>"
        self.reason.value = ""
        self.on_change()

    def promote(self) -> None:
        self._act(
            lambda: self.client.promote(self.name, self.reason.value),
            f"Promoted: {self.name} production now serves the candidate.",
        )

    def abort(self) -> None:
        self._act(
            lambda: self.client.abort(self.name, self.reason.value),
            f"Aborted: all of {self.name}'s traffic back to production.",
        )

    def compare(self) -> None:
        """Compare production with the experiment's candidate on its logged traffic."""
        found = self.experiment
        if found is None:
            return
        try:
            compared = self.client.compare(self.name, found.production, found.candidate)
        except DeployKitError as exc:
            self.comparison.value = render.error_html(str(exc))
            return
        self.comparison.value = ComparisonView(compared)._html()
