"""The ``deploykit`` command as a user types it: in-process for the registry commands,
a real subprocess for the long-running ``serve`` and ``up``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import joblib
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from deploykit.cli import main
from deploykit.server.testing import free_port
from tests.monitoring.logged import write_scored_log


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("DEPLOYKIT_HOME", str(home))
    monkeypatch.setenv("DEPLOYKIT_FSYNC", "0")
    monkeypatch.delenv("DEPLOYKIT_SERVER_URL", raising=False)
    monkeypatch.setenv("DEPLOYKIT_ACTOR", "ci-bot")
    return home


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    X, y = make_classification(n_samples=200, n_features=4, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    paths = {}
    for c in (1.0, 0.1):
        model = LogisticRegression(C=c).fit(frame, y)
        paths["strong" if c == 1.0 else "weak"] = tmp_path / f"model-{c}.joblib"
        joblib.dump(model, paths["strong" if c == 1.0 else "weak"])
    paths["data"] = tmp_path / "train.parquet"
    frame.to_parquet(paths["data"])
    paths["labelled"] = tmp_path / "test.parquet"
    frame.assign(churned=y).to_parquet(paths["labelled"])
    paths["notes"] = tmp_path / "notes.txt"
    paths["notes"].write_text("not a model")
    return paths


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = 0
    try:
        main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_push_deploy_rollback_round_trip(home, files, capsys):
    code, out, _ = run(capsys, "push", str(files["strong"]), "--name", "churn", "--data",
                       str(files["data"]))  # fmt: skip
    assert code == 0
    assert "Pushed churn:1" in out
    run(capsys, "push", str(files["weak"]), "--name", "churn", "--description", "weaker C")
    code, out, _ = run(capsys, "deploy", "churn", "1")
    assert code == 0
    assert "churn: production deployed to version 1" in out
    code, out, _ = run(capsys, "deploy", "churn", "2", "--reason", "try C=0.1")
    assert code == 0
    assert "production deployed to version 2 (was 1)" in out

    code, out, _ = run(capsys, "rollback", "churn", "--reason", "worse recall")
    assert code == 0
    assert "production rolled back to version 1 (was 2)" in out

    code, out, _ = run(capsys, "versions", "churn", "--json")
    versions = json.loads(out)
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[0]["aliases"] == ["production"]
    assert versions[0]["signature"]["inputs"][0]["name"] == "a"  # from --data
    assert versions[1]["description"] == "weaker C"

    code, out, _ = run(capsys, "events", "churn", "--json")
    events = json.loads(out)
    assert [e["action"] for e in events][:2] == ["rollback", "deploy"]
    assert events[0]["reason"] == "worse recall"
    assert events[0]["actor"] == "ci-bot"
    assert (events[0]["from_version"], events[0]["to_version"]) == (2, 1)

    code, out, _ = run(capsys, "versions", "churn")
    assert re.search(r"│ 1 .*production", out)
    code, out, _ = run(capsys, "models")
    assert "churn" in out


def test_events_show_an_alert_on_its_version_and_moves_as_moves(home, files, capsys):
    from deploykit.registry import Registry
    from deploykit.settings import Settings

    run(capsys, "push", str(files["strong"]), "--name", "churn", "--deploy")
    run(capsys, "push", str(files["weak"]), "--name", "churn")
    run(capsys, "deploy", "churn", "2")
    with Registry(Settings.from_env()) as reg:
        reg.record_alert("churn", "error_rate 0.31 > 0.05 over 300 s", version=2)
        reg.amend_card("churn", 1, {"limitations": "trained on 2025 only"})
    code, out, _ = run(capsys, "events", "churn")
    assert code == 0
    rows = [line for line in out.splitlines() if "│" in line]
    (alert,) = [r for r in rows if r.split("│")[3].strip() == "alert"]
    assert "on v2" in alert  # an alert moves nothing: the version it was about
    assert "→" not in alert
    (card,) = [r for r in rows if r.split("│")[3].strip() == "card"]
    assert "on v1" in card  # nor does a card's amendment
    assert "→" not in card
    deploys = [r for r in rows if r.split("│")[3].strip() == "deploy"]
    assert any("1 → 2" in r for r in deploys)  # a move still reads as one


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["versions", "chrun"], "No model named 'chrun'"),
        (["deploy", "churn", "9"], "has no version 9 (latest is 1)"),
        (["rollback", "churn"], "no alias 'production'"),
        (["push", "{notes}", "--name", "x"], "notes.txt"),
        (["push", "{strong}", "--name", "x", "--data", "{notes}"], "expected one of the suffixes"),
        (["push", "{strong}", "--name", "bad name!"], "name"),
    ],
)
def test_mistakes_print_one_line_and_exit_1(home, files, capsys, argv, message):
    run(capsys, "push", str(files["strong"]), "--name", "churn")
    argv = [a.format(**{k: str(v) for k, v in files.items()}) for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == 1
    assert err.startswith("error: ")
    assert message in err
    assert err.count("\n") == 1, err  # one line, no traceback
    assert "Traceback" not in err + out


def test_usage_errors_exit_2(home, capsys):
    code, _, err = run(capsys, "deploy", "churn")
    assert code == 2
    assert "Missing argument 'VERSION'" in err


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"{url} never became healthy")


def _stop(proc: subprocess.Popen[bytes]) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out.decode()


@pytest.mark.slow
def test_up_serves_the_demo_and_prints_a_working_token(tmp_path):
    port, console_port = free_port(), free_port()
    env = {**os.environ, "DEPLOYKIT_HOME": str(tmp_path / "home"), "DEPLOYKIT_FSYNC": "0"}
    env.pop("DEPLOYKIT_SERVER_URL", None)
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "deploykit", "up"),
            *("--port", str(port), "--console-port", str(console_port)),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        token = (tmp_path / "home" / "token").read_text().strip()
        models = httpx.get(f"{url}/v1/models", headers={"authorization": f"Bearer {token}"})
        assert models.status_code == 200
        (demo,) = models.json()
        assert demo["aliases"]["production"] == 2
        # the CLI, pointed at the server, sees the same registry through the HTTP client
        listed = subprocess.run(
            [sys.executable, "-m", "deploykit", "events", demo["name"], "--json"],
            env={**env, "DEPLOYKIT_SERVER_URL": url, "DEPLOYKIT_TOKEN": token},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listed.returncode == 0, listed.stderr
        assert [e["action"] for e in json.loads(listed.stdout)][:2] == ["deploy", "rollback"]
        console = f"http://127.0.0.1:{console_port}/console/"
        assert proc.stdout is not None
        banner = b""
        for line in proc.stdout:  # up to the banner's last line; the pipe stays open for _stop
            banner += line
            if b"Ctrl+C stops." in line:
                break
        # the banner comes once both answer: the console it names is serving, to a
        # signed-in visitor; its sign-in link works
        assert httpx.get(console, timeout=30).status_code == 302  # to the sign-in form
        with httpx.Client(follow_redirects=True, timeout=60) as browser:
            assert browser.get(f"{console}?token={token}").status_code == 200
    finally:
        rest = _stop(proc)
    out = banner.decode()
    assert f"server       {url}" in out
    assert f"console      {console}" in out
    # the token appears once, in the operator's sign-in link, and in no log
    assert [line for line in out.splitlines() if token in line] == [
        f"sign in      {console}?token={token}   (as the local admin)"
    ]
    assert token not in (tmp_path / "home" / "console.log").read_text()
    assert "[Voila]" not in out + rest  # Voila's chatter goes to its log, not the terminal


def test_push_with_a_gate_deploys_only_what_passes_and_fails_the_job_otherwise(home, files, capsys):
    labelled = ["--eval", str(files["labelled"]), "--target", "churned"]
    code, out, _ = run(capsys, "push", str(files["strong"]), "--name", "churn", *labelled,
                       "--gate", "roc_auc>=0.8", "--deploy")  # fmt: skip
    assert code == 0
    assert "Evaluated on 200 rows (binary)" in out
    assert re.search(r"roc_auc\W+0\.9\d+\W+0\.5000", out)  # beside the dummy baseline
    assert "gate passed (1/1); now in production" in out

    # a weaker model against production: stored for the record, not deployed, exit 1
    code, out, _ = run(capsys, "push", str(files["weak"]), "--name", "churn", *labelled,
                       "--gate", "roc_auc>=production+0.01", "--deploy")  # fmt: skip
    assert code == 1
    assert "Pushed churn:2" in out
    assert "gate failed: roc_auc" in out
    assert "not deployed, production is unchanged" in out
    code, out, _ = run(capsys, "versions", "churn", "--json")
    assert [v["aliases"] for v in json.loads(out)] == [["production"], []]


def test_push_gate_mistakes_are_one_line_errors(home, files, capsys):
    # a typo in the gate is heard first, before what else the command lacks
    code, _, err = run(
        capsys, "push", str(files["strong"]), "-n", "churn", "--gate", "roc_aux>=0.9"
    )
    assert code == 1
    assert err.startswith("error: Gate clause 1 'roc_aux>=0.9', at character 1: unknown metric")
    assert "did you mean 'roc_auc'" in err
    code, _, err = run(capsys, "push", str(files["strong"]), "-n", "churn", "--gate", "f1>0.5")
    assert (code, err.strip()) == (
        1,
        "error: --gate needs labelled data to be checked on: add --eval FILE --target COLUMN.",
    )
    code, _, err = run(capsys, "push", str(files["strong"]), "-n", "churn",
                       "--eval", str(files["labelled"]), "--target", "label")  # fmt: skip
    assert code == 1
    assert "--target 'label' is not a column of" in err
    assert "a, b, c, d, churned" in err
    code, _, err = run(capsys, "push", str(files["strong"]), "-n", "churn",
                       "--eval", str(files["labelled"]))  # fmt: skip
    assert "--eval and --target go together" in err
    code, _, err = run(capsys, "versions", "churn")  # nothing was pushed by a mistake
    assert (code, err.strip()) == (
        1,
        "error: No model named 'churn'; the registry has no models yet",
    )


def test_tokens_are_created_listed_and_revoked_without_showing_secrets(home, capsys):
    code, out, _ = run(capsys, "token", "create", "--role", "viewer", "--name", "alice")
    assert code == 0
    secret = out.strip()
    assert secret.startswith("dk_")
    code, out, _ = run(capsys, "token", "list", "--json")
    listed = json.loads(out)
    assert [(t["name"], t["role"], t["created_by"]) for t in listed] == [
        ("alice", "viewer", "ci-bot")
    ]
    assert secret not in out
    code, out, _ = run(capsys, "token", "revoke", str(listed[0]["id"]))
    assert (code, out.strip()) == (0, f"revoked token {listed[0]['id']} (alice, viewer)")
    code, out, _ = run(capsys, "token", "list")
    assert "alice" in out
    assert secret not in out
    code, _, err = run(capsys, "token", "revoke", "99")
    assert code == 1
    assert "No token with id 99. List tokens with 'deploykit token list'" in err
    code, _, err = run(capsys, "token", "create", "--role", "boss")
    assert code == 1
    assert "must be one of 'viewer', 'deployer', 'admin'. Got 'boss' instead." in err


@pytest.mark.slow
def test_serve_and_token_create(tmp_path, files):
    env = {**os.environ, "DEPLOYKIT_HOME": str(tmp_path / "home"), "DEPLOYKIT_FSYNC": "0"}
    env.pop("DEPLOYKIT_SERVER_URL", None)
    deployer = subprocess.run(
        [sys.executable, "-m", "deploykit", "token", "create", "--role", "deployer"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert deployer.returncode == 0, deployer.stderr
    secret = deployer.stdout.strip()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "deploykit", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        remote = {**env, "DEPLOYKIT_SERVER_URL": url, "DEPLOYKIT_TOKEN": secret}
        pushed = subprocess.run(
            [sys.executable, "-m", "deploykit", "push", str(files["strong"]), "--name", "m",
             "--data", str(files["data"]), "--deploy", "--json"],
            env=remote, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert pushed.returncode == 0, pushed.stderr
        assert json.loads(pushed.stdout)["aliases"] == ["production"]
        answer = httpx.post(
            f"{url}/v1/models/m/predict",
            json={"dataframe_split": {"columns": ["a", "b", "c", "d"], "data": [[0, 0, 0, 0]]}},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["version"] == 1
        viewer_denied = httpx.post(
            f"{url}/v1/models/m/rollback", headers={"authorization": "Bearer nonsense"}, json={}
        )
        assert viewer_denied.status_code == 401
        # An admin revokes the deployer token through the server; it stops working at once
        # on the worker that revoked it (the others within their few-second cache).
        admin = {**remote, "DEPLOYKIT_TOKEN": (tmp_path / "home" / "token").read_text().strip()}
        listed = subprocess.run(
            [sys.executable, "-m", "deploykit", "token", "list", "--json"],
            env=admin, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert listed.returncode == 0, listed.stderr
        deployer_id = next(t["id"] for t in json.loads(listed.stdout) if t["role"] == "deployer")
        revoked = subprocess.run(
            [sys.executable, "-m", "deploykit", "token", "revoke", str(deployer_id)],
            env=admin, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert revoked.returncode == 0, revoked.stderr
        refused = httpx.post(
            f"{url}/v1/models/m/rollback", headers={"authorization": f"Bearer {secret}"}, json={}
        )
        assert refused.status_code == 401
    finally:
        printed = _stop(proc)
    # where the admin token is, said at start (not the secret: it would sit in logs)
    assert f"admin token in {tmp_path / 'home' / 'token'} (mode 0600" in printed
    assert (tmp_path / "home" / "token").read_text().strip() not in printed


def test_push_with_nullable_columns_and_a_repeat_said(home, files, capsys):
    code, out, _ = run(capsys, "push", str(files["strong"]), "--name", "churn", "--data",
                       str(files["data"]), "--nullable", "a, c", "--json")  # fmt: skip
    assert code == 0
    inputs = {c["name"]: c for c in json.loads(out)["signature"]["inputs"]}
    assert [inputs[n]["nullable"] for n in "abcd"] == [True, False, True, False]
    assert inputs["a"]["nullable_by"] == "user"
    assert inputs["b"]["nullable_by"] == "probe"  # a plain LogisticRegression refuses NaN
    code, out, _ = run(capsys, "push", str(files["strong"]), "--name", "churn")
    assert code == 0
    assert "Pushed churn:2" in out
    assert "identical to version 1 (the same artifact bytes)" in out
    code, _, err = run(capsys, "push", str(files["strong"]), "--name", "churn", "--nullable", "a")
    assert code == 1
    assert "'nullable' parameter needs the training data" in err


def test_estimated_prints_the_band_and_how_the_scores_were_calibrated(home, capsys):
    from datetime import datetime, timedelta, timezone

    from deploykit.evaluation import evaluate
    from deploykit.registry import Registry
    from deploykit.settings import Settings

    X, y = make_classification(n_samples=3000, n_features=4, random_state=1)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    model = LogisticRegression().fit(frame[:1000], y[:1000])
    at = datetime.now(timezone.utc) - timedelta(minutes=30)
    live = frame[2000:]
    with Registry(Settings.from_env()) as reg:
        report = evaluate(model, frame[1000:2000], y[1000:2000])
        reg.push(model, "churn", X=frame[:1000], evaluation=report, deploy=True)
        write_scored_log(reg.settings.artifacts_url, "churn", model, live, at, "t1")

    code, out, _ = run(capsys, "estimated", "churn", "--since", "2h")
    assert code == 0, out
    assert "Estimated performance of churn:1 (binary)" in out
    assert re.search(r"accuracy\s+0\.\d{4}\s+\[0\.\d{4}, [01]\.\d{4}\]", out)
    assert "calibration: " in out
    assert "fitted on 1000 labelled rows" in out
    # lower Brier is better: the line says isotonic is the default the others did not
    # beat, or which simpler map beat it and by how much
    line = next(li for li in out.splitlines() if li.startswith("calibration: "))
    default = re.fullmatch(
        r"calibration: isotonic, fitted on 1000 labelled rows \(the default: the 5-fold "
        r"cross-validated Brier scores of scores as they are 0\.\d{4} and Platt scaling "
        r"0\.\d{4} are not better beyond noise than isotonic's 0\.\d{4}\)",
        line,
    )
    won = re.fullmatch(
        r"calibration: (?:Platt scaling|scores as they are), fitted on 1000 labelled rows "
        r"\(chosen over the default, isotonic: its 5-fold cross-validated Brier score "
        r"(0\.\d{4}) is lower than isotonic's (0\.\d{4}) by (0\.\d{4}) \(\d+%\), beyond "
        r"noise; (?:Platt scaling|scores as they are): 0\.\d{4}\)",
        line,
    )
    assert default or won, line
    if won:
        own, iso, gain = map(float, won.groups())
        assert own < iso
        assert gain == pytest.approx(iso - own, abs=2e-4)
    # distinct logged inputs: every row counts, and the report says so
    assert "rows: 1000 rows, each counted as an independent case" in out
    code, out, _ = run(capsys, "estimated", "churn", "--since", "2h", "--json")
    assert code == 0
    assert "1000 labelled rows" in json.loads(out)["calibration"]
    assert json.loads(out)["overall"]["effective_rows"] == 1000
