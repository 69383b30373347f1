"""What the Deployments sidebar shows, read from a deploykit server or the embedded registry.

No Jupyter here: the handlers call these methods in a thread and send the dicts
as JSON, and tests call them directly. The backend is a :class:`deploykit.Client`
(serving figures available) or a :class:`deploykit.Registry` (versions and alias
moves only: nothing is served in-process, so there is nothing to measure).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from deploykit.errors import ConflictError, DeployKitError, InvalidInputError, NotFoundError
from deploykit.monitoring import health
from deploykit.records import Event, ModelInfo, ModelVersion

if TYPE_CHECKING:
    from deploykit.backend import Backend
    from deploykit.client import Client
    from deploykit.monitoring.results import DriftTimeline
    from deploykit.registry import Registry
    from deploykit.serverext.app import DeployKitLab

__all__ = ["Deployments"]

_DRIFT_TTL = 60.0  # drift reads prediction logs: far dearer than a poll, so not every poll
_ACCESS_TTL = 30.0  # who the token is: asked once per poll would double the requests
_EVENTS_SHOWN = 10
_MUTATING_ROLES = ("deployer", "admin")


def _drift_share(reply: DriftTimeline | dict[str, Any]) -> float | None:
    """The share of drifted features in ``backend.drift()``'s DriftTimeline (or its JSON)."""
    value = reply.get("drifted_share") if isinstance(reply, dict) else reply.overall.drifted_share
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


