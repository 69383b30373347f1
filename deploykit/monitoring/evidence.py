"""The evidence a promotion policy is judged on, gathered for one running experiment.

Counts since the experiment started, per metric the policy names
(:mod:`deploykit.monitoring.policy`): errors from telemetry (a canary's candidate under
the model, a shadow's under ``<model>@shadow``), right labels from feedback joined to
the prediction log (only labels a token vouched for: evidence here moves production),
agreement from shadow pairs. :func:`judge` turns them into a
:class:`~deploykit.monitoring.sequential.Decision`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from deploykit.monitoring.compare import pair_rows, right_answers
from deploykit.monitoring.policy import Policy, parse_policy
from deploykit.monitoring.sequential import Counts, Decision, decide
from deploykit.monitoring.telemetry import shadow_key

if TYPE_CHECKING:
    import pandas as pd

    from deploykit.records import Experiment
    from deploykit.registry import Registry

__all__ = ["gather", "judge"]


def gather(
    registry: Registry, experiment: Experiment, policy: Policy
) -> tuple[dict[str, Counts], int]:
    """(counts per metric, candidate requests) of ``experiment`` so far."""
    from deploykit.monitoring.telemetry import window_totals

    # telemetry counts in time buckets: take whole ones, from the minute it started
    since = int(experiment.started_at.timestamp()) // 60 * 60
    name, engine = experiment.model, registry.engine
    served_key = shadow_key(name) if experiment.kind == "shadow" else name
    candidate = window_totals(engine, served_key, since=since, version=experiment.candidate)
    production = window_totals(engine, name, since=since, version=experiment.production)
    evidence = {
        "error_rate": Counts(
            candidate.errors_5xx, candidate.requests, production.errors_5xx, production.requests
        )
    }
    if "accuracy" in policy.metrics or "agreement" in policy.metrics:
        log = _log(registry, experiment)
        if "accuracy" in policy.metrics:
            evidence["accuracy"] = _accuracy(registry, experiment, log)
        if "agreement" in policy.metrics:
            i_a, i_b = pair_rows(log, experiment.production, experiment.candidate)
            values = log["prediction"].astype(str).to_numpy() if len(log) else np.empty(0)
            same = int((values[i_a] == values[i_b]).sum()) if len(i_a) else 0
            evidence["agreement"] = Counts(same, len(i_a))
    return evidence, candidate.requests


def _log(registry: Registry, experiment: Experiment) -> pd.DataFrame:
    import pandas as pd

    from deploykit.monitoring.logs import read_log
    from deploykit.monitoring.monitor import _storage_options

    table = read_log(
        registry.settings.artifacts_url,
        experiment.model,
        since=experiment.started_at,
        columns=["request_id", "version", "prediction"],
        storage_options=_storage_options(registry),
    )
    if table.num_rows == 0:
        return pd.DataFrame({"request_id": [], "version": [], "prediction": []})
    frame = table.to_pandas()
    keep = frame["version"].isin([experiment.production, experiment.candidate])
    return frame[keep].reset_index(drop=True)


def _accuracy(registry: Registry, experiment: Experiment, log: pd.DataFrame) -> Counts:
    from deploykit.monitoring.accuracy import label_rows
    from deploykit.monitoring.monitor import labels

    if not len(log):
        return Counts()
    found = labels(registry, experiment.model, experiment.started_at, authenticated_only=True)
    if not found:
        return Counts()
    truth = label_rows(log["request_id"].to_numpy(), found)
    has = np.array([t is not None for t in truth], dtype=bool)
    right = right_answers(log["prediction"].to_numpy()[has], truth[has])
    versions = log["version"].to_numpy()[has]
    c, p = versions == experiment.candidate, versions == experiment.production
    return Counts(int(right[c].sum()), int(c.sum()), int(right[p].sum()), int(p.sum()))


def judge(registry: Registry, experiment: Experiment, now: float | None = None) -> Decision:
    """What the evidence says about ``experiment`` now (it must have a ``promote_when``)."""
    now = time.time() if now is None else now
    policy = parse_policy(experiment.promote_when)
    evidence, requests = gather(registry, experiment, policy)
    return decide(
        policy,
        evidence,
        requests=requests,
        min_requests=experiment.min_requests,
        elapsed=now - experiment.started_at.timestamp(),
        max_duration=experiment.max_duration,
    )
