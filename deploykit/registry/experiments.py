"""Shadows and canaries in the registry: start, step, promote, abort, read.

One experiment per model runs at a time (``experiments.running_model`` is unique).
Every change is one transaction with its audit event (``experiment-start``,
``-step``, ``-promote``, ``-abort``; ``-end`` when a deploy or rollback moved the
alias under it, see :func:`deploykit.registry.experiment_rows.end_running`). Each
change also sends the alias NOTIFY, so servers on PostgreSQL re-read at once; the
others see it at their next poll (``poll_interval``).

A promotion ends the experiment and moves the alias to the candidate in the same
transaction: there is no moment when the experiment is over and production not moved.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypedDict, Unpack

import sqlalchemy as sa

from deploykit.errors import ConflictError, ExperimentNotFoundError, InvalidInputError
from deploykit.records import Alias, Experiment, utcnow
from deploykit.registry import history
from deploykit.registry.database import run_in_transaction
from deploykit.registry.experiment_rows import finish, log_event, record, row_by_id, running_row
from deploykit.registry.rows import insert_row
from deploykit.registry.tables import experiments, models, versions
from deploykit.registry.watch import notify_alias_moved

__all__ = ["KINDS", "Ending", "ExperimentStore", "check_percent", "check_policy"]

KINDS = ("shadow", "canary")
_MAX_DURATION = 365 * 86400.0


def check_percent(value: object, *, param: str = "percent", kind: str = "canary") -> float:
    """A share of traffic in (0, 100]; InvalidInputError naming ``param`` otherwise."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 0 < value <= 100
    ):
        raise InvalidInputError(
            f"The {param!r} parameter of {kind} must be a percentage in (0, 100]. "
            f"Got {value!r} instead."
        )
    return float(value)


def check_policy(
    promote_when: object, min_requests: object, max_duration: object
) -> dict[str, Any] | None:
    """The stored policy of a canary (None when it has none), its parts checked."""
    from deploykit.monitoring.policy import parse_policy

    if isinstance(min_requests, bool) or not isinstance(min_requests, int) or min_requests < 0:
        raise InvalidInputError(
            "The 'min_requests' parameter must be a whole number >= 0. "
            f"Got {min_requests!r} instead."
        )
    if max_duration is not None and (
        isinstance(max_duration, bool)
        or not isinstance(max_duration, (int, float))
        or not 0 < max_duration <= _MAX_DURATION
    ):
        raise InvalidInputError(
            "The 'max_duration' parameter must be seconds in (0, 1 year], or None. "
            f"Got {max_duration!r} instead."
        )
    if promote_when is None:
        return {"promote_when": None, "min_requests": min_requests, "max_duration": max_duration}
    policy = parse_policy(promote_when)
    return {
        "promote_when": str(policy),
        "min_requests": min_requests,
        "max_duration": None if max_duration is None else float(max_duration),
    }


class Ending(TypedDict):
    """What abort and promote both take: who ends the running experiment and why, the
    evidence behind it, and the experiment the caller saw (None: whichever runs)."""

    actor: str
    reason: str
    statistics: dict[str, Any] | None
    expect_id: int | None


def _finish(
    connection: sa.Connection, row: Any, state: str, at: datetime, ending: Ending
) -> Experiment:
    actor, reason, statistics = ending["actor"], ending["reason"], ending["statistics"]
    return finish(
        connection, row, state=state, actor=actor, at=at, reason=reason, statistics=statistics
    )


def _no_experiment(name: str) -> ExperimentNotFoundError:
    return ExperimentNotFoundError(
        f"Model {name!r} has no running experiment. Start one with "
        f"reg.canary({name!r}, VERSION) or reg.shadow({name!r}, VERSION), or "
        f"`%deploy canary {name} VERSION`."
    )


