"""Batch scoring of Parquet files, chunk by chunk, against real registries and files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from deploykit.batch import score
from deploykit.errors import InvalidInputError, SignatureError
from deploykit.registry import Registry

COLUMNS = ["age", "tenure", "calls", "spend"]


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[Registry]:
    with Registry(home=tmp_path / "home", actor="tester") as registry:
        yield registry


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = make_classification(n_samples=1000, n_features=4, random_state=0)
    return pd.DataFrame(X, columns=COLUMNS), y


def write_input(path: Path, frame: pd.DataFrame, row_group_size: int = 250) -> Path:
    pq.write_table(
        pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=row_group_size
    )
    return path


def test_scores_every_row_in_chunks_keeping_the_input_columns(reg, data, tmp_path) -> None:
    X, y = data
    model = LogisticRegression().fit(X, y)
    reg.push(model, "churn", X=X, deploy=True)
    frame = X.assign(customer=[f"c{i}" for i in range(len(X))])
    source = write_input(tmp_path / "in.parquet", frame)
    seen: list[tuple[int, int]] = []

    result = score(
        reg,
        "churn",
        source,
        tmp_path / "out.parquet",
        chunk_rows=128,
        progress=lambda d, t: seen.append((d, t)),
    )

    out = pd.read_parquet(tmp_path / "out.parquet")
    assert list(out.columns) == [*COLUMNS, "customer", "prediction"]
    assert (out["prediction"].to_numpy() == model.predict(X)).all()
    assert (out["customer"] == frame["customer"]).all()
    assert (result.rows, result.chunks, result.version) == (1000, 8, 1)
    assert seen[-1] == (1000, 1000)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "in.parquet", "out.parquet"]


def test_probabilities_and_a_chosen_version_and_kept_columns(reg, data, tmp_path) -> None:
    X, y = data
    first = LogisticRegression().fit(X, y)
    second = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)
    reg.push(first, "churn", X=X, deploy=True)
    reg.push(second, "churn", X=X)
    source = write_input(tmp_path / "in.parquet", X.assign(id=np.arange(len(X))))

    score(reg, "churn", source, tmp_path / "v2.parquet", ref=2, proba=True, keep=["id"])
    score(reg, "churn", source, tmp_path / "prod.parquet", ref="production", keep=[])

    v2 = pd.read_parquet(tmp_path / "v2.parquet")
    assert list(v2.columns) == ["id", "prediction", "proba_0", "proba_1"]
    assert (v2["prediction"].to_numpy() == second.predict(X)).all()
    assert np.allclose(v2[["proba_0", "proba_1"]].to_numpy(), second.predict_proba(X))
    prod = pd.read_parquet(tmp_path / "prod.parquet")
    assert list(prod.columns) == ["prediction"]
    assert (prod["prediction"].to_numpy() == first.predict(X)).all()


def test_a_model_fitted_on_an_array_reads_its_positional_columns(reg, data, tmp_path) -> None:
    X, y = data
    model = LogisticRegression().fit(X.to_numpy(), y)
    reg.push(model, "arr", X=X.to_numpy(), deploy=True)
    names = [c["name"] for c in reg.version("arr").signature["inputs"]]
    source = write_input(tmp_path / "in.parquet", pd.DataFrame(X.to_numpy(), columns=names))
    score(reg, "arr", source, tmp_path / "out.parquet", chunk_rows=300)
    assert (
        pd.read_parquet(tmp_path / "out.parquet")["prediction"] == model.predict(X.to_numpy())
    ).all()


def test_a_missing_column_is_named_and_nothing_is_written(reg, data, tmp_path) -> None:
    X, y = data
    reg.push(LogisticRegression().fit(X, y), "churn", X=X, deploy=True)
    source = write_input(tmp_path / "in.parquet", X.drop(columns=["calls"]))
    with pytest.raises(SignatureError, match=r"lacks column\(s\) 'calls' that model churn:1 needs"):
        score(reg, "churn", source, tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()


def test_bad_values_in_a_late_chunk_leave_no_output_and_no_temporary_file(
    reg, data, tmp_path
) -> None:
    X, y = data
    reg.push(LogisticRegression().fit(X, y), "churn", X=X, deploy=True)
    frame = X.copy()
    frame.loc[900, "age"] = np.nan  # training had no missing ages: chunk 10 of 10 fails
    source = write_input(tmp_path / "in.parquet", frame)
    seen: list[int] = []
    with pytest.raises(SignatureError, match="age"):
        score(
            reg,
            "churn",
            source,
            tmp_path / "out.parquet",
            chunk_rows=100,
            progress=lambda done, _: seen.append(done),
        )
    assert seen[-1] == 900  # nine chunks were written before the tenth failed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "in.parquet"]


def test_an_empty_file_gives_an_empty_typed_output(reg, data, tmp_path) -> None:
    X, y = data
    reg.push(LogisticRegression().fit(X, y), "churn", X=X, deploy=True)
    source = write_input(tmp_path / "in.parquet", X.iloc[:0])
    result = score(reg, "churn", source, tmp_path / "out.parquet", keep=[])
    table = pq.read_table(tmp_path / "out.parquet")
    assert (result.rows, table.num_rows) == (0, 0)
    assert table.schema.field("prediction").type == pa.int64()


def test_user_mistakes_are_one_clear_line(reg, data, tmp_path) -> None:
    X, y = data
    reg.push(LogisticRegression().fit(X, y), "churn", X=X, deploy=True)
    source = write_input(tmp_path / "in.parquet", X)
    with pytest.raises(
        InvalidInputError, match="'chunk_rows' parameter of score must be an int >= 1"
    ):
        score(reg, "churn", source, tmp_path / "o.parquet", chunk_rows=0)
    with pytest.raises(InvalidInputError, match=r"input file '.*nope.parquet' does not exist"):
        score(reg, "churn", tmp_path / "nope.parquet", tmp_path / "o.parquet")
    (tmp_path / "text.parquet").write_text("id,age\n1,2\n")
    with pytest.raises(InvalidInputError, match="not a readable Parquet file"):
        score(reg, "churn", tmp_path / "text.parquet", tmp_path / "o.parquet")
    with pytest.raises(InvalidInputError, match=r"Cannot keep column.*'nope'"):
        score(reg, "churn", source, tmp_path / "o.parquet", keep=["nope"])
    with pytest.raises(InvalidInputError, match=r"folder .* does not exist"):
        score(reg, "churn", source, tmp_path / "no" / "o.parquet")
