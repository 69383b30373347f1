"""Eight real processes pushing to one model at once, on a database none of them created."""

import json
import subprocess
import sys
import time

import pytest

from deploykit.registry import Registry

WORKER = """
import json, sys, time
from pathlib import Path

from sklearn.linear_model import LogisticRegression
from deploykit.registry import Registry

go, pushes, seed = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
model = LogisticRegression(C=1.0 + seed).fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
while not go.exists():  # start together: the first open and the first push race
    time.sleep(0.005)
with Registry() as reg:
    numbers = [reg.push(model, "churn", description=f"worker {seed}").version
               for _ in range(pushes)]
print(json.dumps(numbers))
"""

PROCESSES = 8
PUSHES = 3


@pytest.mark.slow
def test_concurrent_pushes_get_distinct_consecutive_versions_and_lose_none(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    go = tmp_path / "go"
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(go), str(PUSHES), str(seed)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in range(PROCESSES)
    ]
    time.sleep(1.0)  # let the interpreters import; stragglers simply join late
    go.touch()
    numbers = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        numbers += json.loads(out)

    total = PROCESSES * PUSHES
    assert sorted(numbers) == list(range(1, total + 1))
    with Registry() as reg:
        versions = reg.versions("churn")
        assert [v.version for v in versions] == list(range(1, total + 1))
        assert {v.description for v in versions} == {f"worker {s}" for s in range(PROCESSES)}
        assert len(reg.events("churn", action="push")) == total
        assert reg.model("churn").latest_version == total
        # Each process's model is stored once, however many times it was pushed.
        assert len({v.digest for v in versions}) == PROCESSES
