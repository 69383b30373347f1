"""What the console shows, fetched from a :class:`deploykit.Client` into plain records and frames.

The views never call the server; they take what these functions return:

- :func:`fetch_access` — who the token is and whether it may deploy (``Access``).
- :func:`fetch_overview` — one :class:`ModelSummary` per model: live version, status,
  requests/s, p95, error rate and drifted share over the last few minutes.
- :func:`fetch_model` — a :class:`ModelPage`: versions, serving series, audit log,
  and drift and accuracy when the server offers them.

The answers' series become pandas frames in :mod:`deploykit.console.frames`.

Calls run a few at a time on a small thread pool (one ``httpx.Client`` is safe to share
between threads), so an overview of twenty models costs about one round trip per five.
A part that fails to load becomes one line in ``problems`` instead of failing the page.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd

from deploykit.console.frames import DriftData, drift_frames, serving_frame
from deploykit.errors import AuthenticationError, ConflictError, DeployKitError, NotFoundError
from deploykit.monitoring import health
from deploykit.records import Event, Experiment, ModelInfo, ModelVersion

if TYPE_CHECKING:
    from deploykit.backend import Backend
    from deploykit.client import Client
    from deploykit.monitoring.performance import EstimatedPerformance
    from deploykit.monitoring.rules import AlertRule

__all__ = [
    "ALERT_SECONDS",
    "ERROR_RATE_ALERT",
    "Access",
    "Evidence",
    "ModelPage",
    "ModelSummary",
    "current_alert",
    "fetch_access",
    "fetch_evidence",
    "fetch_model",
    "fetch_overview",
    "latest_alert",
    "page_status",
    "recent_alerts",
    "summarize",
]

_T = TypeVar("_T")

#: From the shared health rule (kept here for existing imports).
ERROR_RATE_ALERT = health.ERROR_RATE_ALERT
ALERT_SECONDS = health.ALERT_SECONDS


@dataclasses.dataclass(frozen=True)
class Access:
    """Who the console acts as; ``reason`` says why the buttons are disabled, if they are."""

    role: str | None
    name: str | None
    can_act: bool
    reason: str | None = None


@dataclasses.dataclass(frozen=True)
class ModelSummary:
    """One line of the overview."""

    name: str
    live_version: int | None
    latest_version: int | None
    requests: int = 0
    requests_per_s: float | None = None
    latency_p95_ms: float | None = None
    error_rate: float | None = None  # 5xx over requests, as the error_rate alert rule
    drifted_share: float | None = None
    status: str = "unknown"  # serving, idle, errors, alert, rolled back, not deployed, unknown
    status_note: str = ""


@dataclasses.dataclass(frozen=True, eq=False)
class Evidence:
    """What fired an alert: the rule's figure, and the drift and accuracy of the version it
    judged over the minutes before (that version may no longer be the one in production)."""

    alert: Event  # the ``alert`` event; its details name the rule, metric, value, version
    rollback: Event | None  # the automatic rollback it caused, if it caused one
    version: int
    since: datetime
    until: datetime
    drift: DriftData | None = None
    problem: str | None = None  # why the drift could not be fetched, if it could not

    @property
    def event_ids(self) -> tuple[int, ...]:
        return (self.alert.id,) + ((self.rollback.id,) if self.rollback else ())


@dataclasses.dataclass(frozen=True, eq=False)
class ModelPage:
    """Everything the model page shows, fetched at ``fetched_at``."""

    name: str
    info: ModelInfo | None
    versions: tuple[ModelVersion, ...]
    serving: pd.DataFrame
    totals: Mapping[str, Any]
    events: tuple[Event, ...]
    window_seconds: int
    drift: DriftData | None = None
    drift_note: str | None = None  # why there is no drift to show, if that is known
    alert_rules: tuple[AlertRule, ...] = ()
    problems: tuple[str, ...] = ()
    evidence: Evidence | None = None
    experiment: Experiment | None = None  # the running (else last) shadow or canary
    estimated: EstimatedPerformance | None = None  # metrics estimated from the scores
    fetched_at: datetime = dataclasses.field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def live_version(self) -> int | None:
        return None if self.info is None else self.info.production

    @property
    def period(self) -> tuple[datetime, datetime]:
        """The charts' time axis: the last ``window_seconds``, ending on the next whole
        sixtieth of the window (so an idle chart is not redrawn at every refresh)."""
        step = max(60, self.window_seconds // 60)
        end = datetime.fromtimestamp(
            -(-self.fetched_at.timestamp() // step) * step, tz=timezone.utc
        )
        return end - timedelta(seconds=self.window_seconds), end


def _status(
    live: int | None,
    requests: int,
    errors_5xx: int,
    problem: str | None,
    alert: Event | None = None,
    window_seconds: int = health.WINDOW_SECONDS,
) -> tuple[str, str]:
    # The badge is the shared health rule's (deploykit.monitoring.health), so the Lab
    # sidebar and `%deploy status` read the same; only "unknown" (unreadable) is ours.
    if problem:
        return "unknown", problem
    figures = {"requests": requests, "errors_5xx": errors_5xx}
    found = health.verdict(live, figures, alert=alert, window_seconds=window_seconds)
    return found.status, found.detail


def summarize(
    info: ModelInfo,
    metrics: Mapping[str, Any] | None,
    problem: str | None = None,
    *,
    alert: Event | None = None,
    drifted_share: float | None = None,
) -> ModelSummary:
    """An overview line from a model's info, its metrics over the overview window, its
    latest recent ``alert`` or ``auto-rollback`` event and its drifted share."""
    live = info.production
    figures: Mapping[str, Any] = {}
    if metrics is not None:
        per_version = metrics.get("versions") or {}
        # The live version's own figures: a rollback's old version must not colour the badge.
        figures = per_version.get(str(live)) or (metrics.get("total") or {} if live is None else {})
    requests = int(figures.get("requests") or 0)
    errors = int(figures.get("errors_5xx") or 0)  # failures; refused inputs (4xx) are not
    status, note = _status(live, requests, errors, problem, alert)
    return ModelSummary(
        name=info.name,
        live_version=live,
        latest_version=info.latest_version,
        requests=requests,
        requests_per_s=figures.get("throughput_rps") if requests else 0.0,
        latency_p95_ms=figures.get("latency_p95_ms"),
        error_rate=errors / requests if requests else None,
        drifted_share=drifted_share,
        status=status,
        status_note=note,
    )


def current_alert(events: Sequence[Event], *, seconds: int = ALERT_SECONDS) -> Event | None:
    """The alert that still describes the model: see
    :func:`deploykit.monitoring.health.current_alert` (a manual move of production after
    an alert or auto-rollback clears it)."""
    return health.current_alert(events, now=datetime.now(timezone.utc), seconds=seconds)


def page_status(page: ModelPage) -> tuple[str, str]:
    """The model page's badge: its alert in the last minutes unless production was moved
    by hand since (:func:`current_alert`), else errors or traffic."""
    alert = current_alert(page.events)
    t = page.totals
    requests = int(t.get("requests") or 0)
    errors = int(t.get("errors_5xx") or 0)
    return _status(page.live_version, requests, errors, None, alert, page.window_seconds)


# ---------------------------------------------------------------------- fetching
def _problem(what: str, exc: Exception) -> str:
    return f"{what}: {exc}" if isinstance(exc, DeployKitError) else f"{what}: {exc!r}"


def _each(
    calls: Sequence[Callable[[], _T]], workers: int
) -> list[tuple[_T | None, Exception | None]]:
    """Run ``calls`` a few at a time; each gives (result, None) or (None, the exception)."""

    def run(call: Callable[[], _T]) -> tuple[_T | None, Exception | None]:
        try:
            return call(), None
        except AuthenticationError:
            raise  # the whole page is unreadable: say so once, at the top
        except Exception as exc:
            return None, exc

    if len(calls) <= 1:
        return [run(c) for c in calls]
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(calls)))) as pool:
        return list(pool.map(run, calls))


def fetch_access(client: Client) -> Access:
    """The token's role; deploy and rollback need ``deployer`` or ``admin``."""
    try:
        who = client.whoami()
    except DeployKitError as exc:  # a bad token, or no server yet: read-only until it answers
        return Access(None, None, False, str(exc))
    role, name = who.get("role"), who.get("name")
    if role in ("deployer", "admin"):
        return Access(role, name, True)
    return Access(
        role,
        name,
        False,
        f"Read-only: your token{f' ({name})' if name else ''} has the {role!r} role; "
        "deploy and rollback need a 'deployer' or 'admin' token.",
    )


