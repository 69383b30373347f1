"""Quick check: deploykit's Open Inference v2 paths vs its own /v1 path, 1 row.

    python bench/serve/protocols.py [--duration 10] [--rounds 3] [-c 16] [--grpc]

Serves LogisticRegression on make_classification(20000, 20) (as bench/serve/run.py does)
from one deploykit worker (prediction logging on) and drives, alternately,
``POST /v1/models/lr/predict`` (dataframe_split) and ``POST /v2/models/lr/infer`` with the
body in ``v2_infer_1row.json`` (one FP64 [1, 20] tensor, output ``predict``), using
../shared/bench/loadgen.py --engine wrk (``DEPLOYKIT_LOADGEN`` if it is elsewhere).
``--grpc`` adds gRPC ModelInfer, driven by a grpc.aio client, one connection per slot.
Prints each round's rps and server CPU time per request, then the median ratios.

For bench/serve/run.py the v2 target is ``/v2/models/<name>/infer`` with
``--body-file bench/serve/v2_infer_1row.json`` (``v2_infer.lua`` is the same for wrk).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import LOADGEN, TRAIN, start, stop, wait_up  # noqa: E402

LOADGEN = Path(os.environ.get("DEPLOYKIT_LOADGEN", LOADGEN))  # a worktree's shared/ is elsewhere

SAVE = (
    TRAIN
    + """
import json
from deploykit.registry import Registry
from deploykit.settings import Settings
with Registry(Settings.from_env()) as registry:
    registry.push(lr, "lr", X=X, deploy=True)
json.dump(X.head(1).values.tolist(), open(sys.argv[1], "w"))
"""
)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rps(args: list[str]) -> float:
    run = subprocess.run(
        [sys.executable, str(LOADGEN), "--engine", "wrk", "--warmup", "0", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    m = re.search(r"HEADLINE rps=([\d.]+) p50_ms=([\d.]+) p99_ms=([\d.]+) errors=(\d+)", run.stdout)
    if not m or int(m.group(4)):
        raise SystemExit(f"loadgen failed:\n{run.stdout}\n{run.stderr}")
    return float(m.group(1))


GRPC_LOAD = """
import asyncio, json, sys, time
import grpc
from deploykit.server.protocols import inference_pb2 as pb
from deploykit.server.protocols.inference_service import Stub
address, conc, duration = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
row = json.load(open(sys.argv[4]))["inputs"][0]["data"]

async def main():
    request = pb.ModelInferRequest(model_name="lr", outputs=[{"name": "predict"}])
    tensor = request.inputs.add(name="input", datatype="FP64", shape=[1, 20])
    tensor.contents.fp64_contents.extend(row)
    channels = [grpc.aio.insecure_channel(address) for _ in range(conc)]  # a connection each
    stubs = [Stub(c) for c in channels]
    done = 0
    async def worker(stub, until):
        nonlocal done
        while time.monotonic() < until:
            await stub.ModelInfer(request)
            done += 1
    await asyncio.gather(*(worker(s, time.monotonic() + 1) for s in stubs))  # warm-up
    done = 0
    start = time.monotonic()
    await asyncio.gather(*(worker(s, start + duration) for s in stubs))
    print(done / (time.monotonic() - start))
    for c in channels:
        await c.close()

asyncio.run(main())
"""


def grpc_rps(address: str, conc: int, duration: float) -> float:
    """gRPC ModelInfer, 1 row, ``conc`` connections; a Python client (grpc.aio), so on a
    small machine the client's own CPU bounds the figure too."""
    out = subprocess.run(
        [sys.executable, "-c", GRPC_LOAD, address, str(conc), str(duration),
         str(HERE / "v2_infer_1row.json")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return float(out.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("-c", type=int, default=16)
    ap.add_argument("--grpc", action="store_true", help="also time v2 gRPC ModelInfer")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dk-protocols-bench-"))
    env = {"DEPLOYKIT_HOME": str(work / "home"), "DEPLOYKIT_FSYNC": "0"}
    data = work / "rows.json"
    subprocess.run([sys.executable, "-c", SAVE, str(data)], env={**os.environ, **env}, check=True)
    port, grpc_port = 18791, 18792
    config = f"ServerConfig(port={port}, grpc_port={grpc_port if a.grpc else 0})"
    server = start(
        [
            sys.executable,
            "-c",
            f"from deploykit.server import run, ServerConfig; run(None, {config})",
        ],
        env,
    )
    base = f"http://127.0.0.1:{port}"
    common = ["-c", str(a.c), "-d", str(a.duration)]
    v1 = [
        "--url", f"{base}/v1/models/lr/predict", "--format", "dataframe_split",
        "--rows", "1", "--features", "20", "--data", str(data), *common,
    ]  # fmt: skip
    v2 = [
        "--url", f"{base}/v2/models/lr/infer",
        "--body-file", str(HERE / "v2_infer_1row.json"), *common,
    ]  # fmt: skip
    ratios, costs = [], []

    def measure(args: list[str]) -> tuple[float, float]:
        """(requests/s, server CPU microseconds per request): the second is what a busy,
        shared machine distorts least."""
        before = cpu_seconds(server.pid)
        rate = rps(args)
        return rate, (cpu_seconds(server.pid) - before) / (rate * a.duration) * 1e6

    try:
        wait_up(f"{base}/healthz")
        measure(v1)  # warm both paths up
        measure(v2)
        for i in range(a.rounds):
            (one, cost1), (two, cost2) = measure(v1), measure(v2)
            ratios.append(two / one)
            costs.append(cost2 / cost1)
            print(f"round {i + 1}: /v1 predict {one:.0f} rps ({cost1:.0f} us CPU/request), "
                  f"/v2 infer {two:.0f} rps ({cost2:.0f} us CPU/request), rps v2/v1 "
                  f"{two / one:.3f}", flush=True)  # fmt: skip
            if a.grpc:
                before = cpu_seconds(server.pid)
                three = grpc_rps(f"127.0.0.1:{grpc_port}", a.c, a.duration)
                cost3 = (cpu_seconds(server.pid) - before) / (three * (a.duration + 1)) * 1e6
                print(f"         v2 gRPC ModelInfer {three:.0f} rps ({cost3:.0f} us server "
                      "CPU/request)", flush=True)  # fmt: skip
    finally:
        stop(server)
    print(
        f"median rps v2/v1 = {statistics.median(ratios):.3f}; median server CPU per request "
        f"v2/v1 = {statistics.median(costs):.3f} (c={a.c}, 1 row)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
