"""Serving benchmark: deploykit beside MLflow, BentoML, Seldon MLServer and bare "hello" floors.

    python bench/serve/run.py [--duration 10] [--targets hello,dk-v1,bentoml,...]
                              [--models lr,rf] [--skip-mlflow]

Trains LogisticRegression and RandomForestClassifier(100, random_state=0) on
make_classification(20000, 20, random_state=0) as a DataFrame and serves them, one worker
each server, with:

  hello          a bare Starlette handler on uvicorn (the HTTP floor)
  dk-v1          deploykit, ``/v1/models/{name}/predict``, prediction logging ON
  dk-v1-nolog    the same registry with logging OFF (what logging costs)
  dk-v2          deploykit, Open Inference v2 REST ``/v2/models/{name}/infer`` (same worker
                 as dk-v1; skipped with a message where the route answers 404)
  dk-grpc        deploykit ``serve --grpc-port``, Open Inference v2 gRPC (skipped where the
                 CLI has no such option)
  mlflow         ``mlflow models serve -w 1``, one server per model (its own venv)
  bentoml        BentoML 1.4 ``@bentoml.service`` / ``@bentoml.api``, its defaults
                 (bento_service.py:Models, its own venv)
  bentoml-batch  the same with ``@bentoml.api(batchable=True, max_latency_ms=10)``
  mlserver       Seldon MLServer 1.7 with its scikit-learn runtime, v2 REST (its own venv)
  mlserver-grpc  the same server over v2 gRPC
  grpc-hello     a bare grpc.aio ModelInfer answer (the floor of the gRPC load generator)

The pickles deploykit serves are the ones BentoML and MLServer load (their venvs pin the
same scikit-learn); MLflow saves its own copies of the same fits. The venvs are built on
first use from PyPI (bench/serve/.venv-{mlflow,bentoml,mlserver}). HTTP load is
../shared/bench/loadgen.py --engine wrk (apt-get install -y wrk); gRPC load is
grpc_load.py (grpc.aio, Python, in its own process). Scenarios: 1 row at c=1 and c=16,
100 rows at c=4. Every server is started (and its idle memory read) first; the load then
goes round-robin over all targets, scenario by scenario, ``--rounds`` times (medians
reported), so that the other work on a shared machine weighs on every target alike.
Prints a Markdown table with every figure as a ratio to deploykit /v1 and to the floor
measured in the same run, and writes bench/results/serve.json (server logs beside it).
"""

from __future__ import annotations

import argparse
import functools
import importlib.metadata
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# ../shared beside the checkout: /work/shared for /work/main and for /work/wt/NAME alike
LOADGEN = next(
    (p / "shared" / "bench" / "loadgen.py" for p in ROOT.parents if (p / "shared").is_dir()),
    ROOT.parent / "shared" / "bench" / "loadgen.py",
)
SCENARIOS = [("1 row, c=1", 1, 1), ("1 row, c=16", 1, 16), ("100 rows, c=4", 100, 4)]
FEATURES = 20
COLUMNS = [f"f{i}" for i in range(FEATURES)]
TARGETS = [
    "hello",
    "dk-v1",
    "dk-v1-nolog",
    "dk-v2",
    "dk-grpc",
    "mlflow",
    "bentoml",
    "bentoml-batch",
    "mlserver",
    "mlserver-grpc",
    "grpc-hello",
]
# the references every ratio is taken against; added to any --targets unless --no-refs
REFERENCES = ["hello", "dk-v1"]
GRPC_TARGETS = {"dk-grpc", "mlserver-grpc", "grpc-hello"}
# deploykit's gRPC flag (issue 16); the harness skips dk-grpc where the CLI refuses it
DK_GRPC_FLAG = "--grpc-port"
SKLEARN = importlib.metadata.version("scikit-learn")
# Each reference in a venv of its own, built on first use from PyPI alone. BentoML and
# MLServer load deploykit's pickles, so they get the scikit-learn that wrote them.
# MLServer 1.7.1 creates its inference worker's loop with asyncio.get_event_loop(), which
# uvloop 0.22 turned into an error: every worker dies at start without the cap.
VENVS: dict[str, list[str]] = {
    "mlflow": ["mlflow", "pandas<3"],
    "bentoml": ["bentoml>=1.4,<1.5", f"scikit-learn=={SKLEARN}"],
    "mlserver": [
        "mlserver>=1.7,<1.8",
        "mlserver-sklearn>=1.7,<1.8",
        f"scikit-learn=={SKLEARN}",
        "uvloop<0.22",
    ],
}
VERSIONS_OF = {
    "mlflow": ["mlflow", "scikit-learn", "pandas", "uvicorn"],
    "bentoml": ["bentoml", "scikit-learn", "numpy", "uvicorn", "starlette"],
    "mlserver": ["mlserver", "mlserver-sklearn", "scikit-learn", "numpy", "grpcio", "uvicorn"],
}
# Nothing a reference does at start may leave the machine: BentoML sends usage analytics
# unless told not to (MLServer sends nothing: no connect() but loopback under strace).
QUIET_ENV = {"BENTOML_DO_NOT_TRACK": "True", "MLFLOW_ALLOW_FILE_STORE": "true"}

