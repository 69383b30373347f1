"""SIGKILL a real server mid-push and mid-experiment-start: nothing is half written.

A version exists whole (its artifact stored under its digest and verified) or not at all;
an experiment exists with its start event or not at all; production does not move; the
server starts again on the same home and answers.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from deploykit.registry import Registry
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer
from deploykit.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture
def home(tmp_path: Path) -> Settings:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=100), "b": rng.normal(size=100)})
    y = (X.a > 0).astype(int)
    settings = Settings.from_env({"DEPLOYKIT_HOME": str(tmp_path), "DEPLOYKIT_FSYNC": "0"})
    settings = settings.replace(actor="tester")
    with Registry(settings) as registry:
        for c in (1.0, 0.01):
            registry.push(LogisticRegression(C=c).fit(X, y), "m", X=X, format="skops")
        registry.deploy("m", 1)
    return settings


def kill(server: LiveServer) -> None:
    """SIGKILL every process of the server: no shutdown handler runs."""
    proc = server._proc
    assert proc is not None
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    server._proc = None


def wait_for(condition: object, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def stored_objects_verify(artifacts: Path) -> list[Path]:
    """Every object stored under a digest hashes to it; returns the leftover .part files."""
    parts = []
    for path in artifacts.rglob("*"):
        if not path.is_file():
            continue
        relative = path.relative_to(artifacts)
        if relative.parts[0] == "tmp":
            parts.append(path)
            continue
        assert relative.parts[0] == "sha256", relative
        digest = relative.parts[1] + relative.parts[2]  # sha256/ab/cdef...: fanned out
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, relative
    return parts


def test_a_server_killed_mid_upload_stores_no_half_artifact(home: Settings) -> None:
    artifacts = Path(home.home) / "artifacts"
    before = {p for p in artifacts.rglob("*") if p.is_file()}
    server = LiveServer(home, ServerConfig()).start()
    try:
        headers = {"authorization": f"Bearer {server.token}"}
        sent = threading.Event()

        def slow_body() -> Iterator[bytes]:
            for _ in range(400):
                yield os.urandom(32 * 1024)
                sent.set()
                time.sleep(0.01)

        def upload() -> None:
            with contextlib.suppress(httpx.HTTPError):  # the server dies under it
                httpx.post(f"{server.url}/v1/artifacts", content=slow_body(), headers=headers)

        thread = threading.Thread(target=upload)
        thread.start()
        # the upload is on disk, half written, when the server dies
        wait_for(lambda: any(p.stat().st_size for p in (artifacts / "tmp").glob("*.part")),
                 "a .part file with bytes in it")  # fmt: skip
        kill(server)
        thread.join(timeout=30)
    finally:
        server.stop()
    leftovers = stored_objects_verify(artifacts)
    assert all(p.suffix == ".part" for p in leftovers)
    assert {p for p in artifacts.rglob("*") if p.is_file()} - set(leftovers) == before
    with Registry(home) as registry:
        assert [v.version for v in registry.versions("m")] == [1, 2]
        assert registry.model("m").production == 1


def test_a_server_killed_while_experiments_start_and_end_leaves_each_whole(
    home: Settings,
) -> None:
    server = LiveServer(home, ServerConfig()).start()
    cycles = []
    try:
        headers = {"authorization": f"Bearer {server.token}"}
        url = f"{server.url}/v1/models/m/experiment"

        def churn() -> None:
            with httpx.Client(headers=headers, timeout=10) as client:
                try:
                    while True:
                        client.post(f"{url}/canary", json={"version": 2, "percent": 20})
                        client.post(f"{url}/abort", json={"reason": "churn"})
                        cycles.append(1)
                except httpx.HTTPError:
                    return  # the server died under it

        thread = threading.Thread(target=churn)
        thread.start()
        wait_for(lambda: len(cycles) >= 5, "five canary/abort cycles")
        kill(server)
        thread.join(timeout=30)
    finally:
        server.stop()
    with Registry(home) as registry:
        events = registry.events("m", limit=10_000)
        starts = [e for e in events if e.action == "experiment-start"]
        ends = [e for e in events if e.action == "experiment-abort"]
        assert len(starts) >= 5
        latest = registry.experiment("m")
        assert latest is not None
        running = latest.state == "running"
        # every start has its experiment, every end its start: at most the last one runs
        assert len(starts) == len(ends) + int(running), (len(starts), len(ends), latest)
        assert latest.id == len(starts)
        assert registry.model("m").production == 1
    again = LiveServer(home, ServerConfig()).start()
    try:
        health = httpx.get(f"{again.url}/healthz").json()
        assert health["status"] == "ok", health
        answer = httpx.post(
            f"{again.url}/v1/models/m/predict", json={"dataframe_records": [{"a": 1, "b": 2}]}
        )
        assert answer.status_code == 200, answer.text
    finally:
        again.stop()
