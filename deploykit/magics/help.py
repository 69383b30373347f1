"""``%deploy help``: the subcommands with one example each.

It lives with the grammar it describes (``parser``), not in the UI kit: the
widgets and the console have no subcommands to list.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from deploykit.magics.parser import SUBCOMMANDS, Subcommand
from deploykit.ui.markup import MUTED
from deploykit.ui.markup import block as _div
from deploykit.ui.markup import color as _color
from deploykit.ui.markup import escape as _e
from deploykit.ui.markup import html_table as _html_table
from deploykit.ui.results import Shown

__all__ = ["HelpText", "help_html", "help_text"]


def help_text(subcommands: Iterable[Subcommand]) -> str:
    lines = ["%deploy SUBCOMMAND …  (variables are looked up in this notebook)"]
    for s in subcommands:
        lines += [f"  {s.usage}", f"      {s.summary}", f"      e.g. {s.example}"]
    return "\n".join(lines)


def help_html(subcommands: Iterable[Subcommand]) -> str:
    rows = [
        [
            f"<code>%deploy {_e(s.usage)}</code><br>{_color(_e(s.summary), MUTED)}",
            f"<code>{_e(s.example)}</code>",
        ]
        for s in subcommands
    ]
    head = "<b>%deploy</b> subcommands — variables are looked up in this notebook"
    return _div(head + _html_table(["usage", "example"], rows))


@dataclasses.dataclass(frozen=True)
class HelpText(Shown):
    """The subcommands with one example each (``topic`` limits it to one)."""

    topic: str | None = None

    def _subcommands(self) -> list[Subcommand]:
        if self.topic is None or self.topic not in SUBCOMMANDS:
            return list(SUBCOMMANDS.values())
        return [SUBCOMMANDS[self.topic]]

    def _html(self) -> str:
        return help_html(self._subcommands())

    def _text(self) -> str:
        return help_text(self._subcommands())
