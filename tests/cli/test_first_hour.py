"""What a newcomer meets in a shell (issue 14): help without artefacts, tables that stay
readable when piped at 80 columns, and a second `deploykit up` that says which port is busy
before it prints anything else."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deploykit.registry import Registry
from deploykit.server.testing import free_port
from deploykit.settings import Settings

LONG_REASON = (
    "alert 'drift': drift_share 0.3333 > 0.2 over the last 120 s (13844 rows) on "
    "demo-breast-cancer-with-a-long-name:2"
)


def _cli(
    *argv: str, home: Path, columns: int = 80, timeout: float = 60
) -> subprocess.CompletedProcess:
    """`deploykit ...` as a script or a pipe runs it: stdout is not a terminal."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYKIT_")}
    env.update({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0", "COLUMNS": str(columns)})
    return subprocess.run(
        [sys.executable, "-m", "deploykit", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def registry_home(tmp_path: Path) -> Path:
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    home = tmp_path / "home"
    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    model = LogisticRegression().fit(X, y)
    settings = Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"})
    with Registry(settings) as reg:
        name = "demo-breast-cancer-with-a-long-name"
        reg.push(model, name)
        reg.push(model, name)
        reg.deploy(name, 2, reason="first")
        reg.deploy(name, 1, alias="staging")
        reg.rollback(name, to=1, reason=LONG_REASON)
    return home


def test_help_shows_no_typer_artefacts(tmp_path):
    for argv in ([], ["up"], ["events"], ["deploy"], ["push"], ["token", "revoke"]):
        out = _cli(*argv, "--help", home=tmp_path).stdout
        assert "<bool>" not in out, (argv, out)  # flags take no value
        assert "{" not in out, (argv, out)  # typer's {name} for a required argument
    usage = _cli("deploy", "--help", home=tmp_path).stdout.splitlines()[0]
    assert usage == "Usage: deploykit deploy [OPTIONS] NAME VERSION"


def test_events_piped_at_80_columns_keep_names_whole_and_reasons_on_one_line(registry_home):
    result = _cli("events", home=registry_home)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    (rollback,) = [line for line in lines if " rollback " in line]
    assert "demo-breast-cancer-with-a-long-name" in rollback  # not cut to "demo-breas…"
    assert LONG_REASON in rollback  # the whole reason, on the event's own line
    assert "…" not in result.stdout
    # one line per event (4) plus the table's 4 rules and header
    assert len(lines) == 4 + 4 + 1


def test_models_shows_the_production_alias(registry_home):
    out = _cli("models", home=registry_home).stdout
    (row,) = [line for line in out.splitlines() if "demo-breast-cancer" in line]
    assert "production→1" in row
    assert "staging→1" in row


@pytest.mark.slow
def test_a_second_up_on_busy_ports_fails_at_once_naming_the_port_and_the_option(tmp_path):
    port, console_port = free_port(), free_port()
    for busy, option in ((port, "--port"), (console_port, "--console-port")):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", busy))
            taken.listen()
            started = time.monotonic()
            result = _cli(
                "up", "--port", str(port), "--console-port", str(console_port),
                home=tmp_path / "home", timeout=30,
            )  # fmt: skip
        assert time.monotonic() - started < 15  # no demo trained, no Voila started
        assert result.returncode == 1
        assert result.stderr.startswith(f"error: Port {busy} on 127.0.0.1 is already in use")
        assert f"{option} {busy + 10}" in result.stderr
        assert result.stdout == ""  # no banner, no token that the other server would refuse
        assert not (tmp_path / "home" / "token").exists()


@pytest.mark.parametrize("command", ["serve", "console"])
def test_serve_and_console_on_a_busy_port_say_so_in_one_line(tmp_path, command):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        result = _cli(command, "--port", str(busy), home=tmp_path / "home", timeout=30)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: Port {busy} on 127.0.0.1 is already in use")
    assert result.stderr.count("\n") == 1
