"""Serve the console with Voila: ``deploykit console`` and ``deploykit up`` call :func:`serve`.

    with serve(settings, port=8766, server_url="http://127.0.0.1:8765") as console:
        print(console.url)          # http://127.0.0.1:8766/console/ (visitors sign in)
        console.wait()

The notebook Voila runs ships inside the package (``deploykit/console/console.ipynb``),
so an installed deploykit finds it; ``notebooks/console.ipynb`` in the repository is a
symlink to it.

Voila runs as :mod:`deploykit.console.voila_app`: every visitor signs in with their own
deploykit token, which the server vouches for; the console holds no token of its own and
its kernels start with none (``DEPLOYKIT_TOKEN`` is withheld). The kernel a page takes
acts with its visitor's token, so the server applies that token's role and the audit log
names that token. ``ConsoleProcess.sign_in_url(token)`` is the one-click link
``deploykit up`` prints for its operator.

The console lives under ``/console/`` so that one reverse proxy can put it beside the API
on one host. Kernels are preheated: Voila starts one and runs the notebook's imports
before anyone asks; it then waits for a visitor (see :mod:`deploykit.console.visit`).
A kernel no browser has been connected to for ``cull_seconds`` is shut down.

The page comes from the ``deploykit`` Voila template (``share/voila/templates/deploykit``,
on ``JUPYTER_PATH`` for Voila only): Voila's lab template without its Font Awesome CDN links
(voila.js bundles the fonts), scrolling as one page. The browser console still logs
"Unsatisfied version 4.2.5 ... (required ^4.6.2)" warnings: ipywidgets' Lab manager and
Voila's own widgets-manager8 were built against a newer JupyterLab than the 4.2.5 inside
Voila 0.5; webpack falls back to the 4.2.5 singletons and everything works. Loading only
the extensions the page needs does not help (both are needed: widgets stop rendering without
either), so they stay until Voila ships a newer JupyterLab.

This module imports neither Voila nor ipywidgets: it starts a process.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from deploykit.errors import ConfigurationError, StorageError
from deploykit.settings import Settings
from deploykit.ui.addresses import (
    CONSOLE_PATH,
    CONSOLE_PORT,
    DEFAULT_SERVER_URL,
    console_url,
)

__all__ = [
    "BASE_URL",
    "DEFAULT_PORT",
    "ConsoleProcess",
    "console_url",
    "notebook_path",
    "serve",
    "voila_command",
]

DEFAULT_PORT = CONSOLE_PORT
BASE_URL = CONSOLE_PATH
#: a console kernel no browser has watched for this long is shut down
DEFAULT_CULL_SECONDS = 120
#: Lab extensions Voila must not load: deploykit's own sidebar needs JupyterLab itself.
EXTENSION_DENYLIST = ("deploykit-labextension",)
#: The page template (``share/voila/templates/deploykit``): Voila's lab template with no CDN
#: request and a page that scrolls as one.
TEMPLATE = "deploykit"


def notebook_path() -> Path:
    """The console notebook shipped in the package."""
    path = Path(str(resources.files("deploykit.console") / "console.ipynb"))
    if not path.is_file():
        raise ConfigurationError(
            f"The console notebook is missing from the installed package ({path}). "
            "Reinstall deploykit: pip install --force-reinstall 'deploykit[console]'."
        )
    return path


def template_root() -> Path:
    """The folder to put on ``JUPYTER_PATH`` for Voila to find the console's template."""
    return Path(str(resources.files("deploykit.console") / "share"))


_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+")


def frame_ancestors_policy(origins: Sequence[str]) -> str:
    """The CSP that lets pages of ``origins`` (a JupyterLab, say) show the console in a frame;
    by default Jupyter's pages allow only their own origin ('self')."""
    checked = []
    for origin in origins:
        value = origin.strip().rstrip("/")
        if not _ORIGIN.fullmatch(value):
            raise ConfigurationError(
                "Each 'frame_ancestors' entry must be an origin such as http://127.0.0.1:8888 "
                f"(scheme, host and port; no path). Got {origin!r} instead."
            )
        checked.append(value)
    return "frame-ancestors 'self' " + " ".join(checked)


def voila_command(
    *,
    port: int,
    host: str = "127.0.0.1",
    preheat: bool = True,
    notebook: Path | None = None,
    server_url: str = DEFAULT_SERVER_URL,
    cull_seconds: int = DEFAULT_CULL_SECONDS,
    config: Mapping[str, Any] | None = None,
    frame_ancestors: Sequence[str] = (),
) -> list[str]:
    """The Voila command line that serves the console notebook (with sign-in); ``config``
    adds traitlets options, e.g. ``{"ConsoleKernelManager.max_kernels": 50}``."""
    denylist = "[" + ",".join(f'"{name}"' for name in EXTENSION_DENYLIST) + "]"
    extra = [f"--{key}={value}" for key, value in (config or {}).items()]
    framing = []
    if frame_ancestors:
        policy = frame_ancestors_policy(frame_ancestors)
        settings = {"headers": {"Content-Security-Policy": policy}}
        framing = [f"--Voila.tornado_settings={json.dumps(settings)}"]
    return [
        sys.executable,
        "-m",
        "deploykit.console.voila_app",
        str(notebook or notebook_path()),
        f"--port={port}",
        "--Voila.port_retries=0",  # a busy port is an error, not a console somewhere else
        "--no-browser",
        f"--Voila.ip={host}",
        f"--Voila.base_url={BASE_URL}",
        f"--VoilaConfiguration.extension_denylist={denylist}",
        f"--template={TEMPLATE}",  # found through JUPYTER_PATH, see serve()
        f"--preheat_kernel={preheat}",
        "--pool_size=1",
        "--show_tracebacks=False",
        f"--ConsoleIdentityProvider.server_url={server_url}",
        f"--ConsoleKernelManager.cull_idle_timeout={cull_seconds}",
        f"--ConsoleKernelManager.cull_interval={max(1, min(30, cull_seconds // 4 or 1))}",
        *extra,
        *framing,
    ]


