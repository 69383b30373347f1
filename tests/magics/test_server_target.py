"""%deploy target URL: the same subcommands against a real server on loopback."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer
from deploykit.settings import Settings
from deploykit.widgets import StatusView

pytestmark = pytest.mark.slow  # one server process for the module


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("server-home")
    settings = Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"})
    config = ServerConfig(telemetry_flush_seconds=0.2, log_flush_seconds=0.2)
    with LiveServer(settings, config) as live:
        yield live


@pytest.fixture
def remote(nb, deploy, server, monkeypatch):
    """The notebook shell, targeting the server with a token from an environment variable."""
    monkeypatch.setenv("DK_TEST_TOKEN", server.token)
    target = deploy(f"target {server.url} --token-env DK_TEST_TOKEN")
    assert (target.url, target.token_source) == (server.url, "$DK_TEST_TOKEN")
    return nb


def test_push_deploy_predict_and_status_through_the_server(
    remote, deploy, deploy_fails, server, capsys, session
):
    name = "churn-remote"
    deploy(f"evaluate model X_test y_test --name {name}")
    capsys.readouterr()
    version = deploy(f'push model --name {name} --data X_train --gate "roc_auc>=0.9" --deploy')
    out = capsys.readouterr().out
    assert version.aliases == ("production",)
    assert f"Pushed {name}:1 (" in out
    assert "production → 1" in out

    prediction = deploy(f"predict {name} X_test[:3] --proba")
    assert prediction.via == server.url
    assert prediction.version == 1
    assert len(prediction.probabilities) == 3
    assert prediction.request_id

    # The server flushes telemetry and its log every 0.2 s; wait for the predict in both.
    deadline = time.monotonic() + 10
    while (
        session.backend.metrics(name)["total"]["requests"] < 1
        or session.backend.drift(name).overall.rows < 3
    ):
        assert time.monotonic() < deadline, "the predict never reached telemetry and log"
        time.sleep(0.1)
    status = deploy(f"status {name}")
    assert status.live_version == 1
    assert status.note is None
    assert status.serving["requests"] == 1
    assert "requests     1 in the last hour" in status._text()
    assert "p95 latency" in status._text()
    # 3 rows like the training data: judged, nothing drifted (30 features of breast cancer)
    assert status.drift == "none of 30 features drifted (3 rows)"
    assert "drift        none of 30 features drifted (3 rows)" in status._text()

    # the server estimates from the 3 logged rows, and says why not to trust so few
    estimated = deploy(f"estimated {name} --since 1h")
    assert (estimated.model, estimated.overall.rows) == (name, 3)
    assert "untrusted: only 3 rows in the window" in str(estimated)
    # a word that is no version: what VERSION takes, from the server as from the registry
    assert deploy_fails(f"deploy {name} abc") == (
        "VERSION must be a number, 'latest' or an alias the model has (production); got 'abc'."
    )
    capsys.readouterr()
    deploy(f"deploy {name} 1")
    assert capsys.readouterr().out.startswith(f"{name}: production → version 1 ({server.url})")

    view = StatusView(name, session=session)
    assert view.error is None
    assert [t.name for t in view.figure.data] == ["v1 req/s", "v1 p95 ms"]


def test_a_wrong_token_fails_at_target_in_one_line(nb, deploy_fails, server, monkeypatch, session):
    monkeypatch.setenv("DK_BAD_TOKEN", "not-a-token")
    message = deploy_fails(f"target {server.url} --token-env DK_BAD_TOKEN")
    assert message.startswith("The token sent is unknown or revoked.")
    assert session.embedded  # the old target stays


def test_switching_back_to_embedded(remote, deploy, deploykit_home: Path):
    target = deploy("target embedded")
    assert target.embedded
    assert str(deploykit_home) in target.location
    assert deploy("models") == []  # the test's own registry, not the server's
