"""What the Deployments sidebar shows, read from a deploykit server or the embedded registry.

No Jupyter here: the handlers call these methods in a thread and send the dicts
as JSON, and tests call them directly. The backend is a :class:`deploykit.Client`
(serving figures available) or a :class:`deploykit.Registry` (versions and alias
moves only: nothing is served in-process, so there is nothing to measure).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from deploykit.errors import DeployKitError, InvalidInputError
from deploykit.records import Event, ModelInfo, ModelVersion, utcnow

if TYPE_CHECKING:
    from deploykit.serverext.app import DeployKitLab
    from deploykit.settings import Settings

__all__ = ["ERROR_RATE_ALERT", "Deployments", "badge"]

#: Share of failed requests (4xx and 5xx) from which a model's badge says "errors".
ERROR_RATE_ALERT = 0.05
_ALERT_ACTIONS = ("alert", "auto-rollback")
_DRIFT_TTL = 60.0  # drift reads prediction logs: far dearer than a poll, so not every poll
_EVENTS_SHOWN = 10


def badge(
    live_version: int | None, serving: dict[str, Any] | None, alert: Event | None, window: str
) -> tuple[str, str]:
    """The status badge of a model and the sentence behind it, most urgent first."""
    if live_version is None:
        return "not deployed", "No version is in production yet."
    if alert is not None:
        what = "rolled back automatically" if alert.action == "auto-rollback" else "alert"
        return "alert", f"{what} at {alert.at:%H:%M} UTC: {alert.reason or 'no reason given'}"
    if serving is None:
        return "deployed", "Serving figures need a deploykit server."
    requests = int(serving.get("requests") or 0)
    if requests == 0:
        return "idle", f"No requests in the last {window}."
    failed = int(serving.get("errors_4xx") or 0) + int(serving.get("errors_5xx") or 0)
    if failed / requests >= ERROR_RATE_ALERT:
        return "errors", f"{failed} of {requests} requests failed in the last {window}."
    return "live", f"{requests} requests in the last {window}."


def _window_text(seconds: int) -> str:
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return "hour" if hours == 1 else f"{hours} hours"
    return f"{seconds // 60} minutes"


def _drift_share(reply: Any) -> float | None:
    """The share of drifted features in ``client.drift()``'s DriftTimeline (or its JSON)."""
    if isinstance(reply, dict):
        value = reply.get("drifted_share")
    else:
        value = getattr(getattr(reply, "overall", None), "drifted_share", None)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


