"""Where the console lives and what Voila is asked to run (the browser test runs it)."""

from __future__ import annotations

import json
from pathlib import Path

from deploykit.console import console_url, notebook_path
from deploykit.console.serve import voila_command

REPO = Path(__file__).resolve().parents[2]


def test_the_console_url_follows_the_server_host_unless_set():
    assert console_url() == "http://127.0.0.1:8766/console/"
    assert console_url("http://models.lan:8765") == "http://models.lan:8766/console/"
    assert console_url("http://[::1]:8765", port=9000) == "http://[::1]:9000/console/"
    env = {"DEPLOYKIT_CONSOLE_URL": "https://deploy.example.com/console"}
    assert console_url("http://x:8765", environ=env) == "https://deploy.example.com/console/"


def test_the_notebook_ships_in_the_package_and_stays_thin():
    path = notebook_path()
    assert path.parent == REPO / "deploykit" / "console"
    nb = json.loads(path.read_text())
    code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    lines = [line for line in code.splitlines() if line.strip() and not line.startswith("#")]
    assert lines == [
        "from deploykit.console import Console",
        "console = Console.from_env().show()",
    ]
    # notebooks/console.ipynb, the one a repository checkout opens, is the same file
    assert (REPO / "notebooks" / "console.ipynb").resolve() == path.resolve()


def test_voila_runs_the_notebook_under_console_with_the_lab_extension_denied():
    command = voila_command(
        port=9123, notebook=Path("/x/console.ipynb"), server_url="http://models.lan:8765"
    )
    # Voila with the console's sign-in, kernel ownership and culling
    assert command[1:4] == ["-m", "deploykit.console.voila_app", "/x/console.ipynb"]
    assert "--ConsoleIdentityProvider.server_url=http://models.lan:8765" in command
    assert "--ConsoleKernelManager.cull_idle_timeout=120" in command
    assert not [part for part in command if "token" in part.lower()]
    assert "--port=9123" in command
    assert "--Voila.port_retries=0" in command  # a busy port fails instead of moving
    assert "--Voila.base_url=/console/" in command
    assert '--VoilaConfiguration.extension_denylist=["deploykit-labextension"]' in command
    assert "--preheat_kernel=True" in command
    assert "--preheat_kernel=False" in voila_command(port=1, preheat=False)
