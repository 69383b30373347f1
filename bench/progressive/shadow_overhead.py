"""What a shadow costs production: p99 at c=16 with and without one.

One worker serves v1 (LogisticRegression, 20 features); wrk (via
../shared/bench/loadgen.py) sends 1-row requests at c=16. Phases alternate
baseline / shadow (v2, a depth-8 tree, scoring every request) to cancel drift in a
shared machine's load; the figure is the median of each side's p99.

    PYTHONPATH=. python bench/progressive/shadow_overhead.py [--duration 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

import httpx

from deploykit.client import Client
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer

sys.path.insert(0, str(Path(__file__).parent))
from common import registry_with_two_versions

# ../shared/bench/loadgen.py beside the checkout (/work/main, or a worktree under /work/wt)
LOADGEN = next(
    p / "shared" / "bench" / "loadgen.py"
    for p in Path(__file__).resolve().parents
    if (p / "shared" / "bench" / "loadgen.py").exists()
)


def load(url: str, duration: float) -> dict[str, float]:
    out = subprocess.run(
        [
            sys.executable,
            str(LOADGEN),
            "--url",
            url,
            "--engine",
            "wrk",
            "-c",
            "16",
            "-d",
            str(duration),
            "--warmup",
            "2",
            "--format",
            "dataframe_split",
            "--rows",
            "1",
            "--features",
            "20",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    m = re.search(r"HEADLINE rps=([\d.]+) p50_ms=([\d.]+) p99_ms=([\d.]+) errors=(\d+)", out)
    if not m:
        raise SystemExit(f"loadgen failed:\n{out}")
    return {"rps": float(m[1]), "p50_ms": float(m[2]), "p99_ms": float(m[3]), "errors": int(m[4])}


def shadow_counts(url: str) -> dict[str, int]:
    text = httpx.get(f"{url}/metrics").text
    out = {}
    for kind in ("scored", "dropped", "failed"):
        m = re.search(rf'deploykit_shadow_{kind}_total{{model="churn"}} (\d+)', text)
        out[kind] = int(m[1]) if m else 0
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings, _ = registry_with_two_versions()
    config = ServerConfig(workers=1, alert_interval_seconds=0)
    url_path = "/v1/models/churn/predict"
    with LiveServer(settings, config) as server:
        client = Client(server.url, token=server.token, settings=settings)
        results: dict[str, list[dict[str, float]]] = {"baseline": [], "shadow": []}
        for _ in range(args.rounds):
            for phase in ("baseline", "shadow"):
                if phase == "shadow":
                    client.shadow("churn", 2, reason="bench")
                results[phase].append(load(server.url + url_path, args.duration))
                if phase == "shadow":
                    counts = shadow_counts(server.url)
                    client.abort("churn", "bench phase over")
                print(phase, results[phase][-1], flush=True)
        print("shadow scorer on this worker:", counts)
        client.close()
    base = statistics.median(r["p99_ms"] for r in results["baseline"])
    shadow = statistics.median(r["p99_ms"] for r in results["shadow"])
    base_rps = statistics.median(r["rps"] for r in results["baseline"])
    shadow_rps = statistics.median(r["rps"] for r in results["shadow"])
    print(
        f"c=16, 1 row: p99 {base:.2f} ms -> {shadow:.2f} ms with a shadow "
        f"({(shadow - base) / base:+.1%}); rps {base_rps:,.0f} -> {shadow_rps:,.0f}"
    )


if __name__ == "__main__":
    main()
