"""Alert rules: a metric of a model's production version, over a window, against a threshold.

    AlertRule("churn", "errors", metric="error_rate", threshold=0.05, window_seconds=300,
              rollback=True)

==================== ================================================ ============ ============
metric               the figure, for the version ``production`` is on threshold     counted in
==================== ================================================ ============ ============
error_rate           share of predict requests answered 5xx           (0, 1]       requests
client_error_rate    share answered 4xx (a schema change breaks them) (0, 1]       requests
latency_p95_ms       95th percentile of predict latency, ms           > 0          requests
drift_share          share of features drifted (see DriftOptions)     (0, 1]       rows
accuracy_drop        push-time accuracy minus live (MAE: live minus)  > 0          labels
estimated_accuracy_  push-time accuracy minus the estimate from       (0, 1]       rows
drop                 logged scores, no labels needed (CBPE)
estimated_roc_auc_   push-time ROC AUC minus the estimated one        (0, 1]       rows
drop
estimated_mae_rise   estimated MAE (error model) minus push-time MAE  > 0          rows
multivariate_drift   -log10 of the PCA reconstruction-error p-value   > 0          rows
                     (2 = p < 0.01): features moving together anew
==================== ================================================ ============ ============

``estimated_roc_auc_drop`` at 0.03 is "estimated ROC AUC < the production version's
push-time ROC AUC - 0.03". Estimates come from the calibration evidence the version's
evaluation kept at push; a version pushed without one never fires them.

``accuracy_drop`` counts only labels sent with a token of the server's feedback role
(``authenticated``); anonymous labels, accepted only when the server allows them,
show in the drift view but never fire a rule.

A rule breaches when its figure is *above* the threshold and rests on at least
``min_count`` requests, rows or labels (so three requests cannot page anyone). A
breach writes an ``alert`` event naming the rule and the figures; with
``rollback=True`` production moves back to the version before, as an
``auto-rollback`` event; with ``webhook`` the breach is POSTed there as JSON. After
firing, a rule stays quiet for ``cooldown_seconds``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict
from urllib.parse import urlparse

from deploykit._fields import field_names, refuse_unknown
from deploykit.errors import InvalidInputError
from deploykit.registry.names import check_model_name

if TYPE_CHECKING:
    from deploykit.records import Event

__all__ = [
    "ALERT_ACTIONS",
    "ESTIMATED",
    "MANUAL_MOVES",
    "METRICS",
    "RULE_FIELDS",
    "AlertOptions",
    "AlertRule",
    "Breach",
    "check_options",
    "check_rule",
    "standing_alert",
]

#: Audit-log actions that say a rule fired, and the moves of an alias a person makes.
ALERT_ACTIONS = ("alert", "auto-rollback")
MANUAL_MOVES = ("deploy", "rollback")

#: metric -> (what counts toward min_count, default min_count, largest threshold)
METRICS: dict[str, tuple[str, int, float]] = {
    "error_rate": ("requests", 20, 1.0),
    "client_error_rate": ("requests", 20, 1.0),
    "latency_p95_ms": ("requests", 20, math.inf),
    "drift_share": ("rows", 100, 1.0),
    "accuracy_drop": ("labels", 20, math.inf),
    "estimated_accuracy_drop": ("rows", 200, 1.0),
    "estimated_roc_auc_drop": ("rows", 200, 1.0),
    "estimated_mae_rise": ("rows", 200, math.inf),
    "multivariate_drift": ("rows", 200, math.inf),
}
#: The estimated metric each ``estimated_*`` rule compares with the push-time figure.
ESTIMATED = {
    "estimated_accuracy_drop": "accuracy",
    "estimated_roc_auc_drop": "roc_auc",
    "estimated_mae_rise": "mae",
}
_MAX_WINDOW = 30 * 86400


class _RuleNeeds(TypedDict):
    metric: str
    threshold: float


class AlertOptions(_RuleNeeds, total=False):
    """What a caller sets on a rule besides its model and name, in the order of
    :class:`AlertRule` (whose defaults apply to what is left out).

    Written once for ``Registry.set_alert``, ``Client.set_alert``, the store and the
    backend protocol (``**options: Unpack[AlertOptions]``); the HTTP route, the
    OpenAPI document and the client derive their field lists from it.
    """

    window_seconds: int
    rollback: bool
    webhook: str | None
    min_count: int | None
    cooldown_seconds: int
    enabled: bool


#: The fields of :class:`AlertOptions`, in order: the store writes them, the HTTP route
#: accepts them, the OpenAPI document and the client send them.
RULE_FIELDS = tuple(AlertOptions.__annotations__)


def check_options(options: Mapping[str, Any], *, call: str) -> None:
    """A misspelt or missing keyword of ``call`` is a TypeError, as Python's own would be."""
    unknown = sorted(set(options) - set(RULE_FIELDS))
    if unknown:
        raise TypeError(
            f"{call}() got unexpected keyword argument(s) {', '.join(map(repr, unknown))}; "
            f"it takes {', '.join(RULE_FIELDS)}."
        )
    missing = sorted(AlertOptions.__required_keys__ - set(options))
    if missing:
        raise TypeError(
            f"{call}() missing required keyword argument(s) {', '.join(map(repr, missing))}."
        )