def recent_alerts(client: Backend, *, seconds: int = ALERT_SECONDS) -> dict[str, Event]:
    """Each model's :func:`current_alert` over the last ``seconds``
    (:func:`deploykit.monitoring.health.recent_alerts`)."""
    return health.recent_alerts(client, seconds=seconds)


def _drifted_share(client: Backend, name: str, seconds: int | None) -> float | None:
    since = datetime.now(timezone.utc) - timedelta(seconds=seconds or 3600)
    try:
        timeline = client.drift(name, since=since)
    except (ConflictError, NotFoundError):
        return None  # pushed without training data, or nothing deployed: no drift to show
    return drift_frames(timeline).drifted_share


def fetch_overview(
    client: Backend,
    *,
    window_seconds: int = 300,
    drift_seconds: int | None = None,
    workers: int = 6,
) -> list[ModelSummary]:
    """Every model with its live version and serving figures over the last ``window_seconds``,
    its status from recent alerts, and (if ``drift_seconds``) its drifted share over that
    many seconds, the costliest figure, which callers fetch less often."""
    infos: list[ModelInfo] = client.models()
    names = [info.name for info in infos]
    calls: list[Callable[[], Any]] = [
        functools.partial(client.metrics, n, window=window_seconds) for n in names
    ]
    with_drift = drift_seconds is not None
    if with_drift:
        calls += [functools.partial(_drifted_share, client, n, drift_seconds) for n in names]
    calls.append(lambda: recent_alerts(client))
    answers = _each(calls, workers)
    alerts = answers[-1][0] or {}
    out = []
    for i, info in enumerate(infos):
        metrics, exc = answers[i]
        problem = None if exc is None else _problem("metrics", exc)
        share = answers[len(infos) + i][0] if with_drift else None
        out.append(
            summarize(info, metrics, problem, alert=alerts.get(info.name), drifted_share=share)
        )
    return out