class ConsoleProcess:
    """A running Voila serving the console: ``url``, ``wait_ready()``, ``stop()``."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, log_path: Path | None) -> None:
        self.process = process
        self.url = url
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    def sign_in_url(self, token: str) -> str:
        """The page with ``?token=``: one click signs its holder in (then the token leaves
        the address bar). For the operator's own terminal only: never log it elsewhere."""
        return f"{self.url}?token={quote(token, safe='')}"

    def logs(self) -> str:
        if self.log_path is None:
            return ""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_ready(self, timeout: float = 60.0) -> ConsoleProcess:
        """Return once Voila answers HTTP (a cheap static file, not the page: that would use
        up the preheated kernel)."""
        probe = f"{self.url}voila/static/voila.js"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StorageError(
                    f"The console (Voila) exited with status {self.process.returncode}:\n"
                    f"{self.logs()[-3000:]}"
                )
            try:
                if httpx.get(probe, timeout=2.0).status_code < 500:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise StorageError(f"The console did not answer on {self.url} in {timeout:g} s.")

    def wait(self) -> int:
        """Block until Voila exits; its exit status."""
        return self.process.wait()

    def stop(self) -> None:
        """Stop Voila; it shuts its kernels down. If it hangs, kill it and its kernels (each
        kernel runs in a process group of its own, so they are found as its children)."""
        if self.process.poll() is not None:
            return
        kernels = _children(self.process.pid)
        try:
            self.process.terminate()
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            for pid in [self.process.pid, *kernels]:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def __enter__(self) -> ConsoleProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"ConsoleProcess({self.url!r}, pid={self.pid})"


def _exit_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies (Linux), so a killed
    ``deploykit console`` does not leave Voila and its kernels running on their own."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _children(pid: int) -> list[int]:
    """Child process ids of ``pid`` (Linux /proc; empty elsewhere)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError, ValueError):
            found += [int(p) for p in task.read_text().split()]
    return found


def serve(
    settings: Settings,
    *,
    port: int = DEFAULT_PORT,
    server_url: str | None = None,
    host: str = "127.0.0.1",
    preheat: bool = True,
    log_path: Path | None = None,
    cull_seconds: int = DEFAULT_CULL_SECONDS,
    config: Mapping[str, Any] | None = None,
    frame_ancestors: Sequence[str] = (),
) -> ConsoleProcess:
    """Start Voila on the console notebook in its own process group; returns at once.

    ``server_url`` defaults to the settings' (then http://127.0.0.1:8765): the server that
    vouches for visitors' tokens and that their kernels talk to. The console gets no token
    (``DEPLOYKIT_TOKEN`` is removed from its environment). Voila's output goes to
    ``log_path`` (default: inherited, as ``deploykit up`` prints it). ``frame_ancestors``
    lists the origins (a JupyterLab's) allowed to show it in a frame.
    Call ``wait_ready()`` to block until it answers. On Linux, Voila gets SIGTERM when the
    thread that called this exits, so call it from the main thread of a long-lived process.
    """
    try:
        import voila  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "The console needs Voila, ipywidgets and plotly: pip install 'deploykit[console]'."
        ) from None
    server = (server_url or settings.server_url or DEFAULT_SERVER_URL).rstrip("/")
    env = {
        **os.environ,
        "DEPLOYKIT_HOME": str(settings.home),
        "DEPLOYKIT_SERVER_URL": server,
        "PYTHONUNBUFFERED": "1",
        # first on the path: Voila finds the console's template (template_root) there
        "JUPYTER_PATH": os.pathsep.join(
            p for p in (str(template_root()), os.environ.get("JUPYTER_PATH", "")) if p
        ),
    }
    env.pop("DEPLOYKIT_TOKEN", None)  # visitors bring their own; kernels get theirs only
    command = voila_command(
        port=port,
        host=host,
        preheat=preheat,
        server_url=server,
        cull_seconds=cull_seconds,
        config=config,
        frame_ancestors=frame_ancestors,
    )
    out = open(log_path, "ab") if log_path is not None else None  # noqa: SIM115
    try:
        process = subprocess.Popen(
            command,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT if out is not None else None,
            # its own session: a Ctrl+C in the terminal reaches the CLI, which stops it
            start_new_session=True,
            preexec_fn=_exit_with_parent if sys.platform == "linux" else None,
        )
    finally:
        if out is not None:
            out.close()
    shown = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::"):
        shown = "127.0.0.1"
    return ConsoleProcess(process, f"http://{shown}:{port}{BASE_URL}", log_path)
