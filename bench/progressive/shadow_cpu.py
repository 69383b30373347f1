"""What a shadow costs in CPU per mirrored request, measured in-process.

Wall-clock p99 on a machine other work shares swings with the neighbours; the CPU a
shadow adds per request does not. One worker's state (registry, loaded models,
telemetry, prediction log, shadow scorer) serves 1-row requests through the real
predict endpoint (ASGI, no socket), with no shadow and with v2 shadowing every request,
phases interleaved. Each phase's CPU is ``time.process_time()`` (every thread of this
process: the request path, the scorer, the log's writer) over its requests, the
shadow's queue drained and the prediction log flushed inside the timed region, so what
the shadow logs is counted too.

    PYTHONPATH=. python bench/progressive/shadow_cpu.py [--requests 20000] [--rounds 5]
        [--profile]   # cProfile one shadow phase: what submit, the scorer and the log do
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from deploykit.registry import Registry
from deploykit.server.config import ServerConfig
from deploykit.server.memory import own_process_heap
from deploykit.server.predict import PredictEndpoint
from deploykit.server.state import ServerState

sys.path.insert(0, str(Path(__file__).parent))
from common import FEATURES, registry_with_two_versions


async def _noop_send(message: dict[str, Any]) -> None:
    return None


async def phase(
    endpoint: PredictEndpoint, state: ServerState, bodies: list[bytes]
) -> tuple[float, float]:
    """CPU seconds to answer ``bodies`` one by one, the shadow drained and the log flushed:
    the process's, and the request path's (this thread's, before the drain)."""
    scope_base = {
        "type": "http",
        "method": "POST",
        "path_params": {"name": "churn"},
        "query_string": b"",
    }
    cpu0, thread0 = time.process_time(), time.thread_time()
    for body in bodies:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]

        async def receive(body: bytes = body) -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        await endpoint({**scope_base, "headers": headers}, receive, _noop_send)
    thread = time.thread_time() - thread0
    await asyncio.to_thread(state.shadow.drain, 60.0)
    state.predlog.flush()
    return time.process_time() - cpu0, thread


