"""Plain, frozen records that cross every boundary: registry, HTTP, magics, console.

ORM rows and HTTP payloads are converted to these at their edges. Each record
round-trips through ``to_dict()`` / ``from_dict()`` as JSON-ready dicts.
Nested values (signature, evaluation, gate, fingerprint) stay as JSON dicts here;
their typed forms live in :mod:`deploykit.signature`, :mod:`deploykit.evaluation`
and :mod:`deploykit.monitoring`, each with a ``from_dict``.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from typing import Any, TypeVar

from deploykit._fields import known_items

__all__ = ["Alias", "CardRevision", "Event", "Experiment", "ModelInfo", "ModelVersion", "utcnow"]

_R = TypeVar("_R")


def utcnow() -> datetime:
    """Timezone-aware now in UTC; every timestamp deploykit records is one of these."""
    return datetime.now(timezone.utc)


def _as_utc(value: datetime) -> datetime:
    # SQLite hands datetimes back naive; they were written as UTC.
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def _to_jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return _as_utc(value).isoformat()
    if isinstance(value, tuple):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_jsonable(v) for k, v in value.items()}
    return value


class _Record:
    """Shared dict conversion for the records below."""

    _datetime_fields: tuple[str, ...] = ()
    _tuple_fields: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            f.name: _to_jsonable(getattr(self, f.name))
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
        }

    @classmethod
    def from_dict(cls: type[_R], data: dict[str, Any]) -> _R:
        kwargs = known_items(cls, data)
        for name in cls._datetime_fields:  # type: ignore[attr-defined]
            value = kwargs.get(name)
            if isinstance(value, str):
                kwargs[name] = _as_utc(datetime.fromisoformat(value))
        for name in cls._tuple_fields:  # type: ignore[attr-defined]
            if isinstance(kwargs.get(name), list):
                kwargs[name] = tuple(kwargs[name])
        return cls(**kwargs)


@dataclasses.dataclass(frozen=True)
class ModelInfo(_Record):
    """A model name and where its aliases point."""

    name: str
    created_at: datetime
    latest_version: int | None
    aliases: dict[str, int] = dataclasses.field(default_factory=dict)
    description: str = ""

    _datetime_fields = ("created_at",)

    @property
    def production(self) -> int | None:
        """The version serving live traffic, if any."""
        return self.aliases.get("production")


@dataclasses.dataclass(frozen=True)
class ModelVersion(_Record):
    """One immutable version of a model. Never edited after push."""

    model: str
    version: int
    digest: str
    format: str
    size: int
    created_at: datetime
    author: str
    estimator: str
    description: str = ""
    notebook: str | None = None
    # The bulky nested records stay out of repr(): a version prints in one readable line.
    signature: dict[str, Any] | None = dataclasses.field(default=None, repr=False)
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    evaluation: dict[str, Any] | None = dataclasses.field(default=None, repr=False)
    gate: dict[str, Any] | None = dataclasses.field(default=None, repr=False)
    params: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)
    data_fingerprint: dict[str, Any] | None = dataclasses.field(default=None, repr=False)
    environment: dict[str, str] = dataclasses.field(default_factory=dict, repr=False)
    aliases: tuple[str, ...] = ()
    #: how the version runs (deploykit.compile.RuntimeInfo as JSON): ``runtime`` "onnx"
    #: with the compiled artifact's digest, or "sklearn" with the ``reason``; None for
    #: versions pushed before compiled inference (they run with scikit-learn)
    runtime: dict[str, Any] | None = dataclasses.field(default=None, repr=False)

    _datetime_fields = ("created_at",)
    _tuple_fields = ("aliases",)

    @property
    def ref(self) -> str:
        """``name:version``, the short form used in messages and the CLI."""
        return f"{self.model}:{self.version}"

    @property
    def gate_passed(self) -> bool | None:
        """Whether the gate stored with this version passed; None if no gate was checked."""
        return None if self.gate is None else bool(self.gate.get("passed"))

    @property
    def runtime_label(self) -> str:
        """``onnx (41× faster on 1 row)`` or ``sklearn: <reason>``, as front ends show it."""
        from deploykit.compile._record import describe_runtime

        return describe_runtime(self.runtime)


@dataclasses.dataclass(frozen=True)
class Alias(_Record):
    """A named pointer to a version, such as ``production``."""

    model: str
    name: str
    version: int
    updated_at: datetime
    updated_by: str

    _datetime_fields = ("updated_at",)


@dataclasses.dataclass(frozen=True)
class Event(_Record):
    """One line of the append-only audit log.

    ``action`` is one of ``push``, ``deploy``, ``rollback``, ``auto-rollback``,
    ``alias-delete``, ``alert``, ``card`` (a card amended: ``to_version`` is the version,
    ``details["revision"]`` the new revision), or an experiment's ``experiment-start``,
    ``-step``, ``-promote``, ``-abort``, ``-end``. ``from_version``/``to_version`` say where
    an alias moved (both None for actions that move none).
    """

    id: int
    at: datetime
    actor: str
    action: str
    model: str
    alias: str | None = None
    from_version: int | None = None
    to_version: int | None = None
    reason: str | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    _datetime_fields = ("at",)


@dataclasses.dataclass(frozen=True)
class Experiment(_Record):
    """A shadow or canary of a ``candidate`` version beside ``production``.

    ``percent`` is the share of requests the candidate answers (canary) or also scores
    off the request path (shadow). ``sticky`` names the input column whose value keeps
    one caller on one version (the ``X-Deploykit-Key`` header always does). ``state`` is
    ``running``, ``promoted``, ``aborted`` or ``ended`` (production moved under it).
    ``statistics`` holds the evidence of the last policy check.
    """

    id: int
    model: str
    kind: str
    alias: str
    production: int
    candidate: int
    percent: float
    state: str
    started_at: datetime
    started_by: str
    updated_at: datetime
    sticky: str | None = None
    promote_when: str | None = None
    min_requests: int = 0
    max_duration: float | None = None
    reason: str | None = None
    ended_at: datetime | None = None
    ended_by: str | None = None
    end_reason: str | None = None
    statistics: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)

    _datetime_fields = ("started_at", "updated_at", "ended_at")

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def label(self) -> str:
        """What a badge says: ``canary 10%``, ``shadow``, ``shadow 25%``."""
        if self.kind == "shadow":
            return "shadow" if self.percent >= 100 else f"shadow {self.percent:g}%"
        return f"canary {self.percent:g}%"


@dataclasses.dataclass(frozen=True)
class CardRevision(_Record):
    """One revision of a version's model card: its editable fields and the Markdown
    written then (without the history, which is read from the audit log when shown).

    Revision 1 is written at push; each amendment adds one. Revision 0 stands for a
    version pushed before cards existed: rendered on read, never stored.
    """

    model: str
    version: int
    revision: int
    created_at: datetime
    actor: str
    fields: dict[str, Any]
    markdown: str = dataclasses.field(repr=False)

    _datetime_fields = ("created_at",)
