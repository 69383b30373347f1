"""Rich tables and one-line summaries for the CLI's human output."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from deploykit.records import Alias, Event, ModelInfo, ModelVersion

# Metrics shown in the versions table, in order of preference; the first three found win.
KEY_METRICS = ("roc_auc", "f1", "f1_macro", "accuracy", "r2", "rmse", "mae", "log_loss")

# soft_wrap: long URLs and tokens stay on one line, so they can be copied
console = Console(highlight=False, soft_wrap=True)


def print_table(table: Table) -> None:
    """A table fitted to the terminal; piped or redirected (a file, ``less``, a CI log),
    at its natural width instead of the 80 columns rich assumes there, so names are never
    cut and a long reason stays on one line. ``--json`` is the form for scripts."""
    if console.is_terminal:
        console.print(table)
        return
    natural = Measurement.get(console, console.options.update_width(100_000), table).maximum
    width = console.width
    console.width = max(width, natural)
    try:
        console.print(table)
    finally:
        console.width = width


def _when(value: object) -> str:
    if isinstance(value, str):  # ISO text, as the server's JSON carries times
        try:
            return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M")
        except ValueError:
            return value
    return value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "strftime") else str(value)


def key_metrics(version: ModelVersion, limit: int = 3) -> str:
    shown = [(m, version.metrics[m]) for m in KEY_METRICS if m in version.metrics][:limit]
    return "  ".join(f"{m}={v:.3f}" for m, v in shown) or "-"


def models_table(models: Sequence[ModelInfo]) -> None:
    if not models:
        console.print("No models yet. Push one: deploykit push model.joblib --name NAME")
        return
    table = Table("model", "latest", "production", "aliases", "created")
    for m in models:
        # every alias, production included: "production→2, staging→3"
        aliases = ", ".join(f"{a}→{v}" for a, v in sorted(m.aliases.items()))
        table.add_row(
            m.name,
            str(m.latest_version or "-"),
            str(m.production or "-"),
            aliases or "-",
            _when(m.created_at),
        )
    print_table(table)


def versions_table(name: str, versions: Sequence[ModelVersion]) -> None:
    table = Table(
        "version", "created", "author", "metrics", "gate", "runtime", "aliases", title=name
    )
    for v in versions:
        gate = {None: "-", True: "passed", False: "failed"}[v.gate_passed]
        live = ", ".join(v.aliases)
        style = "bold green" if "production" in v.aliases else None
        table.add_row(
            str(v.version),
            _when(v.created_at),
            v.author,
            key_metrics(v),
            gate,
            v.runtime_label,
            live or "-",
            style=style,
        )
    print_table(table)


#: rich styles of the health badges (deploykit.monitoring.health.STATUSES)
_STATUS_STYLES = {"serving": "bold green", "errors": "bold red", "alert": "bold red"}


def status_table(rows: Sequence[Mapping[str, Any]]) -> None:
    """``deploykit status``: each model's live version and health badge, with its reason."""
    if not rows:
        console.print("No models yet. Push one: deploykit push model.joblib --name NAME")
        return
    table = Table("model", "production", "status", "why")
    for row in rows:
        status = row["status"]
        table.add_row(
            row["model"],
            str(row["live_version"] or "-"),
            f"[{_STATUS_STYLES[status]}]{status}[/]" if status in _STATUS_STYLES else status,
            row["status_detail"],
        )
    print_table(table)


def events_table(events: Sequence[Event]) -> None:
    if not events:
        console.print("No events yet.")
        return
    table = Table("when", "actor", "action", "model", "alias", "move", "reason")
    for e in events:
        move = _move(e)
        table.add_row(_when(e.at), e.actor, e.action, e.model, e.alias or "-", move, e.reason or "")
    print_table(table)


def _move(event: Event) -> str:
    """Where the alias moved ("1 → 2"); an alert or a card moves nothing, so the version
    it was about ("on v2")."""
    if event.to_version is None:
        return "-"
    if event.action in ("alert", "card"):
        return f"on v{event.to_version}"
    return f"{event.from_version or '-'} → {event.to_version}"


def tokens_table(tokens: Sequence[Mapping[str, Any]]) -> None:
    if not tokens:
        console.print("No tokens yet: deploykit token create --role deployer")
        return
    table = Table("id", "name", "role", "created", "by", "revoked")
    for t in tokens:
        revoked = _when(t["revoked_at"]) if t.get("revoked_at") else "-"
        table.add_row(
            str(t["id"]), t["name"], t["role"], _when(t["created_at"]), t["created_by"], revoked
        )
    print_table(table)


def pushed(version: ModelVersion, *, identical_to: int | None = None) -> None:
    digest = version.digest[:19]
    line = f"Pushed {version.ref} ({version.format}, {version.size:,} bytes, {digest}…)"
    if version.gate is not None:
        verdict = f"gate {'passed' if version.gate_passed else 'failed'}"
        line += f"; {version.gate.get('summary') or verdict}"
    if identical_to is not None:
        line += f"; identical to version {identical_to} (the same artifact bytes)"
    if "production" in version.aliases:
        line += "; now in production"
    elif version.gate_passed is False:
        line += "; not deployed, production is unchanged"
    console.print(line)


def _num(value: Any, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def evaluated(report: Any, gate: str | None = None) -> None:
    """The evaluation behind a push: the key metrics (and the gate's) beside the baseline
    and production."""
    against = (
        f"production v{report.production_version}"
        if report.production_version is not None
        else "production"
    )
    table = Table("metric", "value", "baseline", against, "Δ vs production")
    for row in report.table():
        if row["metric"] not in KEY_METRICS and row["metric"] not in (gate or ""):
            continue
        table.add_row(
            row["metric"],
            _num(row["value"]),
            _num(row.get("baseline")),
            _num(row.get("production")),
            _num(row.get("delta"), "+.4f"),
        )
    console.print(f"Evaluated on {report.n_samples:,} rows ({report.task})")
    print_table(table)
    if report.production_note:
        console.print(report.production_note)


def moved(verb: str, alias: Alias, before: int | None) -> None:
    origin = f" (was {before})" if before is not None else ""
    console.print(f"{alias.model}: {alias.name} {verb} to version {alias.version}{origin}")
