"""Estimated performance without labels: it tracks the realized figures, its band covers
them, and it says when it cannot be trusted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn import metrics as skm
from sklearn.datasets import make_classification, make_friedman1
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from deploykit.evaluation import evaluate
from deploykit.monitoring.calibration import CalibrationEvidence, CalibrationMap
from deploykit.monitoring.estimate import ErrorModel, _auc, estimate_classification
from deploykit.monitoring.logs import write_log_file
from deploykit.registry import Registry
from deploykit.settings import Settings


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    # small gradient-boosting fits: OpenMP threads only fight each other on a shared host
    with threadpool_limits(1):
        yield


def shifted_windows(X: np.ndarray, y: np.ndarray, shifts: list[float], size: int, seed: int = 1):
    """Rows drawn with weights exp(shift * x0): the population moves, P(y | x) does not."""
    rng = np.random.default_rng(seed)
    z = (X[:, 0] - X[:, 0].mean()) / X[:, 0].std()
    for shift in shifts:
        w = np.exp(shift * z)
        rows = rng.choice(len(X), size=size, p=w / w.sum())
        yield X[rows], y[rows]


@pytest.fixture(scope="module")
def binary():
    X, y = make_classification(
        n_samples=60_000, n_features=8, n_informative=5, flip_y=0.05, random_state=0
    )
    model = HistGradientBoostingClassifier(max_iter=60, random_state=0).fit(X[:10_000], y[:10_000])
    report = evaluate(model, X[10_000:16_000], y[10_000:16_000])
    return model, report, X[16_000:], y[16_000:]


def test_estimates_track_realized_accuracy_and_auc_under_covariate_shift(binary) -> None:
    model, report, X, y = binary
    evidence = CalibrationEvidence.from_dict(json.loads(json.dumps(report.evidence)))
    errors, covered, realized_acc = [], 0, []
    shifts = [0.0, 0.0, 0.5, 0.5, 1.0, 1.0, 1.5, 1.5]
    for Xw, yw in shifted_windows(X, y, shifts, 4000):
        proba, pred = model.predict_proba(Xw), model.predict(Xw)
        est = estimate_classification(evidence, proba, pred.astype(str))
        acc = skm.accuracy_score(yw, pred)
        auc = skm.roc_auc_score(yw, proba[:, 1])
        realized_acc.append(acc)
        errors += [abs(est["accuracy"].value - acc), abs(est["roc_auc"].value - auc)]
        covered += est["accuracy"].covers(acc) + est["roc_auc"].covers(auc)
        assert set(est) == {"accuracy", "roc_auc", "precision", "recall", "f1"}
    assert max(realized_acc) - min(realized_acc) > 0.01  # the shift does move accuracy
    assert np.mean(errors) < 0.015
    assert covered >= 0.75 * len(errors)


def test_multiclass_estimates_are_macro_averages_close_to_realized() -> None:
    X, y = make_classification(
        n_samples=40_000, n_features=8, n_informative=5, n_classes=3, random_state=2
    )
    model = LogisticRegression(max_iter=500).fit(X[:8000], y[:8000])
    evidence = CalibrationEvidence.from_dict(evaluate(model, X[8000:14000], y[8000:14000]).evidence)
    Xw, yw = X[14000:24000], y[14000:24000]
    proba, pred = model.predict_proba(Xw), model.predict(Xw)
    est = estimate_classification(evidence, proba, pred.astype(str))
    assert est["accuracy"].value == pytest.approx(skm.accuracy_score(yw, pred), abs=0.02)
    assert est["f1_macro"].value == pytest.approx(skm.f1_score(yw, pred, average="macro"), abs=0.02)
    assert est["roc_auc"].value == pytest.approx(
        skm.roc_auc_score(yw, proba, multi_class="ovr"), abs=0.02
    )


def test_multiclass_bands_cover_macro_auc_and_f1_as_sklearn_computes_them() -> None:
    # the per-class AUCs and F1s of one window move together (one label per row): the
    # band of their macro average has to count that, or it is too narrow. Labels drawn
    # from the calibrated probabilities (the estimator's own model of the window) give
    # the spread of the realized metric the band must cover.
    X, y = make_classification(
        n_samples=30_000, n_features=8, n_informative=5, n_classes=3, flip_y=0.05, random_state=3
    )
    model = HistGradientBoostingClassifier(max_iter=60, random_state=0).fit(X[:8000], y[:8000])
    evidence = CalibrationEvidence.from_dict(evaluate(model, X[8000:16000], y[8000:16000]).evidence)
    Xw = X[16000:19000]
    proba, pred = model.predict_proba(Xw), model.predict(Xw)
    est = estimate_classification(evidence, proba, pred.astype(str))
    cal = np.column_stack([m(proba[:, j]) for j, m in enumerate(evidence.maps)])
    cal /= cal.sum(axis=1, keepdims=True)
    rng = np.random.default_rng(0)
    aucs, f1s = [], []
    for _ in range(200):
        labels = (rng.random(len(cal))[:, None] > np.cumsum(cal, axis=1)).sum(axis=1)
        aucs.append(skm.roc_auc_score(labels, proba, multi_class="ovr", average="macro"))
        f1s.append(skm.f1_score(labels, pred, average="macro"))
    assert est["roc_auc"].value == pytest.approx(np.mean(aucs), abs=0.001)
    assert est["f1_macro"].value == pytest.approx(np.mean(f1s), abs=0.001)
    assert np.mean([est["roc_auc"].covers(v) for v in aucs]) >= 0.9
    assert np.mean([est["f1_macro"].covers(v) for v in f1s]) >= 0.9


def test_expected_auc_counts_pairs_and_ties_as_sklearn() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 20, size=3000) / 20  # many ties
    labels = (rng.random(3000) < scores).astype(np.float64)
    # with certain labels the expectation is the realized AUC itself
    assert _auc(scores, labels)[0] == pytest.approx(skm.roc_auc_score(labels, scores), abs=1e-12)
    # with uncertain ones: the mean of the AUC over label draws, and its spread
    p = np.clip(scores, 0.05, 0.95)
    draws = [skm.roc_auc_score(rng.random(3000) < p, scores) for _ in range(300)]
    value, grad = _auc(scores, p)
    assert value == pytest.approx(np.mean(draws), abs=0.002)
    assert np.sqrt(grad**2 @ (p * (1 - p))) == pytest.approx(np.std(draws), rel=0.2)


def test_a_small_evaluation_widens_the_band_and_still_covers() -> None:
    X, y = make_classification(
        n_samples=60_000, n_features=8, n_informative=5, flip_y=0.05, random_state=1
    )
    # an underconfident model: its scores need calibrating
    model = LogisticRegression(C=0.002).fit(X[:5000], y[:5000])
    large = CalibrationEvidence.from_dict(evaluate(model, X[5000:15000], y[5000:15000]).evidence)
    Xw, yw = X[20000:25000], y[20000:25000]
    proba, pred = model.predict_proba(Xw), model.predict(Xw)
    realized = skm.accuracy_score(yw, pred)
    wide = narrow = 0.0
    covered = 0
    rng = np.random.default_rng(0)
    draws = 20
    for _ in range(draws):  # many small evaluations: honest bands cover ~90% of them
        rows = rng.choice(np.arange(15000, 20000), size=150, replace=False)
        small = CalibrationEvidence.from_dict(evaluate(model, X[rows], y[rows]).evidence)
        assert "150 labelled rows" in (small.calibration or "")
        est = estimate_classification(small, proba, pred.astype(str))["accuracy"]
        wide += est.upper - est.lower
        covered += est.covers(realized)
    est = estimate_classification(large, proba, pred.astype(str))["accuracy"]
    narrow = est.upper - est.lower
    assert est.covers(realized)
    assert wide / draws > 2 * narrow  # fewer labelled rows behind it: a wider band
    assert covered >= 0.75 * draws


def test_evidence_kept_before_the_choice_of_map_still_estimates() -> None:
    X, y = make_classification(n_samples=20_000, n_features=6, random_state=5)
    model = LogisticRegression().fit(X[:5000], y[:5000])
    d = evaluate(model, X[5000:9000], y[5000:9000]).evidence
    # as an earlier release stored it: isotonic maps only, no kind, no cross-validation
    old = {k: v for k, v in d.items() if k not in ("isotonic", "brier")}
    old["maps"] = [
        {k: v for k, v in m.items() if k != "kind"} for m in d.get("isotonic") or d["maps"]
    ]
    evidence = CalibrationEvidence.from_dict(json.loads(json.dumps(old)))
    proba, pred = model.predict_proba(X[9000:]), model.predict(X[9000:])
    est = estimate_classification(evidence, proba, pred.astype(str))["accuracy"]
    assert est.lower < est.value < est.upper
    assert est.value == pytest.approx(skm.accuracy_score(y[9000:], pred), abs=0.02)


def _evidence(kind: str, brier: dict[str, float]) -> CalibrationEvidence:
    line = CalibrationMap((0.0, 1.0), (0.0, 1.0), (143, 143), kind)
    return CalibrationEvidence("binary", 143, ("0", "1"), maps=(line,), brier=brier)


def test_the_calibration_says_isotonic_is_the_default_the_others_did_not_beat() -> None:
    """Lower Brier is better: isotonic kept with the highest score reads as the default the
    simpler maps failed to beat beyond noise, not as the winner of a ranking."""
    brier = {"identity": 0.0279, "platt": 0.0291, "isotonic": 0.0301}
    assert _evidence("isotonic", brier).calibration == (
        "isotonic, fitted on 143 labelled rows (the default: the 5-fold cross-validated "
        "Brier scores of scores as they are 0.0279 and Platt scaling 0.0291 are not better "
        "beyond noise than isotonic's 0.0301)"
    )


def test_the_calibration_says_a_simpler_map_won_and_by_how_much() -> None:
    brier = {"identity": 0.0310, "platt": 0.0250, "isotonic": 0.0300}
    assert _evidence("platt", brier).calibration == (
        "Platt scaling, fitted on 143 labelled rows (chosen over the default, isotonic: its "
        "5-fold cross-validated Brier score 0.0250 is lower than isotonic's 0.0300 by 0.0050 "
        "(17%), beyond noise; scores as they are: 0.0310)"
    )
    assert _evidence("isotonic", {}).calibration == "isotonic, fitted on 143 labelled rows"


def test_regression_error_model_estimates_mae_where_noise_grows() -> None:
    X, y = make_friedman1(n_samples=30_000, n_features=6, noise=0.0, random_state=0)
    y = y + np.random.default_rng(0).normal(size=len(y)) * (0.3 + 3 * X[:, 4])
    model = HistGradientBoostingRegressor(max_iter=80, random_state=0).fit(X[:8000], y[:8000])
    report = evaluate(model, X[8000:12000], y[8000:12000])
    evidence = CalibrationEvidence.from_dict(report.evidence)
    errors = ErrorModel(evidence)
    quiet, loud = X[12000:][X[12000:, 4] < 0.3], X[12000:][X[12000:, 4] > 0.7]
    y_rest = y[12000:]
    for part, truth in ((quiet, y_rest[X[12000:, 4] < 0.3]), (loud, y_rest[X[12000:, 4] > 0.7])):
        est = errors.estimate(part, model.predict(part))
        real = float(np.abs(truth - model.predict(part)).mean())
        assert est["mae"].value == pytest.approx(real, rel=0.1)
    assert len(json.dumps(report.evidence)) < 1_000_000  # it rides in the version metadata


def settings_for(home: Path) -> Settings:
    return Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"}).replace(
        actor="tester"
    )


def log_rows(reg: Registry, model, name: str, version: int, X: pd.DataFrame, at: datetime):
    """Write X's predictions as the server would (scores included)."""
    proba = model.predict_proba(X)
    columns = {
        "request_id": pa.array([f"r{i}" for i in range(len(X))]),
        "timestamp": pa.array([at] * len(X), type=pa.timestamp("us", tz="UTC")),
        "version": pa.array(np.full(len(X), version, dtype=np.int64)),
        "prediction": pa.array(model.predict(X)),
    }
    for j, c in enumerate(model.classes_):
        columns[f"probability.{c}"] = pa.array(proba[:, j])
    for c in X.columns:
        columns[f"input.{c}"] = pa.array(X[c].to_numpy())
    write_log_file(
        reg.settings.artifacts_url, name, pa.table(columns), at=at, tag=f"t{version}-{at:%H%M%S}"
    )


