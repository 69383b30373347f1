"""The steps behind ``%deploy`` that the widgets take too: evaluate, push, status.

Both front ends call these with a :class:`~deploykit.ui.session.Session`, so
a model evaluated in the panel is pushed with its report from a magic, and the
two never disagree on what a gate was checked against. Preconditions a user can
fix (a gate without an evaluation) raise IPython's ``UsageError``; the registry's
own errors pass through for the caller to show.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from deploykit.errors import DeployKitError, DeployKitWarning
from deploykit.monitoring import health
from deploykit.ui import render
from deploykit.ui.addresses import DEFAULT_SERVER_URL
from deploykit.ui.markup import size
from deploykit.ui.results import ModelStatus
from deploykit.ui.session import Session

if TYPE_CHECKING:
    from deploykit.backend import Backend
    from deploykit.monitoring.performance import EstimatedPerformance

__all__ = [
    "NEED_SERVER",
    "estimated",
    "evaluate_model",
    "model_status",
    "push_model",
    "report_for_push",
]

NEED_SERVER = (
    "Serving figures (requests/s, p95 latency, error rate, drift) come from a deploykit "
    f"server: run `deploykit serve`, then %deploy target {DEFAULT_SERVER_URL}"
)
_MOVES = ("deploy", "rollback", "auto-rollback")


def evaluate_model(
    session: Session, model: Any, X: Any, y: Any, *, name: str | None, cv: int | None = None
) -> Any:
    """``deploykit.evaluate`` against the session's target, remembered for the next push."""
    from deploykit.evaluation import evaluate

    against = session.backend if name else None
    report = evaluate(model, X, y, against=against, name=name or None, cv=cv)
    session.memory.remember(model, report, name=name or None, X=X, y=y, cv=cv)
    return report


def report_for_push(
    session: Session, model: Any, name: str, *, gate: str | None, label: str
) -> tuple[Any, str | None]:
    """The evaluation to push ``model`` with, and a note when none can be attached.

    ``label`` is how the user called the model (its variable name), for messages.
    """
    if gate:
        from deploykit.evaluation import Gate

        Gate.parse(gate)  # a typo in the gate fails here, before anything is uploaded
    entry = session.memory.recall(model)
    evaluate_first = f"run %deploy evaluate {label} X_test y_test --name {name} first"
    if entry is None:
        if gate:
            raise UsageError(f"A gate needs an evaluation of '{label}': {evaluate_first}.")
        return None, None
    if not entry.still_matches(model):
        if gate:
            raise UsageError(
                f"'{label}' changed since it was evaluated (refit?), so its evaluation no "
                f"longer applies: {evaluate_first}."
            )
        return None, f"evaluation not attached: '{label}' changed since it was evaluated"
    if entry.name == name:
        return entry.report, None
    # Evaluated without a name, or for another model: the production figures a gate
    # compares with must be this model's, so measure again on the same rows.
    report = evaluate_model(session, model, entry.X, entry.y, name=name)
    if entry.report.cv is not None:
        report = dataclasses.replace(report, cv=entry.report.cv)
    return report, None


def push_model(
    session: Session,
    model: Any,
    name: str,
    *,
    report: Any = None,
    note: str | None = None,
    X: Any = None,
    format: str = "joblib",
    gate: str | None = None,
    deploy: bool = False,
    description: str = "",
    notebook: str | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    nullable: list[str] | None = None,
    card: Any = None,
    lineage: Any = None,
) -> tuple[Any, str, bool]:
    """Push ``model`` with ``report`` (see :func:`report_for_push`): (version, summary, gate ok).

    ``card`` holds the card's editable fields; ``lineage`` what the kernel knows (a
    :class:`deploykit.cards.KernelContext`, see :func:`deploykit.ui.cards.kernel_context`).

    ``note`` (why no report is attached) is added to the summary.
    """
    backend = session.backend
    kwargs: dict[str, Any] = {
        "X": X,
        "format": format,
        "evaluation": report,
        "gate": gate or None,
        "deploy": deploy,
        "description": description,
        "notebook": notebook,
    }
    if nullable:
        kwargs["nullable"] = nullable
    if card is not None:
        kwargs["card"] = card
    if lineage is not None:
        kwargs["lineage"] = lineage
    if progress is not None and not session.embedded:  # only an upload has progress to show
        kwargs["progress"] = progress
    from deploykit.serialization import pickle_note

    # Taken here (once a session), so the backend's own PickleWarning stays quiet.
    pickled = pickle_note(
        format, what="--format joblib (the default)", fix="Push with --format skops"
    )
    started = time.perf_counter()
    with warnings.catch_warnings():
        # The registry warns when a failed gate blocks the deploy; the summary says it.
        warnings.filterwarnings(
            "ignore", message=r".*pushed but not deployed", category=DeployKitWarning
        )
        version = backend.push(model, name, **kwargs)
    summary, ok = _summary(session, version, deploy=deploy, seconds=time.perf_counter() - started)
    if note:
        summary += f" ({note})"
    if pickled:
        summary += f". Note: {pickled}"
    return version, summary, ok


