"""Drift and accuracy of a model's live traffic, straight from a registry.

    from deploykit.monitoring import drift
    timeline = drift(reg, "churn", since="2025-01-31T00:00:00", step=3600)
    timeline.overall.drifted_features, timeline.windows, timeline.accuracy

The version judged is the one ``production`` points at (the latest if no alias),
its reference profile is the one recorded at push, its traffic is read from the
prediction logs, and its labels from the feedback table (all of them here; alert
rules count only the labels a token vouched for). ``GET /v1/models/{name}/drift``
and ``Client.drift`` answer the same.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TypedDict

import sqlalchemy as sa

from deploykit.errors import AliasNotFoundError, ConflictError
from deploykit.monitoring.accuracy import accuracy
from deploykit.monitoring.logs import INPUT, read_log
from deploykit.monitoring.options import DriftOptions
from deploykit.monitoring.periods import Period, period
from deploykit.monitoring.profile import ReferenceProfile
from deploykit.monitoring.results import Accuracy, DriftTimeline
from deploykit.monitoring.store import drift_options
from deploykit.monitoring.tables import feedback
from deploykit.monitoring.timeline import drift_timeline

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Unpack

    import pyarrow as pa

    from deploykit.records import ModelVersion
    from deploykit.registry import Registry

__all__ = [
    "DEFAULT_SPAN",
    "LogWindow",
    "drift",
    "labels",
    "monitored_version",
    "monitored_window",
    "read_version_log",
]

DEFAULT_SPAN = timedelta(hours=24)


class LogWindow(TypedDict, total=False):
    """Which logged traffic a monitoring answer looks at: [since, until) (the last 24 h by
    default), one window per ``step`` seconds, of ``version`` (default: production's)."""

    since: Any
    until: Any
    step: int | None
    version: int | str | None


def monitored_window(
    registry: Registry, name: str, **window: Unpack[LogWindow]
) -> tuple[Period, ModelVersion]:
    """The checked period and the version a :class:`LogWindow` names: what drift and
    estimated performance both read."""
    since, until, step = window.get("since"), window.get("until"), window.get("step")
    span = period(since, until, step, default_span=DEFAULT_SPAN)
    return span, monitored_version(registry, name, window.get("version"))


def monitored_version(
    registry: Registry, name: str, version: int | str | None = None
) -> ModelVersion:
    """``version``, or the one ``production`` points at, or the latest."""
    if version is not None:
        return registry.version(name, version)
    try:
        return registry.version(name, "production")
    except AliasNotFoundError:
        return registry.version(name, "latest")


def _profile(registry: Registry, record: ModelVersion) -> ReferenceProfile:
    profile = registry.profile(record.model, record.version)
    if profile is None:
        raise ConflictError(
            f"{record.ref} was pushed without training data, so it has no reference profile "
            f"to measure drift against. Push it again with X=<training data>."
        )
    return profile


def labels(
    registry: Registry,
    name: str,
    since: datetime | None = None,
    *,
    authenticated_only: bool = False,
) -> dict[str, Any]:
    """Feedback labels of ``name`` by request id (the latest wins), given since ``since``.

    ``authenticated_only`` keeps the labels a token vouched for: what alert rules act on.
    """
    f = feedback.c
    query = sa.select(f.request_id, f.label).where(f.model == name).order_by(f.id)
    if authenticated_only:
        query = query.where(f.authenticated.is_(True))
    if since is not None:
        # Feedback comes after its prediction. UTC: SQLite compares the stored text.
        query = query.where(f.at >= since.astimezone(timezone.utc))
    with registry.engine.connect() as connection:
        return {row.request_id: row.label for row in connection.execute(query)}


def _storage_options(registry: Registry) -> dict[str, Any]:
    """What fsspec needs for the artifact store (an S3 endpoint...), as the server writes it."""
    options = getattr(registry.settings, "storage_options", None)
    return dict(options()) if callable(options) else {}


def read_version_log(
    registry: Registry, record: ModelVersion, span: Period, columns: Sequence[str]
) -> pa.Table:
    """The ``columns`` of one version's logged rows over ``span``, from the registry's
    artifact store: what drift, estimated performance and the alert rules all read."""
    return read_log(
        registry.settings.artifacts_url,
        record.model,
        since=span.since,
        until=span.until,
        version=record.version,
        columns=columns,
        storage_options=_storage_options(registry),
    )


def _task(profile: ReferenceProfile, record: ModelVersion) -> str | None:
    if profile.prediction is not None:
        return "classification" if profile.prediction.kind == "categorical" else "regression"
    if "accuracy" in record.metrics:
        return "classification"
    if "mae" in record.metrics:
        return "regression"
    return None


def drift(
    registry: Registry,
    name: str,
    *,
    options: DriftOptions | None = None,
    with_accuracy: bool = True,
    **window: Unpack[LogWindow],
) -> DriftTimeline:
    """Drift of ``name``'s logged traffic in [since, until) (the last 24 h by default).

    ``step`` (seconds) adds one window per step, for charts. ``options`` default to
    the model's stored ones (:func:`~deploykit.monitoring.store.set_drift_options`).
    An empty period is an error; a period with no traffic is an answer with
    ``rows == 0`` and no verdicts.
    """
    span, record = monitored_window(registry, name, **window)
    profile = _profile(registry, record)
    opts = options if options is not None else drift_options(registry, name)
    return timeline_for(registry, record, profile, span, opts, with_accuracy=with_accuracy)


def timeline_for(
    registry: Registry,
    record: ModelVersion,
    profile: ReferenceProfile,
    span: Period,
    options: DriftOptions,
    *,
    with_accuracy: bool = True,
    authenticated_only: bool = False,
) -> DriftTimeline:
    """The drift timeline (and accuracy) of one version over ``span``.

    ``authenticated_only`` scores accuracy on the labels a token vouched for only.
    """
    columns = ["timestamp", "request_id", "prediction"]
    columns += [name for f in profile.features for name in (f.name, f"{INPUT}{f.name}")]
    columns += [f"{INPUT}{f.name[1:]}" for f in profile.features if f.name[1:].isdigit()]
    table = read_version_log(registry, record, span, columns)
    timeline = drift_timeline(
        profile, table, span, options=options, model=record.model, version=record.version
    )
    if not with_accuracy:
        return timeline
    task = _task(profile, record)
    if task is None:
        return timeline
    found = (
        labels(registry, record.model, span.since, authenticated_only=authenticated_only)
        if table.num_rows
        else {}
    )
    metric = "accuracy" if task == "classification" else "mae"
    result: Accuracy = accuracy(
        table,
        found,
        task=task,
        reference=record.metrics.get(metric),
        edges=span.edges,
    )
    return DriftTimeline(timeline.overall, timeline.step_seconds, timeline.windows, result)
