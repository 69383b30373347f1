"""Server CPU per request, in process: the figure that holds on a loaded machine.

    python bench/serve/cpu.py [--home DIR] [--n 4000] [--scenarios v1-lr-1,v2-rf-1,...]
    python bench/serve/cpu.py --compare /work/main --rounds 3   # before/after, interleaved
    python bench/serve/cpu.py --instructions --n 300 [--compare DIR --rounds 1]  # valgrind

Builds (or reuses, ``--home``) a registry with the models of ``bench/serve/run.py``
(LogisticRegression and RandomForestClassifier(100) on make_classification(20000, 20),
pushed with ``X``: compiled), starts one worker's ASGI app in this process (lifespan run,
prediction logging on at rate 1.0, telemetry on) and calls it directly, no socket, with
the bodies ``run.py`` sends: ``dataframe_split`` to ``/v1``, one FP64 ``[rows, 20]``
tensor to ``/v2`` asking for ``predict`` (the labels ``/v1`` answers). ``grpc-*``
scenarios call the worker's gRPC servicer with the ``ModelInfer`` of ``grpc_load.py``
(typed ``fp64_contents``, ``predict`` asked), parsed from its bytes and the answer
serialized. Each scenario is timed as ``time.process_time()`` (every thread of the
process: a large compiled call runs in the model's worker thread) over ``--n`` calls,
after a warm-up, the scenarios taking turns in 10 blocks. The prediction log and the
telemetry are flushed inside the timed span, so their cost is counted (their background
threads are told to wait); the worker's other threads (alias follower, alert evaluator)
add a little noise that does not grow with requests. Wall-clock rps would measure the
other jobs on a shared machine; CPU per request does not (much).

``--compare DIR`` runs this script once with DIR first on ``PYTHONPATH`` and once with
this checkout, alternately, ``--rounds`` times, and prints the medians side by side.
A change to what is compiled at push needs each checkout's own registry: build one with
each (``--home``) and give the other checkout's as ``--compare-home``.

``--stages`` times the parts of a ``/v1`` request in this process instead, each on its
own thread over the same body (µs CPU per request): JSON decoding, the body's checks and
the ndarray (``_prepare`` minus JSON), the model call (ONNX Runtime), the answer's
encoding, the request id, the prediction log (``add`` plus its share of a flush) and
telemetry. What they leave of the whole request is the ASGI plumbing.

    python bench/serve/cpu.py --stages --scenarios v1-rf-100,v1-rf-1
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FEATURES = 20
COLUMNS = [f"f{i}" for i in range(FEATURES)]
SCENARIOS = [
    "v1-lr-1",
    "v1-rf-1",
    "v2-lr-1",
    "v2-rf-1",
    "v1-lr-100",
    "v1-rf-100",
    "v2-lr-100",
    "v2-rf-100",
    "grpc-lr-1",
    "grpc-rf-1",
    "grpc-lr-100",
    "grpc-rf-100",
]
THREAD: dict[str, float] = {}  # this thread alone, beside process CPU
BLOCKS = 10  # turns each scenario takes (see measure)
TRAIN = """
import sys, joblib, pandas as pd
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
X, y = make_classification(n_samples=20000, n_features=20, random_state=0)
X = pd.DataFrame(X, columns=[f"f{i}" for i in range(20)])
lr = LogisticRegression(max_iter=1000).fit(X, y)
rf = RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y)
from deploykit.registry import Registry
with Registry() as reg:
    reg.push(lr, "lr", X=X, deploy=True)
    reg.push(rf, "rf", X=X, deploy=True)
"""


def rows(n: int) -> list[list[float]]:
    rnd = random.Random(0)
    data = [[round(rnd.gauss(0, 1), 6) for _ in range(FEATURES)] for _ in range(100)]
    return data[:n]


def body(protocol: str, n: int) -> bytes:
    data = rows(n)
    if protocol == "v1":
        return json.dumps({"dataframe_split": {"columns": COLUMNS, "data": data}}).encode()
    tensor = {
        "name": "input",
        "shape": [n, FEATURES],
        "datatype": "FP64",
        "data": [v for row in data for v in row],
    }
    return json.dumps({"inputs": [tensor], "outputs": [{"name": "predict"}]}).encode()


def http_call(
    app: Any, sent: list[Any], send: Any, protocol: str, model: str, count: int
) -> Callable[[], Awaitable[None]]:
    """One request to the ASGI app, as uvicorn hands it over (headers parsed, body read)."""
    payload = body(protocol, count)
    path = f"/v1/models/{model}/predict" if protocol == "v1" else f"/v2/models/{model}/infer"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8765"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            (b"user-agent", b"wrk"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8765),
        "app": app,
    }
    message = {"type": "http.request", "body": payload, "more_body": False}

    async def receive() -> Any:
        return message

    async def call() -> None:
        await app(dict(scope), receive, send)

    return call


class _Context:
    """What the servicer asks of grpc.aio's ServicerContext: metadata, abort."""

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return ()

    async def abort(self, code: Any, details: str) -> None:
        raise RuntimeError(f"{code}: {details}")


