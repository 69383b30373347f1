"""Start and stop a real ``jupyter lab`` for the browser tests, loading this checkout's build.

The labextension Jupyter finds first wins. An installed deploykit (or a ``develop`` link)
may point at another checkout's build, so :func:`data_dir` puts this checkout's
``deploykit/labextension`` first on ``JUPYTER_PATH`` when it is built: the browser tests
check the code next to them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("DEPLOYKIT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
BUILD = REPO / "deploykit" / "labextension"


def data_dir(root: Path) -> Path:
    """A Jupyter data folder holding a link to this checkout's labextension build."""
    folder = root / "data"
    (folder / "labextensions").mkdir(parents=True, exist_ok=True)
    link = folder / "labextensions" / "deploykit-labextension"
    if (BUILD / "static" / "style.js").exists() and not link.exists():
        link.symlink_to(BUILD, target_is_directory=True)
    return folder


def lab_environment(root: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Lab's environment: its config and state under ``root``; no DEPLOYKIT_* inherited
    (only the Jupyter configuration may say where deploykit is)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYKIT_")}
    paths = [str(data_dir(root)), env.get("JUPYTER_PATH", "")]
    env.update(
        {
            "JUPYTER_CONFIG_DIR": str(root / "config"),
            "JUPYTER_PATH": os.pathsep.join(p for p in paths if p),
            "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(root / "settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(root / "workspaces"),
            # a push that ignored the Lab's configuration would land here, not on the server
            "DEPLOYKIT_HOME": str(root / "kernel-home"),
        }
    )
    env.update(extra or {})
    return env


def write_base_config(root: Path) -> None:
    """No "get Jupyter news?" toast over the page."""
    (root / "config" / "labconfig").mkdir(parents=True, exist_ok=True)
    (root / "notebooks").mkdir(exist_ok=True)
    announcements = {"@jupyterlab/apputils-extension:announcements": True}
    (root / "config" / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": announcements})
    )


def server_config_py(port: int, token: str, root: Path, lab: Mapping[str, object]) -> str:
    """A ``jupyter_server_config.py`` as a user writes it, with ``c.DeployKitLab`` settings."""
    lines = [
        "c.ServerApp.allow_root = True",
        "c.ServerApp.ip = '127.0.0.1'",
        f"c.ServerApp.port = {port}",
        "c.ServerApp.port_retries = 0",
        "c.ServerApp.open_browser = False",
        f"c.ServerApp.root_dir = {str(root / 'notebooks')!r}",
        f"c.IdentityProvider.token = {token!r}",
        "c.LabApp.expose_app_in_browser = True",
        "c.LabApp.news_url = None",
    ]
    lines += [f"c.DeployKitLab.{key} = {value!r}" for key, value in lab.items()]
    return "\n".join(lines) + "\n"


@contextmanager
def running_lab(root: Path, port: int, token: str, env: Mapping[str, str]) -> Iterator[str]:
    """``jupyter lab`` with the config under ``root``; yields its base URL once it answers."""
    log = open(root / "lab.log", "ab")  # noqa: SIM115  (the child writes it)
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=dict(env),
        start_new_session=True,
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            tail = (root / "lab.log").read_text(errors="replace")[-3000:]
            assert proc.poll() is None, tail
            assert time.monotonic() < deadline, tail
            try:
                if httpx.get(f"{url}/api/status?token={token}", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()  # Jupyter shuts its kernels down on SIGTERM
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
