"""Console kernels after many visits: how many stay alive, and the console's memory.

    .venv/bin/python bench/console/kernels.py                    # 100 visits, 10 at a time
    .venv/bin/python bench/console/kernels.py --visits 100 --max-kernels 20 --cull-seconds 30

A real deploykit server (LiveServer) with the demo model, the console served by
``deploykit.console.serve`` (Voila, preheated pool of 1) and signed-in visitors (viewer
tokens, 4 visits each) that GET the page and never open its websocket: a script, or a
tab closed before its page loaded. Issue 12 saw every such visit leave a ~250 MB kernel.

Measured: the answers (200, or 429/503 once a cap is reached), kernels alive and the
resident memory of the console's process tree (Voila + kernels, summed VmRSS) at the
peak and once ``cull_seconds`` passed with no browser.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from deploykit.client import Client
from deploykit.console.serve import serve
from deploykit.demo import seed_demo
from deploykit.registry import Registry
from deploykit.server.testing import LiveServer, free_port
from deploykit.settings import Settings


def _tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo += [int(c) for c in task.read_text().split()]
    return found


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--per-visitor", type=int, default=4, help="visits per visitor token")
    parser.add_argument("--max-kernels", type=int, default=20)
    parser.add_argument("--cull-seconds", type=int, default=30)
    parser.add_argument("--json", type=Path, default=Path("bench/results/console-kernels.json"))
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="deploykit-kernels-bench-"))
    settings = Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"})
    with Registry(settings) as registry:
        seed_demo(registry)
    with LiveServer(settings) as server, Client(server.url, token=server.token) as admin:
        visitors = [
            admin.create_token("viewer", name=f"visitor {i}")
            for i in range(-(-args.visits // args.per_visitor))
        ]
        console = serve(
            settings,
            port=free_port(),
            server_url=server.url,
            log_path=home / "console.log",
            cull_seconds=args.cull_seconds,
            config={
                "ConsoleKernelManager.max_kernels": args.max_kernels,
                "ConsoleKernelManager.max_kernels_per_visitor": args.per_visitor,
            },
        )
        with console:
            console.wait_ready(timeout=120)
            time.sleep(15)  # the preheated kernel runs the notebook's imports
            idle = {"kernels": len(_tree(console.pid)) - 1, "rss_mb": _rss_mb(_tree(console.pid))}
            print(f"before: {idle['kernels']} kernel(s), {idle['rss_mb']:.0f} MB")

            peak = {"kernels": 0, "rss_mb": 0.0}
            done = threading.Event()

            def sample() -> None:
                while not done.is_set():
                    tree = _tree(console.pid)
                    peak["kernels"] = max(peak["kernels"], len(tree) - 1)
                    peak["rss_mb"] = max(peak["rss_mb"], _rss_mb(tree))
                    time.sleep(0.5)

            def visit(i: int) -> int:
                with httpx.Client(timeout=180) as http:
                    http.get(console.sign_in_url(visitors[i // args.per_visitor]))
                    return http.get(console.url).status_code

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            t0 = time.monotonic()
            with ThreadPoolExecutor(args.concurrency) as pool:
                statuses = list(pool.map(visit, range(args.visits)))
            took = time.monotonic() - t0
            after_visits = len(_tree(console.pid)) - 1
            print(f"{args.visits} visits in {took:.0f} s: {dict(collections.Counter(statuses))}")
            print(f"peak: {peak['kernels']} kernel(s), {peak['rss_mb']:.0f} MB")
            deadline = time.monotonic() + args.cull_seconds + 60
            while len(_tree(console.pid)) - 1 > idle["kernels"] and time.monotonic() < deadline:
                time.sleep(1)
            done.set()
            settled_after = time.monotonic() - t0 - took
            tree = _tree(console.pid)
            final = {"kernels": len(tree) - 1, "rss_mb": _rss_mb(tree)}
            print(
                f"{settled_after:.0f} s after the last visit: {final['kernels']} kernel(s), "
                f"{final['rss_mb']:.0f} MB"
            )
    result = {
        "visits": args.visits,
        "concurrency": args.concurrency,
        "max_kernels": args.max_kernels,
        "max_kernels_per_visitor": args.per_visitor,
        "cull_seconds": args.cull_seconds,
        "statuses": dict(collections.Counter(statuses)),
        "visits_s": round(took, 1),
        "before": idle,
        "kernels_after_visits": after_visits,
        "peak": peak,
        "settled_s": round(settled_after, 1),
        "final": final,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
