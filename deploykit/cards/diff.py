"""What changed between two versions, as a reviewer asks it: data, parameters, metrics,
environment, lineage. Pure functions over the records a backend returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deploykit.cards.render import cell, number
from deploykit.records import ModelVersion

__all__ = ["card_diff", "render_diff"]


def _changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    keys = sorted(set(old) | set(new))
    return [(k, old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)]


def card_diff(
    a: ModelVersion,
    b: ModelVersion,
    *,
    lineage_a: Mapping[str, Any] | None = None,
    lineage_b: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The differences from ``a`` to ``b``, section by section (empty lists: no change)."""
    fa, fb = a.data_fingerprint or {}, b.data_fingerprint or {}
    cols_a, cols_b = list(fa.get("columns") or []), list(fb.get("columns") or [])
    data = {
        "same": bool(fa) and fa.get("sha256") == fb.get("sha256"),
        "fingerprint": (fa.get("sha256"), fb.get("sha256")),
        "rows": (fa.get("rows"), fb.get("rows")),
        "columns_added": [c for c in cols_b if c not in cols_a],
        "columns_removed": [c for c in cols_a if c not in cols_b],
    }
    metrics = [
        (m, a.metrics.get(m), b.metrics.get(m))
        for m in sorted(set(a.metrics) | set(b.metrics))
        if a.metrics.get(m) != b.metrics.get(m)
    ]
    lock_a = (lineage_a or {}).get("lock") or {}
    lock_b = (lineage_b or {}).get("lock") or {}
    env_a = {**a.environment, **lock_a}
    env_b = {**b.environment, **lock_b}
    git_a = (lineage_a or {}).get("git") or {}
    git_b = (lineage_b or {}).get("git") or {}
    src_a = (lineage_a or {}).get("source") or {}
    src_b = (lineage_b or {}).get("source") or {}
    lineage = _changes(
        {
            "git commit": git_a.get("commit"),
            "git dirty": git_a.get("dirty"),
            "notebook": src_a.get("notebook") or a.notebook,
            "script": src_a.get("script"),
            "cells": src_a.get("cells_sha256"),
        },
        {
            "git commit": git_b.get("commit"),
            "git dirty": git_b.get("dirty"),
            "notebook": src_b.get("notebook") or b.notebook,
            "script": src_b.get("script"),
            "cells": src_b.get("cells_sha256"),
        },
    )
    return {
        "from": a.ref,
        "to": b.ref,
        "estimator": (a.estimator, b.estimator) if a.estimator != b.estimator else None,
        "data": data,
        "params": _changes(a.params, b.params),
        "metrics": metrics,
        "gate": (a.gate_passed, b.gate_passed) if a.gate_passed != b.gate_passed else None,
        "environment": _changes(env_a, env_b),
        "lineage": lineage,
    }


def render_diff(diff: Mapping[str, Any]) -> str:
    """:func:`card_diff` as Markdown."""
    lines = [f"# What changed from {diff['from']} to {diff['to']}", ""]
    if diff.get("estimator"):
        old, new = diff["estimator"]
        lines += [f"Estimator: `{old}` → `{new}`.", ""]
    data = diff["data"]
    lines += ["## Data", ""]
    if data["same"]:
        lines += ["Same training data (same fingerprint).", ""]
    else:
        old, new = data["fingerprint"]
        lines.append(f"Fingerprint `{_short(old)}` → `{_short(new)}`; rows {_n(data['rows'])}.")
        if data["columns_added"]:
            lines.append(f"Columns added: {', '.join(data['columns_added'])}.")
        if data["columns_removed"]:
            lines.append(f"Columns removed: {', '.join(data['columns_removed'])}.")
        lines.append("")
    sections = (
        ("Parameters", "params", ("parameter", "from", "to"), False),
        ("Metrics", "metrics", ("metric", "from", "to", "change"), True),
        ("Environment", "environment", ("package", "from", "to"), False),
        ("Lineage", "lineage", ("", "from", "to"), False),
    )
    for title, key, head, numeric in sections:
        changes = diff.get(key) or []
        lines += [f"## {title}", ""]
        if not changes:
            lines += ["No change.", ""]
            continue
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for name, old, new in changes:
            row = [cell(name), _v(old), _v(new)]
            if numeric:
                both = isinstance(old, int | float) and isinstance(new, int | float)
                row.append(f"{new - old:+.4f}" if both else "—")
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    if diff.get("gate"):
        old, new = diff["gate"]
        lines += ["## Gate", "", f"passed: {old} → {new}", ""]
    return "\n".join(lines).rstrip() + "\n"


def _v(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return number(value)
    return cell(value if isinstance(value, str) else repr(value))


def _short(digest: Any) -> str:
    return str(digest)[:19] if digest else "—"


def _n(pair: tuple[Any, Any]) -> str:
    return f"{pair[0]} → {pair[1]}" if pair[0] != pair[1] else str(pair[0])
