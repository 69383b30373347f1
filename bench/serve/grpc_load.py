"""Closed-loop load for an Open Inference Protocol v2 gRPC server, and a gRPC "hello" floor.

Runs in bench/serve/.venv-mlserver, whose MLServer ships the v2 stubs
(``inference.GRPCInferenceService``) and grpcio; ``ghz`` is not available here.

    python grpc_load.py load --target 127.0.0.1:8081 --model lr --rows 1 -c 16 -d 8 \
        --data rows.json
    python grpc_load.py hello --port 18790

``load``: ``c`` concurrent callers (grpc.aio, in ``--procs`` processes, a few channels each) each
send one ``ModelInfer`` (one FP64 tensor ``[rows, features]`` named ``--input-name``, typed
contents, output ``predict`` asked) and wait for the answer before the next, for a 2 s
warm-up and then ``-d`` seconds. Prints the same ``HEADLINE`` line as
../shared/bench/loadgen.py. A Python client on two shared cores is itself a bottleneck:
``hello`` serves a constant ``ModelInfer`` answer on grpc.aio, so the same client against
it measures the ceiling of this generator.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import time

import grpc
from mlserver.grpc import dataplane_pb2 as pb
from mlserver.grpc import dataplane_pb2_grpc as pb_grpc


def request(args: argparse.Namespace) -> pb.ModelInferRequest:
    with open(args.data) as f:
        src = json.load(f)
    rows = [src[i % len(src)][: args.features] for i in range(args.rows)]
    flat = [float(v) for row in rows for v in row]
    tensor = pb.ModelInferRequest.InferInputTensor(
        name=args.input_name,
        datatype="FP64",
        shape=[args.rows, args.features],
        contents=pb.InferTensorContents(fp64_contents=flat),
    )
    # the labels alone, as the REST bodies ask (run.py's oip_body): the work /v1 answers
    wanted = pb.ModelInferRequest.InferRequestedOutputTensor(name="predict")
    return pb.ModelInferRequest(model_name=args.model, inputs=[tensor], outputs=[wanted])


async def run_load(args: argparse.Namespace) -> tuple[list[float], float, int, str]:
    """Latencies (s) of the measured calls, the seconds measured, errors, the first error."""
    req = request(args)
    channels = [grpc.aio.insecure_channel(args.target) for _ in range(min(args.c, 4))]
    stubs = [pb_grpc.GRPCInferenceServiceStub(ch) for ch in channels]
    first = await stubs[0].ModelInfer(req, timeout=30)  # fails loudly before any load
    if not first.outputs:
        raise SystemExit(f"{args.target}: ModelInfer answered without outputs: {first}")
    lat: list[float] = []
    errors = 0
    first_error = ""

    async def caller(stub: pb_grpc.GRPCInferenceServiceStub, until: float, keep: bool) -> None:
        nonlocal errors, first_error
        clock = time.perf_counter
        while clock() < until:
            t = clock()
            try:
                await stub.ModelInfer(req, timeout=60)
            except grpc.aio.AioRpcError as e:
                errors += keep
                first_error = first_error or f"{e.code().name}: {e.details()}"
                await asyncio.sleep(0.001)  # a refusing server is no reason to spin
                continue
            if keep:
                lat.append(clock() - t)

    for seconds, keep in ((args.warmup, False), (args.d, True)):
        start = time.perf_counter()
        until = start + seconds
        await asyncio.gather(*(caller(stubs[i % len(stubs)], until, keep) for i in range(args.c)))
        elapsed = time.perf_counter() - start
    for ch in channels:
        await ch.close()
    return lat, elapsed, errors, first_error


def one_process(args: argparse.Namespace) -> tuple[list[float], float, int, str]:
    return asyncio.run(run_load(args))


def measure(args: argparse.Namespace) -> dict[str, float | str]:
    """``args.c`` callers over ``args.procs`` processes (one Python process saturates first)."""
    if args.procs <= 1:
        parts = [one_process(args)]
    else:
        shares = [args.c // args.procs + (i < args.c % args.procs) for i in range(args.procs)]
        jobs = [argparse.Namespace(**{**vars(args), "c": n}) for n in shares if n]
        with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
            parts = pool.map(one_process, jobs)
    lat = sorted(t for part in parts for t in part[0])

    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")

    return {
        "rps": sum(len(p[0]) / p[1] for p in parts),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "errors": sum(p[2] for p in parts),
        "first_error": next((p[3] for p in parts if p[3]), ""),
    }


class Hello(pb_grpc.GRPCInferenceServiceServicer):
    """Answers like a model would, without one: the floor of gRPC + this client."""

    async def ServerLive(self, request, context):  # noqa: N802 (the v2 spec's names)
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request, context):  # noqa: N802
        return pb.ServerReadyResponse(ready=True)

    async def ModelInfer(self, request, context):  # noqa: N802
        rows = request.inputs[0].shape[0] if request.inputs else 1
        out = pb.ModelInferResponse.InferOutputTensor(
            name="predict",
            datatype="INT64",
            shape=[rows, 1],
            contents=pb.InferTensorContents(int64_contents=[1] * rows),
        )
        return pb.ModelInferResponse(model_name=request.model_name, outputs=[out])


async def serve_hello(port: int) -> None:
    server = grpc.aio.server()
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(Hello(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    load = sub.add_parser("load")
    load.add_argument("--target", required=True, help="host:port")
    load.add_argument("--model", required=True)
    load.add_argument("--input-name", default="input-0")
    load.add_argument("--rows", type=int, default=1)
    load.add_argument("--features", type=int, default=20)
    load.add_argument("--data", required=True, help="JSON list of rows")
    load.add_argument("-c", type=int, default=1)
    load.add_argument("-d", type=float, default=8)
    load.add_argument("--warmup", type=float, default=2)
    load.add_argument("--procs", type=int, default=1, help="client processes sharing -c")
    hello = sub.add_parser("hello")
    hello.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    if args.cmd == "hello":
        asyncio.run(serve_hello(args.port))
        return
    r = measure(args)
    if r["first_error"]:
        print(f"first_error={r['first_error']}")
    print(
        f"HEADLINE rps={r['rps']:.1f} p50_ms={r['p50_ms']:.3f} p99_ms={r['p99_ms']:.3f} "
        f"errors={r['errors']} engine=grpc.aio c={args.c} rows={args.rows}"
    )


if __name__ == "__main__":
    main()
