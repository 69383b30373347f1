"""A progress bar for pushes, drawn with display updates rather than a widget.

In a kernel, the bar is one display output updated in place
(``update_display_data``): it works in JupyterLab, VS Code and Colab, and its
last state is saved in the notebook as HTML and text, so a notebook rendered
later still says what happened. A widget would be saved as a bare
``HBox(...)``. In a terminal, it prints a start line and an end line.
"""

from __future__ import annotations

import html
import time
from typing import Any

from IPython.display import DisplayHandle, display

__all__ = ["Progress"]

_MIN_INTERVAL_S = 0.1  # at most ten redraws a second: a fast upload must not flood the page


class Progress:
    """``start()``, then ``update(done, total)`` any number of times, then ``finish(message)``."""

    def __init__(self, description: str, *, live: bool) -> None:
        self.description = description
        self.live = live  # redraw in place (a kernel) rather than print lines
        self.done = 0
        self.total: int | None = None
        self.message: str | None = None
        self.ok = True
        self._handle: DisplayHandle | None = None
        self._last_draw = 0.0
        self._started = 0.0

    @property
    def fraction(self) -> float:
        if self.message is not None:
            return 1.0
        if not self.total:
            return 0.0
        return min(1.0, self.done / self.total)

    def start(self, total: int | None = None) -> None:
        self.total = total
        self._started = time.perf_counter()
        if self.live:
            self._handle = display(self, display_id=True)
        else:
            print(f"{self.description} …")

    def __call__(self, done: int, total: int | None = None) -> None:
        """The callback form: ``client.push(..., progress=bar)``."""
        self.update(done, total)

    def update(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        now = time.perf_counter()
        if self._handle is not None and now - self._last_draw >= _MIN_INTERVAL_S:
            self._last_draw = now
            self._handle.update(self)

    def finish(self, message: str, *, ok: bool = True) -> None:
        self.message, self.ok = message, ok
        if self._handle is not None:
            self._handle.update(self)
        else:
            print(self._text())

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._started

    def _text(self) -> str:
        if self.message is not None:
            return self.message
        width = 30
        filled = round(self.fraction * width)
        return f"{self.description} [{'#' * filled}{' ' * (width - filled)}] {self._amount()}"

    def _amount(self) -> str:
        from deploykit.ui.render import size

        if self.total:
            return f"{size(self.done)} / {size(self.total)}"
        return size(self.done) if self.done else ""

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self._text())

    def _repr_html_(self) -> str:
        color = "#1a7f37" if self.ok else "#9a6700"
        percent = round(100 * self.fraction)
        label = html.escape(self.message or f"{self.description} {self._amount()}")
        return (
            '<div class="deploykit" style="display:flex;align-items:center;gap:8px">'
            f'<progress value="{percent}" max="100" style="width:200px;accent-color:{color}">'
            f"{percent}%</progress><span>{label}</span></div>"
        )
