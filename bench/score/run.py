"""Batch scoring benchmark: 10 million rows through `deploykit.batch.score`, peak RSS and time.

    .venv/bin/python bench/score/run.py [--rows 10000000] [--chunk-rows 65536] [--naive]

Writes a Parquet input (an int64 id and 6 float64 features, 1 M-row row groups) in a
temporary folder, pushes a LogisticRegression to a temporary registry, and scores the
file in a child process while sampling its RSS every 0.1 s. ``--naive`` also runs what a
notebook would do (pandas.read_parquet, predict, to_parquet) for comparison. Results go
to bench/results/score.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FEATURES = [f"x{i}" for i in range(6)]
ROW_GROUP = 1_000_000

CHUNKED = """
import sys
from deploykit.batch import score
from deploykit.registry import Registry
with Registry(home=sys.argv[1]) as reg:
    r = score(reg, "bench", sys.argv[2], sys.argv[3], chunk_rows=int(sys.argv[4]), keep=["id"])
print(r.rows, r.chunks)
"""

NAIVE = """
import sys
import pandas as pd
from deploykit.registry import Registry
with Registry(home=sys.argv[1]) as reg:
    model = reg.load("bench")
frame = pd.read_parquet(sys.argv[2])
out = frame[["id"]].assign(prediction=model.predict(frame[FEATURES]))
out.to_parquet(sys.argv[3])
print(len(out), 1)
""".replace("FEATURES", repr(FEATURES))


def write_input(path: Path, rows: int) -> float:
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    schema = pa.schema([("id", pa.int64())] + [(c, pa.float64()) for c in FEATURES])
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for lo in range(0, rows, ROW_GROUP):
            n = min(ROW_GROUP, rows - lo)
            columns = [pa.array(np.arange(lo, lo + n))]
            columns += [pa.array(rng.normal(size=n)) for _ in FEATURES]
            writer.write_table(pa.table(columns, schema=schema), row_group_size=ROW_GROUP)
    return time.perf_counter() - start


def push_model(home: Path) -> None:
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from deploykit.registry import Registry

    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(10_000, len(FEATURES))), columns=FEATURES)
    y = (X["x0"] + X["x1"] > 0).astype(int)
    with Registry(home=home) as reg:
        reg.push(LogisticRegression().fit(X, y), "bench", X=X, deploy=True)


def run(script: str, *args: str) -> dict[str, float]:
    """Run ``script`` in a child; its wall time and RSS (MB) sampled every 0.1 s."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE)
    samples: list[float] = []
    status = Path(f"/proc/{child.pid}/status")
    while child.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    samples.append(int(line.split()[1]) / 1024)
        except (FileNotFoundError, ProcessLookupError):
            pass
        time.sleep(0.1)
    seconds = time.perf_counter() - start
    out = child.stdout.read().decode() if child.stdout else ""
    if child.returncode != 0:
        raise SystemExit(f"benchmark child failed ({child.returncode}): {out}")
    rows = int(out.split()[0])
    tenth = max(1, len(samples) // 10)
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_second": round(rows / seconds),
        "peak_rss_mb": round(max(samples), 1),
        "rss_at_10pct_mb": round(samples[tenth], 1),
        "rss_at_90pct_mb": round(samples[-tenth], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--chunk-rows", type=int, default=65_536)
    parser.add_argument("--naive", action="store_true", help="also run read-all-then-predict")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="deploykit-bench-score-") as tmp:
        folder = Path(tmp)
        source = folder / "input.parquet"
        written = write_input(source, args.rows)
        push_model(folder / "home")
        results = {
            "rows": args.rows,
            "chunk_rows": args.chunk_rows,
            "input_mb": round(source.stat().st_size / 2**20, 1),
            "input_write_seconds": round(written, 1),
            "chunked": run(
                CHUNKED,
                str(folder / "home"),
                str(source),
                str(folder / "out.parquet"),
                str(args.chunk_rows),
            ),
        }
        if args.naive:
            results["naive"] = run(
                NAIVE, str(folder / "home"), str(source), str(folder / "naive.parquet")
            )
    print(json.dumps(results, indent=2))
    out = Path(__file__).parents[1] / "results" / "score.json"
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
