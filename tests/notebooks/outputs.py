"""Reading notebooks and what their executed cells show."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def read(name: str) -> Any:
    return nbformat.read(NOTEBOOKS / name, as_version=4)


def text_of(cell: Any) -> str:
    """Everything a reader sees as text in a cell's outputs."""
    parts = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            parts.append(out["text"])
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
    return "\n".join(parts)


def html_of(cell: Any) -> str:
    return "\n".join(o["data"].get("text/html", "") for o in cell.get("outputs", []) if "data" in o)


def cell_starting(nb: Any, prefix: str) -> Any:
    found = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(prefix)]
    assert len(found) == 1, f"{len(found)} cells start with {prefix!r}"
    return found[0]
