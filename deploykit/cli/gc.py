"""The human output of ``deploykit gc``: one line per thing removed, then the total."""

from __future__ import annotations

from typing import Any

from deploykit.cli.render import console

__all__ = ["gc_report", "size"]


def size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def gc_report(report: Any) -> None:
    verb = "would remove" if report.dry_run else "removed"
    for item in report.removed:
        console.print(f"{verb} {item.kind} {item.name} ({size(item.size)})")
    blobs = sum(1 for r in report.removed if r.kind == "blob")
    parts = sum(1 for r in report.removed if r.kind == "part")
    cached = sum(1 for r in report.removed if r.kind == "cached copy")
    what = [f"{blobs} unreferenced blob(s)", f"{parts} dead .part file(s)"]
    if cached:
        what.append(f"{cached} cached cop(y/ies)")
    freed = "would free" if report.dry_run else "freed"
    console.print(
        f"{'Dry run: ' if report.dry_run else ''}{verb} {', '.join(what)}; "
        f"{size(report.bytes_freed)} {freed}. Kept {report.referenced} referenced blob(s) and "
        f"{report.recent} item(s) younger than {report.older_than:g} s (a push may be using them)."
    )
