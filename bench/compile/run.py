"""Compiled inference, in one process: scikit-learn vs ONNX Runtime on the same models.

    python bench/compile/run.py [--repeat 200] [--rounds 2] [--no-before]

Trains LogisticRegression, RandomForestClassifier(100) and (300),
GradientBoostingClassifier(100) and HistGradientBoostingClassifier on
make_classification(20000, 20, random_state=0) as a DataFrame (the models of
bench/serve), then for each: conversion + verification time at push
(deploykit.compile.compile_model on 1,000 rows, as Registry.push does) as CPU time and
wall time, the runtime chosen and why, the largest difference from scikit-learn, and
the median latency of 1 row and 100 rows with scikit-learn (on an ndarray, as the
server calls it) and with ONNX Runtime (one thread, as the server runs it).

"before": the tree models are also compiled with skl2onnx's own tree converters
(deploykit.compile._convert.VECTORISED_TREES off), interleaved with deploykit's over
``--rounds`` rounds; each figure is the median of its rounds. CPU time
(time.process_time, every thread of the process) is the figure to compare on a shared
machine. Prints a Markdown table and writes bench/results/compile.json.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import make_classification
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression

from deploykit.compile import CompiledModel, _convert, compile_model
from deploykit.signature import Signature

ROOT = Path(__file__).resolve().parents[2]


def median_ms(call: Any, repeat: int) -> float:
    call()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        call()
        times.append((time.perf_counter() - t) * 1000)
    return float(np.median(times))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=2, help="compilations per converter")
    ap.add_argument("--no-before", action="store_true", help="skip skl2onnx's tree converters")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    X_, y = make_classification(n_samples=20000, n_features=20, random_state=0)
    X = pd.DataFrame(X_, columns=[f"f{i}" for i in range(20)])
    models = {
        "LR": LogisticRegression(max_iter=1000),
        "RF(100)": RandomForestClassifier(n_estimators=100, random_state=0),
        "RF(300)": RandomForestClassifier(n_estimators=300, random_state=0),
        "GB(100)": GradientBoostingClassifier(n_estimators=100, random_state=0),
        "HGB": HistGradientBoostingClassifier(random_state=0),
    }
    compile_model(LogisticRegression().fit(X[:100], y[:100]), signature=None, X=X[:100])  # imports
    rows = np.random.default_rng(0).normal(size=(100, 20))
    results: dict[str, dict[str, Any]] = {}
    for name, model in models.items():
        model.fit(X, y)
        signature = Signature.infer(X, model=model).to_dict()
        converters = [True] if name == "LR" or args.no_before else [True, False]
        timings: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
        outcome: dict[bool, Any] = {}
        for _ in range(args.rounds):
            for vectorised in converters:  # interleaved: the machine's load hits both
                _convert.VECTORISED_TREES = vectorised
                cpu, wall = time.process_time(), time.perf_counter()
                outcome[vectorised] = compile_model(model, signature=signature, X=X)
                timings[vectorised].append((time.process_time() - cpu, time.perf_counter() - wall))
        _convert.VECTORISED_TREES = True
        compiled = outcome[True]
        info = compiled.info
        out: dict[str, Any] = {
            "runtime": info.describe(),
            "compile_cpu_s": round(float(np.median([c for c, _ in timings[True]])), 3),
            "compile_s": round(float(np.median([w for _, w in timings[True]])), 3),
            "max_abs_diff": info.max_abs_diff,
            "onnx_bytes": len(compiled.onnx or b""),
        }
        if timings[False]:
            out["before_runtime"] = outcome[False].info.describe()
            out["before_cpu_s"] = round(float(np.median([c for c, _ in timings[False]])), 3)
            out["before_s"] = round(float(np.median([w for _, w in timings[False]])), 3)
        repeat = args.repeat if name == "LR" else max(20, args.repeat // 5)
        for n in (1, 100):
            x = rows[:n]
            predict = model.predict
            out[f"sklearn_{n}_ms"] = round(median_ms(lambda x=x, f=predict: f(x), repeat), 4)
        if compiled.onnx is not None:
            session = CompiledModel(compiled.onnx, info)
            for n in (1, 100):
                x = rows[:n]
                call = lambda x=x, s=session: s.run(s.feed_matrix(x), False)  # noqa: E731
                out[f"onnx_{n}_ms"] = round(median_ms(call, args.repeat), 4)
            for n in (1, 100):
                out[f"speedup_{n}"] = round(out[f"sklearn_{n}_ms"] / out[f"onnx_{n}_ms"], 1)
        results[name] = out
        print(name, out, flush=True)
    lines = [
        "| model | runtime | convert + verify, CPU (wall) | before: skl2onnx trees, CPU (wall) "
        "| sklearn 1 row | onnx 1 row | sklearn 100 rows | onnx 100 rows | max diff |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name, r in results.items():
        before = (
            f"{r['before_cpu_s']:.2f} s ({r['before_s']:.2f} s)"
            + ("" if r["before_runtime"].startswith("onnx") else ", sklearn: failed")
            if "before_cpu_s" in r
            else "n/a"
        )
        lines.append(
            f"| {name} | {r['runtime']} | {r['compile_cpu_s']:.2f} s ({r['compile_s']:.2f} s) "
            f"| {before} | {r['sklearn_1_ms']:.3f} ms "
            f"| {r.get('onnx_1_ms', float('nan')):.4f} ms | {r['sklearn_100_ms']:.3f} ms "
            f"| {r.get('onnx_100_ms', float('nan')):.4f} ms | {r['max_abs_diff'] or 0:.1e} |"
        )
    print("\n".join(lines))
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / "compile.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
