"""Experiment rows as records, and ending the running one when its alias moves.

Kept apart from :mod:`deploykit.registry.experiments` because
:mod:`deploykit.registry.history` calls :func:`end_running` inside every alias move
(a deploy or rollback ends any experiment cleanly), and history is what the
experiment store itself calls to promote.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from deploykit.records import Experiment
from deploykit.registry.events import append_event
from deploykit.registry.rows import as_utc
from deploykit.registry.tables import experiments

__all__ = ["end_running", "finish", "log_event", "record", "row_by_id", "running_row"]


def record(row: Any) -> Experiment:
    """The :class:`Experiment` of an ``experiments`` row."""
    policy = row.policy or {}
    return Experiment(
        id=int(row.id),
        model=row.model,
        kind=row.kind,
        alias=row.alias,
        production=int(row.production_version),
        candidate=int(row.candidate_version),
        percent=float(row.percent),
        state=row.state,
        started_at=as_utc(row.started_at),
        started_by=row.started_by,
        updated_at=as_utc(row.updated_at),
        sticky=row.sticky,
        promote_when=policy.get("promote_when"),
        min_requests=int(policy.get("min_requests") or 0),
        max_duration=policy.get("max_duration"),
        reason=row.reason,
        ended_at=None if row.ended_at is None else as_utc(row.ended_at),
        ended_by=row.ended_by,
        end_reason=row.end_reason,
        statistics=dict(row.statistics or {}),
    )


def running_row(connection: sa.Connection, model: str) -> Any | None:
    return connection.execute(
        sa.select(experiments).where(experiments.c.running_model == model)
    ).first()


def row_by_id(connection: sa.Connection, experiment_id: int) -> Any:
    return connection.execute(sa.select(experiments).where(experiments.c.id == experiment_id)).one()


def log_event(
    connection: sa.Connection,
    row: Any,
    verb: str,
    *,
    actor: str,
    at: datetime,
    reason: str | None,
    details: dict[str, Any],
) -> None:
    """Log ``experiment-<verb>`` of ``row``: its model, alias and two versions, then
    which experiment it is and ``details``."""
    append_event(
        connection,
        at=at,
        actor=actor,
        action=f"experiment-{verb}",
        model=row.model,
        alias=row.alias,
        from_version=int(row.production_version),
        to_version=int(row.candidate_version),
        reason=reason,
        details={"experiment": int(row.id), "kind": row.kind, **details},
    )


def finish(
    connection: sa.Connection,
    row: Any,
    *,
    state: str,
    actor: str,
    at: datetime,
    reason: str | None,
    statistics: dict[str, Any] | None = None,
) -> Experiment:
    """Mark the running experiment ``row`` as ``state`` and log ``experiment-<verb>``."""
    values: dict[str, Any] = {
        "state": state,
        "running_model": None,
        "ended_at": at,
        "ended_by": actor,
        "end_reason": reason,
        "updated_at": at,
    }
    if statistics is not None:
        values["statistics"] = statistics
    connection.execute(experiments.update().where(experiments.c.id == row.id).values(**values))
    verb = {"promoted": "promote", "aborted": "abort"}.get(state, "end")
    log_event(
        connection,
        row,
        verb,
        actor=actor,
        at=at,
        reason=reason,
        details={
            "percent": float(row.percent),
            **({"statistics": statistics} if statistics else {}),
        },
    )
    return record(row_by_id(connection, row.id))


def end_running(
    connection: sa.Connection, *, model: str, alias: str, actor: str, at: datetime, action: str
) -> None:
    """End the experiment running on ``model``'s ``alias``: that alias just moved."""
    row = running_row(connection, model)
    if row is None or row.alias != alias:
        return
    finish(
        connection,
        row,
        state="ended",
        actor=actor,
        at=at,
        reason=f"{alias!r} moved ({action}): the experiment ended, all traffic to {alias!r}",
    )
