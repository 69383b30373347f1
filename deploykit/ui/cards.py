"""Cards in the notebook: what the kernel knows for lineage, and a card as a cell's output.

:func:`kernel_context` reads the notebook's path and the cells run so far from the
IPython shell the magics hold (no IPython import: the shell is handed in), so the core
(:mod:`deploykit.cards.lineage`) never touches IPython. :class:`CardView` is what
``%deploy card`` returns: it shows as HTML in Jupyter, as Markdown in a terminal, and
``str(view)`` / ``view.markdown`` is the text itself.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any

from deploykit.cards.lineage import KernelContext
from deploykit.ui.results import Shown

if TYPE_CHECKING:
    from deploykit.backend import Backend

__all__ = ["CardView", "card_view", "kernel_context"]


def kernel_context(shell: Any, *, keep_source: bool = False) -> KernelContext:
    """The notebook path and the cells ``shell`` ran, up to and including this one.

    The notebook: IPython's ``__session__`` (set from JupyterLab's ``JPY_SESSION_NAME``),
    else that variable itself. The cells: IPython's raw input history (as typed, magics
    included; ``In`` holds them transformed), this kernel session's.
    """
    namespace = getattr(shell, "user_ns", None) or {}
    notebook = namespace.get("__session__") or os.environ.get("JPY_SESSION_NAME") or None
    manager = getattr(shell, "history_manager", None)
    history = getattr(manager, "input_hist_raw", None) or namespace.get("In") or []
    cells = tuple(str(c) for c in history if isinstance(c, str) and c.strip())
    return KernelContext(
        notebook=str(notebook) if notebook else None, cells=cells, keep_source=keep_source
    )


@dataclasses.dataclass(frozen=True)
class CardView(Shown):
    """A model card (or the diff of two) ready to show; ``markdown`` is its source."""

    title: str
    markdown: str
    html: str

    def _html(self) -> str:
        return self.html

    def _text(self) -> str:
        return self.markdown

    def _repr_markdown_(self) -> str:
        return self.markdown

    def __str__(self) -> str:
        return self.markdown


def card_view(
    backend: Backend,
    name: str,
    version: int | str = "production",
    *,
    diff: int | str | None = None,
    revision: int | None = None,
) -> CardView:
    """The card of ``name:version`` through ``backend``; with ``diff``, what changed from
    ``version`` to ``diff`` instead."""
    from deploykit.cards.html import to_html

    if diff is None:
        markdown = backend.card(name, version, revision=revision)
        return CardView(f"{name}:{version}", markdown, to_html(markdown))
    from deploykit.cards.diff import card_diff, render_diff

    a, b = backend.version(name, version), backend.version(name, diff)
    la, lb = backend.lineage(name, a.version), backend.lineage(name, b.version)
    markdown = render_diff(
        card_diff(a, b, lineage_a=(la or {}).get("lineage"), lineage_b=(lb or {}).get("lineage"))
    )
    return CardView(f"{a.ref} → {b.ref}", markdown, to_html(markdown))
