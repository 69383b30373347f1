"""``deploykit verify``: a fresh venv from the recorded lock reproduces the predictions,
or says clearly why not. Real venvs, real pip (wheels from the package registry, through
pip's cache), real subprocesses."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from deploykit.cards.verify import VerifyError, import_closure, verify
from deploykit.cli import main
from deploykit.registry.tables import version_lineage
from tests.cards.conftest import push_quietly


@pytest.fixture(scope="module")
def env_cache(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Built environments shared by this module's tests: the first builds, the rest reuse."""
    return tmp_path_factory.mktemp("verify-envs")


def _edit_lineage(reg: Any, edit: Any) -> None:
    """Change what was recorded at push, as a tampered or stale database would hold it."""
    with reg.engine.begin() as connection:
        row = connection.execute(sa.select(version_lineage)).one()
        lineage, reference = edit(dict(row.lineage), dict(row.reference))
        connection.execute(
            version_lineage.update()
            .where(version_lineage.c.version_id == row.version_id)
            .values(lineage=lineage, reference=reference)
        )


@pytest.fixture
def small(reg: Any, churn_data: Any, churn_model: Any) -> Any:
    X, _ = churn_data
    return push_quietly(reg, churn_model, X=X.drop(columns="region"))


def test_the_closure_is_what_loading_the_model_needs(churn_model: Any) -> None:
    from deploykit.cards.lineage import package_lock

    chosen, unowned = import_closure(churn_model, package_lock(), format="joblib", frame=False)
    assert {"scikit-learn", "numpy", "scipy", "joblib", "threadpoolctl"} <= set(chosen)
    assert "pandas" not in chosen
    assert "deploykit" not in chosen
    assert unowned == []
    with_frame, _ = import_closure(churn_model, package_lock(), format="skops", frame=True)
    assert {"pandas", "skops"} <= set(with_frame)


def test_a_pushed_version_is_reproduced(reg: Any, small: Any, env_cache: Any) -> None:
    report = verify(reg, "churn", 1, env_cache=env_cache)
    assert report.ok, str(report)
    assert report.rows == 25
    assert not report.mismatches
    assert any(p.startswith("scikit-learn==") for p in report.installed)
    assert report.lock_size > len(report.installed)
    assert "reproduced 25 reference predictions" in str(report)


def test_a_lock_that_cannot_be_installed_fails_clearly(reg: Any, small: Any, capsys: Any) -> None:
    def stale(lineage: dict[str, Any], reference: dict[str, Any]) -> Any:
        lineage["lock"] = {**lineage["lock"], "scikit-learn": "0.0.999"}
        return lineage, reference

    _edit_lineage(reg, stale)
    report = verify(reg, "churn", 1)
    assert not report.ok
    assert report.problem is not None
    assert "cannot be rebuilt" in report.problem
    assert "scikit-learn==0.0.999" in report.problem


def test_predictions_that_differ_are_listed_and_the_exit_status_is_1(
    reg: Any, small: Any, capsys: Any, monkeypatch: Any, env_cache: Any
) -> None:
    def tampered(lineage: dict[str, Any], reference: dict[str, Any]) -> Any:
        reference["predictions"] = [1 - p for p in reference["predictions"][:3]] + reference[
            "predictions"
        ][3:]
        return lineage, reference

    _edit_lineage(reg, tampered)
    monkeypatch.setenv("DEPLOYKIT_HOME", str(reg.settings.home))
    monkeypatch.setenv("DEPLOYKIT_FSYNC", "0")
    with pytest.raises(SystemExit) as exit_:
        main(["verify", "churn", "1", "--env-cache", str(env_cache)])
    out = capsys.readouterr().out
    assert exit_.value.code == 1
    assert "churn:1: NOT reproduced. 3 of 25 reference rows predict differently" in out
    assert "row 0: prediction recorded" in out


def test_a_version_without_data_cannot_be_verified(reg: Any, churn_model: Any) -> None:
    push_quietly(reg, churn_model)
    with pytest.raises(VerifyError, match="pushed without training data \\(X\\)"):
        verify(reg, "churn", 1)