def latest_alert(events: Sequence[Event], *, seconds: int) -> tuple[Event, Event | None] | None:
    """The latest ``alert`` event in the last ``seconds`` that names the version it judged,
    with the ``auto-rollback`` that followed it (same reason, that version), if any."""
    now = datetime.now(timezone.utc)
    ordered = sorted(events, key=lambda e: (e.at, e.id))
    for i in range(len(ordered) - 1, -1, -1):
        alert = ordered[i]
        if alert.action != "alert" or (now - alert.at).total_seconds() > seconds:
            continue
        if not isinstance(alert.details.get("version"), int):
            continue
        rollback = next(
            (
                e
                for e in ordered[i + 1 :]
                if e.action == "auto-rollback"
                and e.reason == alert.reason
                and e.from_version == alert.details["version"]
            ),
            None,
        )
        return alert, rollback
    return None


def fetch_evidence(client: Backend, name: str, alert: Event, rollback: Event | None) -> Evidence:
    """The drift and accuracy of the version ``alert`` judged, over the minutes before it
    fired (at least ten, or twice the rule's window), in about thirty points."""
    version = int(alert.details["version"])
    window = int(alert.details.get("window_seconds") or 300)
    until = alert.at + timedelta(seconds=1)
    since = alert.at - timedelta(seconds=max(600, 2 * window))
    step = max(10, int((until - since).total_seconds()) // 30)
    evidence = Evidence(alert, rollback, version, since, until)
    try:
        timeline = client.drift(name, since=since, until=until, step=step, version=version)
    except DeployKitError as exc:
        return dataclasses.replace(evidence, problem=str(exc))
    return dataclasses.replace(evidence, drift=drift_frames(timeline))


def fetch_model(
    client: Backend,
    name: str,
    *,
    window_seconds: int = 3600,
    events_limit: int = 50,
    with_drift: bool = True,
    workers: int = 6,
) -> ModelPage:
    """The model page's data over the last ``window_seconds``, fetched side by side.

    Drift (``with_drift``) is the slow part; without it, ``drift`` is None. An unknown
    model raises NotFoundError; any other part that fails is one line in ``problems``.
    """
    since = datetime.now(timezone.utc) - timedelta(seconds=window_seconds)
    calls: dict[str, Callable[[], Any]] = {
        "model": lambda: client.model(name),
        "versions": lambda: client.versions(name),
        "metrics": lambda: client.metrics(name, window=window_seconds),
        "audit log": lambda: client.events(name, limit=events_limit),
        "alert rules": lambda: client.alerts(name),
        "experiment": lambda: client.experiment(name),
    }
    if with_drift:
        step = max(60, window_seconds // 48)  # about 48 points per chart
        calls["drift"] = lambda: client.drift(name, since=since, step=step)
        calls["estimated"] = lambda: client.estimated_performance(name, since=since, step=step)
    answers = dict(zip(calls, _each(list(calls.values()), workers), strict=True))
    error = answers["model"][1]
    if isinstance(error, NotFoundError):
        raise error
    problems = []
    drift_note = None
    for what, (_, exc) in answers.items():
        if exc is None:
            continue
        if what == "estimated" and isinstance(exc, (ConflictError, NotFoundError)):
            continue  # nothing deployed, or a server without estimates: the chart says so
        if what == "drift" and isinstance(exc, (ConflictError, NotFoundError)):
            drift_note = str(exc)  # no reference profile, or nothing deployed: not a failure
        else:
            problems.append(_problem(what, exc))
    metrics = answers["metrics"][0] or {}
    timeline = answers.get("drift", (None, None))[0]
    fetched_at = datetime.now(timezone.utc)
    return ModelPage(
        name=name,
        info=answers["model"][0],
        versions=tuple(answers["versions"][0] or ()),
        serving=serving_frame(metrics, now=fetched_at.timestamp()),
        fetched_at=fetched_at,
        totals=metrics.get("total") or {},
        events=tuple(answers["audit log"][0] or ()),
        window_seconds=window_seconds,
        drift=None if timeline is None else drift_frames(timeline),
        drift_note=drift_note,
        alert_rules=tuple(answers.get("alert rules", (None, None))[0] or ()),
        experiment=answers.get("experiment", (None, None))[0],
        problems=tuple(problems),
        estimated=answers.get("estimated", (None, None))[0],
    )


def estimated_frame(result: EstimatedPerformance, metric: str | None = None) -> pd.DataFrame:
    """One row per window of ``result`` for ``metric`` (the headline by default):
    since, value, lower, upper, realized, trusted, rows, labelled."""
    metric = metric or result.headline or ""
    rows = []
    for w in result.windows:
        m = w.metrics.get(metric)
        rows.append(
            {
                "since": w.since,
                "value": None if m is None else m.value,
                "lower": None if m is None else m.lower,
                "upper": None if m is None else m.upper,
                "realized": None if m is None else m.realized,
                "trusted": w.trusted,
                "rows": w.rows,
                "labelled": w.labelled,
            }
        )
    columns = ["since", "value", "lower", "upper", "realized", "trusted", "rows", "labelled"]
    return pd.DataFrame(rows, columns=columns).astype(
        {"value": float, "lower": float, "upper": float, "realized": float}
    )
