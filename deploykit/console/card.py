"""The model page's Card tab: a version's model card, fetched when someone looks.

The card is read through the console's client (``Client.card(..., format="html")``,
the server's ``/card`` route) only when the tab is open or the version picked changes,
not at every refresh of the page. Its HTML comes from Markdown rendered with raw HTML
off (:mod:`deploykit.cards.html`), so text a user wrote on a card shows as text.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from deploykit.errors import DeployKitError
from deploykit.records import ModelVersion
from deploykit.ui.markup import MUTED

if TYPE_CHECKING:
    from deploykit.client import Client

__all__ = ["CardPanel"]


class CardPanel(widgets.VBox):
    """A version picker and that version's card (the live version first)."""

    def __init__(self, client: Client, name: str) -> None:
        self.client = client
        self.name = name
        self.active = False
        self._shown: tuple[int, int] | None = None  # (version, versions known) drawn last
        self.picker = widgets.Dropdown(description="version", options=[])
        self.picker.add_class("dk-card-version")
        self.picker.observe(lambda _: self.refresh(), names="value")
        self.body = widgets.HTML(f'<span style="color:{MUTED}">Open to load the card.</span>')
        self.body.add_class("dk-card")
        super().__init__([self.picker, self.body])  # type: ignore[no-untyped-call]

    def set_versions(self, versions: Sequence[ModelVersion], live: int | None) -> None:
        options = [
            (f"{v.version}{' (production)' if v.version == live else ''}", v.version)
            for v in reversed(versions)
        ]
        if [o[1] for o in options] != [o[1] for o in self.picker.options]:
            keep = self.picker.value
            self.picker.options = options
            numbers = [o[1] for o in options]
            fallback = live if live is not None else (numbers[0] if numbers else None)
            self.picker.value = keep if keep in numbers else fallback

    def load(self) -> None:
        """The tab was selected: load the card if it is not loaded yet. (Not ``open``:
        that is Widget's own, which opens the widget's comm.)"""
        self.active = True
        self.refresh()

    def refresh(self, *, force: bool = False) -> None:
        version = self.picker.value
        if not self.active or version is None:
            return
        key = (int(version), len(self.picker.options))
        if key == self._shown and not force:
            return
        try:
            self.body.value = self.client.card(self.name, int(version), format="html")
        except DeployKitError as exc:
            self.body.value = (
                f'<span style="color:{MUTED}">No card for version {version}: '
                f"{html.escape(str(exc), quote=False)}</span>"
            )
        self._shown = key

    def _selected(self, change: dict[str, Any]) -> None:
        if change.get("new") == 1:
            self.load()
