"""What a shadow costs production: p99 at c=16 with and without one.

One worker serves v1 (LogisticRegression, 20 features, compiled to ONNX at push); wrk
(via ../shared/bench/loadgen.py) sends 1-row requests at c=16. Phases alternate
baseline / shadow (v2, a depth-8 tree, scoring every request) to cancel drift in a
shared machine's load; the figure is the median of each side's p99. On a machine
other work shares, latency swings with their load, so the server's CPU time per
request (its process tree's user+system time over the requests it answered, both
read around each phase) is printed too; shadow_cpu.py measures the shadow's CPU alone.
The last line is the issue's figure: p99 with a shadow over p99 without.

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
import psutil

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


def cpu_seconds(pid: int) -> float:
    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def answered(url: str) -> int:
    text = httpx.get(f"{url}/metrics").text
    return sum(
        int(float(m[1]))
        for m in re.finditer(
            r'deploykit_requests_total\{model="churn",version="1"[^}]*\} (\S+)', text
        )
    )


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
        runtime = client.health()["runtimes"]["churn"]
        print(f"production: churn v1 LogisticRegression, runtime {runtime}", flush=True)
        results: dict[str, list[dict[str, float]]] = {"baseline": [], "shadow": []}
        pid = server._proc.pid  # type: ignore[union-attr]  # the server's process tree
        for _ in range(args.rounds):
            for phase in ("baseline", "shadow"):
                if phase == "shadow":
                    client.shadow("churn", 2, reason="bench")
                cpu0, n0 = cpu_seconds(pid), answered(server.url)
                results[phase].append(load(server.url + url_path, args.duration))
                cpu1, n1 = cpu_seconds(pid), answered(server.url)
                results[phase][-1]["cpu_ms_per_request"] = (cpu1 - cpu0) * 1000 / max(n1 - n0, 1)
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
    base_cpu = statistics.median(r["cpu_ms_per_request"] for r in results["baseline"])
    shadow_cpu = statistics.median(r["cpu_ms_per_request"] for r in results["shadow"])
    print(
        f"c=16, 1 row: p99 {base:.2f} ms -> {shadow:.2f} ms with a shadow "
        f"({(shadow - base) / base:+.1%}); rps {base_rps:,.0f} -> {shadow_rps:,.0f}; "
        f"server CPU per request {base_cpu:.3f} -> {shadow_cpu:.3f} ms "
        f"({(shadow_cpu - base_cpu) / base_cpu:+.1%})"
    )
    ratio = shadow / base
    verdict = "within" if ratio <= 1.05 else "NOT within"
    print(f"p99 ratio, shadow / baseline: {ratio:.3f} ({verdict} the issue's <= 1.05)")


if __name__ == "__main__":
    main()
