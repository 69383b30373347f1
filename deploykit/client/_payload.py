"""Predict input -> an MLflow-style JSON body (``dataframe_split`` for frames)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson

from deploykit._json import encode_default
from deploykit.errors import InvalidInputError

__all__ = ["encode_predict_body"]

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _missing_or_refused(value: Any) -> Any:
    if value is None or value != value:  # pandas NA / NaT
        return None
    raise TypeError(type(value).__name__)


def _default(value: Any) -> Any:
    return encode_default(value, _missing_or_refused)


def _cells(frame: Any) -> list[list[Any]]:
    """Rows of a DataFrame as JSON-ready Python values (missing values as null)."""
    if all(dtype.kind in "iuf" for dtype in frame.dtypes):
        return frame.to_numpy(dtype=np.float64).tolist()  # NaN -> null in orjson
    import pandas as pd

    rows = frame.astype(object).to_numpy()
    return [[None if _missing(v, pd) else v for v in row] for row in rows]


def _missing(value: Any, pd: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def encode_predict_body(data: Any) -> bytes:
    """JSON bytes the server's predict endpoint accepts, for any usual input."""
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None
    if pd is not None and isinstance(data, pd.DataFrame):
        body: Any = {
            "dataframe_split": {"columns": [str(c) for c in data.columns], "data": _cells(data)}
        }
    elif pd is not None and isinstance(data, pd.Series):
        body = {"dataframe_records": [data.to_dict()]}
    elif isinstance(data, np.ndarray):
        if data.ndim == 1:
            data = data.reshape(1, -1)
        body = {"inputs": data if data.dtype.kind in "iufb" else data.tolist()}
    elif isinstance(data, Mapping):
        body = {"inputs": dict(data)}
    elif isinstance(data, (list, tuple)):
        rows = list(data)
        if rows and all(isinstance(r, Mapping) for r in rows):
            body = {"dataframe_records": rows}
        else:
            body = {"inputs": rows}
    else:
        raise InvalidInputError(
            "The 'data' parameter of predict must be a DataFrame, a 2-D array or list of rows, "
            f"a list of records or a dict of columns. Got {type(data).__name__} instead."
        )
    try:
        return orjson.dumps(body, default=_default, option=_OPTIONS)
    except TypeError as exc:
        raise InvalidInputError(
            f"The predict data holds a value that cannot be sent as JSON ({exc})."
        ) from None
