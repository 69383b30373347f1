"""Being told when an alias moves: PostgreSQL LISTEN/NOTIFY, with polling as the floor.

Every alias move (deploy, rollback, delete) sends ``NOTIFY deploykit_aliases`` in
its own transaction; PostgreSQL delivers it at commit, never before, so a
listener that wakes up and re-reads the aliases sees the move. Followers (server
replicas) still poll :meth:`Registry.alias_versions` every ``timeout`` seconds:
notifications are an accelerator, never the only path. A dropped listening
connection (database restart, network) degrades to polling and reconnects in the
background; SQLite and other databases simply poll.

    watcher = registry.watch_aliases()
    while running:
        watcher.wait(0.25)                 # returns early on a notification
        targets = registry.alias_versions()
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

import sqlalchemy as sa

__all__ = ["CHANNEL", "AliasWatcher", "notify_alias_moved"]

log = logging.getLogger("deploykit.registry")

CHANNEL = "deploykit_aliases"
_RECONNECT_AFTER_S = 5.0


def notify_alias_moved(connection: sa.Connection, model: str, alias: str) -> None:
    """Queue a notification of the move, delivered when the caller's transaction commits."""
    if connection.dialect.name == "postgresql":
        payload = f"{model}\t{alias}"[:7000]  # NOTIFY payloads stop at 8000 bytes
        connection.execute(sa.select(sa.func.pg_notify(CHANNEL, payload)))


class AliasWatcher:
    """Waits for alias moves on ``engine``'s database; a plain sleep where it cannot listen.

    Use it, :meth:`close` included, from one thread (the follower's): a psycopg
    connection must not be closed under a thread blocked on it.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._listens = engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"
        self._conn: Any = None  # a psycopg connection in autocommit mode, LISTENing
        self._retry_at = 0.0
        self._closed = threading.Event()
        self.notifications = 0

    @property
    def listening(self) -> bool:
        """Whether notifications arrive now (False: polling only)."""
        return self._conn is not None

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds; True if an alias move was announced meanwhile."""
        if self._closed.is_set():
            return False
        conn = self._connection()
        if conn is None:
            self._closed.wait(timeout)
            return False
        try:
            got = sum(1 for _ in conn.notifies(timeout=timeout, stop_after=1))
            # Several moves may be queued: drain them, the caller re-reads everything once.
            got += sum(1 for _ in conn.notifies(timeout=0))
        except Exception as exc:  # the connection dropped: poll until it is back
            log.warning("alias notifications lost (%s); polling until reconnected", exc)
            self._drop()
            return False
        self.notifications += got
        return got > 0

    def close(self) -> None:
        """Stop listening and release the connection; later waits return False at once."""
        self._closed.set()
        self._drop()

    def _connection(self) -> Any:
        if not self._listens or self._conn is not None or time.monotonic() < self._retry_at:
            return self._conn
        try:
            raw = self._engine.raw_connection()
            conn: Any = raw.driver_connection
            raw.detach()  # ours for good: a LISTENing connection must not go back to the pool
            conn.rollback()
            conn.autocommit = True
            conn.execute(f"LISTEN {CHANNEL}")
        except Exception as exc:
            log.warning("cannot LISTEN for alias moves (%s); polling instead", exc)
            self._retry_at = time.monotonic() + _RECONNECT_AFTER_S
            return None
        self._conn = conn
        return conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._retry_at = time.monotonic() + _RECONNECT_AFTER_S
        if conn is not None:
            with contextlib.suppress(Exception):  # already broken: nothing to release
                conn.close()
