"""Bring a database to the schema this code expects, once, whoever opens it first.

Opening a registry is the common case and must stay cheap: when the database is
already at :data:`HEAD_REVISION` we read one row and never import Alembic.
Otherwise we take a lock (a file lock beside a SQLite file, an advisory lock on
PostgreSQL) so that eight processes opening a fresh database at once run the
migrations exactly once, then let Alembic upgrade to head.

Whoever adds a revision to ``migrations/versions`` must update :data:`HEAD_REVISION`;
``tests/registry/test_migrate.py`` checks it against the head Alembic computes. Revisions
are written with ``migrations/_frozen.py``, never with the live tables, and each one's
schema is recorded once (``tests/registry/schema_snapshot.py``) and held to it.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import exc

from deploykit.errors import ConfigurationError, StorageError
from deploykit.registry.database import mask_url, sqlite_path

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["HEAD_REVISION", "MIGRATIONS", "alembic_config", "current_revision", "ensure_schema"]

# 0001: registry tables (tables.py); 0002: server tables (deploykit/server/tables.py, the
# telemetry ones now in deploykit/monitoring/tables.py);
# 0003: monitoring tables (deploykit/monitoring/tables.py); 0004: telemetry bucket indexes;
# 0005: feedback.authenticated and server_secrets (feedback trust); 0006: experiments
# (shadow, canary); 0007: lineage and cards; 0008: versions.runtime (compiled inference:
# onnx or sklearn and why).
HEAD_REVISION = "0008"
MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_TIMEOUT_S = 300
# Key of the PostgreSQL advisory lock: any fixed 63-bit number unique to deploykit.
_PG_LOCK_KEY = zlib.crc32(b"deploykit.registry.migrate")


def ensure_schema(engine: sa.Engine) -> None:
    """Upgrade the database behind ``engine`` to :data:`HEAD_REVISION` if it is not there."""
    if current_revision(engine) == HEAD_REVISION:
        return
    with _migration_lock(engine) as connection:
        # Someone may have migrated while we waited for the lock.
        if _read_revision(connection) != HEAD_REVISION:
            _upgrade(connection)


def current_revision(engine: sa.Engine) -> str | None:
    """The Alembic revision the database is at; None for a database never migrated."""
    try:
        with engine.connect() as connection:
            return _read_revision(connection)
    except exc.DBAPIError as error:
        raise _cannot_open(engine, error) from None


def _read_revision(connection: sa.Connection) -> str | None:
    # A savepoint-free probe: a missing table must not poison a PostgreSQL transaction.
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    row = connection.exec_driver_sql("SELECT version_num FROM alembic_version").first()
    connection.rollback()
    return None if row is None else str(row[0])


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic configuration for the migrations shipped in this package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _upgrade(connection: sa.Connection) -> None:
    from alembic import command
    from alembic.util import CommandError

    try:
        command.upgrade(alembic_config(connection), "head")
    except CommandError as error:
        raise ConfigurationError(
            f"Cannot migrate the deploykit database {mask_url(connection.engine.url)!r}: "
            f"{error}. If it was created by a newer deploykit, upgrade deploykit "
            "(pip install -U deploykit)."
        ) from None
    if connection.in_transaction():
        connection.commit()


@contextlib.contextmanager
def _migration_lock(engine: sa.Engine) -> Iterator[sa.Connection]:
    path = sqlite_path(engine.url)
    if path is not None:
        from filelock import FileLock, Timeout

        lock = FileLock(f"{path}.migrate.lock", timeout=_LOCK_TIMEOUT_S, mode=0o600)
        try:
            with lock, engine.connect() as connection:
                yield connection
        except Timeout:
            raise StorageError(
                f"Timed out after {_LOCK_TIMEOUT_S} s waiting for another process to migrate "
                f"{mask_url(engine.url)!r} (lock file {lock.lock_file}). If no deploykit "
                "process is running, delete the lock file."
            ) from None
        return
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(sa.select(sa.func.pg_advisory_lock(_PG_LOCK_KEY)))
            connection.commit()  # session-level lock: held until unlocked, across transactions
            try:
                yield connection
            finally:
                connection.rollback()
                connection.execute(sa.select(sa.func.pg_advisory_unlock(_PG_LOCK_KEY)))
                connection.commit()
        else:
            yield connection


def _cannot_open(engine: sa.Engine, error: exc.DBAPIError) -> StorageError:
    reason = str(error.orig or error).strip().splitlines()[0]
    return StorageError(
        f"Cannot open the deploykit database {mask_url(engine.url)!r}: {reason}. "
        "Check DEPLOYKIT_DATABASE_URL, that the server is running and that you may connect."
    )
