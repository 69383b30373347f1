"""The test server does not outlive the process that started it (a test run killed with
SIGKILL used to leave a 3-worker server running for an hour)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

_STARTER = """
import sys, time
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer
from deploykit.settings import Settings
settings = Settings.from_env({"DEPLOYKIT_HOME": sys.argv[1], "DEPLOYKIT_FSYNC": "0"})
server = LiveServer(settings, ServerConfig(workers=2)).start()
print(server.url, flush=True)
time.sleep(600)
"""


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False


def test_a_server_stops_when_the_process_that_started_it_is_killed(tmp_path: Path) -> None:
    starter = subprocess.Popen(
        [sys.executable, "-c", _STARTER, str(tmp_path / "home")],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert starter.stdout is not None
        url = starter.stdout.readline().decode().strip()
        assert url.startswith("http://127.0.0.1:"), url
        assert _answers(url)
        os.kill(starter.pid, signal.SIGKILL)  # no stop(), no atexit: the server is orphaned
        starter.wait(timeout=10)
        deadline = time.monotonic() + 30
        while _answers(url) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _answers(url), "the orphaned server still answers after 30 s"
    finally:
        if starter.poll() is None:
            starter.kill()
        if starter.stdout is not None:
            starter.stdout.close()
