"""The append-only audit log: write one event, read them back newest first.

Events are inserted in the same transaction as the change they describe, so the
log never claims a move that did not happen, nor misses one that did. Nothing
here updates or deletes a row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

import sqlalchemy as sa

from deploykit.errors import InvalidInputError
from deploykit.records import Event
from deploykit.registry.rows import as_utc, insert_row
from deploykit.registry.tables import events

__all__ = [
    "ACTIONS",
    "EXPERIMENT_ACTIONS",
    "EventFilters",
    "append_event",
    "check_filters",
    "last_event_id",
    "read_event",
    "read_events",
]

#: What starts, changes and ends a shadow or canary (deploykit.registry.experiments).
EXPERIMENT_ACTIONS = (
    "experiment-start",
    "experiment-step",
    "experiment-promote",
    "experiment-abort",
    "experiment-end",
)
ACTIONS = (
    "push",
    "deploy",
    "rollback",
    "auto-rollback",
    "alias-delete",
    "alert",
    "card",
    *EXPERIMENT_ACTIONS,
)


class EventFilters(TypedDict, total=False):
    """The filters of :func:`read_events` besides the model, passed through by the store."""

    limit: int
    since: datetime | None
    action: str | None


def append_event(
    connection: sa.Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    model: str,
    alias: str | None = None,
    from_version: int | None = None,
    to_version: int | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    """Insert one event; its id."""
    return insert_row(
        connection,
        events,
        at=at,
        actor=actor,
        action=action,
        model=model,
        alias=alias,
        from_version=from_version,
        to_version=to_version,
        reason=reason,
        details=details or {},
    )


def check_filters(*, limit: object, since: object, action: object) -> None:
    """InvalidInputError naming the first filter of :func:`read_events` that is malformed."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInputError(
            f"The 'limit' parameter must be a positive int. Got {limit!r} instead."
        )
    if since is not None and not isinstance(since, datetime):
        raise InvalidInputError(
            f"The 'since' parameter must be a datetime. Got {type(since).__name__} instead."
        )
    if action is not None and action not in ACTIONS:
        raise InvalidInputError(
            f"The 'action' parameter must be one of {', '.join(map(repr, ACTIONS))}. "
            f"Got {action!r} instead."
        )


def read_events(
    connection: sa.Connection,
    *,
    model: str | None = None,
    limit: int = 100,
    since: datetime | None = None,
    action: str | None = None,
) -> list[Event]:
    """Events matching every filter given, newest first."""
    query = sa.select(events).order_by(events.c.id.desc()).limit(limit)
    if model is not None:
        query = query.where(events.c.model == model)
    if since is not None:
        query = query.where(events.c.at >= as_utc(since))
    if action is not None:
        query = query.where(events.c.action == action)
    return [_event(row) for row in connection.execute(query)]


def read_event(connection: sa.Connection, event_id: int) -> Event:
    """The event numbered ``event_id``."""
    return _event(connection.execute(sa.select(events).where(events.c.id == event_id)).one())


def _event(row: Any) -> Event:
    """The :class:`Event` of an ``events`` row: its columns are the record's fields."""
    return Event(**{**row._mapping, "at": as_utc(row.at), "details": row.details or {}})


def last_event_id(connection: sa.Connection) -> int:
    """The id of the newest event; 0 when there is none."""
    return int(connection.execute(sa.select(sa.func.max(events.c.id))).scalar() or 0)
