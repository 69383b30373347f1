"""A version's card as Markdown: pure functions from stored records to text.

:func:`render_card` writes everything known at push (or at an amendment): purpose,
training data, evaluation beside baseline and production, the gate, signature,
parameters, runtime, lineage and the package lock. :func:`history_section` adds
what happened since, rendered from the audit log whenever the card is read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from deploykit.cards.fields import CARD_FIELDS
from deploykit.records import Event, ModelVersion

__all__ = ["KEY_PACKAGES", "cell", "history_section", "number", "render_card"]

#: The libraries shown on a card's runtime table (the whole lock follows at the end).
KEY_PACKAGES = (
    "scikit-learn",
    "numpy",
    "scipy",
    "pandas",
    "joblib",
    "skops",
    "threadpoolctl",
    "deploykit",
)
_PROFILE_ROWS = 200  # features listed in the profile table; wider data is summarized


def cell(value: Any) -> str:
    """``value`` as text that stays inside one Markdown table cell."""
    if value is None:
        return "—"
    text = value if isinstance(value, str) else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def number(value: Any) -> str:
    """A metric as a card prints it: 4 significant decimals, ``—`` when missing."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            f"{value:.4g}" if abs(value) >= 1e4 or (value and abs(value) < 1e-3) else f"{value:.4f}"
        )
    return cell(value)


