"""Markup primitives for the renderers: colours, number formats, HTML and text tables.

Inline styles only (no stylesheet to install), and every cell passed to
:func:`html_table` must already be escaped HTML.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import datetime

__all__ = [
    "BAD",
    "GOOD",
    "MUTED",
    "WARN",
    "badge",
    "block",
    "color",
    "escape",
    "html_table",
    "number",
    "signed",
    "size",
    "text_table",
    "when",
]

GOOD = "#1a7f37"  # green: better, passed, live
BAD = "#cf222e"  # red: worse, failed
WARN = "#9a6700"  # amber: worth a look (many refused inputs)
MUTED = "#6e7781"

_TABLE = 'style="border-collapse:collapse;font-size:0.92em;margin:4px 0"'
_CELL = "padding:2px 10px;text-align:left;border-bottom:1px solid rgba(128,128,128,0.25)"


def escape(value: object) -> str:
    return html.escape(str(value))


def number(value: float | None) -> str:
    """A metric for a table: 4 decimals below 10, thousands separators above."""
    if value is None:
        return "-"
    return f"{value:.4f}" if abs(value) < 10 else f"{value:,.2f}"


def signed(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:+.4f}" if abs(value) < 10 else f"{value:+,.2f}"


def when(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M")


def size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    raise AssertionError("unreachable")


def color(text: str, color: str, *, bold: bool = False) -> str:
    weight = ";font-weight:600" if bold else ""
    return f'<span style="color:{color}{weight}">{text}</span>'


def badge(text: str, color: str) -> str:
    return (
        f'<span style="border:1px solid {color};color:{color};border-radius:8px;'
        f'padding:0 6px;margin-left:6px;font-size:0.85em">{escape(text)}</span>'
    )


def html_table(headers: Sequence[str] | None, rows: Iterable[Sequence[str]]) -> str:
    """A table whose cells are HTML already (escape before calling); no header if None."""
    head = ""
    if headers is not None:
        cells = "".join(f'<th style="{_CELL}">{escape(h)}</th>' for h in headers)
        head = f"<thead><tr>{cells}</tr></thead>"
    body = "".join(
        "<tr>" + "".join(f'<td style="{_CELL}">{c}</td>' for c in row) + "</tr>" for row in rows
    )
    return f"<table {_TABLE}>{head}<tbody>{body}</tbody></table>"


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=False)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip()
        for row in (headers, *rows)
    ]
    return "\n".join(lines)


def block(inner: str) -> str:
    return f'<div class="deploykit" style="font-family:inherit;line-height:1.5">{inner}</div>'
