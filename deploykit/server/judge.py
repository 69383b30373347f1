"""Promote on evidence: every worker runs one judge; a lease makes them take turns.

Every ``alert_interval_seconds`` (the monitor's beat, see :mod:`deploykit.server.alerting`)
the judge reads the running experiments that have a ``promote_when`` policy, takes the
round's lease of each (:meth:`ExperimentStore.claim_check`, one replica wins), gathers
the evidence (:mod:`deploykit.monitoring.evidence`) and reads it with the always-valid
sequential test (:mod:`deploykit.monitoring.sequential`). ``promote`` moves the alias to
the candidate and ends the experiment in one transaction; ``abort`` ends it, production
never having moved. Both are audit events whose details hold the decision and its
statistics; ``if_experiment`` makes them refuse if someone ended it meanwhile.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import TYPE_CHECKING

from deploykit.errors import ConflictError, DeployKitError, NotFoundError
from deploykit.registry.experiments import ExperimentStore
from deploykit.server.rounds import ACTOR, MonitorRounds

if TYPE_CHECKING:
    from deploykit.monitoring.sequential import Decision

__all__ = ["ACTOR", "ExperimentJudge"]

log = logging.getLogger("deploykit.server")


class ExperimentJudge(MonitorRounds["tuple[str, Decision]"]):
    """The background thread of one worker that promotes or aborts on evidence."""

    thread_name = "deploykit-judge"
    what = "experiment evaluation"

    @functools.cached_property
    def store(self) -> ExperimentStore:
        return ExperimentStore(self.registry.engine)

    def run_once(self, now: float | None = None) -> list[tuple[str, Decision]]:
        """Judge every experiment whose lease this worker takes; the decisions acted on."""
        now = time.time() if now is None else now
        running = [e for e in self.store.running().values() if e.promote_when]
        if not running:
            return []
        # the evidence stack (pandas) loads once an experiment has a policy to judge
        from deploykit.monitoring.evidence import judge

        self.flush()
        acted = []
        for experiment in running:
            if not self.store.claim_check(experiment.id, now, self.interval):
                continue
            try:
                decision = judge(self.registry, experiment, now)
            except DeployKitError as exc:
                log.warning(
                    "experiment %s of %s cannot be judged: %s", experiment.id, experiment.model, exc
                )
                continue
            statistics = decision.to_dict()
            if decision.action == "wait":
                self.store.record_statistics(experiment.id, statistics)
                continue
            if self._act(experiment.model, experiment.id, decision, statistics):
                acted.append((experiment.model, decision))
        self.acted.extend(acted)
        return acted

    def _act(self, name: str, experiment_id: int, decision: Decision, statistics: dict) -> bool:
        reason = f"automatic {decision.action}: {decision.reason}"
        try:
            if decision.action == "promote":
                ended = self.registry.promote(
                    name, reason, statistics=statistics, if_experiment=experiment_id
                )
                try:  # this worker serves it now; the others follow within poll_interval
                    self.host.prepare(name, ended.candidate, route=True)
                    self.host.follow_experiments()
                except Exception as exc:
                    log.warning("%s:%s cannot load here: %s", name, ended.candidate, exc)
            else:
                self.registry.abort(
                    name, reason, statistics=statistics, if_experiment=experiment_id
                )
                self.host.follow_experiments()
        except (ConflictError, NotFoundError) as exc:  # ended by someone else meanwhile
            log.info(
                "experiment %s of %s was not %sd: %s", experiment_id, name, decision.action, exc
            )
            return False
        log.warning("%s: %s", name, reason)
        return True
