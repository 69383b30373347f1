"""The model page's versions table: the notebook's :class:`~deploykit.ui.versions.VersionsTable`,
with what a console that refreshes itself needs.

It keeps the notebook table's confirm step, reason box, actions and messages, and
changes how rows are drawn: a page of versions at a time (newest first, Newer/Older),
and a fixed set of row widgets whose values are updated in place. The notebook table
makes new widgets on every redraw; a console redrawing fifty rows every few seconds
would leak them and flicker. A viewer token sees every button disabled, with the reason.
"""

from __future__ import annotations

import dataclasses
import html
import math
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from deploykit.records import ModelVersion
from deploykit.ui import render
from deploykit.ui.markup import when
from deploykit.ui.session import Session
from deploykit.ui.versions import VersionsTable

if TYPE_CHECKING:
    from deploykit.client import Client

__all__ = ["ConsoleVersionsTable"]

_HEAD = ("version", "created", "author", "key metrics", "gate", "aliases", "", "")
_COLUMNS = "70px 140px 110px minmax(220px, 1fr) 70px 120px 90px 130px"


@dataclasses.dataclass
class _Row:
    """The widgets of one table row, reused for whichever version the page shows there."""

    cells: list[widgets.HTML]
    deploy: widgets.Button
    back: widgets.Button
    version: int | None = None

    @property
    def widgets(self) -> list[widgets.Widget]:
        return [*self.cells, self.deploy, self.back]


