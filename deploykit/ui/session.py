"""What ``%deploy`` remembers in one notebook: where commands go, and recent evaluations.

The magics and the widgets share one :class:`Session` per IPython shell, so a
model evaluated in the panel is pushed with its report by ``%deploy push``, and
``%deploy target`` moves both to a server.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from deploykit.settings import Settings
from deploykit.ui.results import Target

if TYPE_CHECKING:
    from deploykit.backend import Backend
    from deploykit.client import Client

__all__ = ["EvaluationMemory", "Remembered", "Session", "session_of"]


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
        self._backend: Backend | None = None
        self._models: dict[str, Any] = {}  # digest -> loaded model, for local predictions

    @classmethod
    def for_client(cls, client: Client) -> Session:
        """A session whose target is ``client``, already opened and checked by the caller
        (the console's): the widgets act through it, and closing the session closes it."""
        session = cls(client.settings)
        session.url = client.url
        session._backend = client
        return session

    @property
    def backend(self) -> Backend:
        """A Registry or a Client, opened on first use (opening imports SQLAlchemy)."""
        if self._backend is None:
            self._backend = self._open(self.url, self.token)
        return self._backend

    @property
    def embedded(self) -> bool:
        return self.url is None

    def _open(self, url: str | None, token: str | None) -> Backend:
        from deploykit.backend import open_backend

        if url is None:  # embedded, even if DEPLOYKIT_SERVER_URL is set (%deploy target local)
            return open_backend(self.settings.replace(server_url=None))
        return open_backend(self.settings, url=url, token=token)

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
        from deploykit.backend import token_source

        return token_source(self.settings)

    def set_target(
        self, url: str | None, *, token: str | None = None, token_source: str | None = None
    ) -> Target:
        """Send commands to ``url`` (None: the embedded registry); the old target is closed."""
        if url is None:
            backend = self._open(None, None)
        else:
            from deploykit.backend import open_client

            client = open_client(self.settings, url=url, token=token)
            try:  # fail now, in the target cell, rather than at the first push
                client.health()
                if client.token:
                    client.whoami()
            except BaseException:
                client.close()
                raise
            backend = client
        if self._backend is not None:
            self._backend.close()
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
        if self._backend is not None:
            self._backend.close()
        self._backend = None
        self._models.clear()


def session_of(shell: Any) -> Session | None:
    """The session of the ``%deploy`` magic loaded in ``shell``, if any (the widgets share it).

    Found through IPython's magics registry by the magic's class name, so the
    widgets share the magic's session without importing the magic.
    """
    magics = shell.magics_manager.registry.get("DeployMagics")
    return None if magics is None else magics.session
