"""How long hostile predict requests take to be refused, and what they cost other clients.

    python bench/security/validation.py                 # ~1 minute
    python bench/security/validation.py --duration 5    # longer windows for the p99
    python bench/security/validation.py --skip-million  # old code: the 10^6 requests take ~20 s

Against a real server (``LiveServer``: what ``deploykit serve`` runs, one uvicorn
worker, loopback) serving a LogisticRegression on 5 columns, with no token:

1. time to the 4xx of the issue's 50,000-column ``dataframe_split`` (``f{i%20}``
   names, ~475 KB), of 10^6 unknown columns as ``dataframe_split`` and as
   ``dataframe_records`` (~12 MB), and the size of each answer;
2. latency of a legitimate client (one-row predicts, one connection, back to back)
   alone, then while an attacker on another connection sends those requests in a loop:
   p50/p99/max, and how many attack requests were answered meanwhile.

Client and server share this machine's cores, so latencies include waiting for one.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pandas as pd
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

import deploykit
from deploykit.registry import Registry
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer
from deploykit.settings import Settings

COLUMNS = ["age", "tenure", "calls", "spend", "visits"]
GOOD = orjson.dumps({"dataframe_split": {"columns": COLUMNS, "data": [[0.1, 0.2, 0.3, 0.4, 0.5]]}})


def attacks(million: bool) -> dict[str, bytes]:
    fifty = [f"f{i % 20}" for i in range(50_000)]
    bodies = {
        "50,000 columns (dataframe_split)": orjson.dumps(
            {"dataframe_split": {"columns": fifty, "data": [[0.0] * 50_000]}}
        )
    }
    if million:
        names = [f"c{i}" for i in range(1_000_000)]
        bodies["10^6 unknown columns (dataframe_split)"] = orjson.dumps(
            {"dataframe_split": {"columns": names, "data": [[0] * 1_000_000]}}
        )
        bodies["10^6 unknown columns (dataframe_records)"] = orjson.dumps(
            {"dataframe_records": [dict.fromkeys(names, 0)]}
        )
    return bodies


def post(client: httpx.Client, url: str, body: bytes) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = client.post(url, content=body, headers={"content-type": "application/json"})
    return time.perf_counter() - started, response


def time_to_refusal(url: str, bodies: dict[str, bytes], rounds: int) -> list[dict[str, Any]]:
    rows = []
    with httpx.Client(timeout=120) as client:
        post(client, url, GOOD)  # connection open, model warm
        for name, body in bodies.items():
            times, status, size = [], 0, 0
            for _ in range(rounds):
                elapsed, response = post(client, url, body)
                times.append(elapsed)
                status, size = response.status_code, len(response.content)
            rows.append(
                {
                    "request": name,
                    "body": f"{len(body) / 1e6:.2f} MB",
                    "status": status,
                    "answer": f"{size:,} B",
                    "median_ms": 1000 * statistics.median(times),
                    "max_ms": 1000 * max(times),
                }
            )
    return rows


def _attack(url: str, bodies: list[bytes], stop: Any, answered: Any) -> None:
    """The attacker: its own process, so its client work does not slow the measuring one."""
    with httpx.Client(timeout=120) as client:
        while not stop.is_set():
            for body in bodies:
                status = post(client, url, body)[1].status_code
                with answered.get_lock():
                    answered.value += 1 if status < 500 else 1_000_000


def legit_latencies(url: str, seconds: float, attack: list[bytes] | None) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    answered = context.Value("l", 0)
    process = None
    if attack:
        process = context.Process(target=_attack, args=(url, attack, stop, answered))
        process.start()
        deadline = time.perf_counter() + 60
        while answered.value == 0 and time.perf_counter() < deadline:  # the attack is on
            time.sleep(0.05)
    latencies = []
    with httpx.Client(timeout=120) as client:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            elapsed, response = post(client, url, GOOD)
            assert response.status_code == 200, response.text
            latencies.append(elapsed)
    stop.set()
    if process:
        process.join(timeout=120)
    latencies.sort()
    return {
        "requests": len(latencies),
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
        "max_ms": 1000 * latencies[-1],
        "attacks_answered": answered.value,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed refusals per request")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per p99 window")
    parser.add_argument("--skip-million", action="store_true", help="only the 50k request")
    args = parser.parse_args()

    X, y = make_classification(n_samples=500, n_features=5, random_state=0)
    frame = pd.DataFrame(X, columns=COLUMNS)
    home = Path(tempfile.mkdtemp(prefix="dk-bench-validation-"))
    try:
        settings = Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"})
        with Registry(settings) as registry:
            registry.push(LogisticRegression().fit(frame, y), "lr", X=frame, deploy=True)
        config = ServerConfig(workers=1, log_sample_rate=0.0)
        with LiveServer(settings, config) as server:
            url = f"{server.url}/v1/models/lr/predict"
            bodies = attacks(not args.skip_million)
            print(f"deploykit {deploykit.__version__} from {Path(deploykit.__file__).parent}")
            print("\n| request | body | status | answer | median to 4xx | max |")
            print("|---|---|---|---|---|---|")
            for row in time_to_refusal(url, bodies, args.rounds):
                print(
                    f"| {row['request']} | {row['body']} | {row['status']} | {row['answer']} | "
                    f"{row['median_ms']:.1f} ms | {row['max_ms']:.1f} ms |"
                )
            print(
                "\n| legitimate client, 1 row, c=1 | requests | p50 | p99 | max | attacks refused |"
            )
            print("|---|---|---|---|---|---|")
            scenarios: list[tuple[str, list[bytes] | None]] = [("alone", None)]
            scenarios += [(f"during {name}", [body]) for name, body in bodies.items()]
            for name, attack in scenarios:
                r = legit_latencies(url, args.duration, attack)
                answered = f"{r['attacks_answered']:,} (4xx)" if attack else "—"
                print(
                    f"| {name} | {r['requests']} | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms | "
                    f"{r['max_ms']:.1f} ms | {answered} |"
                )
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
