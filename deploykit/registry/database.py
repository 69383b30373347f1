"""Opening the metadata database, and retrying transactions that lost a lock race.

SQLite is the embedded default and must take several writer processes (a
notebook, a CLI push, N server replicas): it runs in WAL mode with a busy
timeout, and write transactions start with ``BEGIN IMMEDIATE`` so they take the
write lock up front instead of failing when a read upgrades to a write.
On PostgreSQL, write transactions take one transaction-scoped advisory lock
first, so they too run one at a time. Registry writes are few and short, and
serializing them buys two guarantees READ COMMITTED alone does not give: ids
(events, alias moves) become visible in the order they were assigned, so a
poller of the newest event id never skips a commit that landed late; and two
alias moves never both build on the same top of the alias's stack. Serialization
failures and deadlocks are retried like SQLite's "database is locked".
"""

from __future__ import annotations

import random
import re
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import StaticPool

from deploykit.errors import ConfigurationError, StorageError

__all__ = [
    "WRITE",
    "create_engine",
    "is_retryable",
    "mask_url",
    "run_in_transaction",
    "sqlite_path",
    "storage_error",
]

_T = TypeVar("_T")

# Execution option marking a write transaction (see _begin below).
WRITE = "deploykit_write"
_BUSY_TIMEOUT_MS = 30_000
_RETRY_BUDGET_S = 60.0
# PostgreSQL SQLSTATEs worth retrying: serialization failure, deadlock, lock not available.
_PG_RETRY = {"40001", "40P01", "55P03"}
# Key of the advisory lock serializing registry writes on PostgreSQL (any fixed 63-bit int).
_PG_WRITE_LOCK_KEY = zlib.crc32(b"deploykit.registry.write")


def mask_url(url: str | URL) -> str:
    """``url`` with its password replaced by ``***``, for messages and logs."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def sqlite_path(url: URL) -> Path | None:
    """The file behind a SQLite URL; None for other databases and in-memory SQLite."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def create_engine(database_url: str, *, fsync: bool = True) -> Engine:
    """An engine for ``database_url``; fails fast, naming the URL with its password masked."""
    try:
        url = make_url(database_url)
    except exc.ArgumentError:
        raise ConfigurationError(
            f"The database URL {mask_url(database_url)!r} is not a valid SQLAlchemy URL. "
            "Set DEPLOYKIT_DATABASE_URL to e.g. 'sqlite:////path/registry.db' or "
            "'postgresql+psycopg://user:password@host/db'."
        ) from None
    kwargs: dict[str, Any] = {}
    path = sqlite_path(url)
    if url.get_backend_name() == "sqlite":
        # Server threads share the pool; the default 5 s pysqlite timeout is replaced by ours.
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": _BUSY_TIMEOUT_MS / 1000}
        if path is None:
            kwargs["poolclass"] = StaticPool  # one in-memory database, not one per connection
        else:
            _ensure_parent(path, url)
    try:
        engine = sa.create_engine(url, **kwargs)
    except (ImportError, exc.NoSuchModuleError) as error:
        extra = " (pip install 'deploykit[postgres]')" if "postgres" in url.drivername else ""
        raise ConfigurationError(
            f"Cannot open the database {mask_url(url)!r}: its driver is not installed{extra}. "
            f"({error})"
        ) from None
    if url.get_backend_name() == "sqlite":
        _configure_sqlite(engine, fsync=fsync)
    return engine


def _ensure_parent(path: Path, url: URL) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigurationError(
            f"Cannot create the folder of the database {mask_url(url)!r} "
            f"({error.strerror or error}). Set DEPLOYKIT_DATABASE_URL or DEPLOYKIT_HOME "
            "to a place you can write to."
        ) from None


def _configure_sqlite(engine: Engine, *, fsync: bool) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy (below) issue BEGIN, not the sqlite3 module's implicit one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL survives crashes; FULL also survives power loss.
            cursor.execute(f"PRAGMA synchronous = {'FULL' if fsync else 'NORMAL'}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        write = connection.get_execution_options().get(WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def is_retryable(error: BaseException) -> bool:
    """Whether ``error`` is a lost lock race that a fresh transaction may win."""
    if not isinstance(error, exc.DBAPIError):
        return False
    orig = getattr(error, "orig", None)
    if getattr(orig, "sqlstate", None) in _PG_RETRY or getattr(orig, "pgcode", None) in _PG_RETRY:
        return True
    message = str(orig or error).lower()
    return "database is locked" in message or "database table is locked" in message


def run_in_transaction(
    engine: Engine,
    work: Callable[[sa.Connection], _T],
    *,
    budget: float = _RETRY_BUDGET_S,
) -> _T:
    """Run ``work`` in one write transaction, retrying lock races with jittered backoff.

    ``work`` may run several times; it must do nothing outside the connection.
    """
    writer = engine.execution_options(**{WRITE: True})
    deadline = time.monotonic() + budget
    delay = 0.01
    while True:
        try:
            with writer.begin() as connection:
                if connection.dialect.name == "postgresql":
                    # Taken before anything else, so no writer waits on a row lock held by
                    # another while holding this one: no deadlock between the two kinds.
                    connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_WRITE_LOCK_KEY)))
                return work(connection)
        except exc.DBAPIError as error:
            if not is_retryable(error) or time.monotonic() + delay > deadline:
                raise storage_error(engine, error) from error
        time.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 1.0)


def storage_error(engine: Engine, error: BaseException) -> StorageError:
    """A StorageError naming the database (password masked) and what went wrong."""
    orig = getattr(error, "orig", None) or error
    reason = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    return StorageError(
        f"The deploykit database {mask_url(engine.url)!r} failed: {reason}. "
        "Check that it is reachable and writable (DEPLOYKIT_DATABASE_URL)."
    )
