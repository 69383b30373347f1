"""HTML and plain-text renderings of what ``%deploy`` shows: pure functions, strings out.

Every renderer comes as a pair, ``*_html`` for Jupyter and ``*_text`` for a
terminal or a log, built from the same rows so the two never disagree. HTML
uses inline styles only: notebooks, Voila and nbviewer keep them, and no
stylesheet has to be installed. Every value that came from a user is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from deploykit.records import Alias, Event, ModelInfo, ModelVersion
from deploykit.ui.markup import (
    BAD,
    GOOD,
    MUTED,
    STATUS_COLORS,
    WARN,
    number,
    signed,
    size,
    when,
)
from deploykit.ui.markup import badge as _badge
from deploykit.ui.markup import block as _div
from deploykit.ui.markup import color as _color
from deploykit.ui.markup import escape as _e
from deploykit.ui.markup import html_table as _html_table
from deploykit.ui.markup import text_table as _text_table

if TYPE_CHECKING:
    from deploykit.monitoring.estimate import MetricEstimate
    from deploykit.monitoring.performance import EstimatedPerformance, EstimatedWindow
    from deploykit.ui.results import ConsoleLink, ModelStatus, Prediction, Target

__all__ = [
    "BAD",
    "GOOD",
    "KEY_METRICS",
    "alias_html",
    "alias_text",
    "console_html",
    "console_text",
    "error_html",
    "estimated_html",
    "estimated_text",
    "events_html",
    "events_text",
    "gate_html",
    "gate_text",
    "key_metrics",
    "models_html",
    "models_text",
    "prediction_html",
    "prediction_text",
    "report_html",
    "report_text",
    "status_html",
    "status_text",
    "target_html",
    "target_text",
    "version_html",
    "version_text",
    "versions_html",
    "versions_text",
]

# Metrics worth a column in a versions table, in order of preference.
KEY_METRICS = ("roc_auc", "f1", "f1_macro", "accuracy", "r2", "rmse", "mae", "log_loss")


def key_metrics(metrics: Mapping[str, float], limit: int = 3) -> str:
    shown = [(m, metrics[m]) for m in KEY_METRICS if metrics.get(m) is not None][:limit]
    return "  ".join(f"{m}={number(v)}" for m, v in shown) or "-"


def error_html(message: str) -> str:
    """A one-line error, for widgets (magics raise UsageError instead)."""
    return _div(_color("✖ " + _e(message), BAD))


# -- gates ---------------------------------------------------------------------------------


def _gate_summary(gate: Mapping[str, Any]) -> str:
    if gate.get("summary"):
        return str(gate["summary"])
    return "gate passed" if gate.get("passed") else "gate failed"


def gate_text(gate: Mapping[str, Any] | None) -> str:
    return "gate: none" if gate is None else _gate_summary(gate)


def gate_html(gate: Mapping[str, Any] | None) -> str:
    if gate is None:
        return _color("no gate", MUTED)
    ok = bool(gate.get("passed"))
    head = _color(("✔ " if ok else "✖ ") + _e(_gate_summary(gate)), GOOD if ok else BAD, bold=True)
    rows = []
    for c in gate.get("checks", ()):
        mark = _color("✔", GOOD) if c.get("passed") else _color("✖", BAD)
        actual = number(c.get("actual"))
        bound = number(c.get("threshold")) if c.get("threshold") is not None else "-"
        rows.append([mark, _e(c.get("clause", "")), actual, bound, _e(c.get("note") or "")])
    if not rows:
        return head
    return head + _html_table(["", "clause", "value", "bound", "note"], rows)


# -- versions, aliases, models, events ----------------------------------------------------


def _gate_word(v: ModelVersion) -> str:
    return {None: "-", True: "passed", False: "failed"}[v.gate_passed]


def version_text(v: ModelVersion) -> str:
    lines = [
        f"{v.ref}  {v.estimator}  {v.format} {size(v.size)}  {v.digest[:19]}…",
        f"  created {when(v.created_at)} by {v.author}"
        + (f"  ·  {v.description}" if v.description else ""),
        f"  metrics: {key_metrics(v.metrics, limit=4)}",
        f"  {gate_text(v.gate)}",
        f"  live: {', '.join(v.aliases) if v.aliases else 'no (not deployed)'}",
    ]
    return "\n".join(lines)


def version_html(v: ModelVersion) -> str:
    badges = "".join(_badge(a, GOOD if a == "production" else MUTED) for a in v.aliases) or _badge(
        "not deployed", MUTED
    )
    title = f"<b>{_e(v.model)}</b> version <b>{v.version}</b>{badges}"
    meta = _color(
        f"{_e(v.estimator)} · {_e(v.format)} {size(v.size)} · {_e(v.digest[:19])}… · "
        f"{when(v.created_at)} by {_e(v.author)}",
        MUTED,
    )
    parts = [title, "<br>", meta]
    if v.description:
        parts += ["<br>", _e(v.description)]
    parts += ["<br>", "metrics: ", _e(key_metrics(v.metrics, limit=4)), "<br>", gate_html(v.gate)]
    return _div("".join(parts))


def _versions_rows(versions: Sequence[ModelVersion]) -> list[list[str]]:
    return [
        [
            str(v.version),
            when(v.created_at),
            v.author,
            key_metrics(v.metrics),
            _gate_word(v),
            ", ".join(v.aliases) or "-",
        ]
        for v in versions
    ]


_VERSIONS_HEAD = ["version", "created", "author", "metrics", "gate", "live"]


def versions_text(versions: Sequence[ModelVersion]) -> str:
    if not versions:
        return "No versions."
    title = f"{versions[0].model}: {len(versions)} version{'s' if len(versions) > 1 else ''}"
    return title + "\n" + _text_table(_VERSIONS_HEAD, _versions_rows(versions))


def versions_html(versions: Sequence[ModelVersion]) -> str:
    if not versions:
        return _div("No versions.")
    rows = []
    for v, row in zip(versions, _versions_rows(versions), strict=True):
        cells = [_e(c) for c in row]
        if v.gate_passed is not None:
            cells[4] = _color(cells[4], GOOD if v.gate_passed else BAD)
        if "production" in v.aliases:
            cells[0] = _color("● " + cells[0], GOOD, bold=True)
        rows.append(cells)
    n = len(versions)
    title = f"<b>{_e(versions[0].model)}</b>: {n} version{'s' if n > 1 else ''}"
    return _div(title + _html_table(_VERSIONS_HEAD, rows))


def alias_text(alias: Alias) -> str:
    return (
        f"{alias.model}: {alias.name} → version {alias.version} "
        f"(by {alias.updated_by}, {when(alias.updated_at)})"
    )


def alias_html(alias: Alias) -> str:
    color = GOOD if alias.name == "production" else MUTED
    return _div(
        f"<b>{_e(alias.model)}</b>: {_badge(alias.name, color)} → version <b>{alias.version}</b> "
        + _color(f"by {_e(alias.updated_by)}, {when(alias.updated_at)}", MUTED)
    )


_MODELS_HEAD = ["model", "latest", "production", "other aliases", "created"]


def _models_rows(models: Sequence[ModelInfo]) -> list[list[str]]:
    return [
        [
            m.name,
            str(m.latest_version or "-"),
            str(m.production or "-"),
            ", ".join(f"{a}→{v}" for a, v in sorted(m.aliases.items()) if a != "production") or "-",
            when(m.created_at),
        ]
        for m in models
    ]


_NO_MODELS = "No models yet. Push one: %deploy push MODEL --name NAME"


def _listing_text(head: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> str:
    return _text_table(head, rows) if rows else empty


def _listing_html(head: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> str:
    if not rows:
        return _div(_e(empty))
    return _div(_html_table(head, [[_e(c) for c in r] for r in rows]))


def models_text(models: Sequence[ModelInfo]) -> str:
    return _listing_text(_MODELS_HEAD, _models_rows(models), _NO_MODELS)


def models_html(models: Sequence[ModelInfo]) -> str:
    return _listing_html(_MODELS_HEAD, _models_rows(models), _NO_MODELS)


_EVENTS_HEAD = ["when", "actor", "action", "model", "alias", "move", "reason"]


def _events_rows(events: Sequence[Event]) -> list[list[str]]:
    return [
        [
            when(e.at),
            e.actor,
            e.action,
            e.model,
            e.alias or "-",
            f"{e.from_version or '-'} → {e.to_version}" if e.to_version is not None else "-",
            e.reason or "",
        ]
        for e in events
    ]


def events_text(events: Sequence[Event]) -> str:
    return _listing_text(_EVENTS_HEAD, _events_rows(events), "No events yet.")


def events_html(events: Sequence[Event]) -> str:
    return _listing_html(_EVENTS_HEAD, _events_rows(events), "No events yet.")


# -- evaluation ----------------------------------------------------------------------------


def _report_head(report: Any) -> list[str]:
    head = ["metric", "model", "baseline"]
    if report.production is not None:
        head += [f"production (v{report.production_version})", "Δ vs production"]
    if report.cv:
        head.append("cv mean ± std")
    return head


def _report_rows(report: Any) -> list[tuple[dict[str, Any], list[str]]]:
    out = []
    for row in report.table():
        if row["delta"] is not None and abs(row["delta"]) < 5e-5:
            row = {**row, "better": None}  # a tie as printed (+0.0000) is neither
        cells = [row["metric"], number(row["value"]), number(row["baseline"])]
        if report.production is not None:
            cells += [number(row["production"]), signed(row["delta"])]
        if report.cv:
            cv = report.cv.get(row["metric"])
            cells.append(f"{number(cv['mean'])} ± {number(cv['std'])}" if cv else "-")
        out.append((row, cells))
    return out


def _report_notes(report: Any) -> list[str]:
    notes = []
    if report.production is None and report.production_note:
        notes.append(report.production_note)
    notes.extend(report.notes)
    return notes


def report_text(report: Any) -> str:
    rows = _report_rows(report)
    lines = [f"Evaluation ({report.task}, {report.n_samples} rows)"]
    table_rows = []
    for row, cells in rows:
        if report.production is not None and row["better"] is not None:
            cells = [*cells]
            cells[4] += " better" if row["better"] else " worse"
        table_rows.append(cells)
    lines.append(_text_table(_report_head(report), table_rows))
    if report.gate is not None:
        lines.append(report.gate.summary())
    lines += [f"note: {n}" for n in _report_notes(report)]
    return "\n".join(lines)


def report_html(report: Any) -> str:
    rows = []
    for row, cells in _report_rows(report):
        cells = [_e(c) for c in cells]
        if report.production is not None and row["better"] is not None:
            cells[4] = _color(cells[4], GOOD if row["better"] else BAD, bold=True)
        # beside the baseline, the model must do better: a miss is worth a red flag
        vs_base = _improved(row["value"], row["baseline"], row["greater_is_better"])
        if vs_base is False:
            cells[1] = _color(cells[1] + " ▼ baseline", BAD)
        rows.append(cells)
    title = f"<b>Evaluation</b> {_color(f'{_e(report.task)} · {report.n_samples} rows', MUTED)}"
    parts = [title, _html_table(_report_head(report), rows)]
    if report.gate is not None:
        parts.append(gate_html(report.gate.to_dict()))
    parts += [f"<div>{_color('note: ' + _e(n), MUTED)}</div>" for n in _report_notes(report)]
    return _div("".join(parts))


def _improved(value: float | None, other: float | None, greater: bool) -> bool | None:
    if value is None or other is None or value == other:
        return None
    return value > other if greater else value < other


# -- estimated performance ------------------------------------------------------------------

_ESTIMATED_HEAD = ["metric", "estimate", "band", "realized", "at push"]
#: Windows shown in a table, the latest; the returned record holds them all.
_WINDOWS_SHOWN = 48


def _band(m: MetricEstimate | None) -> str:
    if m is None or m.lower is None or m.upper is None:
        return "-"
    return f"[{number(m.lower)}, {number(m.upper)}]"


def _estimated_title(r: EstimatedPerformance) -> str:
    return f"Estimated performance of {r.model}:{r.version} ({r.task or 'unknown task'})"


def _estimated_rows(r: EstimatedPerformance) -> list[list[str]]:
    rows = []
    for metric in r.metrics:
        m = r.overall.metrics.get(metric)
        value, realized = (None, None) if m is None else (m.value, m.realized)
        rows.append(
            [metric, number(value), _band(m), number(realized), number(r.reference.get(metric))]
        )
    return rows


def _estimated_notes(r: EstimatedPerformance) -> list[tuple[str, bool]]:
    """The lines under the table, each with whether it is a warning (why not to trust)."""
    overall = r.overall
    counts = (
        f"{overall.rows_text()}, {overall.labelled:,} labelled, "
        f"{r.confidence:.0%} band (estimated from the logged scores, before labels)"
    )
    return [(counts, False), *r.notes()]


def _window_rows(r: EstimatedPerformance) -> list[tuple[EstimatedWindow, list[str]]]:
    """The headline metric in each window that logged predictions (empty ones say nothing)."""
    out = []
    for w in r.windows:
        m = w.metrics.get(r.headline) if r.headline else None
        if w.rows == 0 or w.since is None or m is None:
            continue
        trust = "yes" if w.trusted else "no: " + (w.reasons[0] if w.reasons else "untrusted")
        cells = [when(w.since), w.rows_text(), number(m.value), _band(m), number(m.realized)]
        out.append((w, [*cells, trust]))
    return out


def _windows_title(r: EstimatedPerformance, shown: int, found: int) -> str:
    from deploykit.monitoring.health import window_text

    step = window_text(r.step_seconds) if r.step_seconds else "window"
    title = f"{r.headline} per {step}, windows with logged predictions"
    if found > shown:
        title += f" (the latest {shown} of {found}; the returned record's .windows holds all)"
    return title


def _windows_head(r: EstimatedPerformance) -> list[str]:
    return ["from (UTC)", "rows", str(r.headline), "band", "realized", "trusted"]


def estimated_text(r: EstimatedPerformance) -> str:
    lines = [_estimated_title(r), _text_table(_ESTIMATED_HEAD, _estimated_rows(r))]
    lines += [text for text, _ in _estimated_notes(r)]
    windows = _window_rows(r)
    if windows:
        shown = windows[-_WINDOWS_SHOWN:]
        lines += ["", _windows_title(r, len(shown), len(windows))]
        lines.append(_text_table(_windows_head(r), [cells for _, cells in shown]))
    elif r.windows:
        lines.append("no window had logged predictions")
    return "\n".join(lines)


def estimated_html(r: EstimatedPerformance) -> str:
    parts = [f"<b>{_e(_estimated_title(r))}</b>"]
    parts.append(_html_table(_ESTIMATED_HEAD, [[_e(c) for c in row] for row in _estimated_rows(r)]))
    parts += [
        f"<div>{_color(_e(text), WARN if warn else MUTED, bold=warn)}</div>"
        for text, warn in _estimated_notes(r)
    ]
    windows = _window_rows(r)
    if windows:
        shown = windows[-_WINDOWS_SHOWN:]
        rows = []
        for w, cells in shown:
            cells = [_e(c) for c in cells]
            if not w.trusted:
                cells[-1] = _color(cells[-1], WARN)
            rows.append(cells)
        title = _windows_title(r, len(shown), len(windows))
        parts += [f'<div style="margin-top:6px">{_e(title)}</div>']
        parts.append(_html_table(_windows_head(r), rows))
    elif r.windows:
        parts.append(f"<div>{_color('no window had logged predictions', MUTED)}</div>")
    return _div("".join(parts))


# -- front-end results -------------------------------------------------------------------


def _status_lines(s: ModelStatus) -> list[tuple[str, str]]:
    live = f"version {s.live_version}" if s.live_version is not None else "nothing deployed"
    lines = [("live", live)]
    if s.health is not None:
        lines.insert(0, ("status", f"{s.health.status}: {s.health.detail}"))
    if s.last_move is not None:
        e = s.last_move
        what = f"{e.action} {e.from_version or '-'} → {e.to_version}"
        by = f" by {e.actor}, {when(e.at)}" + (f": {e.reason}" if e.reason else "")
        lines.append(("last move", what + by))
    if s.serving is not None:
        t = s.serving
        rps = t.get("throughput_rps")
        p95 = t.get("latency_p95_ms")
        lines += [
            ("requests", f"{t.get('requests', 0):,} in the last {s.window}"),
            ("requests/s", "-" if rps is None else _rate(rps)),
            ("p95 latency", "-" if p95 is None else f"{p95:.2f} ms"),
            ("error rate", _percent(s.error_rate) + " (5xx)"),
            ("bad input", _percent(s.client_error_rate) + " (4xx, refused)"),
        ]
    if s.estimated is not None:
        lines.append(("estimated", s.estimated))
    if s.drift is not None:
        lines.append(("drift", s.drift))
    return lines


def _rate(rps: float) -> str:
    """An average rate that stays readable when traffic is sparse (one request an hour)."""
    if rps == 0 or rps >= 0.1:
        return f"{rps:.3g} (average)"
    per_minute = rps * 60
    if per_minute >= 0.1:
        return f"{rps:.2g} (average: {per_minute:.2g} a minute)"
    return f"{rps:.2g} (average: {rps * 3600:.2g} an hour)"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def status_text(statuses: Sequence[ModelStatus]) -> str:
    if not statuses:
        return "No models yet. Push one: %deploy push MODEL --name NAME"
    blocks = []
    for s in statuses:
        body = "\n".join(f"  {k:<12} {v}" for k, v in _status_lines(s))
        note = f"\n  {s.note}" if s.note else ""
        blocks.append(f"{s.model}\n{body}{note}")
    return "\n".join(blocks)


def status_html(statuses: Sequence[ModelStatus]) -> str:
    if not statuses:
        return _div(_e(status_text(statuses)))
    blocks = []
    for s in statuses:
        rows = []
        for key, value in _status_lines(s):
            cell = _e(value)
            if key == "live" and s.live_version is not None:
                cell = _color(cell, GOOD, bold=True)
            elif key == "status" and s.health is not None:
                word = s.health.status
                cell = _badge(word, STATUS_COLORS.get(word, MUTED)) + " " + _e(s.health.detail)
            elif key == "error rate" and s.error_rate is not None and s.error_rate > 0.01:
                cell = _color(cell, BAD, bold=True)
            elif (key == "bad input" and (s.client_error_rate or 0) > 0.05) or (
                key == "estimated" and "untrusted" in value
            ):
                cell = _color(cell, WARN, bold=True)
            rows.append([_e(key), cell])
        note = f"<div>{_color(_e(s.note), MUTED)}</div>" if s.note else ""
        blocks.append(f"<b>{_e(s.model)}</b>" + _html_table(None, rows) + note)
    return _div("".join(blocks))


def target_text(t: Target) -> str:
    if t.url is None:
        return f"target: embedded registry ({t.location})\n{t.hint}"
    auth = f", token from {t.token_source}" if t.token_source else ", no token"
    return f"target: deploykit server {t.url}{auth}\n{t.hint}"


def target_html(t: Target) -> str:
    head, hint = target_text(t).split("\n", 1)
    return _div(f"<b>{_e(head)}</b><br>{_color(_e(hint), MUTED)}")


def console_text(link: ConsoleLink) -> str:
    return f"console: {link.url}\n{link.note}"


def console_html(link: ConsoleLink) -> str:
    url = _e(link.url)
    anchor = f'<a href="{url}" target="_blank" rel="noopener">{url}</a>'
    return _div(f"<b>console</b>: {anchor}<br>{_color(_e(link.note), MUTED)}")


def _preview(values: Sequence[Any], limit: int = 10) -> str:
    shown = ", ".join(str(v) for v in values[:limit])
    more = f", … ({len(values)} in all)" if len(values) > limit else ""
    return f"[{shown}{more}]"


_SHOWN_ROWS = 10


def _prediction_head(p: Prediction) -> list[str]:
    lines = [f"{p.model}:{p.version} predicted {len(p.predictions)} row(s) via {p.via}"]
    if p.ignored_columns:
        names = ", ".join(map(repr, p.ignored_columns))
        lines.append(f"ignored column(s) the model does not take: {names}")
    return lines


def _proba_table(p: Prediction) -> tuple[list[str], list[list[str]]]:
    """One row per shown input row: its prediction and the probability of each class."""
    probabilities = p.probabilities or []
    classes = list(p.classes or range(len(probabilities[0]) if probabilities else 0))
    headers = ["row", "prediction", *(f"P({c})" for c in classes)]
    rows = [
        [str(i), str(p.predictions[i]), *(f"{x:.3f}" for x in probabilities[i])]
        for i in range(min(len(probabilities), _SHOWN_ROWS))
    ]
    return headers, rows


def _more(p: Prediction) -> str | None:
    n = len(p.predictions)
    return (
        f"… {n - _SHOWN_ROWS} more row(s); the returned object holds all"
        if n > _SHOWN_ROWS
        else None
    )


def prediction_text(p: Prediction) -> str:
    lines = _prediction_head(p)
    if p.probabilities is None:
        lines.append(f"  predictions: {_preview(list(p.predictions))}")
        return "\n".join(lines)
    headers, rows = _proba_table(p)
    lines += ["  " + line for line in _text_table(headers, rows).split("\n")]
    more = _more(p)
    return "\n".join([*lines, *([f"  {more}"] if more else [])])


def prediction_html(p: Prediction) -> str:
    head, *notes = _prediction_head(p)
    body = f"<b>{_e(head)}</b>" + "".join(f"<br>{_color(_e(n), WARN)}" for n in notes)
    if p.probabilities is None:
        return _div(body + f"<br>predictions: {_e(_preview(list(p.predictions)))}")
    headers, rows = _proba_table(p)
    more = _more(p)
    table = _html_table(headers, [[_e(c) for c in row] for row in rows])
    return _div(body + table + (f"{_color(_e(more), MUTED)}" if more else ""))
