"""Moving aliases, with their full history kept as a stack.

Every move is a row of ``alias_moves``; ``aliases`` holds where each alias points
now and which move put it there. A move also records the move it is stacked on
(``stack_parent_id``), which makes rollback a pop:

- deploy pushes: the new move is stacked on the current one;
- rollback pops: the alias returns to the version of the move below the current
  one, and the rollback move takes that move's place in the stack (same parent),
  so a second rollback steps further back, never forth;
- a deploy after a rollback pushes again, on top of the rollback move.

``rollback(to=N)`` pops down to the nearest move of version N if the stack holds
one, and otherwise pushes N like a deploy. All functions here run inside the
caller's write transaction and append the matching event. ``check(version)``, if
given, runs once the target version is known and before anything is written: it may
raise to stop the move (the registry uses it to verify the target's artifact).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from deploykit.errors import AliasNotFoundError, ConflictError, NothingToRollBackError
from deploykit.records import Alias
from deploykit.registry.events import append_event
from deploykit.registry.experiment_rows import end_running
from deploykit.registry.rows import as_utc, insert_row
from deploykit.registry.tables import alias_moves, aliases
from deploykit.registry.watch import notify_alias_moved

__all__ = [
    "AliasMove",
    "current",
    "delete",
    "deploy",
    "missing_alias",
    "rollback",
    "unknown_target",
]


@dataclasses.dataclass(frozen=True)
class AliasMove:
    """Who moves which alias of which model, when and why: what deploy, rollback and
    delete all record, in ``alias_moves`` and in the audit log."""

    model_id: int
    model: str
    alias: str
    actor: str
    at: datetime
    reason: str | None

    def audit_columns(self) -> dict[str, Any]:
        """What ``alias_moves`` and ``events`` both record of a move: the alias, when, who
        and why."""
        return {"alias": self.alias, "at": self.at, "actor": self.actor, "reason": self.reason}


def current(connection: sa.Connection, model_id: int, alias: str) -> Any | None:
    """The ``aliases`` row of ``alias``, or None if it points nowhere."""
    return connection.execute(
        sa.select(aliases).where(aliases.c.model_id == model_id, aliases.c.name == alias)
    ).first()


def deploy(
    connection: sa.Connection,
    move: AliasMove,
    *,
    version: int,
    action: str = "deploy",
    details: dict[str, Any] | None = None,
    check: Callable[[int], None] | None = None,
) -> Alias:
    """Point ``move.alias`` at ``version``, pushing the move on the alias's stack."""
    row = current(connection, move.model_id, move.alias)
    if row is not None and row.version == version:
        # Already there: moving would stack a frame that rollback pops to no effect.
        return _record(move.model, row)
    if check is not None:
        check(version)
    parent = None if row is None else row.move_id
    return _move(
        connection, move, row=row, version=version, parent=parent, action=action, details=details
    )


def rollback(
    connection: sa.Connection,
    move: AliasMove,
    *,
    to: int | None,
    action: str = "rollback",
    if_current: int | None = None,
    check: Callable[[int], None] | None = None,
) -> Alias:
    """Move ``move.alias`` back: to the version below on its stack, or to version ``to``."""
    model_id, model, alias = move.model_id, move.model, move.alias
    row = current(connection, model_id, alias)
    if row is None:
        raise missing_alias(model, alias)
    if if_current is not None and row.version != if_current:
        raise ConflictError(
            f"Model {model!r} alias {alias!r} is on version {row.version}, not {if_current}: "
            "someone moved it since you looked; nothing was rolled back. Check reg.events()."
        )
    stack = {
        m.id: m
        for m in connection.execute(
            sa.select(
                alias_moves.c.id, alias_moves.c.to_version, alias_moves.c.stack_parent_id
            ).where(alias_moves.c.model_id == model_id, alias_moves.c.alias == alias)
        )
    }
    top = stack[row.move_id]
    if to is None:
        if top.stack_parent_id is None:
            raise _nothing_to_roll_back(model, alias, row.version, first=top.id == _first(stack))
        below = stack[top.stack_parent_id]
        target, parent = below.to_version, below.stack_parent_id
    else:
        if to == row.version:
            raise ConflictError(
                f"Model {model!r} alias {alias!r} is already on version {to}; "
                "nothing to roll back. Name another version with to=VERSION."
            )
        target, parent = to, row.move_id  # not on the stack: push it, like a deploy
        frame = stack.get(top.stack_parent_id)
        while frame is not None:
            if frame.to_version == to:
                parent = frame.stack_parent_id
                break
            frame = stack.get(frame.stack_parent_id)
    if check is not None:
        check(target)
    return _move(connection, move, row=row, version=target, parent=parent, action=action)


