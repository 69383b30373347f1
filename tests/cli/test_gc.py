"""``deploykit gc``: what SIGKILLed pushes leave behind is collected, every referenced blob
is kept, and a push caught between storing its blob and committing its version keeps it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sklearn.linear_model import LogisticRegression

from deploykit.cli import main
from deploykit.errors import PickleWarning
from deploykit.registry import Registry

SLOW_PICKLE = """
import sys, time
from pathlib import Path
from sklearn.linear_model import LogisticRegression
from deploykit.registry import Registry

class Slow(LogisticRegression):
    def __getstate__(self):
        Path(sys.argv[1]).touch()  # serialization has begun: the .part file exists
        time.sleep(60)
        return super().__getstate__()

with Registry() as reg:
    reg.push(Slow().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1]), "churn")
"""

PLAIN_PUSH = """
import sys
from sklearn.linear_model import LogisticRegression
from deploykit.registry import Registry

with Registry() as reg:
    version = reg.push(LogisticRegression(C=float(sys.argv[1])).fit(
        [[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1]), "churn")
print(version.version)
"""

HOUR = 3600.0


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in list(os.environ):
        if key.startswith("DEPLOYKIT_"):
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    monkeypatch.setenv("DEPLOYKIT_HOME", str(home))
    monkeypatch.setenv("DEPLOYKIT_FSYNC", "0")
    monkeypatch.setenv("DEPLOYKIT_ACTOR", "tester")
    return home


@pytest.fixture
def reg(home: Path) -> Iterator[Registry]:
    with Registry() as registry, warnings.catch_warnings():
        warnings.simplefilter("ignore", PickleWarning)
        for c in (1.0, 0.5):
            model = LogisticRegression(C=c).fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
            registry.push(model, "churn")
        yield registry


def blobs(home: Path) -> set[Path]:
    return {p for p in (home / "artifacts" / "sha256").rglob("*") if p.is_file()}


def parts(home: Path) -> list[Path]:
    return list((home / "artifacts" / "tmp").glob("*.part"))


def age(paths: set[Path] | list[Path], seconds: float) -> None:
    when = time.time() - seconds
    for path in paths:
        os.utime(path, (when, when))


def child(script: str, tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    path = tmp_path / "child.py"
    path.write_text(script)
    return subprocess.Popen(
        [sys.executable, str(path), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def wait_for(ready: Callable[[], bool], proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while not ready():
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "the child never got there"
        time.sleep(0.02)


def kill(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()


def gc(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(["gc", *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def load_every_version(home: Path) -> list[int]:
    with Registry() as fresh:
        for version in fresh.versions("churn"):
            fresh.load("churn", version.version)  # digest-checked: every byte is there
        return [v.version for v in fresh.versions("churn")]


@pytest.mark.slow
def test_gc_collects_what_killed_pushes_left(
    reg: Registry, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    referenced = blobs(home)
    # Killed mid-serialization: a .part file stays behind.
    marker = tmp_path / "marker"
    proc = child(SLOW_PICKLE, tmp_path, str(marker))
    wait_for(marker.exists, proc)
    kill(proc)
    # Killed after its blob was stored, before the version committed: an orphan blob.
    blocker = sqlite3.connect(home / "registry.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        proc = child(PLAIN_PUSH, tmp_path, "0.125")
        wait_for(lambda: len(blobs(home)) > len(referenced), proc)
        time.sleep(0.3)  # waiting for the database lock inside its commit
        kill(proc)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    [orphan] = blobs(home) - referenced
    [part] = parts(home)
    freed = orphan.stat().st_size + part.stat().st_size

    # Young leftovers could be a push in progress: the default hour keeps them.
    code, out, err = gc(capsys)
    assert code == 0, err
    assert "removed 0 unreferenced blob(s), 0 dead .part file(s)" in out
    assert "2 item(s) younger than 3600 s" in out
    assert orphan.exists()
    assert part.exists()

    age([orphan, part, *referenced], 2 * HOUR)
    code, out, _ = gc(capsys, "--dry-run")
    assert code == 0
    assert f"would remove blob sha256:{orphan.parent.name}{orphan.name}" in out
    assert orphan.exists()
    assert part.exists()

    code, out, _ = gc(capsys, "--json")
    assert code == 0
    report = json.loads(out)
    assert sorted(r["kind"] for r in report["removed"]) == ["blob", "part"]
    assert report["bytes_freed"] == freed
    assert report["referenced"] == len(referenced)
    assert not orphan.exists()
    assert not part.exists()
    assert blobs(home) == referenced
    assert load_every_version(home) == [1, 2]

    code, out, _ = gc(capsys)  # nothing left to do
    assert "removed 0 unreferenced blob(s), 0 dead .part file(s); 0 B freed" in out


@pytest.mark.slow
def test_a_push_between_blob_and_commit_keeps_its_blob(
    reg: Registry, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    referenced = blobs(home)
    age(referenced, 2 * HOUR)
    blocker = sqlite3.connect(home / "registry.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        proc = child(PLAIN_PUSH, tmp_path, "0.0625")
        wait_for(lambda: len(blobs(home)) > len(referenced), proc)
        code, out, _ = gc(capsys)  # runs while the push waits to commit
        assert code == 0, out
        assert "1 item(s) younger" in out
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr.decode()
    assert stdout.decode().strip() == "3"
    assert load_every_version(home) == [1, 2, 3]


def test_pushing_bytes_again_makes_an_old_orphan_young(reg: Registry, home: Path) -> None:
    stored = reg.artifacts.write(lambda f: f.write(b"the same bytes, twice"))
    path = reg.artifacts.local_path(stored.digest)
    age([path], 2 * HOUR)
    again = reg.artifacts.write(lambda f: f.write(b"the same bytes, twice"))
    assert again.existed
    assert time.time() - path.stat().st_mtime < 60  # a gc now would keep it


def test_gc_refuses_a_store_the_database_does_not_know(
    reg: Registry, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    # Another database (empty) pointed at this store: every blob looks unreferenced.
    monkeypatch.setenv("DEPLOYKIT_DATABASE_URL", f"sqlite:///{tmp_path / 'other.db'}")
    monkeypatch.setenv("DEPLOYKIT_ARTIFACTS_URL", str(home / "artifacts"))
    before = blobs(home)
    age(before, 2 * HOUR)
    code, _, err = gc(capsys)
    assert code == 1
    assert "references none of the 2 artifact(s)" in err
    assert "--force" in err
    assert blobs(home) == before
    code, _, err = gc(capsys, "--older-than", "soon")
    assert code == 1
    assert "--older-than must be a duration" in err
