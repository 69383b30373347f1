"""A real server in a child process, on a free loopback port, for the demo and tests.

    with LiveServer(settings, ServerConfig(workers=2)) as server:
        client = deploykit.Client(server.url, token=server.token)

It runs exactly what ``deploykit serve`` runs (uvicorn, N workers), waits for
``/healthz`` and stops the process group on exit.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from deploykit._closing import Closing
from deploykit.errors import StorageError
from deploykit.server.config import ServerConfig
from deploykit.settings import Settings

__all__ = ["LiveServer", "free_port"]

# The server stops itself (its whole process group) once the process that started it is
# gone: a test run killed with SIGKILL must not leave a server and its workers behind.
_SCRIPT = """
import json, os, signal, sys, threading, time
from deploykit.server import ServerConfig, run
from deploykit.server.spec import settings_from_dict
spec = json.loads(sys.argv[1])
def stop_when_orphaned(parent=spec["parent"]):
    while os.getppid() == parent:
        time.sleep(1.0)
    os.killpg(0, signal.SIGTERM)
threading.Thread(target=stop_when_orphaned, daemon=True).start()
run(settings_from_dict(spec["settings"]), ServerConfig.from_dict(spec["config"]))
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer(Closing):
    """``deploykit serve`` in a subprocess; ``url`` and the local admin ``token`` once up."""

    def __init__(
        self,
        settings: Settings,
        config: ServerConfig | None = None,
        *,
        startup_timeout: float = 60.0,
    ) -> None:
        config = config or ServerConfig()
        if config.port == ServerConfig().port:
            config = config.replace(port=free_port())
        self.settings = settings
        self.config = config
        self.url = config.url
        self.token: str | None = None
        self._timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self.log_path = Path(settings.home) / f"server-{config.port}.log"

    def start(self) -> LiveServer:
        from deploykit.server.spec import settings_to_dict

        Path(self.settings.home).mkdir(parents=True, exist_ok=True)
        spec = json.dumps(
            {
                "settings": settings_to_dict(self.settings),
                "config": self.config.to_dict(),
                "parent": os.getpid(),
            }
        )
        # 0600, like everything else under the home (deploykit._files); owned by the child
        log = os.fdopen(os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _SCRIPT, spec],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() reaches every worker
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise StorageError(
                    f"The test server exited with {self._proc.returncode}:\n{self.logs()[-3000:]}"
                )
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            self.stop()
            raise StorageError(
                f"The test server did not start in {self._timeout} s:\n{self.logs()}"
            )
        token_file = Path(self.settings.home) / "token"
        self.token = token_file.read_text().strip() if token_file.exists() else None
        return self

    def logs(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def close(self) -> None:
        """:meth:`stop` (so ``with LiveServer(...) as server:`` stops it at the end)."""
        self.stop()

    def __enter__(self) -> LiveServer:
        return self.start()
