"""What the training data looked like, kept with each version to measure drift against.

:class:`ReferenceProfile` summarises every column at push time: quantile bins, moments
and a small seeded sample (for KS and Wasserstein distances) for numeric columns, value
frequencies for categorical ones. :func:`fingerprint` hashes the data content, so two
versions can tell whether they were trained on the same data.

Numeric means a numeric dtype other than bool (datetimes count, in seconds since the
epoch); bool, category, string and object columns are categorical. Everything is
vectorized, one sort per numeric column and one ``value_counts`` per categorical one.
Profiles serialize to compact JSON: non-finite floats are written as the strings
``"nan"``, ``"inf"`` and ``"-inf"`` and read back as floats.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as pdt

from deploykit.errors import InvalidInputError
from deploykit.monitoring.results import unknown_name
from deploykit.signature import predictions_of

__all__ = ["DataFingerprint", "FeatureProfile", "ReferenceProfile", "fingerprint"]

TOP_VALUES = 50  # categorical values kept by name; the rest pool under OTHER
OTHER = "__other__"


def _encode(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)  # "nan", "inf", "-inf"


def _decode(value: Any) -> float:
    return float(value)  # float("nan"), float("inf") and plain numbers alike


def is_numeric(dtype: Any) -> bool:
    """Whether a column of ``dtype`` is profiled as numeric (bool is categorical)."""
    if pdt.is_bool_dtype(dtype):
        return False
    return pdt.is_numeric_dtype(dtype) or pdt.is_datetime64_any_dtype(dtype)


def _numbers(values: pd.Series) -> np.ndarray:
    """A numeric column as float64 with NaN for missing; datetimes in epoch seconds."""
    if pdt.is_datetime64_any_dtype(values.dtype):
        ns = values.dt.tz_localize(None) if values.dt.tz is not None else values
        seconds = ns.to_numpy(dtype="datetime64[ns]").astype(np.int64) / 1e9
        return np.where(ns.isna().to_numpy(), np.nan, seconds)
    return values.to_numpy(dtype=np.float64, na_value=np.nan)


def _labels(values: pd.Series) -> pd.Series:
    """A categorical column's non-missing values as strings (JSON object keys)."""
    present = values.dropna()
    return present if isinstance(present.dtype, pd.StringDtype) else present.astype(str)