def test_registry_estimates_windows_and_says_when_not_to_trust_them(tmp_path: Path) -> None:
    X, y = make_classification(n_samples=20_000, n_features=5, random_state=0)
    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(5)])
    model = LogisticRegression().fit(frame[:5000], y[:5000])
    report = evaluate(model, frame[5000:9000], y[5000:9000])
    now = datetime.now(timezone.utc).replace(microsecond=0)
    with Registry(settings_for(tmp_path)) as reg:
        reg.push(model, "churn", X=frame[:5000], evaluation=report, deploy=True)
        reg.push(model, "bare", X=frame[:5000], deploy=True)  # no evaluation: no evidence
        hour_ago = now - timedelta(minutes=50)
        log_rows(reg, model, "churn", 1, frame[9000:12000], hour_ago)
        # later: rows far outside anything the reference saw
        outside = frame[12000:13000] * 6
        log_rows(reg, model, "churn", 1, outside, now - timedelta(minutes=10))
        log_rows(reg, model, "bare", 1, frame[9000:10000], hour_ago)

        result = reg.estimated_performance(
            "churn", since=now - timedelta(hours=1), until=now, step=1800
        )
        assert result.task == "binary"
        assert result.headline == "accuracy"
        first, second = result.windows
        acc = skm.accuracy_score(y[9000:12000], model.predict(frame[9000:12000]))
        assert first.rows == 3000
        assert first.trusted
        assert first.metrics["accuracy"].value == pytest.approx(acc, abs=0.02)
        assert first.metrics["accuracy"].lower < first.metrics["accuracy"].value
        assert first.metrics["accuracy"].realized is None  # no feedback yet
        assert not second.trusted
        assert "outside the reference data's range" in " ".join(second.reasons)
        assert result.reference["accuracy"] == pytest.approx(report.metrics["accuracy"])
        assert "estimated" in str(result).lower()
        # how the scores were calibrated is said, in the text and the JSON alike
        assert result.calibration is not None
        assert "4000 labelled rows" in result.calibration
        assert f"calibration: {result.calibration}" in str(result)
        assert result.to_dict()["calibration"] == result.calibration

        bare = reg.estimated_performance("bare", since=now - timedelta(hours=1), until=now)
        assert not bare.overall.trusted
        assert bare.overall.metrics["accuracy"].value is None
        assert "no calibration evidence" in bare.overall.reasons[0]
        assert "evaluation=deploykit.evaluate" in bare.overall.reasons[0]

        with pytest.raises(ValueError, match="'confidence' parameter must be a number in"):
            reg.estimated_performance("churn", confidence=1.5)
