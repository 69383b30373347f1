"""``deploykit score`` and ``deploykit export`` as a user types them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from deploykit.cli import main
from deploykit.registry import Registry


@pytest.fixture
def pushed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[pd.DataFrame, dict]:
    for key in ("DEPLOYKIT_SERVER_URL", "DEPLOYKIT_DATABASE_URL", "DEPLOYKIT_ARTIFACTS_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DEPLOYKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DEPLOYKIT_FSYNC", "0")
    X, y = make_classification(
        n_samples=300, n_features=3, n_informative=2, n_redundant=0, random_state=0
    )
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    models = {
        1: LogisticRegression(C=1.0).fit(frame, y),
        2: LogisticRegression(C=1e-3).fit(frame, y),
    }
    with Registry() as reg:
        reg.push(models[1], "churn", X=frame, deploy=True)
        reg.push(models[2], "churn", X=frame)
        reg.deploy("churn", 2, alias="staging")
    frame.assign(id=range(len(frame))).to_parquet(tmp_path / "in.parquet")
    return frame, models


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = 0
    try:
        main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_score_uses_production_or_the_version_or_alias_asked(pushed, tmp_path, capsys) -> None:
    frame, models = pushed
    src, out = str(tmp_path / "in.parquet"), tmp_path / "out.parquet"

    code, stdout, _ = run(capsys, "score", "churn", src, str(out), "--chunk-rows", "64")
    assert code == 0
    assert "scored 300 rows with churn:1 (onnx) in" in stdout  # compiled at push
    assert (pd.read_parquet(out)["prediction"] == models[1].predict(frame)).all()

    code, stdout, _ = run(
        capsys, "score", "churn", src, str(out), "--alias", "staging", "--keep", "id", "--json"
    )
    assert code == 0
    result = json.loads(stdout)
    assert (result["version"], result["rows"], result["chunks"]) == (2, 300, 1)
    assert result["columns"] == ["id", "prediction"]
    assert (pd.read_parquet(out)["prediction"] == models[2].predict(frame)).all()

    code, stdout, _ = run(
        capsys, "score", "churn", src, str(out), "--version", "1", "--proba", "--keep", ""
    )
    assert code == 0
    assert list(pd.read_parquet(out).columns) == ["prediction", "proba_0", "proba_1"]

    parts = tmp_path / "parts"
    code, stdout, _ = run(capsys, "score", "churn", src, str(parts), "--engine", "dask")
    assert code == 0
    assert (pd.read_parquet(parts)["prediction"] == models[1].predict(frame)).all()


def test_score_mistakes_are_one_line(pushed, tmp_path, capsys) -> None:
    src, out = str(tmp_path / "in.parquet"), str(tmp_path / "out.parquet")
    code, _, err = run(capsys, "score", "churn", src, out, "--version", "1", "--alias", "staging")
    assert (code, err.strip()) == (
        1,
        "error: Give --version or --alias, not both. Got --version 1 and --alias staging.",
    )
    code, _, err = run(capsys, "score", "churn", src, out, "--version", "7")
    assert code == 1
    assert err.strip() == "error: Model 'churn' has no version 7 (latest is 2)"


def test_export_writes_the_context_of_the_version_asked(pushed, tmp_path, capsys) -> None:
    code, stdout, _ = run(
        capsys, "export", "churn", "--version", "2", "--docker", str(tmp_path / "ctx")
    )
    assert code == 0
    assert "exported churn:2 (Python 3." in stdout
    assert "kubectl apply -f" in stdout
    assert json.loads((tmp_path / "ctx" / "model" / "model.json").read_text())["version"] == 2
    code, _, err = run(capsys, "export", "churn", "--docker", str(tmp_path / "ctx"))
    assert code == 1
    assert "is not empty" in err
    code, stdout, _ = run(
        capsys, "export", "churn", "--docker", str(tmp_path / "ctx"), "--force", "--json"
    )
    assert code == 0
    assert json.loads(stdout)["version"] == 1  # production
