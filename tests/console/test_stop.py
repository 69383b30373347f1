"""`deploykit console` stops on SIGTERM and takes Voila and its kernels with it, also when
started with SIGINT ignored, as a background job of a non-interactive shell is (issue 14:
such a run never got the test's Ctrl+C and left Voila and two kernels orphaned)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from deploykit.server.testing import free_port
from tests.console.processes import alive, descendants, stop_tree, wait_gone

pytestmark = pytest.mark.slow


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_console_started_with_sigint_ignored_stops_on_sigterm_and_leaves_nothing(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYKIT_")}
    env["DEPLOYKIT_HOME"] = str(tmp_path / "home")
    nowhere = f"http://127.0.0.1:{free_port()}"  # the page says the server is down; fine here
    proc = subprocess.Popen(
        [sys.executable, "-m", "deploykit", "console", "--port", str(port), "--server", nowhere],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=_ignore_sigint,
    )
    url = f"http://127.0.0.1:{port}/console/"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None
            assert time.monotonic() < deadline, "the console never answered"
            try:
                if httpx.get(f"{url}voila/static/voila.js", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        # Voila preheats a kernel before anyone visits (a visit needs a signed-in visitor,
        # hence a server, which this test does without): Voila and one kernel to stop
        deadline = time.monotonic() + 60
        while len(descendants(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        started = descendants(proc.pid)
        assert len(started) >= 2, started  # Voila and its preheated kernel

        proc.send_signal(signal.SIGINT)  # ignored, as in a background job
        time.sleep(1.5)
        assert proc.poll() is None
    except BaseException:
        stop_tree(proc)
        raise
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=40)[0].decode()
    assert proc.returncode == 0, out
    assert wait_gone(started) == [], [p for p in started if alive(p)]
    with pytest.raises(httpx.TransportError):
        httpx.get(url, timeout=1)