@dataclasses.dataclass(frozen=True)
class FeatureProfile:
    """The reference distribution of one column (or of the model's predictions).

    Numeric: ``bin_edges`` are the deduplicated quantiles of the values (first and last
    are the min and max) and ``bin_counts`` count values per bin ``[e[i], e[i+1])``; the
    first and last bins are open-ended, so any later value falls in one. A column with
    no more distinct values than ``bins`` gets one bin per value, split at midpoints.
    A value holding at least ``1/bins`` of the rows (the zeros of a zero-inflated amount,
    a default) is a point mass: it gets its own bin ``[v, nextafter(v))``, and the other
    values share the remaining quantile bins, so a column of 92% zeros is not one bin.
    Numeric profiles also keep a ``sample`` of up to ``sample_size`` non-missing values,
    drawn uniformly with a fixed seed, for distance tests.

    Categorical: ``frequencies`` maps the top values (as strings) to counts, the rest
    under ``"__other__"``. ``count`` includes missing values, which no bin or key counts.
    """

    name: str
    kind: str
    count: int
    missing: int
    bin_edges: tuple[float, ...] = ()
    bin_counts: tuple[int, ...] = ()
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    frequencies: dict[str, int] | None = None
    sample: tuple[Any, ...] = ()

    @classmethod
    def from_series(
        cls, name: str, values: pd.Series, *, bins: int = 10, sample_size: int = 1000, seed: int = 0
    ) -> FeatureProfile:
        rng = np.random.default_rng(seed)
        if is_numeric(values.dtype):
            return cls._numeric(name, _numbers(values), bins, sample_size, rng)
        labels = _labels(values)
        counts = labels.value_counts(sort=False)
        counts = counts[counts > 0]  # unused categories of a category dtype
        order = sorted(zip(counts.index, counts.to_numpy().tolist(), strict=True), key=_by_count)
        frequencies: dict[str, int] = {}
        for value, n in order[:TOP_VALUES]:
            frequencies[str(value)] = frequencies.get(str(value), 0) + int(n)
        rest = sum(n for _, n in order[TOP_VALUES:])
        if rest:
            frequencies[OTHER] = frequencies.get(OTHER, 0) + int(rest)
        return cls(
            name,
            "categorical",
            count=len(values),
            missing=len(values) - len(labels),
            frequencies=frequencies,
        )

    @classmethod
    def _numeric(
        cls, name: str, values: np.ndarray, bins: int, sample_size: int, rng: np.random.Generator
    ) -> FeatureProfile:
        present = np.sort(values)  # NaN sorts last; one sort serves quantiles and counts
        missing = int(np.isnan(values).sum())
        present = present[: len(values) - missing]
        if not len(present):
            return cls(name, "numeric", count=len(values), missing=missing)
        steps = present[1:] != present[:-1]
        if np.count_nonzero(steps) < bins:  # few values (flags, counts): one bin per value
            distinct = present[np.concatenate(([True], steps))]
            edges = np.concatenate(
                (distinct[:1], (distinct[:-1] + distinct[1:]) / 2, distinct[-1:])
            )
        else:
            edges = _edges(present, steps, bins)
        if len(edges) == 1:  # a constant column: one bin holding everything
            edges = np.repeat(edges, 2)
        cut = np.searchsorted(present, edges[1:-1], side="left")  # values below each edge
        counts = np.diff(np.concatenate(([0], cut, [len(present)])))
        with np.errstate(invalid="ignore", over="ignore"):
            mean, std = float(np.mean(present)), float(np.std(present))
        return cls(
            name,
            "numeric",
            count=len(values),
            missing=missing,
            bin_edges=tuple(edges.tolist()),
            bin_counts=tuple(counts.tolist()),
            mean=mean,
            std=std,
            min=float(present[0]),
            max=float(present[-1]),
            sample=tuple(_sample(values[~np.isnan(values)], sample_size, rng).tolist()),
        )

    def counts(self, values: Any) -> tuple[int, ...] | dict[str, int]:
        """Count other data (current traffic) the way this profile counted the reference.

        Numeric: per bin, aligned with ``bin_counts``. Categorical: per key of
        ``frequencies``, values outside them under ``"__other__"``. Missing values are
        left out of both.
        """
        series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
        if self.kind == "numeric":
            numbers = _numbers(series) if is_numeric(series.dtype) else _coerced(series)
            numbers = numbers[~np.isnan(numbers)]
            if not self.bin_counts:
                return ()
            inner = np.asarray(self.bin_edges[1:-1])
            idx = np.searchsorted(inner, numbers, side="right")
            return tuple(np.bincount(idx, minlength=len(self.bin_counts)).tolist())
        counts = _labels(series).value_counts()
        known = self.frequencies or {}
        out = dict.fromkeys(known, 0)
        for value, n in zip(counts.index, counts.to_numpy().tolist(), strict=True):
            key = value if value in known and value != OTHER else OTHER
            out[key] = out.get(key, 0) + int(n)
        return out

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "count": self.count,
            "missing": self.missing,
        }
        if self.kind == "numeric":
            d["bin_edges"] = [_encode(e) for e in self.bin_edges]
            d["bin_counts"] = list(self.bin_counts)
            for key in ("mean", "std", "min", "max"):
                value = getattr(self, key)
                d[key] = None if value is None else _encode(value)
            d["sample"] = [_encode(v) for v in self.sample]
        else:
            d["frequencies"] = dict(self.frequencies or {})
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureProfile:
        if d["kind"] != "numeric":
            return cls(
                d["name"],
                d["kind"],
                int(d["count"]),
                int(d["missing"]),
                frequencies={str(k): int(v) for k, v in (d.get("frequencies") or {}).items()},
            )

        def moment(key: str) -> float | None:
            return None if d.get(key) is None else _decode(d[key])

        return cls(
            d["name"],
            "numeric",
            int(d["count"]),
            int(d["missing"]),
            bin_edges=tuple(_decode(e) for e in d.get("bin_edges", ())),
            bin_counts=tuple(int(c) for c in d.get("bin_counts", ())),
            mean=moment("mean"),
            std=moment("std"),
            min=moment("min"),
            max=moment("max"),
            sample=tuple(_decode(v) for v in d.get("sample", ())),
        )


