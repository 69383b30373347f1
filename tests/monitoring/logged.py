"""A classifier's traffic written to a prediction log as the server writes it: the tests of
estimated performance read logs without running a server."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from deploykit.monitoring.logs import write_log_file


def write_scored_log(
    artifacts_url: str,
    name: str,
    model: Any,
    X: pd.DataFrame,
    at: datetime,
    tag: str,
    *,
    version: int = 1,
    stamped: datetime | None = None,
) -> None:
    """``model``'s predictions and class probabilities on ``X`` (and ``X`` itself) as
    ``version``'s rows of ``name``'s log, in a file written ``at`` (rows stamped ``stamped``,
    else ``at``). A model fitted on an array is given the array."""
    data = X if hasattr(model, "feature_names_in_") else X.to_numpy()
    proba = model.predict_proba(data)
    columns = {
        "request_id": pa.array([f"{tag}-{i}" for i in range(len(X))]),
        "timestamp": pa.array([stamped or at] * len(X), type=pa.timestamp("us", tz="UTC")),
        "version": pa.array(np.full(len(X), version, dtype=np.int64)),
        "prediction": pa.array(model.predict(data)),
        **{f"probability.{c}": pa.array(proba[:, j]) for j, c in enumerate(model.classes_)},
        **{f"input.{c}": pa.array(X[c].to_numpy()) for c in X.columns},
    }
    write_log_file(artifacts_url, name, pa.table(columns), at=at, tag=tag)
