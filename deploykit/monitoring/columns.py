"""Current data, reduced once per column to what every drift method needs.

A column of live traffic becomes a :class:`RawColumn` once (float64 with NaN for a
numeric feature; integer codes into a list of labels for a categorical one), from
a pandas Series, a pyarrow array or a numpy array. Any slice of rows (a time
window) then reduces to a :class:`Current`: the sorted finite values, or the count
per label, plus the number of missing values. Missing means null or NaN, and for
numeric features also ±inf and strings that do not parse as numbers: they are
counted, never silently dropped.

Labels follow :mod:`deploykit.monitoring.profile`: categories are compared as the
strings pandas' ``astype(str)`` gives (``True``, ``1``, ``1.5``, ``paris``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from deploykit.monitoring.profile import _numbers, is_numeric

__all__ = ["Current", "RawColumn", "raw_column"]


@dataclasses.dataclass(frozen=True)
class Current:
    """One feature of one window: sorted finite values or label counts, and missing rows."""

    kind: str
    rows: int
    missing: int
    values: np.ndarray | None = None  # numeric: sorted, finite
    labels: tuple[str, ...] = ()  # categorical: distinct labels ...
    counts: np.ndarray | None = None  # ... and how often each occurs

    @property
    def present(self) -> int:
        return self.rows - self.missing


@dataclasses.dataclass(frozen=True)
class RawColumn:
    """A whole column, converted once; :meth:`take` reduces any subset of its rows."""

    kind: str
    numbers: np.ndarray | None = None  # numeric: float64, NaN for missing
    codes: np.ndarray | None = None  # categorical: index into labels, -1 for missing
    labels: tuple[str, ...] = ()

    def __len__(self) -> int:
        data = self.numbers if self.kind == "numeric" else self.codes
        return 0 if data is None else len(data)

    def reorder(self, order: np.ndarray) -> RawColumn:
        """The same column with its rows in ``order``."""
        if self.kind == "numeric":
            assert self.numbers is not None
            return dataclasses.replace(self, numbers=self.numbers[order])
        assert self.codes is not None
        return dataclasses.replace(self, codes=self.codes[order])

    def take(self, rows: slice | np.ndarray | None = None) -> Current:
        """The rows selected by ``rows`` (a slice or an index array), reduced."""
        if self.kind == "numeric":
            assert self.numbers is not None
            part = self.numbers if rows is None else self.numbers[rows]
            return reduce_numbers(part)
        assert self.codes is not None
        part = self.codes if rows is None else self.codes[rows]
        present = part[part >= 0]
        counts = np.bincount(present, minlength=len(self.labels))
        return Current(
            "categorical",
            rows=len(part),
            missing=len(part) - len(present),
            labels=self.labels,
            counts=counts,
        )


def reduce_numbers(values: np.ndarray) -> Current:
    """Sort once; NaN sorts last and ±inf sit at the ends, so finite values are one slice."""
    ordered = np.sort(values)
    lo = int(np.searchsorted(ordered, -np.inf, side="right"))
    hi = int(np.searchsorted(ordered, np.inf, side="left"))
    return Current(
        "numeric", rows=len(values), missing=len(values) - (hi - lo), values=ordered[lo:hi]
    )


def raw_column(values: Any, kind: str) -> RawColumn:
    """Convert a Series, pyarrow array/chunked array or array-like to ``kind``."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return _from_arrow(values, kind)
    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
    if kind == "numeric":
        return RawColumn("numeric", numbers=_to_numbers(series))
    if isinstance(series.dtype, pd.CategoricalDtype):
        labels = tuple(str(c) for c in series.cat.categories)
        return _merged(series.cat.codes.to_numpy(dtype=np.int64), labels)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return _merged(codes.astype(np.int64, copy=False), tuple(_as_labels(uniques)))


def _to_numbers(series: pd.Series) -> np.ndarray:
    if series.dtype == np.float64:
        return series.to_numpy()  # NaN is missing already: no copy
    if is_numeric(series.dtype):
        return _numbers(series)
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("float64").to_numpy(na_value=np.nan)
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _as_labels(uniques: Any) -> list[str]:
    return [str(v) for v in pd.Series(uniques, dtype=object).astype(str)]


def _merged(codes: np.ndarray, labels: tuple[str, ...]) -> RawColumn:
    """Codes whose labels are unique strings (1 and "1" both read "1": one label)."""
    if len(set(labels)) == len(labels):
        return RawColumn("categorical", codes=codes, labels=labels)
    first: dict[str, int] = {}
    remap = np.array([first.setdefault(label, len(first)) for label in labels], dtype=np.int64)
    mapped = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1)
    return RawColumn("categorical", codes=mapped, labels=tuple(first))


def _from_arrow(values: pa.Array | pa.ChunkedArray, kind: str) -> RawColumn:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    kind_of = values.type
    if kind == "numeric":
        if pa.types.is_integer(kind_of) or pa.types.is_floating(kind_of):
            numbers = pc.fill_null(values.cast(pa.float64()), np.nan)
            return RawColumn("numeric", numbers=numbers.to_numpy(zero_copy_only=False))
        return RawColumn("numeric", numbers=_to_numbers(values.to_pandas()))
    if pa.types.is_dictionary(kind_of):
        values = values.cast(kind_of.value_type)
        kind_of = values.type
    if pa.types.is_string(kind_of) or pa.types.is_large_string(kind_of):
        encoded = pc.dictionary_encode(values)
        codes = pc.fill_null(encoded.indices.cast(pa.int64()), -1).to_numpy(zero_copy_only=False)
        return _merged(codes, tuple(encoded.dictionary.to_pylist()))
    # numbers, booleans, dates used as categories: label them as pandas would
    return raw_column(values.to_pandas(), kind)