def grpc_call(state: Any, model: str, count: int) -> Callable[[], Awaitable[None]]:
    """One ``ModelInfer`` as grpc_load.py sends it, to the worker's servicer: the request
    parsed from its bytes and the answer serialized (grpcio does both in the server), the
    HTTP/2 transport left out as uvicorn's HTTP parsing is for the other scenarios."""
    from deploykit.server.protocols import inference_pb2 as pb
    from deploykit.server.protocols.core import Scorer
    from deploykit.server.protocols.v2_grpc import Servicer

    servicer = Servicer(state, Scorer(state))
    tensor = pb.ModelInferRequest.InferInputTensor(
        name="input",
        datatype="FP64",
        shape=[count, FEATURES],
        contents=pb.InferTensorContents(fp64_contents=[v for row in rows(count) for v in row]),
    )
    request = pb.ModelInferRequest(
        model_name=model,
        inputs=[tensor],
        outputs=[pb.ModelInferRequest.InferRequestedOutputTensor(name="predict")],
    )
    raw = request.SerializeToString()
    context = _Context()

    async def call() -> None:
        answer = await servicer.ModelInfer(pb.ModelInferRequest.FromString(raw), context)
        answer.SerializeToString()

    return call


def ensure_home(home: Path) -> None:
    if (home / "registry.db").exists() or (home / ".ready").exists():
        return
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DEPLOYKIT_HOME": str(home), "DEPLOYKIT_ACTOR": "bench"}
    subprocess.run([sys.executable, "-c", TRAIN], env=env, check=True)
    (home / ".ready").write_text("")


