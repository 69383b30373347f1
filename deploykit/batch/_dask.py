"""The Dask engine of :func:`deploykit.batch.score`: the same plan, one task per partition.

``pip install 'deploykit[dask]'``. It runs on whatever scheduler is active: a
``distributed.Client`` connected to a cluster (whose workers need deploykit and the
model's libraries), or Dask's local threads. The model travels to the workers
inside the task graph. The output is a *folder* of Parquet files, one per input
partition (Dask's convention), instead of one file.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pandas as pd
import pyarrow as pa

from deploykit.batch._plan import Plan, ScoreResult, open_input
from deploykit.errors import ConfigurationError
from deploykit.records import ModelVersion

__all__ = ["score_dask"]


def score_dask(
    model: Any,
    record: ModelVersion,
    source: str,
    destination: str,
    *,
    proba: bool,
    keep: list[str] | None,
    storage_options: dict[str, Any],
) -> ScoreResult:
    try:
        import dask
        import dask.dataframe as dd
    except ImportError:
        raise ConfigurationError(
            "The dask engine needs Dask: pip install 'deploykit[dask]'. "
            "Or score without --engine dask (chunked, in this process)."
        ) from None
    start = time.perf_counter()
    with open_input(source, storage_options) as parquet:
        schema = parquet.schema_arrow
    plan = Plan.make(model, record, schema, keep, source)
    frames = dd.read_parquet(
        source, columns=plan.read, storage_options=storage_options or None, index=False
    )
    meta = plan.empty(schema, proba=proba).to_pandas()
    scored = frames.map_partitions(_score_partition, plan, proba, meta=meta)
    if "://" not in destination:
        os.makedirs(destination, exist_ok=True)
    write = scored.to_parquet(
        destination,
        write_index=False,
        compute=False,
        storage_options=storage_options or None,
        schema=plan.empty(schema, proba=proba).schema,
    )
    rows = scored.map_partitions(len, meta=(None, "int64")).sum()
    _, total = dask.compute(write, rows)  # one pass: both share the scoring tasks
    return ScoreResult(
        model=record.model,
        version=record.version,
        rows=int(total),
        chunks=int(frames.npartitions),
        seconds=time.perf_counter() - start,
        output=destination,
        columns=tuple(meta.columns),
    )


def _score_partition(frame: pd.DataFrame, plan: Plan, proba: bool) -> pd.DataFrame:
    batch = pa.RecordBatch.from_pandas(frame, preserve_index=False)
    return plan.score(batch, proba=proba).to_pandas()
