"""A model's versions as a table: Deploy and "Roll back here" per row, and Roll back.

Deploy moves production forward to a version; a rollback returns to one (the
audit log tells the two apart, and a rollback steps back through the deploy
history). The Roll back button under the table goes to the version before.

Moving production is a decision, so the buttons ask first: a click opens a
confirm step with a reason box (the reason lands in the audit log), and only
Confirm acts. Code and tests use the same steps::

    table = VersionsTable("churn")
    table.request_deploy(2); table.reason_box.value = "better recall"; table.confirm()
    table.deploy(2, reason="better recall")     # direct, no confirm step
    table.rollback(reason="recall dropped")           # to the version before
    table.rollback(to=1, reason="back to the first")
"""

from __future__ import annotations

import functools
import html
from typing import Any

import ipywidgets as widgets

from deploykit.ui import render
from deploykit.ui.feedback import Feedback, current_session
from deploykit.ui.session import Session

__all__ = ["VersionsTable"]

_HEAD = ("version", "created", "author", "metrics", "gate", "live", "", "")
_COLUMNS = "60px 130px 90px minmax(200px, 1fr) 60px 110px 90px 100px"


class VersionsTable(widgets.VBox):
    """Versions of ``name``, newest last, with deploy and rollback behind a confirm step."""

    def __init__(
        self, name: str, *, session: Session | None = None, alias: str = "production"
    ) -> None:
        self.name = name
        self.alias = alias
        self.session = current_session(session)
        self.versions: list[Any] = []
        self.row_buttons: dict[int, widgets.Button] = {}  # Deploy, per version
        self.rollback_buttons: dict[int, widgets.Button] = {}  # Roll back here, per version
        #: the action waiting for Confirm: ("deploy", version) or ("rollback", None)
        self.pending: tuple[str, int | None] | None = None

        self.title = widgets.HTML()
        self.grid = widgets.GridBox(layout=widgets.Layout(grid_template_columns=_COLUMNS))
        self.rollback_button = widgets.Button(
            description="Roll back", button_style="warning", tooltip="to the version before"
        )
        self.refresh_button = widgets.Button(description="Refresh")
        self.question = widgets.HTML()
        self.reason_box = widgets.Text(placeholder="why? (kept in the audit log)")
        self.confirm_button = widgets.Button(description="Confirm", button_style="danger")
        self.cancel_button = widgets.Button(description="Cancel")
        self.confirm_box = widgets.VBox(
            [
                self.question,
                widgets.HBox([self.reason_box, self.confirm_button, self.cancel_button]),
            ]
        )
        self.confirm_box.layout.display = "none"
        self.feedback = Feedback()

        self.rollback_button.on_click(self.feedback.on_click(self.request_rollback))
        self.refresh_button.on_click(self.feedback.on_click(self.refresh))
        self.confirm_button.on_click(self.feedback.on_click(self.confirm))
        self.cancel_button.on_click(self.feedback.on_click(self.cancel))
        super().__init__(
            [
                self.title,
                self.grid,
                widgets.HBox([self.rollback_button, self.refresh_button]),
                self.confirm_box,
                self.feedback.widget,
            ]
        )
        self.refresh()

    @property
    def error(self) -> str | None:
        return self.feedback.error

    @property
    def live_version(self) -> int | None:
        return next((v.version for v in self.versions if self.alias in v.aliases), None)

    def refresh(self) -> list[Any]:
        """Read the versions again and redraw the rows."""
        found = self.feedback.run(lambda: self.session.backend.versions(self.name))
        self.versions = list(found or [])
        self._draw()
        return self.versions

    # -- the confirm step ------------------------------------------------------------------

    def request_deploy(self, version: int) -> None:
        """Ask to confirm pointing the alias at ``version``."""
        self._ask(
            ("deploy", version),
            f"Deploy <b>{html.escape(self.name)}</b> version <b>{version}</b> "
            f"to {self.alias} (now on {self.live_version or 'nothing'})?",
        )

    def request_rollback(self, to: int | None = None) -> None:
        """Ask to confirm moving the alias back: to the version before, or to ``to``."""
        where = "the one before" if to is None else f"version <b>{to}</b>"
        self._ask(
            ("rollback", to),
            f"Roll <b>{html.escape(self.name)}</b> {self.alias} back from version "
            f"<b>{self.live_version or '-'}</b> to {where}?",
        )

    def confirm(self) -> Any:
        """Carry out the pending action with the reason typed; returns the moved alias."""
        if self.pending is None:
            self.feedback.fail("Nothing to confirm: click Deploy on a row or Roll back first.")
            return None
        action, version = self.pending
        reason = self.reason_box.value.strip() or None
        self._close_confirm()
        if action == "deploy" and version is not None:
            return self.deploy(version, reason=reason)
        return self.rollback(reason=reason, to=version)

    def cancel(self) -> None:
        self._close_confirm()
        self.feedback.say("Cancelled; nothing changed.", ok=True)

    # -- actions ---------------------------------------------------------------------------

    def deploy(self, version: int, *, reason: str | None = None) -> Any:
        """Point the alias at ``version`` now (no confirm step)."""

        def run() -> Any:
            before = self.live_version
            alias = self.session.backend.deploy(self.name, version, alias=self.alias, reason=reason)
            self.feedback.say(f"{self.alias}: {before or '-'} → {alias.version}")
            return alias

        return self._act(run)

    def rollback(self, *, reason: str | None = None, to: int | None = None) -> Any:
        """Move the alias back now (no confirm step); ``to`` names the version."""

        def run() -> Any:
            before = self.live_version
            alias = self.session.backend.rollback(self.name, to=to, alias=self.alias, reason=reason)
            self.feedback.say(f"{self.alias} rolled back: {before or '-'} → {alias.version}")
            return alias

        return self._act(run)

    # -- drawing ---------------------------------------------------------------------------

    def _act(self, run: Any) -> Any:
        result = self.feedback.run(run)
        if result is not None:
            message = self.feedback.message
            self.refresh()
            if message:
                self.feedback.say(message)
        return result

    def _ask(self, pending: tuple[str, int | None], question: str) -> None:
        self.pending = pending
        self.question.value = question
        self.reason_box.value = ""
        self.confirm_box.layout.display = None  # shown
        self.feedback.clear()

    def _close_confirm(self) -> None:
        self.pending = None
        self.confirm_box.layout.display = "none"

    def _draw(self) -> None:
        n = len(self.versions)
        self.title.value = f"<b>{html.escape(self.name)}</b>: {n} version{'s' if n != 1 else ''}"
        cells: list[widgets.Widget] = [widgets.HTML(f"<b>{h}</b>") for h in _HEAD]
        self.row_buttons, self.rollback_buttons = {}, {}
        for v in self.versions:
            live = self.alias in v.aliases
            gate = {None: "-", True: "passed", False: "failed"}[v.gate_passed]
            marker = f'<span style="color:{render.GOOD}">● </span>' if live else ""
            cells += [
                widgets.HTML(f"{marker}{v.version}"),
                widgets.HTML(render.when(v.created_at)),
                widgets.HTML(html.escape(v.author)),
                widgets.HTML(html.escape(render.key_metrics(v.metrics))),
                widgets.HTML(gate),
                widgets.HTML(html.escape(", ".join(v.aliases) or "-")),
            ]
            button = widgets.Button(description="Deploy", disabled=live)
            button.on_click(
                self.feedback.on_click(functools.partial(self.request_deploy, v.version))
            )
            back = widgets.Button(description="Roll back here", disabled=live)
            back.on_click(
                self.feedback.on_click(functools.partial(self.request_rollback, v.version))
            )
            self.row_buttons[v.version], self.rollback_buttons[v.version] = button, back
            cells += [button, back]
        self.grid.children = cells
        self.rollback_button.disabled = self.live_version is None
