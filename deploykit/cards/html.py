"""Markdown to HTML for display, with raw HTML off: a card's text is user input.

markdown-it-py (CommonMark, with tables) arrives with rich, a dependency already.
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["CARD_STYLE", "to_html"]

#: Inline-safe styling for a card shown in a notebook, the console or a browser.
CARD_STYLE = (
    ".deploykit-card{font-family:system-ui,sans-serif;line-height:1.45;max-width:72em}"
    ".deploykit-card table{border-collapse:collapse;margin:.3em 0}"
    ".deploykit-card td,.deploykit-card th{border:1px solid #d0d7de;padding:2px 8px;"
    "text-align:left;vertical-align:top}"
    ".deploykit-card pre{max-height:18em;overflow:auto;background:#f6f8fa;padding:6px}"
    ".deploykit-card blockquote{color:#57606a;border-left:3px solid #d0d7de;margin:0;"
    "padding-left:10px}"
)


@functools.cache
def _parser() -> Any:
    from markdown_it import MarkdownIt

    # "html": False renders any raw HTML in the source as text: no script reaches a page.
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def to_html(markdown: str, *, standalone: bool = False) -> str:
    """The HTML of ``markdown`` in a ``deploykit-card`` div; a whole page if ``standalone``."""
    body = f'<div class="deploykit-card">{_parser().render(markdown)}</div>'
    if not standalone:
        return f"<style>{CARD_STYLE}</style>{body}"
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>Model card</title>'
        f"<style>{CARD_STYLE}</style></head><body>{body}</body></html>"
    )
