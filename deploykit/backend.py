"""The protocol every front end speaks, and the one place that picks its implementation.

:class:`Backend` is what the magics, widgets, console, Lab sidebar and CLI call:
registry operations (push, versions, deploy, rollback, events) and monitoring
ones (metrics, drift, alert rules). :class:`deploykit.Registry` serves it
in-process and :class:`deploykit.Client` over HTTP; mypy checks both conform
(``_conforms`` below). :func:`open_backend` chooses between them from the
settings and finds the token, so no front end decides it on its own.

Core: nothing here imports a web or Jupyter library at module level; the
client (httpx) is imported only when a server is asked for.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

if TYPE_CHECKING:
    from types import TracebackType
    from typing import Unpack

    from deploykit.client import Client
    from deploykit.monitoring.options import DriftOptions
    from deploykit.monitoring.results import DriftTimeline
    from deploykit.monitoring.rules import AlertRule
    from deploykit.records import Alias, Event, ModelInfo, ModelVersion
    from deploykit.registry import Registry
    from deploykit.settings import Settings

__all__ = [
    "Backend",
    "Progress",
    "PushOptions",
    "find_token",
    "open_backend",
    "split_options",
    "token_source",
]

Progress = Callable[[int, int], None]
Time = datetime | str | float | None


class PushOptions(TypedDict, total=False):
    """What a push takes besides the model (or file), its name and its format.

    Written once for ``Registry.push``/``push_file`` and ``Client.push``/``push_file``.
    ``X`` gives the signature and the reference profile; ``evaluation`` and ``gate`` the
    report and its deploy gate; ``deploy`` moves production if the gate passes;
    ``progress(sent, total)`` follows an upload (nothing is uploaded in-process, so the
    embedded registry never calls it).
    """

    X: Any
    evaluation: Any
    gate: Any
    deploy: bool
    description: str
    params: dict[str, Any] | None
    notebook: str | None
    author: str | None
    nullable: Sequence[str] | None
    signature: Any
    progress: Progress | None


_PUSH_KEYS = tuple(PushOptions.__annotations__)


def split_options(
    options: Mapping[str, Any], *, call: str
) -> tuple[dict[str, Any], bool, Progress | None]:
    """(``prepare_draft`` keywords, deploy, progress) of a push's ``options``.

    A misspelt keyword is a TypeError naming the method, as Python's own would be.
    """
    unknown = sorted(set(options) - set(_PUSH_KEYS))
    if unknown:
        raise TypeError(
            f"{call}() got unexpected keyword argument(s) {', '.join(map(repr, unknown))}; "
            f"it takes format, {', '.join(_PUSH_KEYS)}."
        )
    draft = dict(options)
    deploy = bool(draft.pop("deploy", False))
    progress = draft.pop("progress", None)
    return draft, deploy, progress


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

    # artifacts
    def artifact_path(self, name: str, ref: int | str = ...) -> Path: ...
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
    def drift_options(self, name: str) -> DriftOptions: ...
    def set_drift_options(
        self, name: str, options: DriftOptions | dict[str, Any]
    ) -> DriftOptions: ...
    def alerts(self, name: str) -> list[AlertRule]: ...
    def set_alert(
        self,
        name: str,
        rule: str,
        *,
        metric: str,
        threshold: float,
        window_seconds: int = ...,
        rollback: bool = ...,
        webhook: str | None = ...,
        min_count: int | None = ...,
        cooldown_seconds: int = ...,
        enabled: bool = ...,
    ) -> AlertRule: ...
    def delete_alert(self, name: str, rule: str) -> AlertRule: ...

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


def local_token(home: Path) -> str | None:
    """The admin token a server wrote to ``<home>/token`` on its first start, if any."""
    try:
        return (home / "token").read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def find_token(settings: Settings, token: str | None = None) -> str | None:
    """The token to send: ``token``, else ``DEPLOYKIT_TOKEN``, else ``<home>/token``."""
    return token or settings.token or local_token(settings.home)


def token_source(settings: Settings) -> str | None:
    """Where :func:`find_token` finds the token when none is given, for messages."""
    if settings.token:
        return "DEPLOYKIT_TOKEN"
    if local_token(settings.home):
        return str(settings.home / "token")
    return None


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
