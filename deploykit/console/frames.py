"""Server answers as pandas frames: the input of :mod:`deploykit.console.charts`.

- :func:`serving_frame` — ``GET /v1/models/{name}/metrics``: one row per bucket and version.
- :func:`drift_frames` — ``client.drift(...)`` (a ``DriftTimeline`` or its JSON): scores per
  window and feature, prediction drift, accuracy per window, bin counts where sent.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from typing import Any

import pandas as pd

__all__ = ["DriftData", "distribution", "drift_frames", "serving_frame"]

_SERVING_COLUMNS = [
    "time",
    "version",
    "requests",
    "errors_4xx",
    "errors_5xx",
    "throughput_rps",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
]
_DRIFT_COLUMNS = ["since", "feature", "score", "drifted"]
_ACCURACY_COLUMNS = ["since", "value", "labelled"]


@dataclasses.dataclass(frozen=True)
class DriftData:
    """Drift of the live version over the page's period, shaped for the charts."""

    windows: pd.DataFrame  # since, feature, score, drifted
    drifted_share: float | None
    drifted_features: tuple[str, ...]
    features: tuple[str, ...]
    prediction: pd.DataFrame  # since, score, drifted (the predictions' own drift)
    accuracy: pd.DataFrame  # since, value, labelled
    accuracy_metric: str | None = None
    accuracy_reference: float | None = None
    distributions: Mapping[str, tuple[list[str], list[float], list[float]]] = dataclasses.field(
        default_factory=dict
    )
    #: each feature's threshold on its score (the drift-score chart draws it)
    thresholds: Mapping[str, float] = dataclasses.field(default_factory=dict)


def serving_frame(metrics: Mapping[str, Any], *, now: float | None = None) -> pd.DataFrame:
    """The ``series`` of a ``GET /v1/models/{name}/metrics`` answer, one row per bucket and
    version, sorted by time; ``time`` is a UTC timestamp.

    With ``now`` (epoch seconds), the rate of a bucket still filling is taken over the part
    of it that has passed: over its whole width it would read as a drop in traffic.
    """
    rows = metrics.get("series") or []
    frame = pd.DataFrame(rows, columns=["start", *_SERVING_COLUMNS[1:]])
    step = metrics.get("step_seconds")
    if now is not None and step and len(frame):
        elapsed = (now - frame["start"].astype("float64")).clip(lower=1.0)
        filling = elapsed < step
        frame.loc[filling, "throughput_rps"] = frame["requests"][filling] / elapsed[filling]
    frame.insert(0, "time", pd.to_datetime(frame.pop("start"), unit="s", utc=True))
    for column in ("version", "requests", "errors_4xx", "errors_5xx"):
        frame[column] = frame[column].fillna(0).astype("int64")
    for column in _SERVING_COLUMNS[5:]:
        frame[column] = frame[column].astype("float64")
    return frame.sort_values(["time", "version"], ignore_index=True)


def _get(obj: Any, key: str, default: Any = None) -> Any:
    """A field of a record or of its ``to_dict()`` form (the client may return either)."""
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _when(value: Any) -> Any:
    return pd.Timestamp(value).tz_convert("UTC") if value is not None else pd.NaT


def drift_frames(timeline: Any) -> DriftData:
    """A drift timeline (``client.drift(...)``: a ``DriftTimeline`` or its dict) as frames."""
    windows = _get(timeline, "windows") or ()
    rows: list[dict[str, Any]] = []
    prediction_rows: list[dict[str, Any]] = []
    for window in windows:
        since = _when(_get(window, "since"))
        drifted = set(_get(window, "drifted_features") or ())
        for feature, score in (_get(window, "scores") or {}).items():
            rows.append(
                {"since": since, "feature": feature, "score": score, "drifted": feature in drifted}
            )
        prediction_rows.append(
            {
                "since": since,
                "score": _get(window, "prediction_score"),
                "drifted": _get(window, "prediction_drifted"),
            }
        )
    overall = _get(timeline, "overall", timeline)  # the dict form is flat
    features = tuple(str(_get(f, "feature")) for f in _get(overall, "features") or ())
    drifted_share = _get(overall, "drifted_share")
    if drifted_share is None and not isinstance(overall, Mapping):
        drifted_share = getattr(overall, "drifted_share", None)
    distributions = {}
    for f in [*(_get(overall, "features") or ()), _get(overall, "prediction")]:
        found = None if f is None else distribution(f)
        if found is not None:
            distributions[str(_get(f, "feature"))] = found
    accuracy = _get(timeline, "accuracy")
    accuracy_rows = [
        {
            "since": _when(_get(w, "since")),
            "value": _get(w, "value"),
            "labelled": _get(w, "labelled", 0),
        }
        for w in (_get(accuracy, "windows") or () if accuracy is not None else ())
    ]
    thresholds = {
        str(_get(f, "feature")): float(_get(f, "threshold"))
        for f in _get(overall, "features") or ()
        if _get(f, "threshold") is not None
    }
    return DriftData(
        thresholds=thresholds,
        windows=pd.DataFrame(rows, columns=_DRIFT_COLUMNS),
        drifted_share=drifted_share,
        drifted_features=tuple(_get(overall, "drifted_features") or ()),
        features=features,
        prediction=pd.DataFrame(prediction_rows, columns=["since", "score", "drifted"]),
        accuracy=pd.DataFrame(accuracy_rows, columns=_ACCURACY_COLUMNS),
        accuracy_metric=None if accuracy is None else _get(accuracy, "metric"),
        accuracy_reference=None if accuracy is None else _get(accuracy, "reference"),
        distributions=distributions,
    )


def distribution(feature: Any) -> tuple[list[str], list[float], list[float]] | None:
    """(bar labels, reference counts, current counts) of one feature's drift verdict, when
    the server sends the counts behind it: ``bins`` (labels) or ``bin_edges`` (numbers),
    with ``reference_counts`` and ``current_counts``; None otherwise."""
    reference = _get(feature, "reference_counts")
    current = _get(feature, "current_counts")
    if not reference or not current or len(reference) != len(current):
        return None
    labels = _get(feature, "bins")
    edges = _get(feature, "bin_edges")
    if not labels and edges is not None and len(edges) == len(reference) + 1:
        labels = [f"[{a:.3g}, {b:.3g})" for a, b in itertools.pairwise(edges)]
    if not labels or len(labels) != len(reference):
        return None
    return [str(x) for x in labels], [float(x) for x in reference], [float(x) for x in current]
