"""Serving benchmark: deploykit vs ``mlflow models serve`` vs a bare Starlette "hello".

    python bench/serve/run.py [--duration 10] [--skip-mlflow]

Trains LogisticRegression and RandomForestClassifier(100, random_state=0) on
make_classification(20000, 20, random_state=0) as a DataFrame, serves them with
deploykit (prediction logging ON) and with MLflow (its own venv, created here as
bench/serve/.venv-mlflow), one worker each, and drives them with
../shared/bench/loadgen.py --engine wrk (apt-get install -y wrk): 1 row at c=1 and
c=16, 100 rows at c=4. Prints a Markdown table and writes bench/results/serve.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LOADGEN = ROOT.parent / "shared" / "bench" / "loadgen.py"
MLFLOW_VENV = HERE / ".venv-mlflow"
SCENARIOS = [("1 row, c=1", 1, 1), ("1 row, c=16", 1, 16), ("100 rows, c=4", 100, 4)]

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


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, MB."""
    total = 0
    pids, todo = [], [pid]
    while todo:  # the whole process tree: mlflow's CLI starts its server as a child
        p = todo.pop()
        pids.append(p)
        kids = subprocess.run(["pgrep", "-P", str(p)], capture_output=True, text=True).stdout
        todo += [int(k) for k in kids.split()]
    for p in pids:
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        except (OSError, AttributeError):
            pass
    return total / 1024


def wait_up(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up in {timeout} s")


def start(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def load(url: str, rows: int, conc: int, duration: float, data: Path) -> dict[str, float]:
    out = subprocess.run(
        [
            sys.executable,
            str(LOADGEN),
            "--url",
            url,
            "--engine",
            "wrk",
            "-c",
            str(conc),
            "-d",
            str(duration),
            "--warmup",
            "2",
            "--format",
            "dataframe_split",
            "--rows",
            str(rows),
            "--features",
            "20",
            "--data",
            str(data),
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    m = re.search(r"HEADLINE rps=([\d.]+) p50_ms=([\d.]+) p99_ms=([\d.]+) errors=(\d+)", out)
    if not m:
        raise SystemExit(f"loadgen failed for {url}:\n{out}")
    return {"rps": float(m[1]), "p50_ms": float(m[2]), "p99_ms": float(m[3]), "errors": int(m[4])}


def in_process_ms(rows_data: list[list[float]]) -> dict[str, dict[str, float]]:
    import numpy as np
    import pandas as pd

    ns: dict[str, object] = {}
    exec(TRAIN, ns)
    out = {}
    for name in ("lr", "rf"):
        model = ns[name]
        for rows in (1, 100):
            frame = pd.DataFrame(rows_data[:rows], columns=[f"f{i}" for i in range(20)])
            for kind, x in (("frame", frame), ("array", frame.to_numpy())):
                times = []
                for _ in range(50 if name == "lr" else 10):
                    t = time.perf_counter()
                    model.predict(x)  # type: ignore[attr-defined]
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--skip-mlflow", action="store_true")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install -y wrk")
    work = Path(tempfile.mkdtemp(prefix="deploykit-bench-"))
    import random

    rnd = random.Random(0)
    rows_data = [[round(rnd.gauss(0, 1), 6) for _ in range(20)] for _ in range(100)]
    data = work / "rows.json"
    data.write_text(json.dumps(rows_data))
    results: dict[str, dict[str, dict[str, float]]] = {}
    memory: dict[str, float] = {}

    trained = work / "trained.joblib"
    dump = f"import joblib\njoblib.dump((X, lr, rf), {str(trained)!r})\n"
    subprocess.run([sys.executable, "-c", TRAIN + dump], check=True)
    # deploykit, logging on, one worker serving both models
    dk_env = deploykit_home(work / "dk", ("lr", "rf"), trained)
    # and, for memory, one worker per model, as MLflow runs them
    for name in ("lr", "rf"):
        single = start(
            deploykit_server(18770), deploykit_home(work / f"dk-{name}", (name,), trained)
        )
        try:
            wait_up("http://127.0.0.1:18770/healthz")
            time.sleep(2)
            memory[f"deploykit {name.upper()} alone"] = rss_mb(single.pid)
        finally:
            stop(single)
    dk = start(deploykit_server(18765), dk_env)
    procs = [dk]
    hello = start([sys.executable, "-c", HELLO, "18766"])
    procs.append(hello)
    # the same registry, logging off: what logging costs
    procs.append(start(deploykit_server(18771, log_rate=0.0), dk_env))
    try:
        wait_up("http://127.0.0.1:18771/healthz")
        wait_up("http://127.0.0.1:18765/healthz")
        wait_up("http://127.0.0.1:18766/")
        time.sleep(2)
        memory["deploykit"] = rss_mb(dk.pid)
        memory["hello"] = rss_mb(hello.pid)
        targets = {
            "hello": "http://127.0.0.1:18766/hello",
            "deploykit LR": "http://127.0.0.1:18765/v1/models/lr/predict",
            "deploykit RF": "http://127.0.0.1:18765/v1/models/rf/predict",
            "deploykit LR, logging off": "http://127.0.0.1:18771/v1/models/lr/predict",
        }
        if not args.skip_mlflow:
            py = MLFLOW_VENV / "bin" / "python"
            if not py.exists():
                subprocess.run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True)
                subprocess.run(
                    [str(py), "-m", "pip", "install", "-q", "mlflow", "pandas<3"], check=True
                )
            subprocess.run([str(py), "-c", MLFLOW_SAVE, str(work / "mlflow")], check=True)
            menv = {
                "PATH": f"{MLFLOW_VENV / 'bin'}:{os.environ['PATH']}",
                "MLFLOW_ALLOW_FILE_STORE": "true",
            }
            for name, port in (("lr", 18767), ("rf", 18768)):
                p = start(
                    [
                        str(MLFLOW_VENV / "bin" / "mlflow"),
                        "models",
                        "serve",
                        "-m",
                        str(work / "mlflow" / name),
                        "--env-manager",
                        "local",
                        "-p",
                        str(port),
                        "-h",
                        "127.0.0.1",
                        "-w",
                        "1",
                    ],
                    menv,
                )
                procs.append(p)
                wait_up(f"http://127.0.0.1:{port}/ping")
                time.sleep(2)
                memory[f"mlflow {name.upper()}"] = rss_mb(p.pid)
                targets[f"mlflow {name.upper()}"] = f"http://127.0.0.1:{port}/invocations"
        for label, url in targets.items():
            for scenario, rows, conc in SCENARIOS:
                results.setdefault(label, {})[scenario] = load(url, rows, conc, args.duration, data)
                print(label, scenario, results[label][scenario], flush=True)
    finally:
        for p in procs:
            stop(p)
    inproc = in_process_ms(rows_data)
    out = {"results": results, "idle_rss_mb": memory, "in_process_ms": inproc}
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / "serve.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
