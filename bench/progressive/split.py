"""The canary split over 100,000 requests across 3 workers: is it 10% ± 1% on each?

A 3-worker server serves v1; a canary of v2 at 10% starts. 24 keep-alive clients
(each learns its worker from /healthz on its own connection) send 1-row requests
from 8 threads; the answering version is read from X-Model-Version.

    PYTHONPATH=. python bench/progressive/split.py [--requests 100000]
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from deploykit.client import Client
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer

sys.path.insert(0, str(Path(__file__).parent))
from common import FEATURES, registry_with_two_versions

BODY = {"dataframe_split": {"columns": FEATURES, "data": [[0.1] * len(FEATURES)]}}


def send(client: httpx.Client, count: int) -> int:
    candidate = 0
    for _ in range(count):
        r = client.post("/v1/models/churn/predict", json=BODY)
        r.raise_for_status()
        candidate += r.headers["x-model-version"] == "2"
    return candidate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100_000)
    args = parser.parse_args()
    settings, _ = registry_with_two_versions()
    config = ServerConfig(workers=3, alert_interval_seconds=0, log_sample_rate=0.0)
    with LiveServer(settings, config) as server:
        with Client(server.url, token=server.token, settings=settings) as client:
            client.canary("churn", 2, percent=10, reason="split benchmark")
        time.sleep(1.5)
        clients: list[tuple[int, httpx.Client]] = []
        for _ in range(24):
            c = httpx.Client(base_url=server.url, timeout=30)
            clients.append((c.get("/healthz").json()["pid"], c))
        per = args.requests // len(clients)
        start = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            counts = list(pool.map(lambda pc: (pc[0], send(pc[1], per)), clients))
        seconds = time.perf_counter() - start
        for _, c in clients:
            c.close()
    total = per * len(clients)
    share = sum(n for _, n in counts) / total
    print(f"{total:,} requests in {seconds:.0f} s across {len({p for p, _ in clients})} workers:")
    for pid in sorted({p for p, _ in clients}):
        mine = [n for p, n in counts if p == pid]
        print(f"  worker {pid}: {sum(mine) / (per * len(mine)):.2%} of {per * len(mine):,}")
    verdict = "ok" if 0.09 <= share <= 0.11 else "MISS"
    print(f"candidate share {share:.3%} (target 10% ± 1%: {verdict})")


if __name__ == "__main__":
    main()
