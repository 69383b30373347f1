"""Rows of the registry's tables become :mod:`deploykit.records` here, quickly.

Listing a model's versions is the registry's hottest read (the console and the
magics call it on every render), and most of its time is spent decoding JSON.
So the version columns are selected as raw text and decoded here with orjson
(about 2.5x faster than the json module) instead of by SQLAlchemy's JSON type,
and SQLite's timestamps are parsed with ``datetime.fromisoformat`` rather than
a regular expression. PostgreSQL's driver hands back decoded values already;
both paths are accepted. Decoding pauses the cyclic garbage collector (see
:func:`paused_gc`).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from orjson import loads as _loads

from deploykit.records import ModelInfo, ModelVersion
from deploykit.registry.tables import versions

__all__ = [
    "VERSION_COLUMNS",
    "as_utc",
    "group_versions",
    "insert_row",
    "model_info",
    "paused_gc",
]

# The columns ModelVersion needs, in the order _version unpacks them. JSON and time
# come as raw text; the profile lives in its own table and is never listed.
_NAMES = (
    "version",
    "digest",
    "format",
    "size",
    "created_at",
    "author",
    "estimator",
    "description",
    "notebook",
    "signature",
    "metrics",
    "evaluation",
    "gate",
    "params",
    "data_fingerprint",
    "environment",
    "runtime",
)
_RAW = frozenset(_NAMES[4:5] + _NAMES[9:])
VERSION_COLUMNS = [
    sa.type_coerce(versions.c[n], sa.Text).label(n) if n in _RAW else versions.c[n] for n in _NAMES
]


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many JSON containers.

    A thousand versions decode into some 400,000 dicts and lists. Each allocation
    batch can trigger a collection that rescans the whole heap, which in a process
    holding pandas and scikit-learn is large: that doubled the time of versions().
    Decoded JSON cannot form reference cycles, so nothing is lost by waiting.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def as_utc(value: datetime | str) -> datetime:
    """``value`` as an aware UTC datetime; naive values (SQLite's) are UTC already."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def insert_row(connection: sa.Connection, table: sa.Table, **values: Any) -> int:
    """Insert one row of ``table`` (one with an ``id`` key) from its named column values;
    the new row's id. The audit stores (events, alias moves, experiments, card revisions)
    all write their rows this way."""
    result = connection.execute(table.insert().values(**values))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def _json(value: Any) -> Any:
    return _loads(value) if isinstance(value, str | bytes) else value


def model_info(row: Any, pointers: dict[str, int]) -> ModelInfo:
    return ModelInfo(
        name=row.name,
        created_at=as_utc(row.created_at),
        latest_version=row.last_version or None,
        aliases=dict(pointers),
        description=row.description,
    )


def group_versions(name: str, rows: Sequence[Any]) -> list[ModelVersion]:
    """ModelVersions from rows of VERSION_COLUMNS + an alias name, one row per alias.

    Rows are read by position: named access on a SQLAlchemy Row costs ~0.5 µs, which
    for 16 columns was a third of the time of listing 1,000 versions.
    """
    result: list[ModelVersion] = []
    current: tuple[Any, ...] | None = None
    names: list[str] = []
    for row in rows:
        values = tuple(row)
        if current is not None and values[0] != current[0]:
            result.append(_version(name, current, names))
            names = []
        if values[-1] is not None:
            names.append(values[-1])
        current = values
    if current is not None:
        result.append(_version(name, current, names))
    return result


def _version(name: str, values: tuple[Any, ...], alias_names: list[str]) -> ModelVersion:
    (
        version,
        digest,
        format,
        size,
        created_at,
        author,
        estimator,
        description,
        notebook,
        signature,
        metrics,
        evaluation,
        gate,
        params,
        data_fingerprint,
        environment,
        runtime,
        _alias,
    ) = values
    return ModelVersion(
        model=name,
        version=version,
        digest=digest,
        format=format,
        size=size,
        created_at=as_utc(created_at),
        author=author,
        estimator=estimator,
        description=description,
        notebook=notebook,
        signature=_json(signature),
        metrics=_json(metrics) or {},
        evaluation=_json(evaluation),
        gate=_json(gate),
        params=_json(params) or {},
        data_fingerprint=_json(data_fingerprint),
        environment=_json(environment) or {},
        runtime=_json(runtime),
        aliases=tuple(alias_names),
    )