def _fail(param: str, expected: str, got: Any) -> InvalidInputError:
    return InvalidInputError(
        f"The {param!r} parameter of AlertRule must be {expected}. Got {got!r} instead."
    )


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclasses.dataclass(frozen=True)
class AlertRule:
    """One alert rule of one model (``name`` is unique per model)."""

    model: str
    name: str
    metric: str
    threshold: float
    window_seconds: int = 300
    rollback: bool = False
    webhook: str | None = None
    min_count: int | None = None  # None: the metric's default
    cooldown_seconds: int = 600
    enabled: bool = True
    id: int | None = None
    created_at: datetime | None = None
    created_by: str | None = None
    last_fired_at: datetime | None = None

    def __post_init__(self) -> None:
        check_model_name(self.model)
        if not isinstance(self.name, str) or not 1 <= len(self.name.strip()) <= 128:
            raise _fail("name", "a rule name of 1 to 128 characters, such as 'errors'", self.name)
        object.__setattr__(self, "name", self.name.strip())
        if not isinstance(self.metric, str) or self.metric not in METRICS:
            raise _fail("metric", f"one of {', '.join(map(repr, METRICS))}", self.metric)
        unit, default_count, upper = METRICS[self.metric]
        value = self.threshold
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not (number and math.isfinite(value) and 0 < value <= upper):
            bound = f"a number in (0, {upper:g}]" if math.isfinite(upper) else "a number > 0"
            raise _fail("threshold", f"{bound} for metric {self.metric!r}", value)
        object.__setattr__(self, "threshold", float(value))
        if not (_int(self.window_seconds) and 10 <= self.window_seconds <= _MAX_WINDOW):
            raise _fail("window_seconds", f"an int in [10, {_MAX_WINDOW}]", self.window_seconds)
        if not isinstance(self.rollback, bool):
            raise _fail("rollback", "a bool", self.rollback)
        if not isinstance(self.enabled, bool):
            raise _fail("enabled", "a bool", self.enabled)
        if self.min_count is None:
            object.__setattr__(self, "min_count", default_count)
        elif not (_int(self.min_count) and self.min_count >= 1):
            raise _fail("min_count", f"an int >= 1 (the least {unit} to judge on)", self.min_count)
        if not (_int(self.cooldown_seconds) and 0 <= self.cooldown_seconds <= _MAX_WINDOW):
            raise _fail("cooldown_seconds", f"an int in [0, {_MAX_WINDOW}]", self.cooldown_seconds)
        if self.webhook is not None:
            url = urlparse(self.webhook) if isinstance(self.webhook, str) else None
            if url is None or url.scheme not in ("http", "https") or not url.netloc:
                raise _fail(
                    "webhook",
                    "an http(s) URL such as https://ci.example/hooks/retrain",
                    self.webhook,
                )

    @property
    def unit(self) -> str:
        """What ``min_count`` counts: requests, rows or labels."""
        return METRICS[self.metric][0]

    def describe(self) -> str:
        rollback = ", then roll back" if self.rollback else ""
        return (
            f"{self.name}: {self.metric} > {self.threshold:g} over {self.window_seconds} s "
            f"(at least {self.min_count} {self.unit}){rollback}"
        )

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for key in ("created_at", "last_fired_at"):
            d[key] = None if d[key] is None else d[key].isoformat()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AlertRule:
        refuse_unknown(
            d,
            field_names(cls),
            what="alert rule field",
            known_as="the fields are",
            error=InvalidInputError,
        )
        values = dict(d)
        for key in ("created_at", "last_fired_at"):
            if isinstance(values.get(key), str):
                values[key] = datetime.fromisoformat(values[key])
        for key in ("model", "name", "metric", "threshold"):
            if key not in values:
                raise InvalidInputError(f"An alert rule needs the field {key!r}.")
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class Breach:
    """A rule's figure over its threshold, on enough data: what the alert event records."""

    rule: AlertRule
    version: int
    value: float
    count: int
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def reason(self) -> str:
        return (
            f"alert {self.rule.name!r}: {self.rule.metric} {self.value:.4g} > "
            f"{self.rule.threshold:g} over the last {self.rule.window_seconds} s "
            f"({self.count} {self.rule.unit}) on {self.rule.model}:{self.version}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule.name,
            "metric": self.rule.metric,
            "threshold": self.rule.threshold,
            "window_seconds": self.rule.window_seconds,
            "value": self.value,
            "count": self.count,
            "unit": self.rule.unit,
            "model": self.rule.model,
            "version": self.version,
            "rollback": self.rule.rollback,
            **self.details,
        }


def check_rule(
    rule: AlertRule, version: int, value: float | None, count: int, **details: Any
) -> Breach | None:
    """The breach, if ``value`` (measured on ``count`` requests/rows/labels) breaks ``rule``."""
    if value is None or not math.isfinite(value) or count < (rule.min_count or 1):
        return None
    if value <= rule.threshold:
        return None
    return Breach(rule, version, float(value), int(count), details)


def standing_alert(
    events: Iterable[Event], *, now: datetime, seconds: float, alias: str = "production"
) -> Event | None:
    """The ``alert`` or ``auto-rollback`` event that still describes a model, if any.

    The state comes from the latest move of ``alias``: an alert (or automatic rollback) in
    the last ``seconds`` counts unless a person deployed or rolled back since, so a manual
    redeploy after an auto-rollback is not shown as "rolled back". ``events``: one model's.
    """
    for e in sorted(events, key=lambda e: (e.at, e.id), reverse=True):
        if e.action in MANUAL_MOVES and e.alias in (None, alias):
            return None  # a person moved the alias after any alert that came before
        if e.action in ALERT_ACTIONS:
            return e if (now - e.at).total_seconds() <= seconds else None
    return None