TRAIN = """
import sys, pandas as pd
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
X, y = make_classification(n_samples=20000, n_features=20, random_state=0)
X = pd.DataFrame(X, columns=[f"f{i}" for i in range(20)])
lr = LogisticRegression(max_iter=1000).fit(X, y)
rf = RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y)
"""

MLFLOW_SAVE = (
    TRAIN
    + """
import mlflow.sklearn
from mlflow.models import infer_signature
out = sys.argv[1]
for name, m in (("lr", lr), ("rf", rf)):
    mlflow.sklearn.save_model(m, f"{out}/{name}", signature=infer_signature(X, m.predict(X)),
                              serialization_format="cloudpickle")
"""
)

HELLO = """
import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
async def hello(request):
    await request.body()
    return Response(b'{"predictions":[1]}', media_type="application/json")
app = Starlette(routes=[Route("/hello", hello, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(__import__("sys").argv[1]), log_level="warning",
            access_log=False, server_header=False)
"""


class UnavailableError(Exception):
    """A target that cannot run on this checkout; the run goes on without it."""


STARTED: list[subprocess.Popen[bytes]] = []  # what the group being measured started
TRACE: dict[str, bool] = {"on": False}  # --trace-connect: servers run under strace


# ----------------------------------------------------------------- processes


def process_tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        kids = subprocess.run(["pgrep", "-P", str(p)], capture_output=True, text=True).stdout
        todo += [int(k) for k in kids.split()]
    return pids


