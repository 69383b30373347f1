"""The alert evaluator: every worker runs one; the registry database makes them take turns.

Every ``alert_interval_seconds`` a background thread reads the enabled rules
(:mod:`deploykit.monitoring.rules`) and, for each, tries to take the round's lease
(:func:`~deploykit.monitoring.store.claim_check`): one replica wins it and computes
the figure for the version ``production`` points at, over the rule's window —
telemetry for error rates and latency, the prediction logs for drift, the feedback
labels for accuracy. On a breach it takes the firing claim
(:func:`~deploykit.monitoring.store.claim_fire`, which also enforces the cooldown),
writes an ``alert`` event, rolls production back if the rule says so — with
``if_current`` set to the version it judged, so it refuses when someone moved
production meanwhile — and POSTs the breach to the rule's webhook from a short-lived
thread (2 s timeout, failures logged): nothing here ever waits on the request path.
The webhook's host is resolved and checked first (:mod:`deploykit.monitoring.webhooks`:
public addresses, or networks ``DEPLOYKIT_WEBHOOK_ALLOW_NETWORKS`` allows), and the
POST goes to the address checked, not to a second lookup; redirects are not followed.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from deploykit.errors import ConflictError, DeployKitError
from deploykit.monitoring.periods import Period
from deploykit.monitoring.rules import ESTIMATED, AlertRule, Breach, check_rule
from deploykit.monitoring.store import alerts, claim_check, claim_fire, drift_options
from deploykit.monitoring.telemetry import percentile, window_totals
from deploykit.server.rounds import ACTOR, MonitorRounds

if TYPE_CHECKING:
    from deploykit.registry import Registry

__all__ = ["ACTOR", "AlertEvaluator", "measure"]

log = logging.getLogger("deploykit.server")

WEBHOOK_TIMEOUT_S = 2.0


def measure(
    registry: Registry, rule: AlertRule, version: int, now: float
) -> tuple[float | None, int, dict[str, Any]]:
    """(figure, what it rests on, extra details) of ``rule`` for ``version`` at ``now``."""
    since = now - rule.window_seconds
    if rule.metric in ("error_rate", "client_error_rate", "latency_p95_ms"):
        total = window_totals(registry.engine, rule.model, since=int(since), version=version)
        if not total.requests:
            return None, 0, {}
        if rule.metric == "latency_p95_ms":
            value = percentile(total.hist, 0.95)
        else:
            errors = total.errors_5xx if rule.metric == "error_rate" else total.errors_4xx
            value = errors / total.requests
        details: dict[str, Any] = {"errors_4xx": total.errors_4xx, "errors_5xx": total.errors_5xx}
        return value, total.requests, details
    record = registry.version(rule.model, version)
    profile = registry.profile(rule.model, version)
    if profile is None:
        return None, 0, {}
    span = Period(
        datetime.fromtimestamp(since, tz=timezone.utc), datetime.fromtimestamp(now, tz=timezone.utc)
    )
    if rule.metric in ESTIMATED:
        return _estimated(registry, rule, record, profile, span)
    # the drift stack (pandas, SciPy) loads for drift and accuracy rules only
    from deploykit.monitoring.monitor import timeline_for

    options = drift_options(registry, rule.model)
    if rule.metric == "multivariate_drift":
        multi = timeline_for(
            registry, record, profile, span, options, with_accuracy=False
        ).overall.multivariate
        if multi is None:
            return None, 0, {}
        score = -math.log10(max(multi.p_value, 1e-300))
        return score, multi.rows, {"p_value": multi.p_value, "statistic": multi.statistic}
    if rule.metric == "drift_share":
        report = timeline_for(registry, record, profile, span, options, with_accuracy=False).overall
        return (
            report.drifted_share,
            report.rows,
            {"drifted_features": list(report.drifted_features)},
        )
    # Rules act (events, webhooks, rollbacks): only labels a token vouched for count.
    accuracy = timeline_for(
        registry, record, profile, span, options, authenticated_only=True
    ).accuracy
    if accuracy is None:
        return None, 0, {}
    details = {
        "accuracy_metric": accuracy.metric,
        "live": accuracy.value,
        "at_push": accuracy.reference,
    }
    return accuracy.drop, accuracy.labelled, details


def _estimated(
    registry: Registry, rule: AlertRule, record: Any, profile: Any, span: Period
) -> tuple[float | None, int, dict[str, Any]]:
    """The push-time figure minus the estimated one (MAE: the other way round)."""
    from deploykit.monitoring.performance import estimate_table, read_scores_log

    metric = ESTIMATED[rule.metric]
    table = read_scores_log(registry, record, profile, span)
    result = estimate_table(record, profile, table, span)
    drop = result.drop(metric)
    if drop is None:
        return None, 0, {}
    estimate = result.overall.metrics[metric]
    details = {
        "estimated_metric": metric,
        "estimated": estimate.value,
        "band": [estimate.lower, estimate.upper],
        "at_push": result.reference.get(metric),
        "trusted": result.overall.trusted,
    }
    return drop, result.overall.rows, details


class AlertEvaluator(MonitorRounds[Breach]):
    """The background thread of one worker that evaluates alert rules."""

    thread_name = "deploykit-alerts"
    what = "alert evaluation"

    def run_once(self, now: float | None = None) -> list[Breach]:
        """Evaluate every rule whose lease this worker takes; the breaches acted on."""
        now = time.time() if now is None else now
        rules = [r for r in alerts(self.registry) if r.enabled and r.id is not None]
        if not rules:
            return []
        self.flush()
        acted = []
        for rule in rules:
            assert rule.id is not None
            if not claim_check(self.registry.engine, rule.id, now, self.interval):
                continue
            try:
                breach = self._check(rule, now)
            except DeployKitError as exc:
                log.warning(
                    "alert rule %s of %s cannot be evaluated: %s", rule.name, rule.model, exc
                )
                continue
            if breach is not None and claim_fire(
                self.registry.engine, rule.id, now, rule.cooldown_seconds
            ):
                self._fire(breach)
                acted.append(breach)
        self.acted.extend(acted)
        return acted

    def _check(self, rule: AlertRule, now: float) -> Breach | None:
        alias = self.config.alias
        version = self.registry.model(rule.model).aliases.get(alias)
        if version is None:
            return None
        value, count, details = measure(self.registry, rule, version, now)
        return check_rule(rule, version, value, count, alias=alias, **details)

    def _fire(self, breach: Breach) -> None:
        rule = breach.rule
        event = self.registry.record_alert(
            rule.model, breach.reason, version=breach.version, details=breach.to_dict()
        )
        log.warning("%s", breach.reason)
        rollback: dict[str, Any] | None = None
        if rule.rollback:
            rollback = self._roll_back(breach)
        if rule.webhook:
            payload = {
                "type": "deploykit.alert",
                "at": event.at.isoformat(),
                "event_id": event.id,
                "reason": breach.reason,
                "alert": breach.to_dict(),
                "rollback": rollback,
            }
            allow = self.registry.settings.webhook_allow_networks
            threading.Thread(
                target=_post,
                args=(rule.webhook, payload, allow),
                name="deploykit-webhook",
                daemon=True,
            ).start()

    def _roll_back(self, breach: Breach) -> dict[str, Any]:
        rule, alias = breach.rule, self.config.alias
        try:
            moved = self.registry.rollback(
                rule.model,
                alias=alias,
                reason=breach.reason,
                action="auto-rollback",
                if_current=breach.version,
            )
        except ConflictError as exc:  # someone moved it, or nothing to go back to
            log.warning("auto-rollback of %s refused: %s", rule.model, exc)
            return {"done": False, "reason": str(exc)}
        try:  # this worker swaps now; the others follow the alias within their poll interval
            self.host.prepare(rule.model, moved.version, route=True)
        except Exception as exc:
            log.warning("version %s of %s cannot load here: %s", moved.version, rule.model, exc)
        return {"done": True, "from": breach.version, "to": moved.version}


def _post(url: str, payload: dict[str, Any], allow: Sequence[str] = ()) -> None:
    """POST ``payload`` to ``url``, if its host resolves to an address webhooks may reach."""
    import httpx

    from deploykit.monitoring.webhooks import resolve_webhook

    try:
        target = resolve_webhook(url, allow)
    except DeployKitError as exc:
        log.warning("alert webhook %s refused: %s", url, exc)
        return
    parts = urlsplit(url)
    ip = f"[{target.ip}]" if ":" in target.ip else target.ip
    pinned = urlunsplit((parts.scheme, f"{ip}:{target.port}", parts.path or "/", parts.query, ""))
    host = parts.netloc.rsplit("@", 1)[-1]  # as written, without any user:password@
    auth: Any = None
    if parts.username:
        auth = (unquote(parts.username), unquote(parts.password or ""))
    # TLS still checks the certificate against the name in the URL (sni_hostname).
    extensions = {"sni_hostname": target.host} if parts.scheme == "https" else {}
    try:
        with httpx.Client(
            timeout=WEBHOOK_TIMEOUT_S, trust_env=False, follow_redirects=False
        ) as client:
            response = client.post(
                pinned, json=payload, headers={"host": host}, auth=auth, extensions=extensions
            )
        if response.status_code >= 400:
            log.warning("alert webhook %s answered %s", url, response.status_code)
    except Exception as exc:  # the receiver's problem must never become ours
        log.warning("alert webhook %s failed: %s", url, exc)