class ConsoleVersionsTable(VersionsTable):
    """``name``'s versions, ``page_size`` at a time, updated in place by :meth:`show_versions`.

    ``versions``: already fetched (no request at creation). ``read_only``: why the
    buttons are disabled (a viewer token), or None. ``on_change`` runs after a deploy
    or rollback went through, so the page around the table refreshes too; ``lock`` is
    held while they run.
    """

    def __init__(
        self,
        client: Client,
        name: str,
        *,
        versions: Sequence[ModelVersion] | None = None,
        page_size: int = 10,
        read_only: str | None = None,
        on_change: Callable[[], None] | None = None,
        lock: threading.RLock | None = None,
        alias: str = "production",
    ) -> None:
        self.page_size = page_size
        # Held around deploy/rollback: a background refresh that fetched before the move
        # must not draw its stale answer after it (the console passes its own lock).
        self._action_lock = lock or threading.RLock()
        self.page = 0  # 0: the newest versions
        self.read_only = read_only
        self.on_change = on_change
        self._preloaded = None if versions is None else list(versions)
        self._rows: list[_Row] = []
        self.newer_button = widgets.Button(description="Newer", disabled=True)
        self.older_button = widgets.Button(description="Older", disabled=True)
        self.page_label = widgets.HTML()
        self._header = [widgets.HTML(f"<b>{h}</b>") for h in _HEAD]
        super().__init__(name, session=Session.for_client(client), alias=alias)
        self.grid.layout.grid_template_columns = _COLUMNS
        self.grid.layout.grid_gap = "2px 8px"
        self.newer_button.on_click(self.feedback.on_click(self.newer))
        self.older_button.on_click(self.feedback.on_click(self.older))
        self.rollback_button.description = "Rollback"
        self.rollback_button.tooltip = "Move production back to the version it held before"
        self.rollback_button.add_class("dk-rollback")
        self.confirm_button.add_class("dk-confirm")
        self.cancel_button.add_class("dk-cancel")
        self.reason_box.add_class("dk-reason")
        self.feedback.widget.add_class("dk-feedback")
        self.refresh_button.layout.display = "none"  # the console refreshes by itself
        pager = widgets.HBox([self.newer_button, self.older_button, self.page_label])
        parts: tuple[widgets.Widget, ...] = tuple(self.children)  # type: ignore[has-type]
        self.children = (*parts[:2], pager, *parts[2:])
        if read_only:
            for button in (self.rollback_button, self.confirm_button):
                button.disabled, button.tooltip = True, read_only

    # -- data ------------------------------------------------------------------------------

    def refresh(self) -> list[Any]:
        """Read the versions again (or take the ones given at creation) and redraw."""
        if self._preloaded is not None:
            versions, self._preloaded = self._preloaded, None
            self.show_versions(versions)
            return self.versions
        return super().refresh()

    def show_versions(self, versions: Sequence[ModelVersion]) -> None:
        """Show ``versions`` (fetched elsewhere); only the values that changed are sent."""
        before = self.live_version
        self.versions = list(versions)
        if before is not None and self.live_version != before:
            self.feedback.clear()  # moved elsewhere: "rolled back: 3 → 2" would now mislead
        self._draw()

    # -- paging ----------------------------------------------------------------------------

    @property
    def pages(self) -> int:
        return max(1, math.ceil(len(self.versions) / self.page_size))

    def newer(self) -> None:
        self.page = max(0, self.page - 1)
        self._draw()

    def older(self) -> None:
        self.page = min(self.pages - 1, self.page + 1)
        self._draw()

    # -- actions ---------------------------------------------------------------------------

    def _ask(self, pending: tuple[str, int | None], question: str) -> None:
        if self.read_only:
            self.feedback.fail(self.read_only)
            return
        super()._ask(pending, question)

    def _act(self, run: Any) -> Any:
        with self._action_lock:
            result = super()._act(run)
            if result is not None and self.on_change is not None:
                self.on_change()
            return result

    # -- drawing ---------------------------------------------------------------------------

    def _new_row(self) -> _Row:
        row = _Row(
            cells=[widgets.HTML() for _ in range(6)],
            deploy=widgets.Button(description="Deploy", layout=widgets.Layout(width="auto")),
            back=widgets.Button(description="Roll back here", layout=widgets.Layout(width="auto")),
        )
        row.deploy.add_class("dk-deploy")
        row.back.add_class("dk-rollback-to")

        def ask_deploy() -> None:
            if row.version is not None:
                self.request_deploy(row.version)

        def ask_back() -> None:
            if row.version is not None:
                self.request_rollback(row.version)

        row.deploy.on_click(self.feedback.on_click(ask_deploy))
        row.back.on_click(self.feedback.on_click(ask_back))
        return row

    def _fill(self, row: _Row, v: ModelVersion) -> None:
        live = self.alias in v.aliases
        marker = f'<span style="color:{render.GOOD}">● </span>' if live else ""
        gate = {None: "-", True: "passed", False: "failed"}[v.gate_passed]
        values = (
            f"{marker}<b>{v.version}</b>" if live else str(v.version),
            when(v.created_at),
            html.escape(v.author),
            html.escape(render.key_metrics(v.metrics)),
            gate,
            html.escape(", ".join(v.aliases) or "-"),
        )
        for cell, value in zip(row.cells, values, strict=True):
            cell.value = value
        row.version = v.version
        why = self.read_only or (f"version {v.version} is live" if live else "")
        row.deploy.disabled = bool(self.read_only) or live
        row.deploy.tooltip = why or f"Point {self.alias} at version {v.version}"
        # Rolling back goes to an older version; moving to a newer one is a deploy, so a
        # newer version (or any, with nothing live) offers Deploy only.
        current = self.live_version
        older = current is not None and v.version < current
        row.back.layout.visibility = "visible" if older else "hidden"
        row.back.disabled = bool(self.read_only) or not older
        row.back.tooltip = why or f"Roll {self.alias} back to version {v.version}"

    def _draw(self) -> None:
        n = len(self.versions)
        newest_first = sorted(self.versions, key=lambda v: v.version, reverse=True)
        self.page = min(self.page, self.pages - 1)
        start = self.page * self.page_size
        shown = newest_first[start : start + self.page_size]
        while len(self._rows) < len(shown):
            self._rows.append(self._new_row())
        for row, version in zip(self._rows, shown, strict=False):
            self._fill(row, version)
        self.row_buttons = {r.version: r.deploy for r in self._rows[: len(shown)] if r.version}
        self.rollback_buttons = {r.version: r.back for r in self._rows[: len(shown)] if r.version}
        children = tuple(self._header) + tuple(
            w for r in self._rows[: len(shown)] for w in r.widgets
        )
        if tuple(self.grid.children) != children:
            self.grid.children = children
        self.title.value = f"<b>Versions</b> ({n})"
        self.page_label.value = (
            f"versions {shown[-1].version}–{shown[0].version} of {n}" if shown else "no versions"
        )
        self.newer_button.disabled = self.page == 0
        self.older_button.disabled = self.page >= self.pages - 1
        self.rollback_button.disabled = bool(self.read_only) or self.live_version is None
        if self.read_only:
            self.rollback_button.tooltip = self.read_only
