"""The README's examples run (issue 14): every fenced block after a ``<!-- readme-test: ...
-->`` line is executed against what ``deploykit up`` starts, on free ports with a home of its
own, and the predict command the banner prints is the README's, character for character.

The README is written for the defaults (port 8765, ``~/.deploykit``); the test puts its own
port and home in their place and changes nothing else.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deploykit.server.testing import free_port

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"<!-- readme-test:[^>]*-->\s*\n```(\w+)\n(.*?)\n```", re.DOTALL)


def readme_blocks() -> list[tuple[str, str]]:
    """(language, code) of the README's blocks marked for testing, in order."""
    return [(m.group(1), m.group(2)) for m in _BLOCK.finditer(README.read_text())]


def test_the_readme_marks_its_runnable_examples():
    languages = [language for language, _ in readme_blocks()]
    assert languages == ["bash", "python"]


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """`deploykit up` as a newcomer starts it (the console aside: its own tests run it)."""
    home = tmp_path_factory.mktemp("readme") / "home"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYKIT_")}
    env.update({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0", "COLUMNS": "80"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "deploykit", "up", "--port", str(port), "--no-console"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    banner: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # the banner comes once the server answers
            banner.append(line.rstrip("\n"))
            if line.startswith("Ctrl+C stops."):
                break
        assert banner[-1:] == ["Ctrl+C stops."], "\n".join(banner)
        yield {"url": f"http://127.0.0.1:{port}", "home": str(home), "banner": "\n".join(banner)}
    finally:
        proc.terminate()  # uvicorn stops on SIGTERM as on Ctrl+C
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def _localize(code: str, up: dict[str, str]) -> str:
    return code.replace("http://127.0.0.1:8765", up["url"]).replace("$HOME/.deploykit", up["home"])


def test_the_banner_prints_the_readme_predict_command(up):
    (curl,) = [c for lang, c in readme_blocks() if lang == "bash"]
    predict = next(line for line in up["banner"].splitlines() if line.startswith("predict"))
    assert predict.split(None, 1)[1] == _localize(curl, up)
    assert "demo-breast-cancer (production = version 2, 30 columns)" in up["banner"]


def test_the_readme_curl_gets_predictions_from_the_demo_model(up):
    (curl,) = [c for lang, c in readme_blocks() if lang == "bash"]
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", _localize(curl, up)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["model"] == "demo-breast-cancer"
    assert answer["version"] == 2
    assert answer["predictions"] == [0, 0]  # the first two rows are malignant (class 0)


def test_the_readme_python_example_runs(up):
    (code,) = [c for lang, c in readme_blocks() if lang == "python"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYKIT_")}
    env["DEPLOYKIT_HOME"] = up["home"]
    done = subprocess.run(
        [sys.executable, "-c", _localize(code, up)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2 [0, 0, 0]"


def test_the_banner_models_command_answers(up):
    line = next(x for x in up["banner"].splitlines() if x.startswith("models"))
    done = subprocess.run(
        ["bash", "-c", line.split(None, 1)[1]], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert [m["name"] for m in json.loads(done.stdout)] == ["demo-breast-cancer"]
    assert httpx.get(f"{up['url']}/healthz").status_code == 200
