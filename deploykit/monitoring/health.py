"""The one health rule: a model's status badge, its thresholds, its words and its window.

Every front end that colours a model (the console's overview and model page, the JupyterLab
sidebar, ``%deploy status``, ``deploykit status``) asks :func:`verdict`, so the same model
reads the same everywhere. Core: no web or Jupyter imports. :func:`verdict` does no I/O;
:func:`recent_alerts` and :func:`model_health` read through the registry or client they
are handed (a :class:`~deploykit.backend.Backend`), so every front end asks the same
questions with the same window.

The rule, most urgent first:

- ``not deployed`` — no version is in production;
- ``rolled back`` / ``alert`` — an alert rule fired (and perhaps rolled back) within
  :data:`ALERT_SECONDS`, and nobody moved production by hand since (:func:`current_alert`);
- ``deployed`` — in production, but there are no serving figures (the embedded registry
  serves nothing, so nothing is measured);
- ``idle`` — no request over the last :data:`WINDOW_SECONDS`;
- ``errors`` — more than :data:`ERROR_RATE_ALERT` of them answered 5xx, as the
  ``error_rate`` alert rule counts (a 4xx is a refused input, not a failure of the model);
- ``serving`` — otherwise.

Only the live version's own figures count: the requests a rolled-back version answered
earlier in the window must not colour the badge of the version that replaced it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from deploykit.monitoring.rules import ALERT_ACTIONS, MANUAL_MOVES, standing_alert
from deploykit.records import Event

if TYPE_CHECKING:
    from deploykit.backend import Backend

__all__ = [
    "ALERT_ACTIONS",
    "ALERT_SECONDS",
    "ERROR_RATE_ALERT",
    "MANUAL_MOVES",
    "STATUSES",
    "WINDOW_SECONDS",
    "Health",
    "current_alert",
    "live_figures",
    "model_health",
    "recent_alerts",
    "verdict",
    "window_text",
]

#: Share of 5xx answers above which a model reads "errors" (the error_rate rule's default).
ERROR_RATE_ALERT = 0.05
#: Requests are counted over this many seconds: long enough to see steady traffic, short
#: enough that a one-second burst does not keep a model "serving" for a quarter of an hour.
WINDOW_SECONDS = 300
#: An alert (or automatic rollback) this recent colours the badge.
ALERT_SECONDS = 900
#: Every word the badge can say, most urgent first.
STATUSES = ("not deployed", "rolled back", "alert", "errors", "idle", "deployed", "serving")


@dataclasses.dataclass(frozen=True)
class Health:
    """A badge (one of :data:`STATUSES`) and the sentence behind it."""

    status: str
    detail: str


def window_text(seconds: int) -> str:
    """``300`` -> "5 minutes", ``3600`` -> "hour"."""
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return "hour" if hours == 1 else f"{hours} hours"
    if seconds % 60 == 0:
        minutes = seconds // 60
        return "minute" if minutes == 1 else f"{minutes} minutes"
    return f"{seconds} seconds"


def live_figures(metrics: Mapping[str, Any] | None, live: int | None) -> Mapping[str, Any]:
    """The live version's figures out of a ``metrics()`` answer (its ``versions`` part);
    the totals when nothing is live, and nothing when the live version served nothing."""
    if not metrics:
        return {}
    if live is None:
        return metrics.get("total") or {}
    return (metrics.get("versions") or {}).get(str(live)) or {}


def current_alert(
    events: Iterable[Event], *, now: datetime | None = None, seconds: int = ALERT_SECONDS
) -> Event | None:
    """The ``alert`` or ``auto-rollback`` event that still describes the model, if any:
    the latest one within ``seconds``, unless someone deployed or rolled back production by
    hand after it (:func:`deploykit.monitoring.rules.standing_alert`, which the alert
    rules' own story uses too)."""
    return standing_alert(events, now=now or datetime.now(timezone.utc), seconds=seconds)


def verdict(
    live: int | None,
    figures: Mapping[str, Any] | None,
    *,
    alert: Event | None = None,
    window_seconds: int = WINDOW_SECONDS,
) -> Health:
    """The badge of a model whose production serves ``live``, given the live version's
    ``figures`` over ``window_seconds`` (None: nothing measures serving) and its
    :func:`current_alert`."""
    if live is None:
        return Health("not deployed", "No version is in production yet.")
    if alert is not None:
        word = "rolled back" if alert.action == "auto-rollback" else "alert"
        what = "Rolled back automatically" if word == "rolled back" else "Alert"
        return Health(word, f"{what} at {alert.at:%H:%M} UTC: {alert.reason or alert.action}")
    if figures is None:
        return Health("deployed", "In production; serving figures need a deploykit server.")
    window = window_text(window_seconds)
    requests = int(figures.get("requests") or 0)
    if requests == 0:
        return Health("idle", f"No requests in the last {window}.")
    failed = int(figures.get("errors_5xx") or 0)
    if failed / requests > ERROR_RATE_ALERT:
        return Health(
            "errors", f"{failed} of {requests} requests failed (5xx) in the last {window}."
        )
    return Health("serving", f"{requests} requests in the last {window}.")


def recent_alerts(
    source: Backend, name: str | None = None, *, seconds: int = ALERT_SECONDS
) -> dict[str, Event]:
    """Each model's :func:`current_alert` (or ``name``'s only): what the alert rules said
    in the last ``seconds`` and nobody answered by moving production, a few requests in all."""
    since = datetime.now(timezone.utc) - timedelta(seconds=seconds)
    by_model: dict[str, list[Event]] = {}
    for action in (*ALERT_ACTIONS, *MANUAL_MOVES):
        for event in source.events(name, since=since, action=action, limit=1000):
            by_model.setdefault(event.model, []).append(event)
    found = {model: current_alert(events, seconds=seconds) for model, events in by_model.items()}
    return {model: event for model, event in found.items() if event is not None}


def model_health(
    source: Backend, name: str, *, measured: bool, window_seconds: int = WINDOW_SECONDS
) -> Health:
    """The badge of model ``name``, read from ``source``. ``measured``: whether serving
    figures exist (a server); without them a deployed model reads "deployed"."""
    live = source.model(name).production
    figures: Mapping[str, Any] | None = None
    if measured and live is not None:
        figures = live_figures(source.metrics(name, window=window_seconds), live)
    alert = recent_alerts(source, name).get(name)
    return verdict(live, figures, alert=alert, window_seconds=window_seconds)