class Deployments:
    """Overview rows, model details and rollback for the sidebar, over one backend."""

    def __init__(
        self,
        open_backend: Callable[[], Any],
        *,
        mode: str,
        target: str,
        console_url: str,
        refresh_seconds: float = 5.0,
        window_seconds: int = 900,
        token_source: str | None = None,
    ) -> None:
        self.mode = mode
        self.target = target
        self.console_url = console_url
        self.refresh_seconds = refresh_seconds
        self.window_seconds = window_seconds
        self.token_source = token_source
        self._open = open_backend
        self._backend: Any = None
        self._lock = threading.Lock()
        self._drift: dict[str, tuple[float, float | None]] = {}

    @classmethod
    def from_config(cls, config: DeployKitLab) -> Deployments:
        """From ``c.DeployKitLab``; the backend opens on the first request, not at start-up."""
        settings = config.deploykit_settings()
        if settings.server_url is None:
            from deploykit.registry.database import mask_url

            open_backend: Callable[[], Any] = partial(_open_registry, settings)
            mode, target, source = "embedded", mask_url(settings.database_url), None
        else:
            open_backend = partial(_open_client, settings)
            mode, target = "server", settings.server_url
            source = "c.DeployKitLab.token" if config.token else _token_source(settings)
        return cls(
            open_backend,
            mode=mode,
            target=target,
            console_url=config.console_url,
            refresh_seconds=config.refresh_seconds,
            window_seconds=config.window_seconds,
            token_source=source,
        )

    @property
    def backend(self) -> Any:
        with self._lock:
            if self._backend is None:
                self._backend = self._open()
            return self._backend

    @property
    def figures(self) -> bool:
        """Whether requests/s, p95 and drift can be shown (only a server measures them)."""
        return self.mode == "server"

    def describe(self) -> str:
        if self.mode == "server":
            return f"the deploykit server at {self.target}"
        return f"the embedded registry {self.target} (no serving figures)"

    # ------------------------------------------------------------------ reads
    def status(self) -> dict[str, Any]:
        """Where the figures come from and how the sidebar should behave; no I/O."""
        from deploykit import __version__

        note = None
        if not self.figures:
            note = (
                "Embedded registry: versions and rollbacks only. For requests/s, p95 and drift "
                "set c.DeployKitLab.server_url (or DEPLOYKIT_SERVER_URL) to a deploykit server."
            )
        return {
            "mode": self.mode,
            "target": self.target,
            "figures": self.figures,
            "note": note,
            "token_source": self.token_source,
            "console_url": self.console_url,
            "refresh_seconds": self.refresh_seconds,
            "window_seconds": self.window_seconds,
            "version": __version__,
        }

    def models(self) -> list[dict[str, Any]]:
        """One row per model: live version, badge, requests/s, p95 latency, drift share."""
        backend = self.backend
        infos = backend.models()
        alerts = self._recent_alerts(backend) if infos else {}
        return [self._row(backend, info, alerts.get(info.name)) for info in infos]

    def model(self, name: str) -> dict[str, Any]:
        """One model's versions (newest first) and its recent alias moves."""
        backend = self.backend
        info: ModelInfo = backend.model(name)
        versions: list[ModelVersion] = backend.versions(name)
        events: list[Event] = backend.events(name, limit=_EVENTS_SHOWN)
        others = [v for v in versions if v.version != info.production]
        return {
            "name": info.name,
            "description": info.description,
            "live_version": info.production,
            "latest_version": info.latest_version,
            "aliases": dict(info.aliases),
            "can_roll_back": info.production is not None and bool(others),
            "versions": [_version_row(v) for v in reversed(versions)],
            "events": [_event_row(e) for e in events],
        }

    # ------------------------------------------------------------------ rollback
    def rollback(
        self,
        name: str,
        *,
        reason: str,
        to: int | None = None,
        if_current: int | None = None,
        acting_for: str | None = None,
    ) -> dict[str, Any]:
        """Move ``production`` of ``name`` back (to ``to``, else where it was before).

        ``if_current`` is the live version the user saw when confirming: if the alias
        moved since, nothing happens and a ConflictError says so. ``acting_for`` names the
        Jupyter user who asked: the audit log records "<token name> for <user>" (server)
        or "<DEPLOYKIT_ACTOR> for <user>" (embedded registry).
        """
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidInputError(
                f"A rollback of {name!r} needs a reason, recorded in the audit log. "
                "Got an empty one; say why, e.g. 'p95 latency doubled after v3'."
            )
        backend = self._acting(self.backend, acting_for)
        before = backend.model(name).production
        moved = backend.rollback(name, to=to, reason=reason.strip(), if_current=if_current)
        self._drift.pop(name, None)
        return {
            "model": name,
            "alias": moved.name,
            "from_version": before,
            "version": moved.version,
            "updated_by": moved.updated_by,
            "updated_at": moved.updated_at.isoformat(),
        }

    def close(self) -> None:
        with self._lock:
            backend, self._backend = self._backend, None
        if backend is not None:
            backend.close()

    # ------------------------------------------------------------------ helpers
    def _acting(self, backend: Any, person: str | None) -> Any:
        """``backend`` acting for ``person`` in the audit log, the token (or process) kept."""
        if person is None or not person.strip():
            return backend
        if self.mode == "server":
            return backend.on_behalf_of(person)
        return backend.as_actor(f"{backend.settings.actor} for {person.strip()}")

    def _recent_alerts(self, backend: Any) -> dict[str, Event]:
        """The newest alert or automatic rollback of each model within the window."""
        since = utcnow() - timedelta(seconds=self.window_seconds)
        newest: dict[str, Event] = {}
        for action in _ALERT_ACTIONS:
            for event in backend.events(limit=200, since=since, action=action):
                known = newest.get(event.model)
                if known is None or event.at > known.at:
                    newest[event.model] = event
        return newest

    def _row(self, backend: Any, info: ModelInfo, alert: Event | None) -> dict[str, Any]:
        window = _window_text(self.window_seconds)
        serving: dict[str, Any] | None = None
        drift: float | None = None
        problem: str | None = None
        if self.figures and info.production is not None:
            try:
                serving = dict(backend.metrics(info.name, window=self.window_seconds)["total"])
                drift = self._drift_of(backend, info.name)
            except DeployKitError as exc:  # one model's figures failing leaves the others
                problem = str(exc)
        status, detail = badge(info.production, serving, alert, window)
        requests = (serving or {}).get("requests")
        failed = (serving or {}).get("errors_5xx", 0)  # as the error_rate alert rule counts
        return {
            "name": info.name,
            "description": info.description,
            "live_version": info.production,
            "latest_version": info.latest_version,
            "status": status,
            "status_detail": problem or detail,
            # not the server's throughput_rps: rounded to 3 decimals, a quiet hour reads 0
            "requests_per_s": requests / self.window_seconds if requests is not None else None,
            "p95_ms": (serving or {}).get("latency_p95_ms"),
            "error_rate": failed / requests if requests else None,
            "drift_share": drift,
        }

    def _drift_of(self, backend: Any, name: str) -> float | None:
        drift = getattr(backend, "drift", None)
        if not callable(drift):
            return None
        now = time.monotonic()
        cached = self._drift.get(name)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            share = _drift_share(drift(name))
        except DeployKitError:  # no reference profile, no prediction logs...
            share = None
        self._drift[name] = (now + _DRIFT_TTL, share)
        return share


def _version_row(v: ModelVersion) -> dict[str, Any]:
    return {
        "version": v.version,
        "created_at": v.created_at.isoformat(),
        "author": v.author,
        "estimator": v.estimator,
        "format": v.format,
        "description": v.description,
        "aliases": list(v.aliases),
        "metrics": dict(v.metrics),
        "gate_passed": v.gate_passed,
    }


def _event_row(e: Event) -> dict[str, Any]:
    return {
        "at": e.at.isoformat(),
        "actor": e.actor,
        "action": e.action,
        "alias": e.alias,
        "from_version": e.from_version,
        "to_version": e.to_version,
        "reason": e.reason,
    }


def _open_registry(settings: Settings) -> Any:
    from deploykit.registry import Registry

    return Registry(settings)


def _open_client(settings: Settings) -> Any:
    from deploykit.client import Client

    # A sidebar poll must not hang for a minute on a stuck server.
    return Client(settings.server_url, token=settings.token, timeout=15.0, settings=settings)


def _token_source(settings: Settings) -> str | None:
    if settings.token:
        return "DEPLOYKIT_TOKEN"
    token_file = settings.home / "token"
    return str(token_file) if token_file.exists() else None
