"""Which input columns a model tolerates missing values in, found by trying.

A column without nulls in training may still take them: a pipeline with an imputer, or
an estimator that handles NaN natively (HistGradientBoosting). :func:`probe_nullable`
asks the model: a few rows of the training sample, a column blanked, sent through
:meth:`Signature.validate` exactly as a request with ``null`` would be, then ``predict``.
A column passes if predict succeeds and gives no NaN.

Cost is bounded and reported: ``ROWS`` rows per column, one predict call for all
columns at once (the common verdicts are "all pass" and "all fail"), then one call
per column only when the verdicts differ, for at most ``MAX_COLUMNS`` columns and
``MAX_SECONDS``; columns left unprobed keep the training data's word (``nullable_by``
stays ``data``).
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from deploykit.signature import Signature

__all__ = ["MAX_COLUMNS", "ROWS", "probe_nullable"]

ROWS = 3  # rows of the training sample blanked per column
MAX_COLUMNS = 200  # columns probed one by one; beyond, the training data decides
MAX_SECONDS = 10.0  # for the column-by-column probes of a slow model


def probe_nullable(
    signature: Signature, frame: pd.DataFrame, model: Any
) -> tuple[Signature, dict[str, Any]]:
    """``signature`` with ``nullable`` set from the model's behaviour; and a cost report."""
    start = time.perf_counter()
    candidates = [c.name for c in signature.inputs if not c.nullable]
    report: dict[str, Any] = {"rows": 0, "columns": 0, "predict_calls": 0}
    if not candidates or not len(frame):
        return signature, report
    sample = _sample(frame)
    records = _records(sample, signature)
    open_sig = _with_nullable(signature, set(candidates), "probe")
    calls = 1
    passed: set[str] = set()
    probed: list[str] = list(candidates)
    if _predicts(model, open_sig, _blanked(records, candidates)):
        passed = set(candidates)
    else:
        probed = []
        for name in candidates[:MAX_COLUMNS]:
            if time.perf_counter() - start > MAX_SECONDS:
                break
            calls += 1
            probed.append(name)
            if _predicts(model, open_sig, _blanked(records, [name])):
                passed.add(name)
    inputs = []
    for spec in signature.inputs:
        if spec.name in passed:
            spec = dataclasses.replace(spec, nullable=True, nullable_by="probe")
        elif spec.name in probed:
            spec = dataclasses.replace(spec, nullable_by="probe")
        inputs.append(spec)
    report = {
        "rows": len(records),
        "columns": len(probed),
        "predict_calls": calls,
        "seconds": round(time.perf_counter() - start, 4),
    }
    return dataclasses.replace(signature, inputs=tuple(inputs)), report


def _sample(frame: pd.DataFrame) -> pd.DataFrame:
    """A few rows, complete ones first: a blank must be the only gap in a probed row."""
    complete = frame.notna().all(axis=1).to_numpy()
    rows = np.concatenate([np.flatnonzero(complete), np.flatnonzero(~complete)])[:ROWS]
    return frame.iloc[rows]


def _records(sample: pd.DataFrame, signature: Signature) -> list[dict[str, Any]]:
    """The sample as a JSON client would send it: Python scalars, None for missing."""
    out = []
    for _, row in sample.iterrows():
        record = {}
        for name in signature.columns:
            value = row[name]
            if not isinstance(value, (list, tuple, np.ndarray)) and pd.isna(value):
                value = None
            elif isinstance(value, np.generic):
                value = value.item()
            record[name] = value
        out.append(record)
    return out


def _blanked(records: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    """A copy of ``records`` per name, that column blanked in it."""
    return [{**record, name: None} for name in names for record in records]


def _predicts(model: Any, signature: Signature, records: list[dict[str, Any]]) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            data = signature.validate(records)
            predictions = np.asarray(model.predict(data))
        except Exception:  # any refusal is the model's verdict: it does not take the blank
            return False
    return not (predictions.dtype.kind == "f" and bool(np.isnan(predictions).any()))


def _with_nullable(signature: Signature, names: set[str], by: str) -> Signature:
    inputs = tuple(
        dataclasses.replace(c, nullable=True, nullable_by=by) if c.name in names else c
        for c in signature.inputs
    )
    return dataclasses.replace(signature, inputs=inputs)