def _table(head: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def render_card(
    version: ModelVersion,
    *,
    fields: Mapping[str, Any],
    lineage: Mapping[str, Any] | None,
    profile: Mapping[str, Any] | None,
    revision: int,
    revised_at: datetime,
    revised_by: str,
) -> str:
    """The card of ``version`` as Markdown, without its history (see :func:`history_section`)."""
    lines = [f"# Model card: {version.model}, version {version.version}", ""]
    if version.description:
        lines += [f"> {cell(version.description)}", ""]
    lines += _table(
        ("", ""),
        [
            ("Model", f"`{version.ref}`"),
            ("Estimator", f"`{version.estimator}`"),
            ("Artifact", f"{version.format}, {version.size:,} bytes, `{version.digest}`"),
            ("Pushed", f"{version.created_at:%Y-%m-%d %H:%M:%S} UTC by {version.author}"),
            ("Card revision", f"{revision}, {revised_at:%Y-%m-%d %H:%M:%S} UTC by {revised_by}"),
        ],
    )
    lines += ["", *_purpose(fields)]
    lines += _data(version, profile)
    lines += _evaluation(version.evaluation, version.metrics)
    lines += _gate(version.gate)
    lines += _signature(version.signature)
    lines += _params(version.params)
    lines += _runtime(version.environment, lineage)
    lines += _lineage(lineage, version.notebook)
    lines += _lock(lineage)
    return "\n".join(lines).rstrip() + "\n"


def _purpose(fields: Mapping[str, Any]) -> list[str]:
    lines = ["## Purpose", ""]
    shown = False
    for key, label in CARD_FIELDS.items():
        value = fields.get(key)
        if not value:
            continue
        shown = True
        title = key.replace("_", " ").capitalize()
        if key == "owners":
            value = ", ".join(value)
        lines += [f"**{title}.** {value}", ""]
        del label
    if not shown:
        lines += [
            "_No intended use, limitations or owners written yet: add them with "
            "`deploykit card NAME VERSION --set intended_use=...` or "
            "`amend_card(name, version, {...})`._",
            "",
        ]
    return lines


def _data(version: ModelVersion, profile: Mapping[str, Any] | None) -> list[str]:
    lines = ["## Training data", ""]
    fp = version.data_fingerprint
    if fp is None and profile is None:
        return [*lines, "_Pushed without training data (`X`): no fingerprint, no profile._", ""]
    if fp is not None:
        columns = fp.get("columns") or []
        lines += [
            f"Fingerprint `{fp.get('sha256')}`: {fp.get('rows'):,} rows × {len(columns)} columns.",
            "",
        ]
    if profile is not None:
        features = list(profile.get("features") or [])
        rows = []
        for f in features[:_PROFILE_ROWS]:
            count = (f.get("count") or 0) + (f.get("missing") or 0)
            missing = f"{100 * (f.get('missing') or 0) / count:.1f}%" if count else "—"
            if f.get("kind") == "numeric":
                summary = (
                    f"mean {number(f.get('mean'))}, std {number(f.get('std'))}, "
                    f"range [{number(f.get('min'))}, {number(f.get('max'))}]"
                )
            else:
                freq = f.get("frequencies") or {}
                top = sorted(freq.items(), key=lambda kv: -kv[1])[:3]
                summary = f"{len(freq)} values; top " + ", ".join(f"{k} ({v})" for k, v in top)
            rows.append((f"`{f.get('name')}`", f.get("kind"), missing, summary))
        lines += _table(("feature", "kind", "missing", "summary"), rows)
        if len(features) > _PROFILE_ROWS:
            lines += ["", f"_… and {len(features) - _PROFILE_ROWS} more features._"]
        prediction = profile.get("prediction")
        if prediction and prediction.get("frequencies"):
            freq = prediction["frequencies"]
            total = sum(freq.values()) or 1
            shares = ", ".join(f"{k}: {100 * v / total:.1f}%" for k, v in sorted(freq.items()))
            lines += ["", f"Predictions on the training data: {shares}."]
        elif prediction and prediction.get("kind") == "numeric":
            lines += [
                "",
                f"Predictions on the training data: mean {number(prediction.get('mean'))}, "
                f"std {number(prediction.get('std'))}.",
            ]
        lines.append("")
    return lines


def _evaluation(evaluation: Mapping[str, Any] | None, metrics: Mapping[str, Any]) -> list[str]:
    lines = ["## Evaluation", ""]
    if evaluation is None:
        if not metrics:
            return [*lines, "_Not evaluated at push (`deploykit.evaluate`)._", ""]
        return [
            *lines,
            *_table(("metric", "value"), [(k, number(v)) for k, v in metrics.items()]),
            "",
        ]
    baseline = evaluation.get("baseline") or {}
    production = evaluation.get("production")
    prod_version = evaluation.get("production_version")
    lines.append(
        f"{evaluation.get('task', '')} task, {evaluation.get('n_samples', 0):,} labelled rows."
    )
    lines.append("")
    head = ["metric", "this version", "baseline"]
    if production is not None:
        head.append(f"production (v{prod_version})")
    rows = []
    for metric, value in (evaluation.get("metrics") or {}).items():
        row = [metric, number(value), number(baseline.get(metric))]
        if production is not None:
            row.append(number(production.get(metric)))
        rows.append(row)
    lines += _table(head, rows)
    lines.append("")
    if production is None and evaluation.get("production_note"):
        lines += [f"_No production figures: {evaluation['production_note']}._", ""]
    cv = evaluation.get("cv")
    if cv:
        lines += ["Cross-validation:", ""]
        lines += _table(
            ("metric", "mean", "std"),
            [(m, number(s.get("mean")), number(s.get("std"))) for m, s in cv.items()],
        )
        lines.append("")
    lines += _slices(evaluation.get("slices"))
    for note in evaluation.get("notes") or ():
        lines.append(f"- {cell(note)}")
    if evaluation.get("notes"):
        lines.append("")
    return lines


def _slices(slices: Mapping[str, Any] | None) -> list[str]:
    if not slices:
        return []
    lines: list[str] = []
    column = slices.get("column")
    groups = slices.get("groups") or []
    metrics = sorted({m for g in groups for m in (g.get("metrics") or {})})
    lines += [f"By `{column}`:", ""]
    rows = [
        [cell(g.get("value")), g.get("rows"), *(number(g["metrics"].get(m)) for m in metrics)]
        for g in groups
    ]
    lines += _table([column or "slice", "rows", *metrics], rows)
    if slices.get("other_rows"):
        lines += ["", f"_{slices['other_rows']} rows in smaller slices not shown._"]
    return [*lines, ""]


def _gate(gate: Mapping[str, Any] | None) -> list[str]:
    lines = ["## Gate", ""]
    if gate is None:
        return [*lines, "_No gate was checked at push._", ""]
    verdict = "**passed**" if gate.get("passed") else "**failed**"
    lines += [f"`{cell(gate.get('expression'))}`: {verdict}.", ""]
    checks = gate.get("checks") or []
    if checks:
        lines += _table(
            ("clause", "actual", "threshold", "result"),
            [
                (
                    f"`{c.get('clause')}`",
                    number(c.get("actual")),
                    number(c.get("threshold")),
                    ("pass" if c.get("passed") else "fail")
                    + (f" ({c['note']})" if c.get("note") else ""),
                )
                for c in checks
            ],
        )
        lines.append("")
    return lines


def _signature(signature: Mapping[str, Any] | None) -> list[str]:
    lines = ["## Signature", ""]
    if signature is None:
        return [*lines, "_No input signature: the server checks nothing before predicting._", ""]
    inputs = signature.get("inputs") or []
    lines += [f"Input: {signature.get('kind')} of {len(inputs)} columns.", ""]
    rows = []
    for c in inputs:
        categories = c.get("categories") or []
        allowed = ", ".join(map(str, categories[:8])) + (" …" if len(categories) > 8 else "")
        rows.append(
            (
                f"`{c.get('name')}`",
                c.get("dtype"),
                "yes" if c.get("nullable") else "no",
                allowed if categories else "",
            )
        )
    lines += _table(("column", "dtype", "nullable", "values"), rows)
    output = signature.get("output") or {}
    if output:
        lines += ["", "Output: " + ", ".join(f"{k} = {cell(v)}" for k, v in output.items()) + "."]
    return [*lines, ""]


def _params(params: Mapping[str, Any]) -> list[str]:
    lines = ["## Parameters", ""]
    if not params:
        return [*lines, "_None recorded._", ""]
    rows = [
        (f"`{k}`", f"`{v!r}`" if not isinstance(v, str) else f"`{v}`") for k, v in params.items()
    ]
    return [*lines, *_table(("parameter", "value"), rows), ""]


def _runtime(environment: Mapping[str, str], lineage: Mapping[str, Any] | None) -> list[str]:
    lines = ["## Runtime and libraries", ""]
    lock = (lineage or {}).get("lock") or {}
    python = (lineage or {}).get("python") or environment.get("python")
    rows: list[tuple[str, Any]] = [("Python", python), ("Platform", environment.get("platform"))]
    for name in KEY_PACKAGES:
        value = lock.get(name) or environment.get(name)
        if value:
            rows.append((name, value))
    lines += _table(("", "version"), rows)
    if lock:
        lines += ["", f"{len(lock)} packages locked (see *Package lock* below)."]
    return [*lines, ""]


def _lineage(lineage: Mapping[str, Any] | None, notebook: str | None) -> list[str]:
    lines = ["## Lineage", ""]
    if lineage is None:
        return [*lines, "_Pushed without lineage (by a deploykit older than cards)._", ""]
    source = lineage.get("source") or {}
    rows: list[tuple[str, Any]] = [("Pushed from", source.get("kind"))]
    if source.get("notebook") or notebook:
        rows.append(("Notebook", f"`{source.get('notebook') or notebook}`"))
    if source.get("script"):
        rows.append(("Script", f"`{source['script']}`"))
    if source.get("cells_sha256"):
        rows.append(("Cells run", f"{source.get('cells')}, `{source['cells_sha256']}`"))
    git = lineage.get("git")
    if git:
        state = "dirty: " + ", ".join(git.get("changed") or []) if git.get("dirty") else "clean"
        rows.append(("Git commit", f"`{git.get('commit')}` ({state})"))
        rows.append(("Git branch", git.get("branch")))
        if git.get("remote"):
            rows.append(("Git remote", git["remote"]))
    else:
        rows.append(("Git", "not in a git repository"))
    lines += _table(("", ""), rows)
    if source.get("cells_source"):
        lines += ["", "Cells run up to the push:", "", "```python", source["cells_source"], "```"]
    return [*lines, ""]


def _lock(lineage: Mapping[str, Any] | None) -> list[str]:
    lock = (lineage or {}).get("lock") or {}
    if not lock:
        return []
    lines = ["## Package lock", "", "```text"]
    lines += [f"{name}=={version}" for name, version in sorted(lock.items())]
    return [*lines, "```", ""]


def history_section(version: int, events: Sequence[Event]) -> str:
    """The history of ``version`` from the audit log (newest first in, oldest first out)."""
    rows = []
    for event in sorted(events, key=lambda e: e.id):
        if event.action == "card":
            if event.to_version != version:
                continue
            what = f"card revision {event.details.get('revision')}"
        elif event.to_version == version or event.from_version == version:
            moved = f"{event.alias}: v{event.from_version or '—'} → v{event.to_version or '—'}"
            what = event.action if event.action == "push" else f"{event.action} ({moved})"
        else:
            continue
        rows.append((f"{event.at:%Y-%m-%d %H:%M:%S}", what, event.actor, event.reason or ""))
    lines = ["## History", ""]
    if not rows:
        return "\n".join([*lines, "_Nothing recorded._", ""])
    return "\n".join([*lines, *_table(("at (UTC)", "what", "who", "why"), rows), ""])