def _edges(present: np.ndarray, steps: np.ndarray, bins: int) -> np.ndarray:
    """Bin edges of sorted values: point masses on their own, quantiles for the rest."""
    starts = np.concatenate(([0], np.flatnonzero(steps) + 1))
    runs = np.diff(np.concatenate((starts, [len(present)])))
    points = present[starts[runs * bins >= len(present)]]  # values holding >= 1/bins
    points = points[np.isfinite(points)]
    rest = present[~np.isin(present, points)] if len(points) else present
    finite = rest[np.isfinite(rest)]
    quantiles = np.linspace(0, 1, max(1, bins - len(points)) + 1)[1:-1]  # inner ones
    edges = np.unique(
        np.concatenate(
            (
                present[:1],
                np.quantile(finite, quantiles) if len(finite) else [],
                points,
                np.nextafter(points, np.inf),  # [v, v+) holds v and nothing else
                present[-1:],
            )
        )
    )
    if len(edges) > 1 and edges[-1] == edges[-2]:  # an infinite maximum
        edges = edges[:-1]
    return edges


def is_point_bin(low: float, high: float) -> bool:
    """Whether the bin ``[low, high)`` holds a single value (a point mass)."""
    return bool(math.isfinite(low) and high == np.nextafter(low, np.inf))


def _by_count(item: tuple[Any, int]) -> tuple[int, str]:
    return (-item[1], str(item[0]))  # most frequent first; ties by value, for stable output


