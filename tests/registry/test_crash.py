"""A push killed with SIGKILL leaves no version, no half-visible artifact, and no gap."""

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

# The model's own pickling pauses the push mid-serialization: a real, slow __getstate__
# (think of a model holding a large buffer), not a hook in deploykit.
KILLED_DURING_SERIALIZATION = """
import sys, time
from pathlib import Path
from sklearn.linear_model import LogisticRegression
from deploykit.registry import Registry

class Slow(LogisticRegression):
    def __getstate__(self):
        Path(sys.argv[1]).touch()  # serialization has begun
        time.sleep(60)
        return super().__getstate__()

model = Slow().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
with Registry() as reg:
    reg.push(model, "churn")
"""

# Killed after the artifact is stored, while the commit waits for the database.
KILLED_BEFORE_COMMIT = """
from sklearn.linear_model import LogisticRegression
from deploykit.registry import Registry

model = LogisticRegression(C=0.25).fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
with Registry() as reg:
    reg.push(model, "churn")
"""


def objects(home: Path) -> list[Path]:
    return sorted(p for p in (home / "artifacts" / "sha256").rglob("*") if p.is_file())


def assert_every_visible_object_is_whole(home: Path) -> None:
    for path in objects(home):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert path.parent.name + path.name == digest, f"{path} does not match its name"


def run_until(script: str, tmp_path: Path, ready) -> subprocess.Popen:
    path = tmp_path / "child.py"
    path.write_text(script)
    child = subprocess.Popen(
        [sys.executable, str(path), str(tmp_path / "marker")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not ready():
        assert child.poll() is None, child.stderr.read().decode()
        assert time.monotonic() < deadline, "the child never reached the kill point"
        time.sleep(0.02)
    return child


def kill(child: subprocess.Popen) -> None:
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    child.stdout.close()
    child.stderr.close()
    assert child.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_sigkill_during_serialization_leaves_no_version(reg, model, deploykit_home, tmp_path):
    reg.push(model, "churn")
    child = run_until(KILLED_DURING_SERIALIZATION, tmp_path, (tmp_path / "marker").exists)
    kill(child)

    assert [v.version for v in reg.versions("churn")] == [1]
    assert [e.action for e in reg.events()] == ["push"]
    assert_every_visible_object_is_whole(deploykit_home)
    assert reg.push(model, "churn", description="after the crash").version == 2


@pytest.mark.slow
def test_sigkill_between_artifact_and_commit_leaves_no_version(
    reg, model, deploykit_home, tmp_path
):
    reg.push(model, "churn")
    stored_before = objects(deploykit_home)
    # Hold the database's write lock, as a long transaction elsewhere would.
    blocker = sqlite3.connect(deploykit_home / "registry.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        child = run_until(
            KILLED_BEFORE_COMMIT,
            tmp_path,
            lambda: len(objects(deploykit_home)) > len(stored_before),
        )
        time.sleep(0.3)  # the child is now waiting for the lock inside its commit
        kill(child)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()

    assert [v.version for v in reg.versions("churn")] == [1]
    assert len(reg.events()) == 1
    assert_every_visible_object_is_whole(deploykit_home)  # stored whole, just unreferenced
    assert reg.push(model, "churn").version == 2
    assert reg.model("churn").latest_version == 2
