"""``deploykit shadow|canary|step|promote|abort|experiment|compare``: experiments from a shell.

Registered on the app by :func:`register`; each command opens the backend the settings
name (embedded, or the server at DEPLOYKIT_SERVER_URL), as every other command does.
Experiments run on servers: an embedded registry records them, servers sharing it act.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from deploykit.backend import Backend
    from deploykit.monitoring.compare import Comparison
    from deploykit.records import Experiment

__all__ = ["describe", "register"]

_Name = Annotated[str, typer.Argument(metavar="NAME", help="Model name.")]
_Version = Annotated[str, typer.Argument(metavar="VERSION", help="The candidate version.")]
_Reason = Annotated[str | None, typer.Option("--reason", "-r", help="Why; kept in the audit log.")]
_NeededReason = Annotated[str, typer.Option("--reason", "-r", help="Why; kept in the audit log.")]
_Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _ref(text: str) -> int | str:
    return int(text) if text.isascii() and text.isdigit() else text


def describe(found: Experiment | None) -> str:
    """One paragraph about an experiment, for a terminal."""
    if found is None:
        return "no experiment"
    head = (
        f"{found.model}: {found.label} of version {found.candidate} beside production "
        f"version {found.production} ({found.state}"
    )
    if found.running:
        head += f" since {found.started_at:%Y-%m-%d %H:%M} UTC, by {found.started_by})"
    else:
        head += f" at {found.ended_at:%Y-%m-%d %H:%M} UTC by {found.ended_by}: {found.end_reason})"
    if found.promote_when:
        head += (
            f"\n  promote when {found.promote_when} (min_requests {found.min_requests}"
            + (f", max_duration {found.max_duration:g}s" if found.max_duration else "")
            + ")"
        )
    decision = found.statistics or {}
    if decision.get("action"):
        head += f"\n  last check: {decision['action']}: {decision.get('reason', '')}"
    return head


def _comparison(found: Comparison) -> str:
    lines = [found.summary()]
    if found.crosstab:
        lines.append("  cross-table (rows: a, columns: b):")
        labels = list(found.crosstab)
        lines.append("    " + " ".join(f"{c:>8}" for c in ["", *labels]))
        for label, row in found.crosstab.items():
            lines.append(
                "    " + " ".join(f"{v:>8}" for v in [label, *(row.get(c, 0) for c in labels)])
            )
    for d in found.disagreement[:5]:
        lines.append(
            f"  disagree {d['disagreement']:.1%} where {d['feature']} {d['bin']} "
            f"({d['rows']:,} rows)"
        )
    return "\n".join(lines)


def register(app: typer.Typer, backend: Callable[[], Backend], command_class: Any) -> None:
    """Add the experiment commands to ``app``; ``backend()`` opens the registry or client."""

    def show(value: Any, as_json: bool, text: Callable[[Any], str]) -> None:
        if as_json:
            out = value.to_dict() if hasattr(value, "to_dict") else value
            typer.echo(json.dumps(out, indent=2, default=str))
        else:
            typer.echo(text(value))

    @app.command(cls=command_class)
    def shadow(
        name: _Name,
        version: _Version,
        share: Annotated[
            float, typer.Option("--share", help="Fraction of requests, (0, 1].")
        ] = 1.0,
        reason: _Reason = None,
        as_json: _Json = False,
    ) -> None:
        """Score production's requests with VERSION too; callers get production's answer."""
        with backend() as reg:
            show(reg.shadow(name, _ref(version), share=share, reason=reason), as_json, describe)

    @app.command(cls=command_class)
    def canary(
        name: _Name,
        version: _Version,
        percent: Annotated[float, typer.Option("--percent", "-p", help="Share, (0, 100].")] = 10,
        sticky: Annotated[
            str | None, typer.Option("--sticky", help="Input column keeping a caller on a version.")
        ] = None,
        promote_when: Annotated[
            str | None,
            typer.Option(
                "--promote-when", help="e.g. 'error_rate<=production; accuracy>=production-0.01'."
            ),
        ] = None,
        min_requests: Annotated[int, typer.Option("--min-requests", min=0)] = 1000,
        max_duration: Annotated[
            float | None, typer.Option("--max-duration", help="Seconds before giving up.")
        ] = None,
        reason: _Reason = None,
        as_json: _Json = False,
    ) -> None:
        """Let VERSION answer a share of production's requests, promoted on evidence if asked."""
        with backend() as reg:
            found = reg.canary(
                name,
                _ref(version),
                percent=percent,
                sticky=sticky,
                promote_when=promote_when,
                min_requests=min_requests,
                max_duration=max_duration,
                reason=reason,
            )
            show(found, as_json, describe)

    @app.command(cls=command_class)
    def step(
        name: _Name,
        percent: Annotated[float, typer.Argument(metavar="PERCENT", help="New share, (0, 100].")],
        reason: _Reason = None,
        as_json: _Json = False,
    ) -> None:
        """Change the running experiment's share."""
        with backend() as reg:
            show(reg.step(name, percent, reason=reason), as_json, describe)

    @app.command(cls=command_class)
    def promote(name: _Name, reason: _NeededReason, as_json: _Json = False) -> None:
        """End the running experiment and move production to its candidate."""
        with backend() as reg:
            show(reg.promote(name, reason), as_json, describe)

    @app.command(cls=command_class)
    def abort(name: _Name, reason: _NeededReason, as_json: _Json = False) -> None:
        """End the running experiment: all traffic back to production."""
        with backend() as reg:
            show(reg.abort(name, reason), as_json, describe)

    @app.command(cls=command_class)
    def experiment(name: _Name, as_json: _Json = False) -> None:
        """Show the running (else the last) experiment and its last policy check."""
        with backend() as reg:
            show(reg.experiment(name), as_json, describe)

    @app.command(cls=command_class)
    def compare(
        name: _Name,
        a: Annotated[str, typer.Argument(metavar="A", help="A version or alias.")] = "production",
        b: Annotated[str, typer.Argument(metavar="B", help="Another.")] = "candidate",
        since: Annotated[
            str | None, typer.Option("--since", help="ISO time; default the experiment's start.")
        ] = None,
        as_json: _Json = False,
    ) -> None:
        """Compare two versions on the logged shadow/canary traffic."""
        with backend() as reg:
            show(reg.compare(name, _ref(a), _ref(b), since=since), as_json, _comparison)