def rss_of(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
    except (OSError, AttributeError):
        return 0.0


def memory_of(pids: list[int]) -> dict[str, float]:
    """Idle RSS: the worker (the largest process, the one holding the models) and the tree.

    MLflow's CLI, BentoML's arbiter and MLServer's front process each start the process
    that predicts as a child; the tree counts them all.
    """
    sizes = [rss_of(p) for pid in pids for p in process_tree(pid)]
    return {"worker_mb": max(sizes), "tree_mb": sum(sizes), "processes": len(sizes)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(
    cmd: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    if TRACE["on"]:  # every connect() of the server's process tree, to check none leaves
        strace = ["strace", "-f", "-qq", "--seccomp-bpf", "-e", "trace=connect"]
        cmd = [*strace, "-o", str(log.with_suffix(".strace")), *cmd]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            env={**os.environ, **QUIET_ENV, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
        )
    STARTED.append(proc)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def wait_up(
    url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 180, ok: bool = False
) -> None:
    """Until ``url`` answers (with a 2xx when ``ok``); a dead process is UnavailableError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-1500:]
            raise UnavailableError(f"exited with {proc.returncode} before {url} answered:\n{tail}")
        try:
            r = httpx.get(url, timeout=2)
            if not ok or r.is_success:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not come up in {timeout} s (log: {log})")


def wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-1500:]
            raise UnavailableError(
                f"exited with {proc.returncode} before port {port} opened:\n{tail}"
            )
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise SystemExit(f"port {port} did not open in {timeout} s (log: {log})")


def outbound(logs: Path) -> dict[str, list[str]]:
    """connect() calls to anything but loopback, per server, from the strace logs."""
    found: dict[str, list[str]] = {}
    for trace in sorted(logs.glob("*.strace")):
        for line in trace.read_text(errors="replace").splitlines():
            if "connect(" not in line or "AF_UNIX" in line:
                continue
            if re.search(r'inet_addr\("127\.|inet_pton\(AF_INET6, "::1"', line):
                continue
            found.setdefault(trace.stem, []).append(line.strip()[:200])
    return found


# ----------------------------------------------------------------- venvs


def venv(name: str) -> Path:
    """bench/serve/.venv-NAME with VENVS[name] installed, built (or completed) on first use.

    Only PyPI is reached (through pip as configured on the machine), and only here: once a
    venv holds what VENVS asks, nothing is installed or fetched again.
    """
    path = HERE / f".venv-{name}"
    py = path / "bin" / "python"
    marker = path / ".bench-requirements"
    wanted = "\n".join(VENVS[name])
    if py.exists() and marker.exists() and marker.read_text() == wanted:
        return path
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    print(f"installing {', '.join(VENVS[name])} into {path} ...", flush=True)
    log = path / "pip.log"
    with log.open("w") as out:
        rc = subprocess.run(
            [str(py), "-m", "pip", "install", "-q", *VENVS[name]], stdout=out, stderr=out
        ).returncode
    if rc:
        lines = [ln for ln in log.read_text().splitlines() if "is ignored" not in ln]
        raise SystemExit(f"pip install into {path} failed:\n" + "\n".join(lines[-20:]))
    marker.write_text(wanted)
    return path


def versions(path: Path, names: list[str]) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))"
    )
    out = subprocess.run(
        [str(path / "bin" / "python"), "-c", code, *names], capture_output=True, text=True
    )
    return json.loads(out.stdout) if out.returncode == 0 else {"error": out.stderr[-300:]}


# ----------------------------------------------------------------- request bodies


def split_body(rows: list[list[float]]) -> bytes:
    return json.dumps({"dataframe_split": {"columns": COLUMNS, "data": rows}}).encode()


def bento_body(rows: list[list[float]]) -> bytes:
    return json.dumps({"x": rows}).encode()


def oip_body(rows: list[list[float]], name: str) -> bytes:
    """One FP64 tensor [rows, features], data flattened row-major as the v2 spec has it,
    asking for the labels alone: the work /v1 and MLflow's /invocations answer (with no
    outputs named, deploykit's v2 answers predict and predict_proba, MLServer predict)."""
    tensor = {
        "name": name,
        "shape": [len(rows), FEATURES],
        "datatype": "FP64",
        "data": [v for row in rows for v in row],
    }
    return json.dumps({"inputs": [tensor], "outputs": [{"name": "predict"}]}).encode()


# ----------------------------------------------------------------- load


@dataclass
class Endpoint:
    """One (target, model) pair to load: over HTTP with ``body``, or over gRPC."""

    target: str
    model: str  # "lr", "rf", or "-" for the floors
    url: str = ""  # HTTP: the POST url
    body: Callable[[list[list[float]]], bytes] | None = None
    grpc: str = ""  # gRPC: host:port
    input_name: str = "input-0"
    extra: dict[str, str] = field(default_factory=dict)


HEADLINE = re.compile(r"HEADLINE rps=([\d.]+) p50_ms=([\d.]+|nan) p99_ms=([\d.]+|nan) errors=(\d+)")


def parse(out: str, what: str) -> dict[str, float]:
    m = HEADLINE.search(out)
    if not m:
        raise UnavailableError(f"load generator failed for {what}:\n{out[-1500:]}")
    first = re.search(r"first_error=(.*)", out)
    res: dict[str, float] = {
        "rps": float(m[1]),
        "p50_ms": float(m[2]),
        "p99_ms": float(m[3]),
        "errors": int(m[4]),
    }
    if first:
        res["first_error"] = first[1][:300]  # type: ignore[assignment]
    return res


def load(
    ep: Endpoint, rows_data: list[list[float]], rows: int, conc: int, args: argparse.Namespace
) -> dict[str, float]:
    if ep.grpc:
        py = HERE / ".venv-mlserver" / "bin" / "python"
        cmd = [
            str(py),
            str(HERE / "grpc_load.py"),
            "load",
            "--target",
            ep.grpc,
            "--model",
            ep.model if ep.model != "-" else "hello",
            "--input-name",
            ep.input_name,
            "--rows",
            str(rows),
            "-c",
            str(conc),
            "-d",
            str(args.duration),
            "--data",
            str(args.data),
            "--procs",
            str(args.grpc_procs),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        return parse(proc.stdout + proc.stderr, f"{ep.target} {ep.model}")
    assert ep.body is not None
    body = args.work / "body.json"
    body.write_bytes(ep.body(rows_data[:rows]))
    cmd = [
        sys.executable,
        str(LOADGEN),
        "--url",
        ep.url,
        "--engine",
        "wrk",
        "-c",
        str(conc),
        "-d",
        str(args.duration),
        "--warmup",
        "2",
        "--body-file",
        str(body),
        "--rows",
        str(rows),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return parse(proc.stdout + proc.stderr, f"{ep.target} {ep.model}")


def median_of(rounds: list[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over the rounds; errors added up."""
    out: dict[str, float] = {
        k: statistics.median(r[k] for r in rounds) for k in ("rps", "p50_ms", "p99_ms")
    }
    out["errors"] = sum(r["errors"] for r in rounds)
    first = next((r["first_error"] for r in rounds if r.get("first_error")), None)
    if first:
        out["first_error"] = first
    return out


def probe(ep: Endpoint, rows_data: list[list[float]]) -> str:
    """One request before the load: what it answered (a wrong answer is no benchmark)."""
    if ep.grpc:
        return ""  # grpc_load.py fails loudly on its first call
    assert ep.body is not None
    r = httpx.post(
        ep.url,
        content=ep.body(rows_data[:2]),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    if r.status_code == 404 and ep.target == "dk-v2":
        raise UnavailableError(
            f"POST {ep.url} answered 404: this deploykit has no Open Inference v2 REST route "
            "yet (issue 16, the protocols branch); skipped"
        )
    if not r.is_success:
        raise UnavailableError(f"POST {ep.url} answered {r.status_code}: {r.text[:300]}")
    return r.text[:200]


def sample_error(ep: Endpoint, rows_data: list[list[float]], rows: int, conc: int) -> str:
    """What a refused request answered: wrk counts non-2xx answers but never shows one."""
    from concurrent.futures import ThreadPoolExecutor

    assert ep.body is not None
    body = ep.body(rows_data[:rows])

    def one(_: int) -> str:
        r = httpx.post(ep.url, content=body, headers={"Content-Type": "application/json"})
        return "" if r.is_success else f"{r.status_code} {r.text[:200]}"

    with ThreadPoolExecutor(conc) as pool:
        return next((e for e in pool.map(one, range(conc * 8)) if e), "")


# ----------------------------------------------------------------- servers


def in_process_ms(rows_data: list[list[float]], trained: Path) -> dict[str, dict[str, float]]:
    import warnings

    import joblib
    import numpy as np
    import pandas as pd

    warnings.filterwarnings("ignore", message="X does not have valid feature names")
    _, lr, rf = joblib.load(trained)
    out: dict[str, dict[str, float]] = {}
    for name, model in (("lr", lr), ("rf", rf)):
        for rows in (1, 100):
            frame = pd.DataFrame(rows_data[:rows], columns=COLUMNS)
            for kind, x in (("frame", frame), ("array", frame.to_numpy())):
                times = []
                for _ in range(50 if name == "lr" else 10):
                    t = time.perf_counter()
                    model.predict(x)
                    times.append((time.perf_counter() - t) * 1000)
                out.setdefault(name, {})[f"{rows}_{kind}"] = float(np.median(times))
    return out


def deploykit_home(home: Path, models: tuple[str, ...], trained: Path) -> dict[str, str]:
    """A registry at ``home`` with ``models`` (of lr, rf) in production; its environment.

    ``trained`` holds (X, lr, rf) from TRAIN, pickled once: the forest takes a while to fit.
    """
    env = {"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_ACTOR": "bench"}
    pushes = "".join(f"    reg.push({m}, {m!r}, X=X, deploy=True)\n" for m in models)
    script = (
        f"import joblib\nX, lr, rf = joblib.load({str(trained)!r})\n"
        "from deploykit.registry import Registry\nwith Registry() as reg:\n" + pushes
    )
    subprocess.run([sys.executable, "-c", script], env={**os.environ, **env}, check=True)
    return env


def deploykit_server(port: int, log_rate: float = 1.0) -> list[str]:
    """``deploykit serve`` with one worker, logging ``log_rate`` of the predictions."""
    return [
        sys.executable,
        "-c",
        "from deploykit.server import run, ServerConfig;"
        f"run(None, ServerConfig(port={port}, workers=1, log_sample_rate={log_rate}))",
    ]


def v2_input_name(base: str, model: str, default: str) -> str:
    """The tensor name deploykit's v2 metadata gives when it lists one input, else ``default``."""
    try:
        meta = httpx.get(f"{base}/v2/models/{model}", timeout=5)
        inputs = meta.json().get("inputs", []) if meta.is_success else []
    except (httpx.HTTPError, ValueError):
        return default
    return str(inputs[0]["name"]) if len(inputs) == 1 else default


@dataclass
class Group:
    """Servers started together, measured idle, loaded one endpoint at a time, then stopped."""

    name: str
    targets: list[str]
    starter: Callable[[], tuple[list[subprocess.Popen[bytes]], list[Endpoint]]]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--duration", type=float, default=10, help="seconds measured per scenario")
    ap.add_argument(
        "--targets",
        "--only",
        default=",".join(TARGETS),
        help=f"comma-separated, of: {', '.join(TARGETS)} (default: all)",
    )
    ap.add_argument(
        "--no-refs",
        action="store_true",
        help=f"run only --targets; otherwise {' and '.join(REFERENCES)} are always added, and "
        "grpc-hello with any gRPC target (the ratios need them)",
    )
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="passes over every target (the order reversed every other pass); medians reported",
    )
    ap.add_argument("--models", default="lr,rf", help="comma-separated, of: lr, rf")
    ap.add_argument("--skip-mlflow", action="store_true", help="the same as leaving out mlflow")
    ap.add_argument(
        "--v2-input-name",
        default="input-0",
        help="tensor name sent to v2 endpoints when deploykit's metadata does not list one",
    )
    ap.add_argument(
        "--grpc-procs",
        type=int,
        default=1,
        help="processes of the Python gRPC load generator sharing each concurrency (default 1)",
    )
    ap.add_argument(
        "--trace-connect",
        action="store_true",
        help="run every server under strace and report any connect() that leaves loopback "
        "(a check that no reference phones home; figures measured so are not comparable)",
    )
    args = ap.parse_args()
    TRACE["on"] = args.trace_connect
    wanted = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = sorted(set(wanted) - set(TARGETS))
    if unknown:
        ap.error(f"--targets: unknown {', '.join(unknown)}; expected some of {', '.join(TARGETS)}")
    if not args.no_refs:
        refs = REFERENCES + (["grpc-hello"] if GRPC_TARGETS & set(wanted) else [])
        wanted += [r for r in refs if r not in wanted]
    if args.skip_mlflow and "mlflow" in wanted:
        wanted.remove("mlflow")
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    if not models or set(models) - {"lr", "rf"}:
        ap.error(f"--models: expected lr, rf or both, got {args.models!r}")
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install -y wrk")

    # venvs first: a failed install stops the run before anything is measured
    needs = {
        "mlflow": {"mlflow"},
        "bentoml": {"bentoml", "bentoml-batch"},
        "mlserver": {"mlserver", "mlserver-grpc", "grpc-hello", "dk-grpc"},
    }
    envs = {name: venv(name) for name, ts in needs.items() if ts & set(wanted)}

    work = Path(tempfile.mkdtemp(prefix="deploykit-bench-"))
    args.work = work
    logs = work / "logs"
    logs.mkdir()
    rnd = random.Random(0)
    rows_data = [[round(rnd.gauss(0, 1), 6) for _ in range(FEATURES)] for _ in range(100)]
    args.data = work / "rows.json"
    args.data.write_text(json.dumps(rows_data))
    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(uptime_before, flush=True)

    trained = work / "trained.joblib"
    pickles = work / "models"
    pickles.mkdir()
    dump = (
        f"import joblib\njoblib.dump((X, lr, rf), {str(trained)!r})\n"
        f"joblib.dump(lr, {str(pickles / 'lr.joblib')!r})\n"
        f"joblib.dump(rf, {str(pickles / 'rf.joblib')!r})\n"
    )
    subprocess.run([sys.executable, "-c", TRAIN + dump], check=True)
    dk_env: dict[str, str] = {}
    if {"dk-v1", "dk-v1-nolog", "dk-v2", "dk-grpc"} & set(wanted):
        dk_env = deploykit_home(work / "dk", models, trained)

    memory: dict[str, dict[str, float]] = {}
    skipped: dict[str, str] = {}
    answers: dict[str, str] = {}

    def http(target: str, base: str, path: str, body: Callable[..., bytes]) -> list[Endpoint]:
        return [Endpoint(target, m, url=base + path.format(m=m), body=body) for m in models]

    def g_hello() -> tuple[list[subprocess.Popen[bytes]], list[Endpoint]]:
        port = free_port()
        log = logs / "hello.log"
        p = start([sys.executable, "-c", HELLO, str(port)], log)
        wait_up(f"http://127.0.0.1:{port}/", p, log)
        return [p], [Endpoint("hello", "-", url=f"http://127.0.0.1:{port}/hello", body=split_body)]

    def g_deploykit() -> tuple[list[subprocess.Popen[bytes]], list[Endpoint]]:
        if "dk-v1" in wanted:  # one worker per model too, for memory, as MLflow runs them
            for m in models:
                port = free_port()
                log = logs / f"dk-{m}-alone.log"
                env = deploykit_home(work / f"dk-{m}", (m,), trained)
                single = start(deploykit_server(port), log, env)
                try:
                    wait_up(f"http://127.0.0.1:{port}/healthz", single, log)
                    time.sleep(2)
                    memory[f"dk-v1 {m} alone"] = memory_of([single.pid])
                finally:
                    stop(single)
        port = free_port()
        log = logs / "dk.log"
        p = start(deploykit_server(port), log, dk_env)
        base = f"http://127.0.0.1:{port}"
        wait_up(f"{base}/healthz", p, log)
        eps = []
        if "dk-v1" in wanted:
            eps += http("dk-v1", base, "/v1/models/{m}/predict", split_body)
        if "dk-v2" in wanted:
            for m in models:
                name = v2_input_name(base, m, args.v2_input_name)
                eps.append(
                    Endpoint(
                        "dk-v2",
                        m,
                        url=f"{base}/v2/models/{m}/infer",
                        body=functools.partial(oip_body, name=name),
                    )
                )
        return [p], eps

    def g_nolog() -> tuple[list[subprocess.Popen[bytes]], list[Endpoint]]:
        port = free_port()
        log = logs / "dk-nolog.log"
        p = start(deploykit_server(port, log_rate=0.0), log, dk_env)
        base = f"http://127.0.0.1:{port}"
        wait_up(f"{base}/healthz", p, log)
        return [p], http("dk-v1-nolog", base, "/v1/models/{m}/predict", split_body)

    def g_dk_grpc() -> tuple[list[subprocess.Popen[bytes]], list[Endpoint]]:
        port, gport = free_port(), free_port()
        log = logs / "dk-grpc.log"
        cmd = [sys.executable, "-m", "deploykit", "serve", "--port", str(port), "-w", "1"]
        p = start([*cmd, DK_GRPC_FLAG, str(gport)], log, dk_env)
        try:
            wait_up(f"http://127.0.0.1:{port}/healthz", p, log)
        except UnavailableError as e:
            if "No such option" in str(e) or "no such option" in str(e).lower():
                raise UnavailableError(
                    f"`deploykit serve {DK_GRPC_FLAG}` is not on this checkout (issue 16, the "
                    "protocols branch); skipped"
                ) from None
            raise
        wait_port(gport, p, log)
        names = {
            m: v2_input_name(f"http://127.0.0.1:{port}", m, args.v2_input_name) for m in models
        }
        return [p], [
            Endpoint("dk-grpc", m, grpc=f"127.0.0.1:{gport}", input_name=names[m]) for m in models
        ]

    def g_mlflow() -> tuple[list[subprocess.Popen[bytes]], list[Endpoint]]:
        path = envs["mlflow"]
        subprocess.run(
            [str(path / "bin" / "python"), "-c", MLFLOW_SAVE, str(work / "mlflow")], check=True
        )
        menv = {"PATH": f"{path / 'bin'}:{os.environ['PATH']}"}
        procs, eps = [], []
        for m in models:
            port = free_port()
            log = logs / f"mlflow-{m}.log"
            cmd = [str(path / "bin" / "mlflow"), "models", "serve", "-m", str(work / "mlflow" / m)]
            cmd += ["--env-manager", "local", "-p", str(port), "-h", "127.0.0.1", "-w", "1"]
            p = start(cmd, log, menv)
            procs.append(p)
            wait_up(f"http://127.0.0.1:{port}/ping", p, log)
            eps.append(
                Endpoint("mlflow", m, url=f"http://127.0.0.1:{port}/invocations", body=split_body)
            )
        return procs, eps

    def bento(target: str, cls: str) -> tuple[list[subprocess.Popen[bytes]], list[Endpoint]]:
        path = envs["bentoml"]
        port = free_port()
        log = logs / f"{target}.log"
        env = {
            "BENCH_MODELS_DIR": str(pickles),
            "BENTOML_HOME": str(work / "bentoml-home"),
            "PATH": f"{path / 'bin'}:{os.environ['PATH']}",
        }
        cmd = [str(path / "bin" / "bentoml"), "serve", f"bento_service:{cls}"]
        cmd += ["--host", "127.0.0.1", "--port", str(port), "--working-dir", str(HERE)]
        p = start(cmd, log, env)
        base = f"http://127.0.0.1:{port}"
        wait_up(f"{base}/readyz", p, log, ok=True)
        return [p], http(target, base, "/{m}", bento_body)

    def g_mlserver(grpc_only: bool = False) -> tuple[list[subprocess.Popen[bytes]], list[Endpoint]]:
        path = envs["mlserver"]
        repo = work / "mlserver"
        port, gport = free_port(), free_port()
        shutil.rmtree(repo, ignore_errors=True)
        for m in models:
            (repo / m).mkdir(parents=True)
            shutil.copy(pickles / f"{m}.joblib", repo / m / "model.joblib")
            settings = {
                "name": m,
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": "./model.joblib"},
            }
            (repo / m / "model-settings.json").write_text(json.dumps(settings))
        server = {"host": "127.0.0.1", "http_port": port, "grpc_port": gport}
        server["metrics_port"] = free_port()  # its Prometheus server, loopback too
        (repo / "settings.json").write_text(json.dumps(server))
        log = logs / "mlserver.log"
        p = start([str(path / "bin" / "mlserver"), "start", str(repo)], log, cwd=work)
        base = f"http://127.0.0.1:{port}"
        for m in models:
            wait_up(f"{base}/v2/models/{m}/ready", p, log, ok=True)
        eps = []
        if "mlserver" in wanted:
            eps += http(
                "mlserver",
                base,
                "/v2/models/{m}/infer",
                functools.partial(oip_body, name="input-0"),
            )
        if "mlserver-grpc" in wanted:
            eps += [Endpoint("mlserver-grpc", m, grpc=f"127.0.0.1:{gport}") for m in models]
        return [p], eps

    def g_grpc_hello() -> tuple[list[subprocess.Popen[bytes]], list[Endpoint]]:
        port = free_port()
        log = logs / "grpc-hello.log"
        py = envs["mlserver"] / "bin" / "python"
        p = start([str(py), str(HERE / "grpc_load.py"), "hello", "--port", str(port)], log)
        wait_port(port, p, log)
        return [p], [Endpoint("grpc-hello", "-", grpc=f"127.0.0.1:{port}")]

    groups = [
        Group("hello", ["hello"], g_hello),
        Group("deploykit", ["dk-v1", "dk-v2"], g_deploykit),
        Group("deploykit, logging off", ["dk-v1-nolog"], g_nolog),
        Group("deploykit gRPC", ["dk-grpc"], g_dk_grpc),
        Group("MLflow", ["mlflow"], g_mlflow),
        Group("BentoML", ["bentoml"], lambda: bento("bentoml", "Models")),
        Group("BentoML batchable", ["bentoml-batch"], lambda: bento("bentoml-batch", "Batched")),
        Group("MLServer", ["mlserver", "mlserver-grpc"], g_mlserver),
        Group("gRPC hello", ["grpc-hello"], g_grpc_hello),
    ]
    # Every server up first, each measured idle right after it starts; then the load goes
    # round-robin over all of them, scenario by scenario, so that a neighbour's burst on
    # this shared machine lands on every target alike rather than on whichever ran then.
    live: list[Endpoint] = []
    runs: dict[str, dict[str, dict[str, list[dict[str, float]]]]] = {}
    try:
        for group in groups:
            if not set(group.targets) & set(wanted):
                continue
            print(f"== {group.name}", flush=True)
            before = len(STARTED)
            try:
                procs, endpoints = group.starter()
            except UnavailableError as e:
                while len(STARTED) > before:
                    stop(STARTED.pop())
                for t in set(group.targets) & set(wanted):
                    skipped[t] = str(e)
                print(f"SKIPPED {group.name}: {e}", flush=True)
                continue
            time.sleep(2)
            mem = memory_of([p.pid for p in procs])
            for t in set(group.targets) & set(wanted):
                memory[t] = mem
            for ep in endpoints:
                try:
                    answers[f"{ep.target} {ep.model}"] = probe(ep, rows_data)
                except UnavailableError as e:
                    skipped[ep.target] = str(e)
                    print(f"SKIPPED {ep.target} {ep.model}: {e}", flush=True)
                    continue
                live.append(ep)
        for round_ in range(args.rounds):
            order = live if round_ % 2 == 0 else live[::-1]  # drift cancels over two rounds
            for scenario, rows, conc in SCENARIOS:
                for ep in order:
                    try:
                        res = load(ep, rows_data, rows, conc, args)
                    except UnavailableError as e:
                        skipped[f"{ep.target} {ep.model} {scenario}"] = str(e)
                        print(f"FAILED {ep.target} {ep.model} {scenario}: {e}", flush=True)
                        continue
                    if res["errors"] and not ep.grpc and "first_error" not in res:
                        res["first_error"] = sample_error(ep, rows_data, rows, conc)  # type: ignore[assignment]
                    runs.setdefault(ep.target, {}).setdefault(ep.model, {}).setdefault(
                        scenario, []
                    ).append(res)
                    print(f"round {round_ + 1}", ep.target, ep.model, scenario, res, flush=True)
    finally:
        while STARTED:
            stop(STARTED.pop())
    results = {
        t: {m: {sc: median_of(rs) for sc, rs in by.items()} for m, by in ms.items()}
        for t, ms in runs.items()
    }

    uptime_after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    out = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "uptime_before": uptime_before,
        "uptime_after": uptime_after,
        "duration_s": args.duration,
        "rounds": args.rounds,
        "every_round": runs,
        "versions": {n: versions(p, VERSIONS_OF[n]) for n, p in envs.items()}
        | {"deploykit env": {n: importlib.metadata.version(n) for n in ("scikit-learn",)}},
        "results": results,
        "idle_rss_mb": memory,
        "skipped": skipped,
        "first_answers": answers,
        "in_process_ms": in_process_ms(rows_data, trained),
    }
    if args.trace_connect:
        out["outbound_connects"] = outbound(logs)
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / "serve.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))
    print(uptime_after)
    print(table(out, models))
    if args.trace_connect:
        leaks = out["outbound_connects"]
        print("connect() beyond loopback:", json.dumps(leaks, indent=1) if leaks else "none")
    kept = ROOT / "bench" / "results" / "serve-logs"  # every server's output, for a look
    shutil.rmtree(kept, ignore_errors=True)
    shutil.copytree(logs, kept)
    shutil.rmtree(work, ignore_errors=True)
    return 0


# ----------------------------------------------------------------- the table

LABELS = {
    "hello": "hello (HTTP floor)",
    "dk-v1": "deploykit /v1",
    "dk-v1-nolog": "deploykit /v1, logging off",
    "dk-v2": "deploykit v2 REST",
    "dk-grpc": "deploykit v2 gRPC",
    "mlflow": "MLflow",
    "bentoml": "BentoML",
    "bentoml-batch": "BentoML batchable",
    "mlserver": "MLServer v2 REST",
    "mlserver-grpc": "MLServer v2 gRPC",
    "grpc-hello": "gRPC hello (gRPC floor)",
}


def table(out: dict, models: tuple[str, ...]) -> str:
    """Markdown: each figure, then ×deploykit /v1 (same model) and ×the floor of its protocol.

    ×: the target's figure over the reference's (for p50, >1 is slower; for rps, <1 is).
    """
    res, mem = out["results"], out["idle_rss_mb"]

    def get(target: str, model: str, scenario: str, key: str) -> float | None:
        v = res.get(target, {}).get(model, {}).get(scenario, {}).get(key)
        return float(v) if v is not None else None

    def cell(target: str, model: str, scenario: str, key: str) -> str:
        v = get(target, model, scenario, key)
        if v is None:
            return "–"
        floor = "grpc-hello" if target in GRPC_TARGETS else "hello"
        text = f"{v:,.0f}" if key == "rps" else f"{v:.2f}"
        refs = []
        dk = get("dk-v1", model, scenario, key) if model != "-" else None
        fl = get(floor, "-", scenario, key)
        if dk and target != "dk-v1":
            refs.append(f"{v / dk:.2f}× dk")
        if fl and target != floor:
            refs.append(f"{v / fl:.2f}× floor")
        errs = get(target, model, scenario, "errors")
        if errs:
            refs.append(f"**{errs:,.0f} errors**")
        return text + (f" ({', '.join(refs)})" if refs else "")

    def rss(target: str) -> str:
        m = mem.get(target)
        if not m:
            return "–"
        dk = mem.get("dk-v1", {}).get("worker_mb")
        fl = mem.get("hello", {}).get("worker_mb")
        ratio = f", {m['worker_mb'] / dk:.2f}× dk" if dk and target != "dk-v1" else ""
        ratio += f", {m['worker_mb'] / fl:.1f}× hello" if fl and target != "hello" else ""
        return f"{m['worker_mb']:.0f} ({m['tree_mb']:.0f} in {m['processes']:.0f} proc.{ratio})"

    lines = [
        "| target | model | 1 row c=1 p50 ms | 1 row c=1 p99 ms | 1 row c=16 rps "
        "| 100 rows c=4 rps | idle RSS MB: worker (tree) |",
        "|---|---|---|---|---|---|---|",
    ]
    for target in TARGETS:
        if target not in res:
            continue
        for model in ("-", *models):
            if model not in res[target]:
                continue
            lines.append(
                f"| {LABELS[target]} | {model.upper() if model != '-' else ''} "
                f"| {cell(target, model, '1 row, c=1', 'p50_ms')} "
                f"| {cell(target, model, '1 row, c=1', 'p99_ms')} "
                f"| {cell(target, model, '1 row, c=16', 'rps')} "
                f"| {cell(target, model, '100 rows, c=4', 'rps')} | {rss(target)} |"
            )
    for t, why in out["skipped"].items():
        lines.append(f"\nskipped {t}: {' '.join(why.split())[:300]}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