def _sample(values: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    if len(values) <= size:
        return values
    return values[np.sort(rng.choice(len(values), size=size, replace=False))]


def _coerced(series: pd.Series) -> np.ndarray:
    """Non-numeric data counted against numeric bins: what will not parse is missing."""
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


@dataclasses.dataclass(frozen=True)
class ReferenceProfile:
    """Per-column profiles of the training data, and of the model's predictions on it."""

    rows: int
    features: tuple[FeatureProfile, ...]
    prediction: FeatureProfile | None = None
    #: :class:`deploykit.monitoring.multivariate.PCAReference` as a dict (None: fewer than
    #: two numeric columns, or a profile from before multivariate drift)
    multivariate: dict[str, Any] | None = None

    @classmethod
    def from_data(
        cls,
        X: Any,
        *,
        model: Any = None,
        bins: int = 10,
        sample_size: int = 1000,
        seed: int = 0,
    ) -> ReferenceProfile:
        """Profile ``X`` (a DataFrame or 2-D array; array columns are named f0…fn).

        With ``model``, its predictions on ``X`` are profiled too: categorical for
        classifiers, numeric for regressors. ``bins`` quantile bins per numeric column,
        up to ``sample_size`` values sampled per column, reproducibly from ``seed``.
        """
        for param, value, low in (("bins", bins, 1), ("sample_size", sample_size, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise InvalidInputError(
                    f"The {param!r} parameter of ReferenceProfile.from_data must be an int "
                    f">= {low}. Got {value!r} instead."
                )
        frame = _frame(X, model)
        options = {"bins": bins, "sample_size": sample_size}
        features = tuple(
            FeatureProfile.from_series(name, frame.iloc[:, j], seed=seed + j, **options)
            for j, name in enumerate(frame.columns)
        )
        prediction = None
        if model is not None:
            if hasattr(model, "feature_names_in_"):
                X = frame  # named as in fit, even when X came as a bare array
            elif hasattr(model, "n_features_in_") and isinstance(X, pd.DataFrame):
                X = X.to_numpy()  # fitted on an array: names would make sklearn warn
            prediction = _prediction_profile(model, X, seed=seed, **options)
        return cls(len(frame), features, prediction, _multivariate(frame, features, seed))

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.features]

    def feature(self, name: str) -> FeatureProfile:
        """The profile of column ``name``; :class:`NotFoundError` names the known ones."""
        for profile in self.features:
            if profile.name == name:
                return profile
        raise unknown_name("column", name, self.columns, "the reference profile")

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "features": [f.to_dict() for f in self.features],
            "prediction": None if self.prediction is None else self.prediction.to_dict(),
            "multivariate": self.multivariate,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ReferenceProfile:
        prediction = d.get("prediction")
        return cls(
            int(d["rows"]),
            tuple(FeatureProfile.from_dict(f) for f in d["features"]),
            None if prediction is None else FeatureProfile.from_dict(prediction),
            d.get("multivariate"),
        )


def _multivariate(
    frame: pd.DataFrame, features: tuple[FeatureProfile, ...], seed: int
) -> dict[str, Any] | None:
    """The PCA reference of the numeric columns (datetimes aside), as a dict."""
    from deploykit.monitoring.multivariate import PCAReference

    names = [
        f.name
        for f in features
        if f.kind == "numeric" and not pdt.is_datetime64_any_dtype(frame[f.name].dtype)
    ]
    if len(names) < 2:
        return None
    matrix = np.column_stack([_numbers(frame[name]) for name in names])
    reference = PCAReference.fit(matrix, names, seed=seed)
    return None if reference is None else reference.to_dict()


def _frame(X: Any, model: Any = None) -> pd.DataFrame:
    """``X`` as a DataFrame with the column names a Signature would give it."""
    if isinstance(X, pd.DataFrame):
        if all(isinstance(c, str) for c in X.columns):
            return X
        X = X.to_numpy()
    array = np.asarray(X) if not isinstance(X, pd.Series) else X.to_numpy()
    if array.ndim != 2:
        raise InvalidInputError(
            "ReferenceProfile.from_data needs 2-D data (rows x columns). Got an array of "
            f"shape {array.shape}; pass a DataFrame or reshape with X.reshape(-1, 1)."
        )
    names = getattr(model, "feature_names_in_", None)
    if names is None or len(names) != array.shape[1]:
        names = [f"f{i}" for i in range(array.shape[1])]
    return pd.DataFrame(array, columns=[str(n) for n in names])


def _prediction_profile(model: Any, X: Any, **options: Any) -> FeatureProfile | None:
    predictions = predictions_of(model, X, "the reference data")
    if predictions.ndim != 1:
        return None  # multi-output: per-output profiles are not kept yet
    series = pd.Series(predictions)
    if hasattr(model, "classes_") and is_numeric(series.dtype):
        series = series.astype(str)  # class labels are categories even when numbers
    return FeatureProfile.from_series("prediction", series, **options)


@dataclasses.dataclass(frozen=True)
class DataFingerprint:
    """A content hash of a data set: same data, same ``sha256``; any changed cell, another."""

    sha256: str
    rows: int
    columns: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "rows": self.rows, "columns": list(self.columns)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DataFingerprint:
        return cls(str(d["sha256"]), int(d["rows"]), tuple(d["columns"]))


def fingerprint(X: Any) -> DataFingerprint:
    """Hash the content of ``X``: values, row order, column names and dtypes (not the index).

    DataFrames hash through :func:`pandas.util.hash_pandas_object`, row by row;
    numeric arrays hash their bytes with their shape and dtype.
    """
    if isinstance(X, pd.Series):
        X = X.to_frame()
    if not isinstance(X, pd.DataFrame):
        array = np.asarray(X)
        if array.ndim != 2:
            raise InvalidInputError(
                f"fingerprint needs 2-D data (rows x columns). Got an array of shape "
                f"{array.shape}; pass a DataFrame or reshape with X.reshape(-1, 1)."
            )
        columns = tuple(f"f{i}" for i in range(array.shape[1]))
        if array.dtype.kind in "biufcmM":
            header = json.dumps(["array", array.shape, array.dtype.str])
            digest = hashlib.sha256(header.encode())
            digest.update(np.ascontiguousarray(array).tobytes())
            return DataFingerprint(digest.hexdigest(), array.shape[0], columns)
        X = pd.DataFrame(array, columns=list(columns))  # objects: hash values, not pointers
    columns = tuple(str(c) for c in X.columns)
    header = json.dumps(["frame", columns, [str(t) for t in X.dtypes]])
    digest = hashlib.sha256(header.encode())
    if len(X.columns):
        digest.update(pd.util.hash_pandas_object(X, index=False).to_numpy().tobytes())
    return DataFingerprint(digest.hexdigest(), len(X), columns)
