"""The Dask engine: same scores as the chunked engine, one Parquet file per partition."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from deploykit.batch import score
from deploykit.errors import InvalidInputError
from deploykit.registry import Registry


def test_dask_scores_each_partition_like_the_chunked_engine(tmp_path: Path) -> None:
    X, y = make_classification(n_samples=2000, n_features=4, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    model = LogisticRegression().fit(frame, y)
    table = pa.Table.from_pandas(frame.assign(id=np.arange(len(frame))), preserve_index=False)
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=500)
    with Registry(home=tmp_path / "home") as reg:
        reg.push(model, "churn", X=frame, deploy=True)
        seen = []
        result = score(
            reg,
            "churn",
            tmp_path / "in.parquet",
            tmp_path / "out",
            engine="dask",
            proba=True,
            keep=["id"],
            progress=lambda done, total: seen.append((done, total)),
        )
        with pytest.raises(InvalidInputError, match="'engine' parameter of score must be one of"):
            score(reg, "churn", tmp_path / "in.parquet", tmp_path / "x", engine="spark")
    assert result.rows == 2000
    assert seen == [(2000, 2000)]
    assert len(list((tmp_path / "out").glob("*.parquet"))) == result.chunks
    out = pd.read_parquet(tmp_path / "out").sort_values("id").reset_index(drop=True)
    assert list(out.columns) == ["id", "prediction", "proba_0", "proba_1"]
    assert (out["prediction"].to_numpy() == model.predict(frame)).all()
    assert np.allclose(out[["proba_0", "proba_1"]].to_numpy(), model.predict_proba(frame))