class GcClock:
    """Time spent in the cyclic garbage collector (any thread), and collections by
    generation: what a shadow's queued references may cost besides its own work."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections[info["generation"]] += 1


def submit_ns(state: ServerState, body: bytes) -> float:
    """CPU of ``ShadowScorer.submit`` per request, on a scorer of its own whose queue is
    emptied every 1,000 requests as the thread would (its work is the scorer's figure)."""
    from deploykit.server.experiments import ShadowScorer, Split
    from deploykit.server.payloads import parse_body

    registry = state.registry
    registry.shadow("churn", 2, reason="submit timing")
    split = Split(registry.experiment("churn"), state.host.version("churn", 2))  # type: ignore[arg-type]
    registry.abort("churn", "submit timed")
    production = state.host.served("churn")
    scorer = ShadowScorer(state.predlog, state.telemetry, queue_size=10**6)
    scorer._thread = threading.current_thread()  # no consumer: submit alone is timed
    parsed = parse_body(orjson.loads(body))
    data, rows = production.to_input(parsed)
    started = time.thread_time()
    for _ in range(200):
        for _ in range(1000):
            scorer.submit(split, production, parsed, data, rows, "id", 0.0001, True)
        scorer._pending.clear()
    return (time.thread_time() - started) * 1e9 / 200_000


async def main_async(args: argparse.Namespace) -> None:
    own_process_heap()  # as a server worker does: the heap is frozen after model loads
    clock = GcClock()
    settings, frame = registry_with_two_versions()
    registry = Registry(settings)
    state = ServerState(
        registry, ServerConfig(workers=1, alert_interval_seconds=0), owns_registry=True
    )
    await state.start()
    endpoint = PredictEndpoint(state)
    rows = frame.to_numpy()
    bodies = [
        orjson.dumps(
            {"dataframe_split": {"columns": FEATURES, "data": [rows[i % len(rows)].tolist()]}}
        )
        for i in range(args.requests)
    ]
    print(
        "production:",
        state.host.served("churn").describe()["runtime"],
        "| candidate:",
        state.host.version("churn", 2).describe()["runtime"],
        flush=True,
    )
    await phase(endpoint, state, bodies[:2000])  # warm both paths
    results: dict[str, list[float]] = {"baseline": [], "shadow": [], "scorer": []}
    profiler = cProfile.Profile() if args.profile else None
    # CPU time, not wall time: the scorer waits for the GIL and its next batch
    scorer_profiler = cProfile.Profile(time.thread_time) if args.profile else None
    if scorer_profiler is not None:  # cProfile sees one thread: profile the scorer's too
        loop = state.shadow._loop

        def profiled_loop() -> None:
            scorer_profiler.runcall(loop)

        state.shadow._loop = profiled_loop  # type: ignore[method-assign]
    for r in range(args.rounds):
        for name in ("baseline", "shadow") if r % 2 == 0 else ("shadow", "baseline"):
            if name == "shadow":
                registry.shadow("churn", 2, reason="bench")
            await asyncio.to_thread(state.host.poll)
            assert ("churn" in state.host.splits) == (name == "shadow")
            if profiler is not None and name == "shadow":
                profiler.enable()
            # (getattr: the scorer before batching had no such counters; compare with it)
            scorer0 = getattr(state.shadow, "cpu_seconds", 0.0)
            batches0 = getattr(state.shadow, "batches", 0)
            gc0, collections0 = clock.seconds, list(clock.collections)
            seconds, path = await phase(endpoint, state, bodies)
            if profiler is not None:
                profiler.disable()
            if name == "shadow":
                registry.abort("churn", "bench phase over")
                if hasattr(state.shadow, "cpu_seconds"):
                    scorer_us = (state.shadow.cpu_seconds - scorer0) * 1e6 / len(bodies)
                    results["scorer"].append(scorer_us)
                    print(
                        f"  scorer thread {scorer_us:.1f} us CPU per request, "
                        f"{len(bodies) / max(state.shadow.batches - batches0, 1):.0f} per batch"
                    )
            us = seconds * 1e6 / len(bodies)
            results[name].append(us)
            print(
                f"round {r + 1} {name:8s} {us:7.1f} us CPU per request "
                f"(request path {path * 1e6 / len(bodies):.1f} us; garbage collector "
                f"{(clock.seconds - gc0) * 1e6 / len(bodies):.1f} us, collections "
                f"{[b - a for a, b in zip(collections0, clock.collections, strict=True)]})",
                flush=True,
            )
    if hasattr(state.shadow, "batches"):
        print(f"submit alone (the request path's part): {submit_ns(state, bodies[0]):.0f} ns")
    await state.stop()
    base = statistics.median(results["baseline"])
    shadow = statistics.median(results["shadow"])
    deltas = [s - b for s, b in zip(results["shadow"], results["baseline"], strict=True)]
    print(
        f"CPU per request (median of {args.rounds} rounds of {args.requests:,}): "
        f"{base:.1f} us -> {shadow:.1f} us with a shadow on every request: "
        f"+{shadow - base:.1f} us ({(shadow - base) / base:+.1%}); "
        f"per-round deltas {', '.join(f'{d:+.1f}' for d in deltas)} us; "
        f"shadow scored {sum(state.shadow.scored.values()):,}, "
        f"dropped {sum(state.shadow.dropped.values()):,}"
    )
    if results["scorer"]:
        print(
            f"the scorer thread alone: {statistics.median(results['scorer']):.1f} us CPU per "
            "mirrored request (median)"
        )
    if profiler is not None and scorer_profiler is not None:
        print("---- request path (every phase's shadow requests)")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        print("---- shadow scorer thread (every shadow phase)")
        pstats.Stats(scorer_profiler).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
