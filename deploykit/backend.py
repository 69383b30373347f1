"""The protocol every front end speaks, and the one place that picks its implementation.

:class:`Backend` is what the magics, widgets, console, Lab sidebar and CLI call:
registry operations (push, versions, deploy, rollback, events, cards), monitoring
ones (metrics, drift, estimated performance, alert rules) and experiments (shadow,
canary, promote, compare). :class:`deploykit.Registry` serves it
in-process and :class:`deploykit.Client` over HTTP; mypy checks both conform
(``_conforms`` below). :func:`open_backend` chooses between them from the
settings and finds the token, so no front end decides it on its own.

Core: nothing here imports a web or Jupyter library at module level; the
client (httpx) is imported only when a server is asked for.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from deploykit._push import Progress, PushOptions, split_options
from deploykit._token import find_token, local_token, token_source

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import TracebackType
    from typing import Unpack

    import pandas as pd

    from deploykit.client import Client
    from deploykit.monitoring.compare import Comparison
    from deploykit.monitoring.options import DriftOptions
    from deploykit.monitoring.performance import EstimatedPerformance
    from deploykit.monitoring.results import DriftTimeline
    from deploykit.monitoring.rules import AlertOptions, AlertRule
    from deploykit.records import Alias, CardRevision, Event, Experiment, ModelInfo, ModelVersion
    from deploykit.registry import Registry
    from deploykit.settings import Settings

Time = datetime | str | float | None

__all__ = [
    "Backend",
    "Progress",
    "PushOptions",
    "find_token",
    "local_token",
    "open_backend",
    "open_client",
    "split_options",
    "token_source",
]


class Backend(Protocol):
    """The registry and monitoring operations, in-process or over HTTP."""

    @property
    def settings(self) -> Settings: ...

    # registry reads
    def models(self) -> list[ModelInfo]: ...
    def model(self, name: str) -> ModelInfo: ...
    def versions(self, name: str) -> list[ModelVersion]: ...
    def version(self, name: str, ref: int | str = ...) -> ModelVersion: ...
    def aliases(self, name: str) -> list[Alias]: ...
    def events(
        self,
        name: str | None = ...,
        *,
        limit: int = ...,
        since: datetime | None = ...,
        action: str | None = ...,
    ) -> list[Event]: ...
    def last_event_id(self) -> int: ...

    # registry writes
    def push(
        self, model: Any, name: str, *, format: str = ..., **options: Unpack[PushOptions]
    ) -> ModelVersion: ...
    def push_file(
        self,
        path: str | os.PathLike[str],
        name: str,
        *,
        format: str | None = ...,
        **options: Unpack[PushOptions],
    ) -> ModelVersion: ...
    def deploy(
        self, name: str, version: int | str, *, alias: str = ..., reason: str | None = ...
    ) -> Alias: ...
    def rollback(
        self,
        name: str,
        *,
        to: int | None = ...,
        alias: str = ...,
        reason: str | None = ...,
        action: str = ...,
        if_current: int | None = ...,
    ) -> Alias: ...

    # cards and lineage
    def card(
        self,
        name: str,
        version: int | str = ...,
        *,
        revision: int | None = ...,
        format: str = ...,
    ) -> str: ...
    def amend_card(
        self,
        name: str,
        version: int | str,
        fields: Mapping[str, Any],
        *,
        reason: str | None = ...,
    ) -> CardRevision: ...
    def lineage(self, name: str, version: int | str = ...) -> dict[str, Any] | None: ...

    # artifacts
    def artifact_path(self, name: str, ref: int | str = ...) -> Path: ...
    def compiled_path(self, name: str, ref: int | str = ...) -> Path | None: ...
    def load(self, name: str, ref: int | str = ...) -> Any: ...

    # monitoring
    def metrics(
        self,
        name: str,
        *,
        window: int = ...,
        step: int | None = ...,
        version: int | None = ...,
        since: Time = ...,
        until: Time = ...,
    ) -> dict[str, Any]: ...
    def drift(
        self,
        name: str,
        *,
        since: Time = ...,
        until: Time = ...,
        step: int | None = ...,
        version: int | None = ...,
    ) -> DriftTimeline: ...
    def estimated_performance(
        self,
        name: str,
        *,
        since: Time = ...,
        until: Time = ...,
        step: int | None = ...,
        version: int | None = ...,
        confidence: float = ...,
    ) -> EstimatedPerformance: ...
    def drift_options(self, name: str) -> DriftOptions: ...
    def set_drift_options(
        self, name: str, options: DriftOptions | dict[str, Any]
    ) -> DriftOptions: ...
    def alerts(self, name: str) -> list[AlertRule]: ...
    def set_alert(self, name: str, rule: str, **options: Unpack[AlertOptions]) -> AlertRule: ...
    def delete_alert(self, name: str, rule: str) -> AlertRule: ...

    # experiments: shadow, canary, promote on evidence
    def shadow(
        self,
        name: str,
        version: int | str,
        *,
        share: float = ...,
        alias: str = ...,
        reason: str | None = ...,
    ) -> Experiment: ...
    def canary(
        self,
        name: str,
        version: int | str,
        *,
        percent: float = ...,
        sticky: str | None = ...,
        promote_when: str | None = ...,
        min_requests: int = ...,
        max_duration: float | None = ...,
        alias: str = ...,
        reason: str | None = ...,
    ) -> Experiment: ...
    def step(self, name: str, percent: float, *, reason: str | None = ...) -> Experiment: ...
    def promote(self, name: str, reason: str) -> Experiment: ...
    def abort(self, name: str, reason: str) -> Experiment: ...
    def experiment(self, name: str) -> Experiment | None: ...
    def evidence(self, name: str) -> dict[str, Any] | None: ...
    def compare(
        self,
        name: str,
        a: int | str = ...,
        b: int | str = ...,
        *,
        since: Time = ...,
        data: pd.DataFrame | None = ...,
    ) -> Comparison: ...

    # lifetime
    def close(self) -> None: ...
    def __enter__(self) -> Backend: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


if TYPE_CHECKING:

    def _conforms(registry: Registry, client: Client) -> tuple[Backend, Backend]:
        """Never called: mypy proves here that both implementations are Backends."""
        return registry, client


def open_backend(
    settings: Settings | None = None,
    *,
    url: str | None = None,
    token: str | None = None,
    timeout: float = 60.0,
) -> Backend:
    """A :class:`deploykit.Client` if ``url`` or the settings' server URL is set, else the
    embedded :class:`deploykit.Registry` the settings describe.

    The client's token is ``token``, else ``DEPLOYKIT_TOKEN``, else ``<home>/token``.
    """
    from deploykit.settings import Settings

    settings = settings if settings is not None else Settings.from_env()
    server = url or settings.server_url
    if server is None:
        from deploykit.registry import Registry

        return Registry(settings)
    return open_client(settings, url=server, token=token, timeout=timeout)


def open_client(
    settings: Settings,
    *,
    url: str | None = None,
    token: str | None = None,
    timeout: float = 60.0,
) -> Client:
    """The :class:`deploykit.Client` of :func:`open_backend`, for front ends that need a
    server (the console) or its server-only calls (``whoami``, ``health``)."""
    from deploykit.client import Client

    return Client(url, token=find_token(settings, token), timeout=timeout, settings=settings)