class Deployments:
    """Overview rows, model details, deploy and rollback for the sidebar, over one backend."""

    def __init__(
        self,
        open_backend: Callable[[], Backend],
        *,
        mode: str,
        target: str,
        console: dict[str, Any] | None = None,
        refresh_seconds: float = 5.0,
        window_seconds: int = health.WINDOW_SECONDS,
        token_source: str | None = None,
        fingerprint: str = "",
    ) -> None:
        self.mode = mode
        self.target = target
        self.console = console or {"kind": "none", "url": None, "reason": None}
        self.refresh_seconds = refresh_seconds
        self.window_seconds = window_seconds
        self.token_source = token_source
        self._open = open_backend
        self._backend: Backend | None = None
        self._lock = threading.Lock()
        self._drift: dict[str, tuple[float, float | None]] = {}
        self._estimated: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._access: tuple[float, dict[str, Any]] | None = None
        # What the sidebar compares between polls: a Jupyter restarted with another
        # configuration (server, token, console, window) must not keep the old page.
        seen = repr((mode, target, token_source, fingerprint, self.console, window_seconds))
        self.config_id = hashlib.sha256(seen.encode()).hexdigest()[:16]

    @classmethod
    def from_config(cls, config: DeployKitLab) -> Deployments:
        """From ``c.DeployKitLab``; the backend opens on the first request, not at start-up."""
        from deploykit.backend import open_backend, token_source

        settings = config.deploykit_settings()
        if settings.server_url is None:
            from deploykit.registry.database import mask_url

            mode, target, source = "embedded", mask_url(settings.database_url), None
        else:
            mode, target = "server", settings.server_url
            source = "c.DeployKitLab.token" if config.token else token_source(settings)
        token = settings.token or ""
        return cls(
            # A sidebar poll must not hang for a minute on a stuck server.
            partial(open_backend, settings, timeout=15.0),
            mode=mode,
            target=target,
            console=config.console(),
            refresh_seconds=config.refresh_seconds,
            window_seconds=config.window_seconds,
            token_source=source,
            fingerprint=hashlib.sha256(token.encode()).hexdigest() if token else "",
        )

    @property
    def backend(self) -> Backend:
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
        """Where the figures come from, who the sidebar acts as, how it should behave."""
        from deploykit._version import __version__

        note = None
        if not self.figures:
            note = (
                "Embedded registry: versions, deploys and rollbacks only. For requests/s, p95 "
                "and drift set c.DeployKitLab.server_url (or DEPLOYKIT_SERVER_URL) to a "
                "deploykit server."
            )
        return {
            "mode": self.mode,
            "target": self.target,
            "figures": self.figures,
            "note": note,
            "token_source": self.token_source,
            "console": dict(self.console),
            "console_url": self.console.get("url") or "",
            "refresh_seconds": self.refresh_seconds,
            "window_seconds": self.window_seconds,
            "config_id": self.config_id,
            "access": self.access(),
            "version": __version__,
        }

    def access(self) -> dict[str, Any]:
        """Who the sidebar acts as and whether it may deploy and roll back (and if not, why).

        The embedded registry is the Jupyter user's own files: they may. A server says what
        the token's role is; only ``deployer`` and ``admin`` move production.
        """
        if self.mode != "server":
            return {"role": "local", "name": None, "can_act": True, "reason": None}
        now = time.monotonic()
        cached = self._access
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            who = cast("Client", self.backend).whoami()  # server mode: open_backend's Client
        except DeployKitError as exc:  # unreachable, or a wrong token: read-only until it answers
            found = {"role": None, "name": None, "can_act": False, "reason": str(exc)}
            self._access = None  # ask again at the next poll
            return found
        role, name = who.get("role"), who.get("name")
        found = {"role": role, "name": name, "can_act": role in _MUTATING_ROLES, "reason": None}
        if not found["can_act"]:
            found["reason"] = (
                f"Read-only: the Jupyter server's deploykit token{f' ({name})' if name else ''} "
                f"has the {role!r} role. Deploy and rollback need a 'deployer' or 'admin' "
                "token in c.DeployKitLab.token."
            )
        self._access = (now + _ACCESS_TTL, found)
        return found

    def models(self) -> list[dict[str, Any]]:
        """One row per model: live version, badge, requests/s, p95 latency, drift share."""
        backend = self.backend
        infos = backend.models()
        alerts = self._current_alerts(backend) if infos else {}
        return [self._row(backend, info, alerts.get(info.name)) for info in infos]

    def model(self, name: str) -> dict[str, Any]:
        """One model's versions (newest first), its recent alias moves, its rollback targets."""
        backend = self.backend
        info: ModelInfo = backend.model(name)
        versions: list[ModelVersion] = backend.versions(name)
        events: list[Event] = backend.events(name, limit=_EVENTS_SHOWN)
        live = info.production
        targets = [v.version for v in reversed(versions) if v.version != live]
        if live is None:
            targets = []
        return {
            "name": info.name,
            "description": info.description,
            "live_version": live,
            "latest_version": info.latest_version,
            "aliases": dict(info.aliases),
            "can_roll_back": bool(targets),
            "rollback_targets": targets,
            "previous_version": _previous(events, live, targets),
            "versions": [_version_row(v) for v in reversed(versions)],
            "events": [_event_row(e) for e in events],
        }

    def card(self, name: str, version: int | str = "production") -> str:
        """The model card of ``name:version`` as a whole HTML page."""
        from deploykit.cards.html import to_html

        return to_html(self.backend.card(name, version), standalone=True)

    # ------------------------------------------------------------------ moves
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
        try:
            moved = backend.rollback(name, to=to, reason=reason.strip(), if_current=if_current)
        except ConflictError:
            raise self._moved_since(name, if_current, "rolled back") from None
        self._drift.pop(name, None)
        self._estimated.pop(name, None)
        return _moved(name, before, moved)

    def deploy(
        self,
        name: str,
        version: int,
        *,
        reason: str | None = None,
        if_current: int | None = None,
        acting_for: str | None = None,
    ) -> dict[str, Any]:
        """Point ``production`` of ``name`` at ``version``.

        ``if_current`` (the live version the user saw, None for "nothing live") is checked
        just before the move; unlike rollback's, the check and the move are two calls.
        """
        backend = self._acting(self.backend, acting_for)
        before = backend.model(name).production
        if before != if_current:
            raise self._moved_since(name, if_current, "deployed")
        if version == before:
            raise ConflictError(
                f"Version {version} of {name!r} is already in production; nothing was deployed."
            )
        note = reason.strip() if isinstance(reason, str) and reason.strip() else None
        moved = backend.deploy(name, version, reason=note)
        self._drift.pop(name, None)
        self._estimated.pop(name, None)
        return _moved(name, before, moved)

    def close(self) -> None:
        with self._lock:
            backend, self._backend = self._backend, None
        if backend is not None:
            backend.close()

    # ------------------------------------------------------------------ helpers
    def _moved_since(self, name: str, seen: int | None, what: str) -> ConflictError:
        """The conflict in the sidebar's words: what production is on now, what to do."""
        try:
            now = self.backend.model(name).production
        except NotFoundError:
            now = None

        def shown(version: int | None) -> str:
            return "nothing" if version is None else f"v{version}"

        return ConflictError(
            f"Production of {name!r} moved to {shown(now)} since you opened it (you saw "
            f"{shown(seen)}); nothing was {what}. The sidebar now shows the current state: "
            "look at Recent moves, then try again if it is still needed."
        )

    def _acting(self, backend: Backend, person: str | None) -> Backend:
        """``backend`` acting for ``person`` in the audit log, the token (or process) kept."""
        if person is None or not person.strip():
            return backend
        if self.mode == "server":
            return cast("Client", backend).on_behalf_of(person)
        registry = cast("Registry", backend)
        return registry.as_actor(f"{registry.settings.actor} for {person.strip()}")

    def _current_alerts(self, backend: Backend) -> dict[str, Event]:
        """Each model's :func:`~deploykit.monitoring.health.current_alert`."""
        return health.recent_alerts(backend)

    def _row(self, backend: Backend, info: ModelInfo, alert: Event | None) -> dict[str, Any]:
        live = info.production
        figures: dict[str, Any] | None = None
        drift: float | None = None
        estimated: dict[str, Any] | None = None
        problem: str | None = None
        if self.figures and live is not None:
            try:
                metrics = backend.metrics(info.name, window=self.window_seconds)
                figures = dict(health.live_figures(metrics, live))
                drift = self._drift_of(backend, info.name)
                if figures.get("requests"):  # an idle model has nothing to estimate from
                    estimated = self._estimated_of(backend, info.name)
            except DeployKitError as exc:  # one model's figures failing leaves the others
                problem = str(exc)
        if problem is not None:
            status, detail = "unknown", f"Serving figures could not be read: {problem}"
        else:
            found = health.verdict(live, figures, alert=alert, window_seconds=self.window_seconds)
            status, detail = found.status, found.detail
        requests = None if figures is None else int(figures.get("requests") or 0)
        failed = (figures or {}).get("errors_5xx") or 0
        try:  # "canary 10%" beside the status badge while an experiment runs
            trial = backend.experiment(info.name)
        except DeployKitError:
            trial = None
        return {
            "name": info.name,
            "description": info.description,
            "live_version": live,
            "latest_version": info.latest_version,
            "status": status,
            "status_detail": detail,
            # not the server's throughput_rps: rounded to 3 decimals, a quiet hour reads 0
            "requests_per_s": requests / self.window_seconds if requests is not None else None,
            "p95_ms": (figures or {}).get("latency_p95_ms"),
            "error_rate": failed / requests if requests else None,
            "drift_share": drift,
            "experiment": trial.label if trial is not None and trial.running else None,
            "estimated": estimated,
        }

    def _estimated_of(self, backend: Backend, name: str) -> dict[str, Any] | None:
        now = time.monotonic()
        cached = self._estimated.get(name)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            found = _headline(backend, name)
        except DeployKitError:  # no evidence, no logs, an older server...
            found = None
        self._estimated[name] = (now + _DRIFT_TTL, found)
        return found

    def _drift_of(self, backend: Backend, name: str) -> float | None:
        now = time.monotonic()
        cached = self._drift.get(name)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            share = _drift_share(backend.drift(name))
        except DeployKitError:  # no reference profile, no prediction logs...
            share = None
        self._drift[name] = (now + _DRIFT_TTL, share)
        return share


def _headline(backend: Backend, name: str) -> dict[str, Any] | None:
    """The headline metric estimated from the last hour's scores (no labels needed)."""
    result = backend.estimated_performance(name, since=time.time() - 3600)
    estimate = result.estimate
    if estimate is None or estimate.value is None:
        return None
    return {
        "metric": result.headline,
        "value": estimate.value,
        "lower": estimate.lower,
        "upper": estimate.upper,
        "at_push": result.reference.get(result.headline or ""),
        "trusted": result.overall.trusted,
        "reasons": list(result.overall.reasons),
    }


def _previous(events: list[Event], live: int | None, targets: list[int]) -> int | None:
    """The version production served before ``live``, if it is still a version."""
    for e in events:  # newest first
        if e.alias in (None, "production") and e.to_version is not None:
            if e.to_version == live and e.from_version in targets:
                return e.from_version
            return None
    return None


def _moved(name: str, before: int | None, moved: Any) -> dict[str, Any]:
    return {
        "model": name,
        "alias": moved.name,
        "from_version": before,
        "version": moved.version,
        "updated_by": moved.updated_by,
        "updated_at": moved.updated_at.isoformat(),
    }


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
