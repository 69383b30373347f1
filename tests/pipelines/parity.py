"""Run an exported entrypoint as the image would: ``python serve.py``, in a venv without deploykit.

No network here, so the "fresh venv" borrows this environment's site-packages by a
plain path line (a ``.pth`` line adds the folder but does not run the ``.pth`` files in
it, so deploykit's editable install is not seen): the model's libraries at the versions
pushed, and no deploykit, as in the image.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import httpx

from deploykit.server.testing import free_port


def borrowed_venv(folder: Path) -> str:
    """A new venv whose only packages are this environment's site-packages, minus deploykit."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120
    )
    python = str(folder / "bin" / "python")
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True, timeout=60, env=_clean_env(),
    ).stdout.strip()  # fmt: skip
    Path(site, "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    probe = subprocess.run(
        [python, "-c", "import deploykit"],
        capture_output=True, cwd=folder, env=_clean_env(), timeout=60,
    )  # fmt: skip
    assert probe.returncode != 0, "the venv must not see deploykit"
    return python


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


class Entrypoint:
    """``python serve.py`` in the context folder, on a free loopback port."""

    def __init__(self, context: Path, python: str = sys.executable) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**_clean_env(), "PORT": str(self.port), "HOST": "127.0.0.1", "LOG_LEVEL": "warning"}
        self.proc = subprocess.Popen(
            [python, "serve.py"], cwd=context, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(self.proc.stdout.read().decode() if self.proc.stdout else "")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        raise AssertionError("serve.py did not answer /healthz in 90 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
