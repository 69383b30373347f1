"""Evidently in its own virtualenv (bench/.venv-evidently), created on first use.

Its pins are not ours: Evidently 0.7.23 needs pandas < 3. The benchmarks run it as
a subprocess with that venv's Python and read back JSON.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
VENV = BENCH / ".venv-evidently"
EVIDENTLY = "evidently==0.7.23"
PINS = ["pandas<3"]


def python() -> Path:
    """The venv's Python, creating the venv and installing Evidently if needed."""
    exe = VENV / "bin" / "python"
    if exe.exists():
        check = subprocess.run([str(exe), "-c", "import evidently"], capture_output=True)
        if check.returncode == 0:
            return exe
    print(f"creating {VENV} with {EVIDENTLY} (a few minutes, once)", file=sys.stderr)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(exe), "-m", "pip", "install", "-q", EVIDENTLY, *PINS], check=True)
    return exe


def version() -> str:
    out = subprocess.run(
        [str(python()), "-c", "import evidently; print(evidently.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()
