"""All the registry's SQL, behind one class; rows become :mod:`deploykit.records` here.

Reads use plain connections. Writes go through :func:`run_in_transaction`, which
takes the write lock up front on SQLite and retries lost lock races, so each
mutating method is one transaction that either happens whole (the version, its
profile, its event and any alias move) or not at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from deploykit.errors import (
    InvalidInputError,
    ModelNotFoundError,
    VersionNotFoundError,
)
from deploykit.records import Alias, Event, ModelInfo, ModelVersion, utcnow
from deploykit.registry import events as event_log
from deploykit.registry import history
from deploykit.registry.database import run_in_transaction
from deploykit.registry.drafts import VersionDraft
from deploykit.registry.history import AliasMove
from deploykit.registry.names import check_alias_name, did_you_mean
from deploykit.registry.rows import VERSION_COLUMNS, group_versions, model_info, paused_gc
from deploykit.registry.tables import aliases, models, version_profiles, versions

if TYPE_CHECKING:
    from typing import Unpack

    from deploykit.registry.events import EventFilters

__all__ = ["MetadataStore", "parse_ref"]

Ref = int | str


def parse_ref(ref: object) -> int | str:
    """A version reference as an int, ``"latest"``, or an alias name; InvalidInputError if none."""
    if isinstance(ref, bool):
        pass  # bool is an int subclass; True is not version 1
    elif isinstance(ref, int):
        if ref >= 1:
            return ref
    elif isinstance(ref, str):
        text = ref.strip()
        # isascii: str.isdigit() accepts digits such as '²' that int() refuses
        if text.isascii() and text.isdigit() and int(text) >= 1:
            return int(text)
        if text.lower() == "latest":
            return "latest"
        unsigned = text.lstrip("+-")
        if text and not (unsigned.isascii() and unsigned.isdigit()):
            return check_alias_name(text)
    raise InvalidInputError(
        "A version reference must be a version number (1, 2, ...), 'latest' or an alias "
        f"name such as 'production'. Got {ref!r} instead."
    )


class MetadataStore:
    """Models, versions, aliases and events in one SQL database."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # -- reads ---------------------------------------------------------------------------

    def models(self) -> list[ModelInfo]:
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(models).order_by(models.c.name)).all()
            pointers = _aliases_by_model(connection, None)
        return [model_info(row, pointers.get(row.id, {})) for row in rows]

    def model(self, name: str) -> ModelInfo:
        with self.engine.connect() as connection:
            row = self._model_row(connection, name)
            return model_info(row, _aliases_by_model(connection, row.id).get(row.id, {}))

    def versions(self, name: str) -> list[ModelVersion]:
        query = (
            sa.select(*VERSION_COLUMNS, aliases.c.name.label("alias_name"))
            .select_from(
                versions.join(models, models.c.id == versions.c.model_id).outerjoin(
                    aliases,
                    sa.and_(
                        aliases.c.model_id == versions.c.model_id,
                        aliases.c.version == versions.c.version,
                    ),
                )
            )
            .where(models.c.name == name)
            .order_by(versions.c.version, aliases.c.name)
        )
        with self.engine.connect() as connection, paused_gc():
            rows = connection.execute(query).all()
            if rows:
                return group_versions(name, rows)
            self._model_row(connection, name)  # raises ModelNotFoundError
        return []

    def version(self, name: str, ref: Ref = "production") -> ModelVersion:
        ref = parse_ref(ref)
        with self.engine.connect() as connection:
            model = self._model_row(connection, name)
            number = _resolve(connection, model, name, ref)
            rows = connection.execute(
                sa.select(*VERSION_COLUMNS, aliases.c.name.label("alias_name"))
                .select_from(
                    versions.outerjoin(
                        aliases,
                        sa.and_(
                            aliases.c.model_id == versions.c.model_id,
                            aliases.c.version == versions.c.version,
                        ),
                    )
                )
                .where(versions.c.model_id == model.id, versions.c.version == number)
                .order_by(aliases.c.name)
            ).all()
        return group_versions(name, rows)[0]

    def profile(self, name: str, ref: Ref = "production") -> dict[str, Any] | None:
        ref = parse_ref(ref)
        with self.engine.connect() as connection:
            model = self._model_row(connection, name)
            number = _resolve(connection, model, name, ref)
            return connection.execute(
                sa.select(version_profiles.c.profile)
                .select_from(version_profiles.join(versions))
                .where(versions.c.model_id == model.id, versions.c.version == number)
            ).scalar()

    def aliases(self, name: str) -> list[Alias]:
        with self.engine.connect() as connection:
            model = self._model_row(connection, name)
            rows = connection.execute(
                sa.select(aliases).where(aliases.c.model_id == model.id).order_by(aliases.c.name)
            ).all()
        return [history._record(name, row) for row in rows]

    def events(self, name: str | None, **filters: Unpack[EventFilters]) -> list[Event]:
        with self.engine.connect() as connection:
            if name is not None:
                self._model_row(connection, name)
            return event_log.read_events(connection, model=name, **filters)

    def last_event_id(self) -> int:
        with self.engine.connect() as connection:
            return event_log.last_event_id(connection)

    def alias_versions(self, alias: str) -> dict[str, int]:
        query = (
            sa.select(models.c.name, aliases.c.version)
            .select_from(aliases.join(models, models.c.id == aliases.c.model_id))
            .where(aliases.c.name == alias)
        )
        with self.engine.connect() as connection:
            return {row.name: int(row.version) for row in connection.execute(query)}

    # -- writes --------------------------------------------------------------------------

    def insert_version(
        self,
        name: str,
        draft: VersionDraft,
        *,
        actor: str,
        deploy_alias: str | None = None,
    ) -> ModelVersion:
        """Number and insert a version, with its profile, 'push' event and optional deploy."""

        def work(connection: sa.Connection) -> int:
            now = utcnow()
            model_id = _model_id_creating(connection, name, now)
            # The counter bump takes the row lock (PostgreSQL) / holds the write lock
            # (SQLite) until commit, so no two pushes can read the same number.
            connection.execute(
                models.update()
                .where(models.c.id == model_id)
                .values(last_version=models.c.last_version + 1)
            )
            number = connection.execute(
                sa.select(models.c.last_version).where(models.c.id == model_id)
            ).scalar_one()
            version_id = connection.execute(
                versions.insert().values(
                    model_id=model_id,
                    version=number,
                    created_at=now,
                    **draft.version_fields(actor),
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            if draft.profile is not None:
                connection.execute(
                    version_profiles.insert().values(version_id=version_id, profile=draft.profile)
                )
            _write_card(connection, name, number, version_id, draft, actor=actor, at=now)
            details: dict[str, Any] = {"digest": draft.digest, "format": draft.format}
            if draft.gate is not None:
                details["gate_passed"] = draft.gate_passed
            event_log.append_event(
                connection,
                at=now,
                actor=actor,
                action="push",
                model=name,
                to_version=number,
                reason=draft.description or None,
                details=details,
            )
            if deploy_alias is not None:
                move = AliasMove(model_id, name, deploy_alias, actor, now, "deployed on push")
                history.deploy(connection, move, version=number)
            return int(number)

        number = run_in_transaction(self.engine, work)
        return self.version(name, number)

    def deploy(
        self,
        name: str,
        ref: Ref,
        *,
        alias: str,
        actor: str,
        reason: str | None = None,
        check: Callable[[int, str], None] | None = None,
    ) -> Alias:
        """Move ``alias``; ``check(version, digest)`` may veto the target before any write."""
        ref = parse_ref(ref)

        def work(connection: sa.Connection) -> Alias:
            model = self._model_row(connection, name)
            number = _resolve(connection, model, name, ref)
            details = {} if isinstance(ref, int) else {"ref": ref}
            return history.deploy(
                connection,
                AliasMove(model.id, name, alias, actor, utcnow(), reason),
                version=number,
                details=details,
                check=_with_digest(connection, model.id, check),
            )

        return run_in_transaction(self.engine, work)

    def rollback(
        self,
        name: str,
        *,
        to: int | None,
        alias: str,
        actor: str,
        reason: str | None,
        action: str,
        if_current: int | None = None,
        check: Callable[[int, str], None] | None = None,
    ) -> Alias:
        def work(connection: sa.Connection) -> Alias:
            model = self._model_row(connection, name)
            if to is not None:
                _resolve(connection, model, name, to)  # raises VersionNotFoundError
            move = AliasMove(model.id, name, alias, actor, utcnow(), reason)
            return history.rollback(
                connection,
                move,
                to=to,
                action=action,
                if_current=if_current,
                check=_with_digest(connection, model.id, check),
            )

        return run_in_transaction(self.engine, work)

    def delete_alias(self, name: str, alias: str, *, actor: str, reason: str | None) -> None:
        def work(connection: sa.Connection) -> None:
            model = self._model_row(connection, name)
            history.delete(connection, AliasMove(model.id, name, alias, actor, utcnow(), reason))

        run_in_transaction(self.engine, work)

    def record_alert(
        self,
        name: str,
        *,
        actor: str,
        reason: str,
        version: int | None,
        details: dict[str, Any],
    ) -> Event:
        def work(connection: sa.Connection) -> int:
            model = self._model_row(connection, name)
            if version is not None:
                _resolve(connection, model, name, version)  # raises VersionNotFoundError
            return event_log.append_event(
                connection,
                at=utcnow(),
                actor=actor,
                action="alert",
                model=name,
                to_version=version,
                reason=reason,
                details=details,
            )

        event_id = run_in_transaction(self.engine, work)
        with self.engine.connect() as connection:
            return event_log.read_event(connection, event_id)

    # -- helpers -------------------------------------------------------------------------

    def _model_row(self, connection: sa.Connection, name: str) -> Any:
        row = connection.execute(sa.select(models).where(models.c.name == name)).first()
        if row is None:
            known = connection.execute(sa.select(models.c.name)).scalars().all()
            raise ModelNotFoundError(f"No model named {name!r}{did_you_mean(name, known)}")
        return row


def _write_card(
    connection: sa.Connection,
    name: str,
    number: int,
    version_id: int,
    draft: VersionDraft,
    *,
    actor: str,
    at: datetime,
) -> None:
    """The new version's lineage and first card revision, in the push's transaction."""
    from deploykit.cards.store import write_push  # cards reads registry tables: no loop

    record = ModelVersion(model=name, version=number, created_at=at, **draft.version_fields(actor))
    write_push(
        connection,
        version_id,
        record,
        lineage=draft.lineage,
        reference=draft.reference,
        profile=draft.profile,
        fields=draft.card,
        actor=actor,
    )


def _with_digest(
    connection: sa.Connection, model_id: int, check: Callable[[int, str], None] | None
) -> Callable[[int], None] | None:
    """``check(version, digest)`` as history's ``check(version)``, reading the digest."""
    if check is None:
        return None

    def run(number: int) -> None:
        digest = connection.execute(
            sa.select(versions.c.digest).where(
                versions.c.model_id == model_id, versions.c.version == number
            )
        ).scalar_one()
        check(number, str(digest))

    return run


def _model_id_creating(connection: sa.Connection, name: str, now: datetime) -> int:
    """The id of model ``name``, inserting its row first if it is new."""
    query = sa.select(models.c.id).where(models.c.name == name)
    model_id = connection.execute(query).scalar()
    if model_id is not None:
        return int(model_id)
    values = {"name": name, "created_at": now, "description": "", "last_version": 0}
    dialect = connection.dialect.name
    if dialect in ("sqlite", "postgresql"):
        # Two first pushes may race to create the row: the loser's insert does nothing.
        insert = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(models)
        connection.execute(insert.values(**values).on_conflict_do_nothing())
    else:
        with connection.begin_nested():
            connection.execute(models.insert().values(**values))
    return int(connection.execute(query).scalar_one())


def _resolve(connection: sa.Connection, model: Any, name: str, ref: int | str) -> int:
    """The version number ``ref`` names for ``model``."""
    latest = int(model.last_version)
    if ref == "latest":
        if latest == 0:
            raise VersionNotFoundError(f"Model {name!r} has no versions yet.")
        return latest
    if isinstance(ref, int):
        if not 1 <= ref <= latest:
            raise VersionNotFoundError(f"Model {name!r} has no version {ref} (latest is {latest})")
        return ref
    number = connection.execute(
        sa.select(aliases.c.version).where(aliases.c.model_id == model.id, aliases.c.name == ref)
    ).scalar()
    if number is None:
        raise history.missing_alias(name, ref)
    return int(number)


def _aliases_by_model(connection: sa.Connection, model_id: int | None) -> dict[int, dict[str, int]]:
    query = sa.select(aliases.c.model_id, aliases.c.name, aliases.c.version)
    if model_id is not None:
        query = query.where(aliases.c.model_id == model_id)
    result: dict[int, dict[str, int]] = defaultdict(dict)
    for row in connection.execute(query.order_by(aliases.c.name)):
        result[row.model_id][row.name] = row.version
    return result
