"""Drift speed: deploykit vs Evidently's DataDriftPreset vs a bare numpy pass, same data.

    .venv/bin/python bench/drift_speed/run.py            # 10k reference, 1M current (~3 min)
    .venv/bin/python bench/drift_speed/run.py --quick    # 100k current, no Evidently (< 1 min)

Data: 20 numeric columns (normal, lognormal, uniform, exponential in turn) and 2
categorical ones; the current window shifts 5 of them (f0, f5, f10, f15 by half a
standard deviation, c0's shares). It is written once to Parquet; each contender runs
in its own process (so peak memory is its own), reads it, and is timed on the drift
computation only (best of several runs):

- numpy: a bare pass computing PSI (10 reference quantile bins) and the KS statistic
  against the whole reference, for the same columns (value counts for categoricals);
- deploykit: ``check_drift`` on the DataFrame, against the reference's profile (built
  at push time, not timed); and, separately, from prediction-log Parquet files
  (``read_log`` + ``drift_timeline``), reading included;
- Evidently 0.7.23 (its own venv): ``Report([DataDriftPreset()]).run(current, reference)``.

Peak memory: the process's peak RSS while computing, above its RSS once the data is
loaded (Linux ``/proc/self/clear_refs``), and the whole process's peak.
Writes bench/results/drift_speed.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

SHIFTED = ["f0", "f5", "f10", "f15", "c0"]
NUMERIC = [f"f{i}" for i in range(20)]
CATEGORICAL = ["c0", "c1"]


# ---------------------------------------------------------------------- data
def generate(folder: Path, current_rows: int, reference_rows: int = 10_000) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)

    def frame(n: int, shift: bool) -> pd.DataFrame:
        columns: dict[str, Any] = {}
        for i, name in enumerate(NUMERIC):
            kind = i % 4
            if kind == 0:
                values = rng.normal(10 * i, 1 + i, n)
            elif kind == 1:
                values = rng.lognormal(1, 0.5, n)
            elif kind == 2:
                values = rng.uniform(-i, i + 1, n)
            else:
                values = rng.exponential(1 + i / 10, n)
            columns[name] = values
        shares = [0.25] * 4 if shift else [0.4, 0.3, 0.2, 0.1]
        columns["c0"] = rng.choice(np.array(["a", "b", "c", "d"], dtype=object), n, p=shares)
        columns["c1"] = rng.choice(np.array(["x", "y", "z"], dtype=object), n, p=[0.5, 0.3, 0.2])
        out = pd.DataFrame(columns)
        if shift:
            for name in SHIFTED[:4]:
                out[name] += 0.5 * out[name].std()
        return out

    folder.mkdir(parents=True, exist_ok=True)
    frame(reference_rows, False).to_parquet(folder / "reference.parquet")
    current = frame(current_rows, True)
    current.to_parquet(folder / "current.parquet")
    write_logs(current, folder / "artifacts")


def write_logs(current: Any, artifacts: Path) -> None:
    """The current window as the server would have logged it: 10k-row Parquet files."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    day = artifacts / "predictions" / "bench" / "2025-01-01"
    day.mkdir(parents=True, exist_ok=True)
    start = 1735693200_000_000  # 2025-01-01T01:00Z, in microseconds
    chunk = 10_000
    for k in range(0, len(current), chunk):
        part = current.iloc[k : k + chunk]
        n = len(part)
        columns = {
            "request_id": pa.array([f"r{k + i}" for i in range(n)]),
            "timestamp": pa.array(start + np.arange(k, k + n) * 1000, type=pa.int64()).cast(
                pa.timestamp("us", tz="UTC")
            ),
            "version": pa.array(np.ones(n, dtype=np.int64)),
            "prediction": pa.array(np.zeros(n, dtype=np.int64)),
        }
        for name in part.columns:
            columns[f"input.{name}"] = pa.array(part[name].to_numpy())
        pq.write_table(
            pa.table(columns), day / f"{k // chunk:06d}-bench.parquet", compression="zstd"
        )


# ---------------------------------------------------------------------- memory
def rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def measure(run: Any, repeat: int) -> dict[str, Any]:
    """Time ``run`` (best of ``repeat``) and its peak memory above the loaded data."""
    loaded = rss_mb()
    resettable = reset_peak()
    seconds = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - start)
    peak = rss_mb("VmHWM") if resettable else float("nan")
    return {
        "seconds": seconds,
        "best": min(seconds),
        "working_mb": peak - loaded,
        "loaded_mb": loaded,
        "process_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "flagged": sorted(result or []),
    }


