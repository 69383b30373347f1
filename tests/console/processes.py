"""Process trees for the console tests: what `deploykit console` started, and stopping it all.

Voila runs in a session of its own and each kernel in a process group of its own, so a
test finds them as descendants (Linux /proc) and checks that none outlives the command.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, grandchildren...), from /proc."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*/children"):
            with contextlib.suppress(OSError, ValueError):
                kids = [int(p) for p in task.read_text().split()]
                found += kids
                todo += kids
    return found


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its parent counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_gone(pids: list[int], seconds: float = 20) -> list[int]:
    """The ``pids`` still running after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = [p for p in pids if alive(p)]
        if not left:
            return []
        time.sleep(0.2)
    return [p for p in pids if alive(p)]


def stop_tree(proc: subprocess.Popen[bytes], timeout: float = 30) -> str:
    """SIGTERM ``proc`` (`kill`, which works where Ctrl+C is ignored) and return its output;
    if it hangs, SIGKILL it and everything it started, so no test leaves Voila behind."""
    below = descendants(proc.pid)
    proc.send_signal(signal.SIGTERM)
    try:
        out = proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        for pid in [proc.pid, *descendants(proc.pid), *below]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        out = proc.communicate()[0]
    for pid in wait_gone(below, 10):  # whatever the command left, the test does not
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return (out or b"").decode(errors="replace")
