"""Behind ``deploykit estimated``: the window table under the estimate.

app.py declares the flags (read by :func:`deploykit.monitoring.periods.flag_period`, as
``%deploy estimated`` reads them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deploykit.monitoring.performance import EstimatedPerformance, EstimatedWindow

__all__ = ["window_lines"]


def window_lines(result: EstimatedPerformance) -> list[str]:
    """The per-window table under the estimate: a header, one line per window that holds
    rows, and how many empty windows were left out (said once)."""
    metric = result.headline or ""
    shown = [w for w in result.windows if w.rows and w.since is not None]
    empty = sum(1 for w in result.windows if not w.rows)
    lines = []
    if shown:
        # seconds only where windows are not whole minutes, so that no two starts look alike
        when = "%Y-%m-%d %H:%M" if (result.step_seconds or 60) % 60 == 0 else "%Y-%m-%d %H:%M:%S"
        starts = [f"{w.since:{when}}" for w in shown]
        rows = [w.rows_text() for w in shown]
        w_when = max(len("when (UTC)"), *map(len, starts))
        w_rows = max(len("rows"), *map(len, rows))
        band = f"{result.confidence:.0%} band"
        lines.append(f"{metric} per window:")
        lines.append(
            f"{'when (UTC)':<{w_when}}  {'rows':>{w_rows}}  {'estimate':>8}  {band:<18}  "
            f"{'realized':>8}"
        )
        for window, start, text in zip(shown, starts, rows, strict=True):
            lines.append(f"{start:<{w_when}}  {text:>{w_rows}}  {_cells(window, metric)}")
    if empty:
        lines.append(f"{empty:,} empty window{'s' if empty != 1 else ''} not shown")
    return lines


def _cells(window: EstimatedWindow, metric: str) -> str:
    """A window's estimate, band and realized value (``-`` where there is none)."""
    m = window.metrics.get(metric)
    value = "-" if m is None or m.value is None else f"{m.value:.4f}"
    band = "-" if m is None or m.lower is None else f"[{m.lower:.4f}, {m.upper:.4f}]"
    real = "-" if m is None or m.realized is None else f"{m.realized:.4f}"
    flag = "" if window.trusted else "  (untrusted)"
    return f"{value:>8}  {band:<18}  {real:>8}{flag}"