# ---------------------------------------------------------------------- sides
def side_numpy(folder: Path, repeat: int) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    reference = pd.read_parquet(folder / "reference.parquet")
    current = pd.read_parquet(folder / "current.parquet")

    # The reference side is prepared once, outside the timing, as a profile is at push.
    prepared = {}
    for name in NUMERIC:
        ref = np.sort(reference[name].to_numpy())
        edges = np.quantile(ref, np.linspace(0, 1, 11))[1:-1]
        p = np.diff(np.concatenate(([0], np.searchsorted(ref, edges), [len(ref)]))) / len(ref)
        at = np.arange(1, len(ref) + 1) / len(ref)
        prepared[name] = (ref, edges, np.maximum(p, 1e-4), at)
    shares = {name: reference[name].value_counts(normalize=True) for name in CATEGORICAL}

    def run() -> list[str]:
        flagged = []
        for name in NUMERIC:
            ref, edges, p, at = prepared[name]
            cur = np.sort(current[name].to_numpy())
            q = np.diff(np.concatenate(([0], np.searchsorted(cur, edges), [len(cur)]))) / len(cur)
            q = np.maximum(q, 1e-4)
            psi = float(((q - p) * np.log(q / p)).sum())
            # KS: the largest CDF gap sits at a reference value (just at or just before it)
            d = max(
                np.abs(np.searchsorted(cur, ref, "right") / len(cur) - at).max(),
                np.abs(np.searchsorted(cur, ref, "left") / len(cur) - (at - 1 / len(ref))).max(),
            )
            if psi >= 0.1 or d >= 0.1:
                flagged.append(name)
        for name in CATEGORICAL:
            p_cat = shares[name]
            q_cat = current[name].value_counts(normalize=True).reindex(p_cat.index, fill_value=0)
            pc, qc = np.maximum(p_cat.to_numpy(), 1e-4), np.maximum(q_cat.to_numpy(), 1e-4)
            if float(((qc - pc) * np.log(qc / pc)).sum()) >= 0.1:
                flagged.append(name)
        return flagged

    return measure(run, repeat)


def side_deploykit(folder: Path, repeat: int) -> dict[str, Any]:
    import pandas as pd

    from deploykit.monitoring import ReferenceProfile, check_drift

    profile = ReferenceProfile.from_data(pd.read_parquet(folder / "reference.parquet"))
    current = pd.read_parquet(folder / "current.parquet")
    check_drift(profile, current.iloc[:1000])  # imports and first-call set-up, not timed
    return measure(lambda: check_drift(profile, current).drifted_features, repeat)


def side_logs(folder: Path, repeat: int) -> dict[str, Any]:
    from datetime import datetime, timezone

    import pandas as pd

    from deploykit.monitoring import ReferenceProfile, read_log
    from deploykit.monitoring.periods import Period
    from deploykit.monitoring.timeline import drift_timeline

    profile = ReferenceProfile.from_data(pd.read_parquet(folder / "reference.parquet"))
    span = Period(
        datetime(2025, 1, 1, tzinfo=timezone.utc), datetime(2025, 1, 2, tzinfo=timezone.utc)
    )
    artifacts = str(folder / "artifacts")
    columns = ["timestamp", "prediction", *(f"input.{f.name}" for f in profile.features)]

    def run() -> tuple[str, ...]:
        table = read_log(artifacts, "bench", since=span.since, until=span.until, columns=columns)
        return drift_timeline(profile, table, span).overall.drifted_features

    return measure(run, repeat)


def child(side: str, folder: Path, repeat: int) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--side",
        side,
        "--data",
        str(folder),
        "--repeat",
        str(repeat),
    ]
    if side == "evidently":
        import evidently_env

        command = [
            str(evidently_env.python()),
            str(HERE / "evidently_side.py"),
            str(folder),
            str(repeat),
        ]
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{side} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k rows, no Evidently")
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--rows", type=int, default=None, help="current rows (default 1M)")
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        sides = {"numpy": side_numpy, "deploykit": side_deploykit, "logs": side_logs}
        print(json.dumps(sides[args.side](args.data, args.repeat)))
        return
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    with tempfile.TemporaryDirectory(prefix="deploykit-drift-speed-") as tmp:
        folder = Path(tmp)
        generate(folder, rows)
        results = {side: child(side, folder, 5) for side in ("numpy", "deploykit", "logs")}
        if not (args.quick or args.skip_evidently):
            results["evidently"] = child("evidently", folder, 2)
    report(results, rows)


def report(results: dict[str, dict[str, Any]], rows: int) -> None:
    numpy_best = results["numpy"]["best"]
    names = {
        "numpy": "bare numpy pass (PSI + KS)",
        "deploykit": "deploykit check_drift (DataFrame)",
        "logs": "deploykit from prediction-log Parquet (read included)",
        "evidently": "Evidently 0.7.23 DataDriftPreset",
    }
    print(f"reference 10,000 rows, current {rows:,} rows, 20 numeric + 2 categorical, shift in 5\n")
    print(
        "| contender | best of runs, s | × numpy | peak above data, MB | process peak, MB ", end=""
    )
    print("| flagged |")
    print("|---|---|---|---|---|---|")
    for side, r in results.items():
        print(
            f"| {names[side]} | {r['best']:.3f} | {r['best'] / numpy_best:.2f} "
            f"| {r['working_mb']:.0f} | {r['process_peak_mb']:.0f} | {', '.join(r['flagged'])} |"
        )
    ours = results["deploykit"]
    checks = {
        "same features as the truth": ours["flagged"] == sorted(SHIFTED),
        "within 1.5x of numpy": ours["best"] <= 1.5 * numpy_best,
    }
    if "evidently" in results:
        theirs = results["evidently"]
        checks["same features as Evidently"] = ours["flagged"] == theirs["flagged"]
        checks[f">= 25x faster than Evidently ({theirs['best'] / ours['best']:.0f}x)"] = (
            theirs["best"] >= 25 * ours["best"]
        )
        checks["less peak memory than Evidently"] = (
            ours["process_peak_mb"] < theirs["process_peak_mb"]
            and ours["working_mb"] < theirs["working_mb"]
        )
    print()
    for name, ok in checks.items():
        print(f"- {'met' if ok else 'MISSED'}: {name}")
    out = HERE.parent / "results"
    out.mkdir(exist_ok=True)
    (out / "drift_speed.json").write_text(json.dumps({"rows": rows, **results}, indent=1))
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
