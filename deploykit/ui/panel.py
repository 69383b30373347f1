"""The deploy panel: pick a fitted model and data from the notebook, evaluate, push, deploy.

    panel = DeployPanel(name="churn")      # or %deploy panel churn
    panel                                  # shows it; the buttons call the methods below
    panel.evaluate(); panel.push(); panel.deploy(reason="better recall")

Only fitted estimators are offered as models, and only tables and arrays as
data. The methods return what they made (a report, a version, an alias) or
None after showing a user error in the panel.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from deploykit.ui import actions, render
from deploykit.ui.feedback import Feedback, current_namespace, current_session
from deploykit.ui.resolve import data_variables, fitted_estimators
from deploykit.ui.session import Session

__all__ = ["DeployPanel"]

_NONE = "(none)"
# Variable names preselected when present, in order of preference.
_GUESS = {
    "X": ("X_test", "X_valid", "X_val", "X_eval", "X"),
    "y": ("y_test", "y_valid", "y_val", "y_eval", "y"),
    "train": ("X_train",),
}


class DeployPanel(widgets.VBox):
    """Evaluate, push and deploy a model of this notebook, with buttons."""

    def __init__(
        self,
        namespace: dict[str, Any] | None = None,
        *,
        session: Session | None = None,
        name: str | None = None,
    ) -> None:
        self.namespace = current_namespace(namespace)
        self.session = current_session(session)
        self.report: Any = None
        self.version: Any = None

        style = {"description_width": "90px"}
        self.model_picker = widgets.Dropdown(description="model", style=style)
        self.name_box = widgets.Text(
            value=name or "", description="name", placeholder="churn", style=style
        )
        self.X_picker = widgets.Dropdown(description="X (test)", style=style)
        self.y_picker = widgets.Dropdown(description="y (test)", style=style)
        self.train_picker = widgets.Dropdown(description="train data", style=style)
        self.gate_box = widgets.Text(
            description="gate", placeholder="roc_auc>=0.9; roc_auc>=production-0.01", style=style
        )
        self.evaluate_button = widgets.Button(description="Evaluate", icon="")
        self.push_button = widgets.Button(description="Push", button_style="primary")
        self.deploy_button = widgets.Button(
            description="Deploy", button_style="success", disabled=True
        )
        self.refresh_button = widgets.Button(description="Refresh")
        self.progress = widgets.IntProgress(value=0, min=0, max=100, description="")
        self.result = widgets.HTML()
        self.feedback = Feedback()

        self.evaluate_button.on_click(self.feedback.on_click(self.evaluate))
        self.push_button.on_click(self.feedback.on_click(self.push))
        self.deploy_button.on_click(self.feedback.on_click(self.deploy))
        self.refresh_button.on_click(self.feedback.on_click(self.refresh))
        buttons = widgets.HBox(
            [self.evaluate_button, self.push_button, self.deploy_button, self.refresh_button]
        )
        super().__init__(
            [
                widgets.HTML("<b>deploykit</b> — evaluate, push and deploy a model"),
                self.model_picker,
                self.name_box,
                self.X_picker,
                self.y_picker,
                self.train_picker,
                self.gate_box,
                buttons,
                self.progress,
                self.feedback.widget,
                self.result,
            ]
        )
        self.refresh()

    @property
    def error(self) -> str | None:
        """The error the panel shows, if any."""
        return self.feedback.error

    def refresh(self) -> None:
        """Re-read the notebook's fitted models and data variables."""
        models = fitted_estimators(self.namespace)
        data = data_variables(self.namespace)
        tables = [n for n, v in data.items() if getattr(v, "ndim", 0) == 2]
        columns = [n for n, v in data.items() if getattr(v, "ndim", 0) == 1]
        _offer(self.model_picker, list(models), ())
        _offer(self.X_picker, tables, _GUESS["X"])
        _offer(self.y_picker, columns, _GUESS["y"])
        _offer(self.train_picker, [_NONE, *tables], _GUESS["train"])
        if not models:
            self.feedback.fail(
                "No fitted model in this notebook yet: fit one (model.fit(X, y)), then Refresh."
            )

    def evaluate(self) -> Any:
        """Evaluate the chosen model on the chosen X and y; shows and returns the report."""

        def run() -> Any:
            model, name = self._model(), self._name()
            X, y = self._pick(self.X_picker, "X"), self._pick(self.y_picker, "y")
            report = actions.evaluate_model(self.session, model, X, y, name=name)
            self.report = report
            self.result.value = render.report_html(report)
            return report

        return self.feedback.run(run)

    def push(self) -> Any:
        """Push the chosen model (with its evaluation, if it was evaluated) as a new version."""

        def run() -> Any:
            model, name = self._model(), self._required_name()
            train = self.train_picker.value
            X = self.namespace[train] if train not in (None, _NONE) else None
            gate = self.gate_box.value.strip() or None
            report, note = actions.report_for_push(
                self.session, model, name, gate=gate, label=str(self.model_picker.value)
            )
            self.progress.value, self.progress.bar_style = 0, ""
            version, summary, ok = actions.push_model(
                self.session,
                model,
                name,
                report=report,
                note=note,
                X=X,
                gate=gate,
                progress=self._on_progress,
            )
            self.progress.value = self.progress.max
            self.progress.bar_style = "success" if ok else "warning"
            self.version = version
            self.deploy_button.disabled = "production" in version.aliases
            self.deploy_button.description = f"Deploy v{version.version}"
            self.result.value = render.version_html(version)
            self.feedback.say(summary, ok=ok)
            return version

        return self.feedback.run(run)

    def deploy(self, reason: str | None = None) -> Any:
        """Point production at the version pushed last from this panel."""

        def run() -> Any:
            if self.version is None:
                self.feedback.fail("Push a version first: there is nothing to deploy yet.")
                return None
            v = self.version
            alias = self.session.backend.deploy(v.model, v.version, reason=reason)
            self.deploy_button.disabled = True
            self.feedback.say(f"{v.model}: production → version {alias.version}")
            return alias

        return self.feedback.run(run)

    # -- helpers ---------------------------------------------------------------------------

    def _on_progress(self, done: int, total: int | None) -> None:
        if total:
            self.progress.value = min(100, round(100 * done / total))

    def _model(self) -> Any:
        chosen = self.model_picker.value
        if chosen is None:
            raise _usage("Pick a model: no fitted estimator is selected.")
        return self.namespace[chosen]

    def _name(self) -> str | None:
        return self.name_box.value.strip() or None

    def _required_name(self) -> str:
        name = self._name()
        if name is None:
            raise _usage("Give the model a name (such as churn) before pushing.")
        return name

    def _pick(self, picker: widgets.Dropdown, what: str) -> Any:
        if picker.value in (None, _NONE):
            raise _usage(f"Pick the {what} variable to evaluate on.")
        return self.namespace[picker.value]


def _usage(message: str) -> Exception:
    from IPython.core.error import UsageError

    return UsageError(message)


def _offer(picker: widgets.Dropdown, options: list[str], guesses: tuple[str, ...]) -> None:
    """Set ``options``, keeping the current choice if still there, else a likely name."""
    current = picker.value
    picker.options = options
    if current in options:
        picker.value = current
        return
    picker.value = next((g for g in guesses if g in options), options[0] if options else None)