class ExperimentStore:
    """The ``experiments`` table: what the registry's experiment methods call."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # -- reads ---------------------------------------------------------------------------

    def running(self) -> dict[str, Experiment]:
        """Every running experiment by model name: what server workers poll."""
        query = sa.select(experiments).where(experiments.c.running_model.is_not(None))
        with self.engine.connect() as connection:
            return {row.model: record(row) for row in connection.execute(query)}

    def latest(self, name: str) -> Experiment | None:
        """The running experiment of ``name``, else its most recent one, else None."""
        with self.engine.connect() as connection:
            row = (
                running_row(connection, name)
                or connection.execute(
                    sa.select(experiments)
                    .where(experiments.c.model == name)
                    .order_by(experiments.c.id.desc())
                    .limit(1)
                ).first()
            )
        return None if row is None else record(row)

    def history(self, name: str, limit: int = 20) -> list[Experiment]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(experiments)
                .where(experiments.c.model == name)
                .order_by(experiments.c.id.desc())
                .limit(limit)
            ).all()
        return [record(row) for row in rows]

    # -- writes --------------------------------------------------------------------------

    def start(
        self,
        name: str,
        *,
        kind: str,
        candidate: int,
        alias: str,
        percent: float,
        sticky: str | None,
        policy: dict[str, Any] | None,
        actor: str,
        reason: str | None,
    ) -> Experiment:
        def work(connection: sa.Connection) -> Experiment:
            model = connection.execute(sa.select(models).where(models.c.name == name)).one()
            current = history.current(connection, model.id, alias)
            if current is None:
                raise history.missing_alias(name, alias)
            if int(current.version) == candidate:
                raise InvalidInputError(
                    f"Version {candidate} of {name!r} already is {alias!r}; a {kind} needs "
                    "another version as its candidate."
                )
            running = running_row(connection, name)
            if running is not None:
                raise ConflictError(
                    f"Model {name!r} already runs a {running.kind} of version "
                    f"{running.candidate_version} ({float(running.percent):g}%). Promote or "
                    f"abort it first: reg.promote({name!r}, reason=...) or "
                    f"reg.abort({name!r}, reason=...)."
                )
            now = utcnow()
            new_id = insert_row(
                connection,
                experiments,
                model=name,
                running_model=name,
                kind=kind,
                alias=alias,
                production_version=int(current.version),
                candidate_version=candidate,
                percent=percent,
                sticky=sticky,
                policy=policy,
                state="running",
                started_at=now,
                started_by=actor,
                reason=reason,
                updated_at=now,
                statistics={},
            )
            row = row_by_id(connection, new_id)
            log_event(
                connection,
                row,
                "start",
                actor=actor,
                at=now,
                reason=reason,
                details={"percent": percent, "sticky": sticky, **(policy or {})},
            )
            notify_alias_moved(connection, name, alias)  # servers re-read their routes now
            return record(row)

        return run_in_transaction(self.engine, work)

    def step(self, name: str, percent: float, *, actor: str, reason: str | None) -> Experiment:
        def work(connection: sa.Connection) -> Experiment:
            row = running_row(connection, name)
            if row is None:
                raise _no_experiment(name)
            now = utcnow()
            connection.execute(
                experiments.update()
                .where(experiments.c.id == row.id)
                .values(percent=percent, updated_at=now)
            )
            log_event(
                connection,
                row,
                "step",
                actor=actor,
                at=now,
                reason=reason,
                details={"from_percent": float(row.percent), "percent": percent},
            )
            notify_alias_moved(connection, name, row.alias)
            return record(row_by_id(connection, row.id))

        return run_in_transaction(self.engine, work)

    def abort(self, name: str, **ending: Unpack[Ending]) -> Experiment:
        def work(connection: sa.Connection) -> Experiment:
            row = self._expected(connection, name, ending["expect_id"])
            notify_alias_moved(connection, name, row.alias)
            return _finish(connection, row, "aborted", utcnow(), ending)

        return run_in_transaction(self.engine, work)

    def promote(
        self,
        name: str,
        *,
        check: Callable[[int, str], None] | None = None,
        **ending: Unpack[Ending],
    ) -> tuple[Experiment, Alias]:
        """End the running experiment as promoted and move its alias to the candidate."""

        def work(connection: sa.Connection) -> tuple[Experiment, Alias]:
            row = self._expected(connection, name, ending["expect_id"])
            model = connection.execute(sa.select(models).where(models.c.name == name)).one()
            candidate = int(row.candidate_version)
            if check is not None:  # the candidate's artifact is verified before any write
                digest = connection.execute(
                    sa.select(versions.c.digest).where(
                        versions.c.model_id == model.id, versions.c.version == candidate
                    )
                ).scalar_one()
                check(candidate, str(digest))
            now = utcnow()
            ended = _finish(connection, row, "promoted", now, ending)
            why = f"promoted from {row.kind} (experiment {row.id}): {ending['reason']}"
            moved = history.deploy(
                connection,
                history.AliasMove(model.id, name, row.alias, ending["actor"], now, why),
                version=candidate,
                details={"experiment": int(row.id)},
            )
            return ended, moved

        return run_in_transaction(self.engine, work)

    def record_statistics(self, experiment_id: int, statistics: dict[str, Any]) -> None:
        """Keep the last policy check's evidence on the running experiment (no event)."""
        stmt = (
            experiments.update()
            .where(experiments.c.id == experiment_id, experiments.c.state == "running")
            .values(statistics=statistics)
        )
        run_in_transaction(self.engine, lambda conn: conn.execute(stmt))

    def claim_check(self, experiment_id: int, now: float, interval: float) -> bool:
        """Take this round's policy check; False if another replica holds it."""
        c = experiments.c
        stmt = (
            experiments.update()
            .where(
                c.id == experiment_id,
                c.state == "running",
                sa.or_(c.next_check_at.is_(None), c.next_check_at <= now),
            )
            .values(next_check_at=now + interval)
        )
        return bool(run_in_transaction(self.engine, lambda conn: conn.execute(stmt).rowcount))

    @staticmethod
    def _expected(connection: sa.Connection, name: str, expect_id: int | None) -> Any:
        row = running_row(connection, name)
        if row is None:
            raise _no_experiment(name)
        if expect_id is not None and int(row.id) != expect_id:
            raise ConflictError(
                f"Experiment {expect_id} of {name!r} is no longer the running one "
                f"(experiment {row.id} is); nothing was changed."
            )
        return row
