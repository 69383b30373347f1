"""Compile a fitted estimator at push: convert, verify against scikit-learn, time both.

The ONNX artifact may serve only if, on the verification sample (up to
``SAMPLE_ROWS`` rows of the ``X`` given at push, validated through the signature as a
request would be), every label is the one scikit-learn gives (same value, same JSON
type) and every probability or regression output is within ``tolerance`` (absolute).
Otherwise the version serves with scikit-learn, and :class:`RuntimeInfo` says why:
the unsupported step, or the worst row.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import math
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from deploykit.compile._record import InputPlan, RuntimeInfo

__all__ = ["SAMPLE_ROWS", "Compiled", "compile_model"]

SAMPLE_ROWS = 1000  # rows verified: enough to catch a broken threshold, quick for RF(300)
_TIMING_BUDGET = 0.05  # seconds spent timing each measure (about): pushes stay quick


@dataclasses.dataclass(frozen=True)
class Compiled:
    """The outcome of :func:`compile_model`: ONNX bytes that may serve (or None) and why."""

    onnx: bytes | None
    info: RuntimeInfo


def _versions() -> dict[str, str]:
    found = {}
    for package in ("onnxruntime", "skl2onnx", "onnx"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[package] = importlib.metadata.version(package)
    return found


def compile_model(
    model: Any,
    *,
    signature: Mapping[str, Any] | None,
    X: Any,
    tolerance: float = 1e-5,
) -> Compiled:
    """Convert ``model`` to ONNX and verify it on ``X``; never raises for the model's sake.

    Every way this can fail (no converter, a mismatch, onnxruntime missing) ends as
    ``runtime="sklearn"`` with the reason: the push goes on and the version serves as
    before.
    """
    start = time.perf_counter()
    versions = _versions()

    def sklearn(reason: str, **extra: Any) -> Compiled:
        seconds = round(time.perf_counter() - start, 3)
        info = RuntimeInfo.sklearn(reason, tolerance=tolerance, seconds=seconds, versions=versions)
        return Compiled(None, dataclasses.replace(info, **extra))

    if "onnxruntime" not in versions or "skl2onnx" not in versions:
        return sklearn(
            "onnxruntime and skl2onnx are not installed (pip install 'deploykit[compile]')"
        )
    if X is None:
        return sklearn("no data to verify the compiled model against (push with X)")
    from deploykit.compile._convert import ConversionError, convert_graph, plans_for

    plans = plans_for(model, signature)
    if isinstance(plans, str):
        return sklearn(plans)
    try:
        sample, rows = _sample(X, signature)
        expected = _reference(model, sample)
    except Exception as exc:  # the model's own predict failed on its data: not ours to judge
        return sklearn(f"scikit-learn could not predict on the sample ({type(exc).__name__})")
    nulls = _null_rows(sample, rows, signature)
    null_expected: _Expected | None = None
    null_note: str | None = None
    if nulls is not None:
        try:
            null_expected = _reference(model, nulls[0])
        except Exception:  # scikit-learn refuses them: the server must, the same way
            null_note = "scikit-learn refuses nulls in some columns"
    reasons: list[str] = []
    for plan in plans:
        try:
            onnx, *names = convert_graph(model, plan)
        except ConversionError as exc:
            reasons.append(str(exc))
            if reasons[-1].startswith("unsupported step"):
                break  # another precision or layout will not add a converter
            continue
        outcome = _verify(
            model, onnx, plan, sample, rows, expected, tolerance, versions, (names[0], names[1])
        )
        if isinstance(outcome, str):
            reasons.append(outcome)
            continue
        info, compiled = outcome
        note = null_note
        if nulls is not None and null_expected is not None:
            # rows with a null: onnx if they agree too, else scikit-learn answers them
            verdict = _compare(compiled, info, nulls[0], nulls[1], null_expected, tolerance)
            note = verdict if isinstance(verdict, str) else None
        if note is not None:
            info = dataclasses.replace(info, nulls="sklearn", null_reason=note)
        info = dataclasses.replace(info, seconds=round(time.perf_counter() - start, 3))
        return Compiled(onnx, info)
    # The best plan's reason: later plans fail for reasons of their own (a layout the
    # model cannot take), which would hide why the natural one did not serve.
    mismatches = [r for r in reasons if r.startswith("mismatch")]
    return sklearn((mismatches or reasons or ["no input plan fits this model"])[0])


def _sample(X: Any, signature: Mapping[str, Any] | None) -> tuple[Any, np.ndarray]:
    """Up to SAMPLE_ROWS rows of X (seeded), shaped as the server hands them to the model;
    with their row numbers in X."""
    n = len(X)
    if n > SAMPLE_ROWS:
        rows = np.sort(np.random.default_rng(0).choice(n, SAMPLE_ROWS, replace=False))
    else:
        rows = np.arange(n)
    iloc = getattr(X, "iloc", None)
    part = iloc[rows] if iloc is not None else np.asarray(X)[rows]
    if signature:
        from deploykit.signature import Signature

        # if it does not validate, the model gets the sample as given; the verdict stands
        with contextlib.suppress(Exception):
            part = Signature.from_dict(signature).validate(part, allow_extra=True)
    return part, rows


_NULL_ROWS = 400  # extra rows verified with one nullable column null, in all


def _null_rows(
    sample: Any, rows: np.ndarray, signature: Mapping[str, Any] | None
) -> tuple[Any, np.ndarray] | None:
    """For each column that accepts nulls, a few rows of ``sample`` with it null (None if
    no column does).

    The signature lets nulls through where the model took them at push (its null probe);
    the compiled model may answer them only if it does so as scikit-learn does (a null
    text reaches ONNX as "", a null number as NaN): trees converted by skl2onnx, for one,
    do not route missing values as scikit-learn's do."""
    inputs = list((signature or {}).get("inputs", ()))
    nullable = [i for i, c in enumerate(inputs) if c.get("nullable")]
    if not nullable or len(rows) == 0:
        return None
    each = max(2, _NULL_ROWS // len(nullable))
    parts, numbers = [], []
    iloc = getattr(sample, "iloc", None)
    for i in nullable:
        take = min(each, len(rows))
        if iloc is not None:
            part = sample.iloc[:take].copy()
            name = inputs[i]["name"]
            numeric = part[name].dtype.kind in "fiub"
            part[name] = np.nan if numeric else None
        else:
            part = np.array(sample[:take], dtype=float if sample.dtype.kind in "fiub" else object)
            part[:, i] = np.nan if part.dtype.kind == "f" else None
        parts.append(part)
        numbers.append(rows[:take])
    if iloc is not None:
        import pandas as pd

        return pd.concat(parts, ignore_index=True), np.concatenate(numbers)
    return np.concatenate(parts), np.concatenate(numbers)


@dataclasses.dataclass(frozen=True)
class _Expected:
    classifier: bool
    labels: np.ndarray
    proba: np.ndarray | None
    classes: list[Any] | None


def _reference(model: Any, sample: Any) -> _Expected:
    from sklearn.base import is_classifier

    from deploykit._json import json_safe

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        labels = np.asarray(model.predict(sample))
        classifier = bool(is_classifier(model))
        proba = None
        if classifier and hasattr(model, "predict_proba"):
            proba = np.asarray(model.predict_proba(sample), dtype=np.float64)
    classes = getattr(model, "classes_", None)
    return _Expected(
        classifier,
        labels,
        proba,
        None if classes is None else json_safe(np.asarray(classes).tolist()),
    )


def _verify(
    model: Any,
    onnx: bytes,
    plan: InputPlan,
    sample: Any,
    rows: np.ndarray,
    expected: _Expected,
    tolerance: float,
    versions: dict[str, str],
    graph_names: tuple[list[str], list[str]] | None = None,
) -> tuple[RuntimeInfo, Any] | str:
    """(runtime record, session) if the ONNX model answers as scikit-learn does; else why not.
    ``graph_names``: (outputs, inputs) of the graph, read from ``onnx`` when not given."""
    from deploykit.compile._runtime import CompiledModel
    from deploykit.errors import DeployKitError

    try:
        names, inputs = graph_names or _graph_names(onnx)
        outputs: dict[str, str | None] = (
            {"label": names[0], "probabilities": names[1] if len(names) > 1 else None}
            if expected.classifier
            else {"value": names[0]}
        )
        info = RuntimeInfo(
            runtime="onnx",
            plan=dataclasses.replace(plan, names=tuple(inputs)),
            task="classifier" if expected.classifier else "regressor",
            outputs=outputs,
            classes=expected.classes,
            has_proba=expected.proba is not None and outputs.get("probabilities") is not None,
            tolerance=tolerance,
        )
        compiled = CompiledModel(onnx, info, label="the compiled model")
    except (DeployKitError, Exception) as exc:
        return (
            f"onnxruntime cannot run the converted model ({type(exc).__name__}: {str(exc)[:200]})"
        )
    verdict = _compare(compiled, info, sample, rows, expected, tolerance)
    if isinstance(verdict, str) and verdict.startswith("mismatch: labels") and info.has_proba:
        # Ties: scikit-learn's argmax takes the first class among equals; the graph's
        # float32 sums can tip a 50/50 forest vote either way. Read labels as argmax does.
        info = dataclasses.replace(info, labels="argmax")
        compiled.configure(info)
        retry = _compare(compiled, info, sample, rows, expected, tolerance)
        verdict = verdict if isinstance(retry, str) else retry
    if isinstance(verdict, str):
        return verdict
    diff, worst_row = verdict
    timing = _timing(model, compiled, sample, info.has_proba)
    info = dataclasses.replace(
        info,
        rows=len(rows),
        max_abs_diff=diff,
        worst_row=worst_row,
        tolerance=tolerance,
        versions=versions,
        size=len(onnx),
        **timing,
    )
    return info, compiled


def _compare(
    compiled: Any,
    info: RuntimeInfo,
    sample: Any,
    rows: np.ndarray,
    expected: _Expected,
    tolerance: float,
) -> tuple[float, int | None] | str:
    """(largest difference, its row) if ONNX answers ``sample`` as scikit-learn did;
    else why not."""
    try:
        labels, proba = compiled.run(compiled.feed(sample), info.has_proba)
    except Exception as exc:
        return f"onnxruntime fails on the sample ({type(exc).__name__}: {str(exc)[:200]})"
    got = labels.tolist()
    want = (
        expected.labels.reshape(len(got), -1)[:, 0].tolist()
        if expected.labels.ndim > 1
        else (expected.labels.tolist())
    )
    worst_row: int | None = None
    if expected.classifier:
        bad = [i for i, (a, b) in enumerate(zip(got, want, strict=True)) if not _same(a, b)]
        if bad:
            i = bad[0]
            return (
                f"mismatch: labels differ from scikit-learn on {len(bad)} of {len(got)} rows "
                f"(row {int(rows[i])}: onnx {got[i]!r}, scikit-learn {want[i]!r})"
            )
        ours, theirs = proba, expected.proba
        what = "probabilities"
    else:
        ours, theirs = labels, expected.labels
        what = "predictions"
    diff = 0.0
    if ours is not None and theirs is not None:
        ours = np.asarray(ours, dtype=np.float64).reshape(len(got), -1)
        theirs = np.asarray(theirs, dtype=np.float64).reshape(len(got), -1)
        if ours.shape != theirs.shape:
            return f"mismatch: {what} have shape {ours.shape}, scikit-learn's {theirs.shape}"
        gaps = np.abs(ours - theirs).max(axis=1)
        both_nan = np.isnan(ours).all(axis=1) & np.isnan(theirs).all(axis=1)
        gaps = np.where(both_nan, 0.0, np.nan_to_num(gaps, nan=np.inf))
        if len(gaps):
            worst = int(np.argmax(gaps))
            diff = float(gaps[worst])
            worst_row = int(rows[worst])
            if not diff <= tolerance:
                return (
                    f"mismatch: {what} differ from scikit-learn by up to {diff:.3g} on row "
                    f"{worst_row}, more than the tolerance {tolerance:g}"
                )
    return diff, worst_row


def _graph_names(onnx: bytes) -> tuple[list[str], list[str]]:
    """(output names, input names) of the graph, in order."""
    import onnx as onnx_lib

    graph = onnx_lib.load_model_from_string(onnx).graph
    return [o.name for o in graph.output], [i.name for i in graph.input]


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same JSON type (1 is not 1.0, nor True)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def _timing(model: Any, compiled: Any, sample: Any, proba: bool) -> dict[str, Any]:
    """scikit-learn vs ONNX Runtime on 1 row and 100 rows (median of a few calls each)."""
    iloc = getattr(sample, "iloc", None)

    def head(n: int) -> Any:
        return iloc[:n] if iloc is not None else sample[:n]

    one, hundred = head(1), head(100)

    def sk(x: Any) -> Callable[[], Any]:
        return lambda: model.predict(x)

    def ox(x: Any) -> Callable[[], Any]:
        return lambda: compiled.run(compiled.feed(x), False)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk1, ox1 = _median_ms(sk(one)), _median_ms(ox(one))
        sk100, ox100 = _median_ms(sk(hundred)), _median_ms(ox(hundred))
    return {
        "sklearn_ms": round(sk1, 4),
        "onnx_ms": round(ox1, 4),
        "speedup": round(sk1 / ox1, 1) if ox1 > 0 else None,
        "speedup_batch": round(sk100 / ox100, 1) if ox100 > 0 else None,
    }


def _median_ms(call: Callable[[], Any]) -> float:
    timings: list[float] = []
    spent = 0.0
    # three calls at least: a 300-tree forest's 1-row predict costs ~25 ms in scikit-learn
    while len(timings) < 3 or (spent < _TIMING_BUDGET and len(timings) < 50):
        t = time.perf_counter()
        call()
        elapsed = time.perf_counter() - t
        timings.append(elapsed)
        spent += elapsed
    return float(np.median(timings) * 1000)
