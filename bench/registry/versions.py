"""Time Registry.versions() on a model with many versions (target: <= 50 ms for 1,000).

    python bench/registry/versions.py            # 1,000 versions, 30 timed calls
    python bench/registry/versions.py --quick    # 200 versions, 10 calls

Each version carries what a real push records: signature, evaluation report with
a confusion matrix, gate result, params, data fingerprint, environment (and a
reference profile, which versions() must not read). Versions are registered
against one stored artifact to keep the setup short; the read path is the same.
On a shared machine, compare the CPU time line: wall time includes waiting for a core.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier

import deploykit
from deploykit.registry import Registry, prepare_draft
from deploykit.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="200 versions, 10 calls")
    args = parser.parse_args()
    if args.quick:
        args.versions, args.calls = 200, 10

    X, y = make_classification(n_samples=2000, n_features=20, random_state=0)
    X = pd.DataFrame(X, columns=[f"feature_{i}" for i in range(20)])
    model = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    report = deploykit.evaluate(model, X, y)
    home = Path(tempfile.mkdtemp(prefix="dk-bench-versions-"))
    try:
        settings = Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"})
        with Registry(settings, actor="bench") as reg:
            first = reg.push(model, "churn", X=X, evaluation=report, gate="accuracy >= 0.5")
            draft = prepare_draft(
                model,
                X=X,
                format="joblib",
                evaluation=report,
                gate="accuracy >= 0.5",
                digest=first.digest,
                size=first.size,
                description="random forest, 20 trees",
            )
            start = time.perf_counter()
            for _ in range(args.versions - 1):
                reg.register("churn", draft)
            setup = time.perf_counter() - start
            row_bytes = len(json.dumps(first.to_dict()))

        with Registry(settings) as reg:  # a fresh process-like open: cold pool and caches
            start = time.perf_counter()
            versions = reg.versions("churn")
            cold = time.perf_counter() - start
            times, cpu = [], []
            for _ in range(args.calls):
                start, start_cpu = time.perf_counter(), time.process_time()
                reg.versions("churn")
                times.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
    finally:
        shutil.rmtree(home, ignore_errors=True)

    assert len(versions) == args.versions
    print(f"{args.versions} versions, ~{row_bytes / 1000:.1f} kB of JSON each as records")
    print(f"setup: {setup / (args.versions - 1) * 1000:.1f} ms per register()")
    print(f"versions() first call: {cold * 1000:.1f} ms")
    print(
        f"versions() median of {args.calls}: {statistics.median(times) * 1000:.1f} ms "
        f"(min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f})"
    )
    print(f"versions() median CPU time: {statistics.median(cpu) * 1000:.1f} ms (this process)")
    print(f"RATIO median / 50 ms budget: {statistics.median(times) / 0.050:.2f}")


if __name__ == "__main__":
    main()
