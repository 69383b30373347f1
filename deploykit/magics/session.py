"""What ``%deploy`` remembers in one notebook: where commands go, and recent evaluations.

The magics and the widgets share one :class:`Session` per IPython shell, so a
model evaluated in the panel is pushed with its report by ``%deploy push``, and
``%deploy target`` moves both to a server.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable
from typing import Any

from deploykit.magics.results import Target
from deploykit.settings import Settings

__all__ = ["EvaluationMemory", "Remembered", "Session"]


def _fingerprint(model: Any) -> str:
    """A hash of the model's state: a refit after evaluation changes it."""
    import joblib

    return str(joblib.hash(model))


@dataclasses.dataclass(frozen=True)
class Remembered:
    """An evaluation of one model object, with the data it was made on."""

    report: Any
    name: str | None
    X: Any
    y: Any
    cv: int | None
    fingerprint: str

    def still_matches(self, model: Any) -> bool:
        """False if ``model`` was refit or changed since it was evaluated."""
        return _fingerprint(model) == self.fingerprint


class EvaluationMemory:
    """The last evaluation of each model object, keyed by identity, not by value.

    Two equal-looking models are different entries; a model that is garbage
    collected takes its entry with it (it is held through a weak reference when
    the object allows one).
    """

    def __init__(self) -> None:
        self._entries: dict[int, tuple[Callable[[], Any], Remembered]] = {}

    def remember(
        self,
        model: Any,
        report: Any,
        *,
        name: str | None,
        X: Any,
        y: Any,
        cv: int | None = None,
    ) -> Remembered:
        key = id(model)
        try:
            ref: Callable[[], Any] = weakref.ref(model, lambda _: self._entries.pop(key, None))
        except TypeError:  # no weak references to this type: keep it alive instead
            ref = lambda: model  # noqa: E731
        entry = Remembered(report, name, X, y, cv, _fingerprint(model))
        self._entries[key] = (ref, entry)
        return entry

    def recall(self, model: Any) -> Remembered | None:
        """The evaluation remembered for this very object, if any."""
        found = self._entries.get(id(model))
        if found is None or found[0]() is not model:
            return None
        return found[1]

    def __len__(self) -> int:
        return len(self._entries)


class Session:
    """The target (embedded registry or server client) and the evaluations of one notebook."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings if settings is not None else Settings.from_env()
        self.url: str | None = self.settings.server_url
        self.token: str | None = None  # None: the client finds DEPLOYKIT_TOKEN or <home>/token
        self.token_source: str | None = None
        self.memory = EvaluationMemory()
        self._backend: Any = None
        self._models: dict[str, Any] = {}  # digest -> loaded model, for local predictions

    @property
    def backend(self) -> Any:
        """A Registry or a Client, opened on first use (opening imports SQLAlchemy)."""
        if self._backend is None:
            self._backend = self._open(self.url, self.token)
        return self._backend

    @property
    def embedded(self) -> bool:
        return self.url is None

    def _open(self, url: str | None, token: str | None) -> Any:
        if url is None:
            from deploykit.registry import Registry

            return Registry(self.settings)
        from deploykit.client import Client

        return Client(url, token=token, settings=self.settings)

    def target(self) -> Target:
        if self.url is None:
            from deploykit.registry.database import mask_url

            database = mask_url(self.settings.database_url)
            return Target(None, f"{database}, artifacts in {self.settings.artifacts_url}")
        return Target(self.url, self.url, self.token_source or self._default_token_source())

    def where(self) -> str:
        """Where commands land, for every output that moved something: the server's URL,
        or "embedded registry at <database>"."""
        if self.url is not None:
            return self.url
        from deploykit.registry.database import mask_url

        return f"embedded registry at {mask_url(self.settings.database_url)}"

    def _default_token_source(self) -> str | None:
        if self.settings.token:
            return "DEPLOYKIT_TOKEN"
        if getattr(self._backend, "token", None):
            return str(self.settings.home / "token")
        return None

    def set_target(
        self, url: str | None, *, token: str | None = None, token_source: str | None = None
    ) -> Target:
        """Send commands to ``url`` (None: the embedded registry); the old target is closed."""
        backend = self._open(url, token)
        if url is not None:
            try:  # fail now, in the target cell, rather than at the first push
                backend.health()
                if getattr(backend, "token", None):
                    backend.whoami()
            except BaseException:
                _close(backend)
                raise
        _close(self._backend)
        self._backend, self.url, self.token, self.token_source = backend, url, token, token_source
        self._models.clear()
        return self.target()

    def load(self, name: str, version: Any) -> Any:
        """The model of ``version`` (a ModelVersion), loaded once per digest."""
        model = self._models.get(version.digest)
        if model is None:
            model = self.backend.load(name, version.version)
            self._models[version.digest] = model
        return model

    def close(self) -> None:
        _close(self._backend)
        self._backend = None
        self._models.clear()


def _close(backend: Any) -> None:
    close = getattr(backend, "close", None)
    if callable(close):
        close()
