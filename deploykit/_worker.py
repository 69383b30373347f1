"""A daemon thread that runs a loop until it is told to stop: the alert evaluator, the
telemetry and prediction-log flushers and the console's refresh each run one.

Daemon, so a stuck database never keeps a process from exiting; :meth:`Worker.stop`
waits a bounded time for the last round (a final flush) to finish.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["Worker"]


class Worker:
    """Runs ``loop`` on a daemon thread named ``name``; the loop watches :attr:`stopping`.

    ``wake`` (optional) is an event the loop also waits on: :meth:`stop` sets it, so a
    loop asleep on it notices at once.
    """

    def __init__(
        self,
        name: str,
        loop: Callable[[], None],
        *,
        join_seconds: float,
        wake: threading.Event | None = None,
    ) -> None:
        self.name = name
        self.stopping = threading.Event()
        self._loop = loop
        self._join_seconds = join_seconds
        self._wake = wake
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread, unless it runs already."""
        if self.running:
            return
        self.stopping.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Tell the loop to stop and wait (up to ``join_seconds``) for it to finish."""
        self.stopping.set()
        if self._wake is not None:
            self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self._join_seconds)
            self._thread = None