def _summary(session: Session, version: Any, *, deploy: bool, seconds: float) -> tuple[str, bool]:
    parts = [f"Pushed {version.ref} ({size(version.size)}, {seconds:.2f} s) → {session.where()}"]
    # the runtime chosen at push, and the speed-up it measured (see deploykit.compile)
    parts.append(f"runs on {version.runtime_label}")
    same = identical_versions(session.backend, version)
    if same:
        parts.append(f"identical to version {same[-1]} (the same artifact bytes)")
    if version.gate is not None:
        parts.append(render.gate_text(version.gate))
    if "production" in version.aliases:
        parts.append(f"production → {version.version}")
    elif deploy:
        live = session.backend.model(version.model).production
        stays = f"stays at version {live}" if live is not None else "has no version yet"
        parts.append(
            f"not deployed because the gate failed; production {stays}. Deploy anyway: "
            f"%deploy deploy {version.model} {version.version}"
        )
    else:
        parts.append(f"deploy it with %deploy deploy {version.model} {version.version}")
    return "; ".join(parts), version.gate_passed is not False


def identical_versions(backend: Backend, version: Any) -> list[int]:
    """Earlier versions of the same model whose artifact has ``version``'s digest."""
    return [
        v.version
        for v in backend.versions(version.model)
        if v.digest == version.digest and v.version < version.version
    ]


def model_status(session: Session, name: str, *, window_seconds: int = 3600) -> ModelStatus:
    """What is known about ``name`` in production; serving figures need a server."""
    backend = session.backend
    info = backend.model(name)
    moves = [
        e
        for e in backend.events(name, limit=50)
        if e.action in _MOVES and e.alias in (None, "production")
    ]
    last = moves[0] if moves else None
    badge = health.model_health(backend, name, measured=not session.embedded)
    if session.embedded:  # nothing is served in-process: no figures to show
        if badge.status == "deployed":  # its detail says "need a server": the note says how
            badge = dataclasses.replace(badge, detail="In production.")
        return ModelStatus(name, info.production, last, note=NEED_SERVER, health=badge)
    summary = backend.metrics(name, window=window_seconds)
    window = _window(summary.get("window_seconds") or window_seconds)
    return ModelStatus(
        name,
        info.production,
        last,
        serving=dict(summary.get("total") or {}),
        series=tuple(summary.get("series") or ()),
        window=window,
        drift=_drift_line(backend, name, window_seconds, window) if info.production else None,
        health=badge,
        estimated=(
            _estimated_line(backend, name, window_seconds, window) if info.production else None
        ),
    )


def estimated(
    session: Session,
    name: str,
    *,
    since: str = "24h",
    step: str | None = None,
    version: int | None = None,
) -> EstimatedPerformance:
    """``name``'s metrics estimated from its logged scores before labels arrive, over the
    last ``since`` (a duration: 24h, 90m, 3600) and per ``step`` if given, as
    ``deploykit estimated`` reads them. A bad duration, an unknown model or too many
    windows is the backend's one-line error (InvalidInputError, ModelNotFoundError)."""
    from deploykit.monitoring.periods import flag_period

    start, until, window = flag_period(since, step, datetime.now(timezone.utc))
    return session.backend.estimated_performance(
        name, since=start, until=until, step=window, version=version
    )


def _estimated_line(backend: Backend, name: str, window_seconds: int, window: str) -> str | None:
    """The headline metric estimated from the logged scores, with its band, before labels."""
    try:
        result = backend.estimated_performance(name, since=time.time() - window_seconds)
    except DeployKitError as exc:
        return f"not available: {exc}"
    overall = result.overall
    if overall.rows == 0:
        return None  # the drift line already says there was no traffic
    estimate = result.estimate
    if estimate is None or estimate.value is None:
        return f"not available: {'; '.join(overall.reasons) or 'no scores to estimate from'}"
    band = (
        f" [{estimate.lower:.3f}, {estimate.upper:.3f}]"
        if estimate.lower is not None and estimate.upper is not None
        else ""
    )
    text = f"{result.headline} {estimate.value:.3f}{band} ({result.confidence:.0%} band"
    at_push = result.reference.get(result.headline or "")
    text += f"; at push {at_push:.3f})" if at_push is not None else ")"
    if estimate.realized is not None:
        text += f", realized {estimate.realized:.3f} on {overall.labelled:,} labels"
    else:
        text += f", {overall.rows_text()}, no labels yet"
    if not overall.trusted:
        text += f"; untrusted: {overall.reasons[0]}"
    return text


def _drift_line(backend: Backend, name: str, window_seconds: int, window: str) -> str | None:
    """One line on production's drift over the window, from the server's prediction logs."""
    try:
        report = backend.drift(
            name, since=time.time() - window_seconds, step=window_seconds
        ).overall
    except DeployKitError as exc:
        return f"not available: {exc}"
    if report.rows == 0:
        return f"no logged predictions in the last {window}"
    judged = [f for f in report.features if f.drifted is not None]
    if not judged:
        return f"not judged: {'; '.join(report.notes) or 'no reference profile'}"
    drifted = report.drifted_features
    rows = f"{report.rows:,} rows"
    multi = report.multivariate
    if multi is not None and multi.drifted:
        rows += f"; features move together differently (p = {multi.p_value:.2g})"
    if not drifted:
        return f"none of {len(judged)} features drifted ({rows})"
    shown = ", ".join(drifted[:5]) + (f" and {len(drifted) - 5} more" if len(drifted) > 5 else "")
    return f"{len(drifted)} of {len(judged)} features drifted: {shown} ({rows})"


def _window(seconds: int) -> str:
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return "hour" if hours == 1 else f"{hours} hours"
    return f"{seconds // 60} minutes"