def delete(connection: sa.Connection, move: AliasMove) -> None:
    """Remove ``move.alias``; its history stays, and a later deploy starts a fresh stack."""
    row = current(connection, move.model_id, move.alias)
    if row is None:
        raise missing_alias(move.model, move.alias)
    _insert_move(connection, move, row.version, None, "alias-delete")
    connection.execute(
        aliases.delete().where(aliases.c.model_id == move.model_id, aliases.c.name == move.alias)
    )
    _announce(connection, move, "alias-delete", row.version, None)


def missing_alias(model: str, alias: str) -> AliasNotFoundError:
    how = "" if alias == "production" else f", alias={alias!r}"
    flag = "" if alias == "production" else f" --alias {alias}"
    # the same message reaches Python, the CLI and notebooks: name the fix in each form
    return AliasNotFoundError(
        f"Model {model!r} has no alias {alias!r} yet: deploy a version first with "
        f"reg.deploy({model!r}, VERSION{how}), `%deploy deploy {model} VERSION{flag}` "
        f"or `deploykit deploy {model} VERSION{flag}`."
    )


def unknown_target(ref: str, aliases: Sequence[str]) -> AliasNotFoundError:
    """What a deploy says when its VERSION is a word that names nothing: the user meant a
    version (a typo, or a label they thought was one), so advising to deploy a version to
    that alias first (:func:`missing_alias`) would be wrong."""
    known = ", ".join(sorted(aliases)) if aliases else "it has none yet"
    return AliasNotFoundError(
        f"VERSION must be a number, 'latest' or an alias the model has ({known}); got {ref!r}."
    )


def _move(
    connection: sa.Connection,
    move: AliasMove,
    *,
    row: Any | None,
    version: int,
    parent: int | None,
    action: str,
    details: dict[str, Any] | None = None,
) -> Alias:
    previous = None if row is None else row.version
    move_id = _insert_move(connection, move, previous, version, action, parent)
    values = {
        "version": version,
        "move_id": move_id,
        "updated_at": move.at,
        "updated_by": move.actor,
    }
    if row is None:
        connection.execute(
            aliases.insert().values(model_id=move.model_id, name=move.alias, **values)
        )
    else:
        connection.execute(
            aliases.update()
            .where(aliases.c.model_id == move.model_id, aliases.c.name == move.alias)
            .values(**values)
        )
    _announce(connection, move, action, previous, version, details)
    return Alias(
        model=move.model,
        name=move.alias,
        version=version,
        updated_at=move.at,
        updated_by=move.actor,
    )


def _announce(
    connection: sa.Connection,
    move: AliasMove,
    action: str,
    from_version: int | None,
    to_version: int | None,
    details: dict[str, Any] | None = None,
) -> None:
    """After any move: wake the followers (at commit), end the experiment running on the
    alias, and append the audit event."""
    notify_alias_moved(connection, move.model, move.alias)
    end_running(
        connection, model=move.model, alias=move.alias, actor=move.actor, at=move.at, action=action
    )
    append_event(
        connection,
        action=action,
        from_version=from_version,
        to_version=to_version,
        details=details,
        model=move.model,
        **move.audit_columns(),
    )


def _insert_move(
    connection: sa.Connection,
    move: AliasMove,
    from_version: int | None,
    to_version: int | None,
    action: str,
    parent: int | None = None,
) -> int:
    return insert_row(
        connection,
        alias_moves,
        model_id=move.model_id,
        from_version=from_version,
        to_version=to_version,
        action=action,
        stack_parent_id=parent,
        **move.audit_columns(),
    )


def _first(stack: dict[int, Any]) -> int:
    return min(stack)


def _nothing_to_roll_back(
    model: str, alias: str, version: int, *, first: bool
) -> NothingToRollBackError:
    where = (
        f"it has been on version {version} since its first deploy"
        if first
        else f"it is back on version {version}, where its deploy history starts"
    )
    return NothingToRollBackError(
        f"Model {model!r} has no earlier {alias} version to roll back to; {where}."
    )


def _record(model: str, row: Any) -> Alias:
    return Alias(
        model=model,
        name=row.name,
        version=row.version,
        updated_at=as_utc(row.updated_at),
        updated_by=row.updated_by,
    )