def calls_for(count: str, n: int) -> int:
    return n if count == "1" else max(n // 4, 200)


async def measure(
    home: Path, scenarios: list[str], n: int, *, bracket: bool = False
) -> dict[str, float]:
    """µs of CPU per request for each scenario; ``bracket``: instead, call ``os.getpgrp()``
    right before and after each scenario's calls (see :func:`instructions`), once each."""
    os.environ["DEPLOYKIT_HOME"] = str(home)
    from deploykit.registry import Registry
    from deploykit.server import ServerConfig
    from deploykit.server.app import create_app

    registry = Registry()
    # the log and telemetry are flushed by hand inside each timed span (on this thread), so
    # their background threads must not take a share of the work first
    config = ServerConfig(
        workers=1,
        log_sample_rate=1.0,
        log_flush_seconds=3600,
        telemetry_flush_seconds=3600,
        alert_interval_seconds=0 if bracket else 30.0,
    )
    app = create_app(registry, config=config)
    state = app.state.deploykit
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def lifespan_receive() -> Any:
        await asyncio.sleep(3600)

    # run the lifespan's startup by hand: Starlette's router calls it from the lifespan scope
    ctx = app.router.lifespan_context(app)
    await ctx.__aenter__()
    if bracket:  # the alias follower's poll (every 0.25 s, ~50x slower under valgrind)
        state.host._stopping.set()  # would land in every span: stop it, the routes stay
        state.host._follower.join()
    results: dict[str, float] = {}
    calls_of: dict[str, tuple[Callable[[], Awaitable[None]], int]] = {}
    try:
        for scenario in scenarios:
            protocol, model, count = scenario.split("-")
            if protocol == "grpc":
                call = grpc_call(state, model, int(count))
            else:
                call = http_call(app, sent, send, protocol, model, int(count))
            calls = calls_for(count, n)
            calls_of[scenario] = (call, calls)
            for _ in range(min(calls // 10, 300)):  # warm-up
                sent.clear()
                await call()
            if protocol != "grpc":
                assert sent[0]["status"] == 200, sent[1]["body"][:300]
            results[scenario] = 0.0
        if bracket:
            gc.collect()
            gc.freeze()  # collections then walk what the requests made, not the whole heap
            for call, calls in calls_of.values():
                state.predlog.flush()
                state.telemetry.flush()
                os.getpgrp()
                for _ in range(calls):
                    sent.clear()
                    await call()
                state.predlog.flush()
                state.telemetry.flush()
                os.getpgrp()
            return {}
        # the scenarios take turns, BLOCKS times each, so that a busy minute on a shared
        # machine weighs on all of them alike
        for _ in range(BLOCKS):
            for scenario, (call, calls) in calls_of.items():
                state.predlog.flush()
                state.telemetry.flush()
                cpu = time.process_time()
                own = time.thread_time()
                for _ in range(calls // BLOCKS):
                    sent.clear()
                    await call()
                state.predlog.flush()  # the log's cost is the request's cost
                state.telemetry.flush()
                results[scenario] += time.process_time() - cpu
                THREAD[scenario] = THREAD.get(scenario, 0.0) + time.thread_time() - own
        for scenario, (_, calls) in calls_of.items():
            results[scenario] = results[scenario] / (calls // BLOCKS * BLOCKS) * 1e6
    finally:
        await ctx.__aexit__(None, None, None)
        registry.close()
    return results


async def stages(home: Path, scenarios: list[str], n: int) -> dict[str, dict[str, float]]:
    """µs of this thread's CPU per request for each part of a /v1 request (the least of
    three rounds)."""
    os.environ["DEPLOYKIT_HOME"] = str(home)
    from deploykit.registry import Registry
    from deploykit.server import ServerConfig
    from deploykit.server.app import create_app

    registry = Registry()
    config = ServerConfig(
        workers=1, log_sample_rate=1.0, log_flush_seconds=3600, telemetry_flush_seconds=3600
    )
    app = create_app(registry, config=config)
    state = app.state.deploykit
    ctx = app.router.lifespan_context(app)
    await ctx.__aenter__()
    found: dict[str, dict[str, float]] = {}
    try:
        for scenario in scenarios:
            protocol, model, count = scenario.split("-")
            if protocol != "v1":
                continue
            loaded = await asyncio.to_thread(state.host.served, model)
            parts = _parts(state, config, loaded, model, body(protocol, int(count)))
            calls = n if count == "1" else max(n // 4, 200)
            timing: dict[str, float] = {}
            for _ in range(3):
                for part, fn in parts.items():
                    state.predlog.flush()
                    start = time.thread_time()
                    for _ in range(calls):
                        fn()
                    if part == "prediction log":  # its share of the flush, as cpu.py counts it
                        state.predlog.flush()
                    spent = (time.thread_time() - start) / calls * 1e6
                    timing[part] = min(timing.get(part, spent), spent)
                state.telemetry.flush()
            timing["checks + ndarray"] -= timing["json decode"]
            found[scenario] = timing
    finally:
        await ctx.__aexit__(None, None, None)
        registry.close()
    return found


def _parts(state: Any, config: Any, loaded: Any, model: str, payload: bytes) -> dict[str, Any]:
    """The steps of deploykit.server.predict for ``payload``, one callable each."""
    from deploykit.server.payloads import Limits
    from deploykit.server.predict import _prepare
    from deploykit.server.wire import dumps, parse_json

    limits = Limits.of(config, len(loaded.spec.columns))
    _, data, rows_ = _prepare(payload, loaded, limits)
    predictions, probabilities = loaded.predict_sync(data, True)
    columns = tuple(loaded.spec.columns)
    answer = {"predictions": predictions, "model": model, "version": 1, "request_id": "x" * 40}

    def log() -> None:
        state.predlog.add(
            "r", model, 1, data, predictions, columns, probabilities=probabilities, classes=(0, 1)
        )

    return {
        "json decode": lambda: parse_json(payload),
        "checks + ndarray": lambda: _prepare(payload, loaded, limits),  # minus json, below
        "model call": lambda: loaded.predict_sync(data, True),
        "answer encode": lambda: dumps(answer),
        "request id": lambda: state.request_ids.issue(model),
        "telemetry": lambda: state.telemetry.record(model, 1, 200, 0.001, rows_),
        "prediction log": log,
    }


def instructions(args: argparse.Namespace) -> dict[str, float]:
    """Instructions per request, counted by valgrind (callgrind): the figure that other jobs
    on the machine do not move. This script runs under callgrind with ``--bracket``, which
    dumps the counts at each ``os.getpgrp()``; every second dump is one scenario's calls.
    Every thread counts (the log's parquet write included), as for the CPU time; what an
    instruction costs (cache misses) does not."""
    if shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind (apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as out:
        cmd = [
            "valgrind",
            "--tool=callgrind",
            "--dump-before=os_getpgrp",
            f"--callgrind-out-file={out}/cg.%p",
            sys.executable,
            str(HERE / "cpu.py"),
            "--home",
            str(args.home),
            "--n",
            str(args.n),
            "--scenarios",
            ",".join(args.scenarios),
            "--bracket",
        ]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(done.stderr[-3000:])
        parts = sorted(Path(out).glob("cg.*.*"), key=lambda p: int(p.suffix[1:]))
        spans = [p for p in parts if int(p.suffix[1:]) % 2 == 0]
        got = {}
        for scenario, part in zip(args.scenarios, spans, strict=True):
            total = next(
                int(line.split()[1])
                for line in part.read_text().splitlines()
                if line.startswith("summary:")
            )
            got[scenario] = total / calls_for(scenario.rsplit("-", 1)[1], args.n)
        return got


def compare(args: argparse.Namespace) -> int:
    before, after = Path(args.compare).resolve(), ROOT
    table: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
    for r in range(args.rounds):
        order = [("before", before), ("after", after)]
        if r % 2:
            order.reverse()
        for label, checkout in order:
            home = args.compare_home if label == "before" and args.compare_home else args.home
            cmd = [
                sys.executable,
                str(HERE / "cpu.py"),
                "--home",
                str(home),
                "--n",
                str(args.n),
                "--scenarios",
                ",".join(args.scenarios),
                "--json",
                *(["--instructions"] if args.instructions else []),
            ]
            env = {**os.environ, "PYTHONPATH": str(checkout)}
            out = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if out.returncode:
                print(out.stderr[-3000:], file=sys.stderr)
                return 1
            got = json.loads(out.stdout.strip().splitlines()[-1])
            for k, v in got.items():
                table[label].setdefault(k, []).append(v)
            print(f"round {r + 1} {label}: {got}", file=sys.stderr, flush=True)
    unit = "instructions" if args.instructions else "µs CPU"
    print(f"| scenario | before {unit}/request ({before}) | after ({after}) | after/before |")
    print("|---|--:|--:|--:|")
    for s in args.scenarios:
        b = statistics.median(table["before"][s])
        a = statistics.median(table["after"][s])
        print(f"| {s} | {b:.0f} | {a:.0f} | {a / b:.2f} |")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "dk-bench-cpu")
    ap.add_argument("--n", type=int, default=4000, help="calls per 1-row scenario (100 rows: n/4)")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--compare", help="another checkout: run both, interleaved")
    ap.add_argument("--compare-home", type=Path, help="registry of the --compare checkout")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--stages", action="store_true", help="time each part of a /v1 request")
    ap.add_argument("--json", action="store_true", help="one JSON line of µs per request")
    ap.add_argument("--profile", help="cProfile the scenarios into this file")
    ap.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions per request under valgrind instead (one block each; "
        "--n 200 is plenty)",
    )
    ap.add_argument("--bracket", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        ap.error(f"--scenarios: unknown {sorted(unknown)}; expected some of {SCENARIOS}")
    ensure_home(args.home)
    if args.compare:
        return compare(args)
    if args.stages:
        for scenario, timing in asyncio.run(stages(args.home, args.scenarios, args.n)).items():
            total = sum(timing.values())
            print(f"{scenario}: " + ", ".join(f"{k} {v:.1f}" for k, v in timing.items()))
            rest = total - timing["model call"]
            print(f"{scenario}: sum {total:.1f} µs CPU, of which not the model {rest:.1f}")
        return 0
    if args.bracket:
        asyncio.run(measure(args.home, args.scenarios, args.n, bracket=True))
        return 0
    if args.instructions:
        counted = instructions(args)
        if args.json:
            print(json.dumps({k: round(v) for k, v in counted.items()}))
        else:
            for k, v in counted.items():
                print(f"{k:12s} {v:10,.0f} instructions/request")
        return 0
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        got = asyncio.run(measure(args.home, args.scenarios, args.n))
        profiler.disable()
        profiler.dump_stats(args.profile)
    else:
        got = asyncio.run(measure(args.home, args.scenarios, args.n))
    if args.json:
        print(json.dumps({k: round(v, 1) for k, v in got.items()}))
    else:
        for k, v in got.items():
            print(f"{k:12s} {v:8.1f} µs CPU/request")
        print({k: round(v, 3) for k, v in THREAD.items()}, "s on this thread")
    return 0


if __name__ == "__main__":
    sys.exit(main())
