"""The background rounds a worker runs beside serving: alert rules and experiment verdicts.

:class:`~deploykit.server.alerting.AlertEvaluator` and
:class:`~deploykit.server.judge.ExperimentJudge` both wake every
``alert_interval_seconds``, flush this worker's telemetry and prediction logs, and act on
what the registry database lets them claim; they differ only in what one round does.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Generic, TypeVar

from deploykit._worker import Worker

if TYPE_CHECKING:
    from deploykit.registry import Registry
    from deploykit.server.config import ServerConfig
    from deploykit.server.models import ModelHost
    from deploykit.server.predlog import PredictionLog
    from deploykit.server.telemetry import Telemetry

__all__ = ["ACTOR", "MonitorRounds"]

log = logging.getLogger("deploykit.server")

ACTOR = "deploykit-monitor"  # who the audit log says acted

Acted = TypeVar("Acted")


class MonitorRounds(Generic[Acted]):
    """A daemon thread that calls :meth:`run_once` every alert interval (0: never)."""

    thread_name = "deploykit-rounds"
    what = "monitor round"  # for the log line when a round fails

    def __init__(
        self,
        registry: Registry,
        config: ServerConfig,
        *,
        host: ModelHost,
        telemetry: Telemetry,
        predlog: PredictionLog,
    ) -> None:
        # The worker's parts it reads and moves, not the whole state: it stands below it.
        self.registry = registry.as_actor(ACTOR)
        self.config = config
        self.host = host
        self.telemetry = telemetry
        self.predlog = predlog
        self.interval = config.alert_interval_seconds
        self.failures = 0
        self.acted: list[Acted] = []  # what this worker acted on, for debugging
        self._worker = Worker(self.thread_name, self._loop, join_seconds=10)

    def start(self) -> None:
        if self.interval > 0:
            self._worker.start()

    def stop(self) -> None:
        self._worker.stop()

    def run_once(self, now: float | None = None) -> list[Acted]:
        """One round at ``now`` (default: the clock); what it acted on."""
        raise NotImplementedError

    def flush(self) -> None:
        """Write this worker's buffered telemetry and logged rows, so the round reads them."""
        self.telemetry.flush()
        self.predlog.flush()

    def _loop(self) -> None:
        # Wake more often than the interval: the leases keep rounds one per interval.
        while not self._worker.stopping.wait(min(self.interval, 2.0)):
            try:
                self.run_once()
            except Exception:  # a failing round must never stop the thread or the server
                self.failures += 1
                log.exception("%s failed", self.what)
