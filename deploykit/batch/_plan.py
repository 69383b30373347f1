"""What every scoring engine shares: the plan (columns read, fed, kept), opening the
input, and the result.

The chunked engine (:mod:`._score`) and the Dask engine (:mod:`._dask`) both build a
:class:`Plan` from the file's schema and the version's signature, so the two read,
validate and write the same columns.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from deploykit.errors import DeployKitError, InvalidInputError, SignatureError
from deploykit.records import ModelVersion
from deploykit.signature import Signature

__all__ = ["Plan", "ScoreResult", "open_input"]

# pyarrow pre-buffers (and keeps) the compressed bytes of every row group it reads by
# default: the whole file by the end. Streamed reads through a 1 MiB buffer keep memory flat
# (10 M rows: 133 MB peak instead of 585 MB just to read; bench/score).
_READ_OPTIONS: dict[str, Any] = {"pre_buffer": False, "buffer_size": 1 << 20}


@dataclasses.dataclass(frozen=True)
class ScoreResult:
    """What a scoring run did."""

    model: str
    version: int
    rows: int
    chunks: int
    seconds: float
    output: str
    columns: tuple[str, ...]
    runtime: str = "sklearn"  # "onnx": the compiled model scored (see deploykit.compile)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["columns"] = list(self.columns)
        data["rows_per_second"] = round(self.rows_per_second, 1)
        return data


@dataclasses.dataclass(frozen=True)
class Plan:
    """Which columns to read, which feed the model, which are copied to the output."""

    model: Any
    record: ModelVersion
    signature: Signature | None
    features: list[str]
    keep: list[str]
    read: list[str]
    classes: list[Any] | None

    @classmethod
    def make(
        cls,
        model: Any,
        record: ModelVersion,
        schema: pa.Schema,
        keep: Sequence[str] | None,
        source: str,
    ) -> Plan:
        present = list(schema.names)
        signature = Signature.from_dict(record.signature) if record.signature else None
        if signature is not None:
            features = signature.columns
        else:  # pushed without data: the model's own feature names, else every column
            names = getattr(model, "feature_names_in_", None)
            features = [str(n) for n in names] if names is not None else present
        missing = [c for c in features if c not in present]
        if missing:
            raise SignatureError(
                f"The input file '{source}' lacks column(s) {', '.join(map(repr, missing))} "
                f"that model {record.ref} needs. It has: {', '.join(map(repr, present))}.",
                problems=[f"missing column {c!r}" for c in missing],
            )
        kept = present if keep is None else list(keep)
        unknown = [c for c in kept if c not in present]
        if unknown:
            raise InvalidInputError(
                f"Cannot keep column(s) {', '.join(map(repr, unknown))}: the input file "
                f"'{source}' has no such column. It has: {', '.join(map(repr, present))}."
            )
        clash = [c for c in kept if c == "prediction" or c.startswith("proba_")]
        if clash:
            raise InvalidInputError(
                f"The input file '{source}' already has column(s) "
                f"{', '.join(map(repr, clash))}, which the output uses for the scores. "
                "Leave them out with keep=[...] (--keep on the command line)."
            )
        read = [c for c in present if c in set(features) | set(kept)]
        classes = getattr(model, "classes_", None)
        return cls(
            model,
            record,
            signature,
            features,
            kept,
            read,
            None if classes is None else list(np.asarray(classes).tolist()),
        )

    def empty(self, schema: pa.Schema, *, proba: bool) -> pa.RecordBatch:
        """The output of no rows: the kept columns, and scores typed as the model's."""
        output = (self.signature.output if self.signature is not None else {}) or {}
        try:
            kind = pa.from_numpy_dtype(np.dtype(output.get("dtype", "float64")))
        except (TypeError, pa.ArrowNotImplementedError):
            kind = pa.string()
        fields = [schema.field(c) for c in self.keep] + [pa.field("prediction", kind)]
        if proba:
            fields += [pa.field(f"proba_{c}", pa.float64()) for c in self.classes or []]
        return pa.RecordBatch.from_pylist([], schema=pa.schema(fields))

    def score(self, batch: pa.RecordBatch, *, proba: bool) -> pa.RecordBatch:
        frame = batch.select(self.features).to_pandas()
        if self.signature is not None:
            X: Any = self.signature.validate(frame)
        else:
            X = frame
        try:
            predictions = np.asarray(self.model.predict(X))
            probabilities = np.asarray(self.model.predict_proba(X)) if proba else None
        except DeployKitError:
            raise
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise InvalidInputError(
                f"Model {self.record.ref} could not predict on this input: "
                f"{type(exc).__name__}: {first}"
            ) from None
        arrays = [batch.column(c) for c in self.keep]
        names = list(self.keep)
        arrays.append(_arrow(predictions))
        names.append("prediction")
        if probabilities is not None:
            labels = self.classes or list(range(probabilities.shape[1]))
            for i, label in enumerate(labels):
                arrays.append(pa.array(probabilities[:, i]))
                names.append(f"proba_{label}")
        return pa.RecordBatch.from_arrays(arrays, names=names)


def _arrow(values: np.ndarray) -> pa.Array:
    if values.ndim > 1:  # multi-output models: one list per row
        return pa.array(values.tolist())
    if values.dtype == object:
        return pa.array(pd.Series(values), from_pandas=True)
    return pa.array(values)


@contextlib.contextmanager
def open_input(source: str, options: dict[str, Any]) -> Iterator[pq.ParquetFile]:
    try:
        if "://" in source:
            import fsspec

            with fsspec.open(source, "rb", **options) as f:
                yield pq.ParquetFile(f, **_READ_OPTIONS)
            return
        with open(source, "rb") as f:
            yield pq.ParquetFile(f, **_READ_OPTIONS)
    except FileNotFoundError:
        raise InvalidInputError(
            f"The input file '{source}' does not exist. Pass the path of a Parquet file."
        ) from None
    except pa.ArrowInvalid as exc:
        raise InvalidInputError(
            f"The input file '{source}' is not a readable Parquet file ({exc}). "
            "Convert it first, e.g. pandas.read_csv(...).to_parquet(...)."
        ) from None
