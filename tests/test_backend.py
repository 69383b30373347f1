"""One scenario through ``open_backend`` in both modes: the front ends get the same answers.

Embedded: a Registry on a fresh home. Remote: a Client of a real ``deploykit serve`` on
loopback, its token found in ``<home>/token``. Push, versions, deploy, rollback, events,
metrics, drift and alert rules must answer alike, so no front end needs to know which.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from deploykit.backend import Backend, open_backend, token_source
from deploykit.client import Client
from deploykit.errors import ModelNotFoundError, NotFoundError
from deploykit.monitoring.results import DriftTimeline
from deploykit.monitoring.rules import AlertRule
from deploykit.registry import Registry
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer
from deploykit.settings import Settings


def _settings(home: Path) -> Settings:
    return Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(_settings(tmp_path_factory.mktemp("backend-server")), ServerConfig()) as live:
        yield live


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = make_classification(n_samples=200, n_features=4, random_state=0)
    return pd.DataFrame(X, columns=["a", "b", "c", "d"]), y


def _scenario(backend: Backend, X: pd.DataFrame, y: np.ndarray, until: datetime) -> dict[str, Any]:
    """What a front end sees of one model's life, reduced to what both modes must share."""
    out: dict[str, Any] = {}
    first = backend.push(LogisticRegression().fit(X, y), "churn", X=X, description="first")
    second = backend.push(DecisionTreeClassifier(max_depth=2).fit(X, y), "churn", X=X)
    out["pushed"] = [(v.ref, v.estimator, v.description, v.aliases) for v in (first, second)]
    out["versions"] = [(v.version, v.format, v.digest) for v in backend.versions("churn")]
    moves = [
        backend.deploy("churn", 1, reason="first"),
        backend.deploy("churn", 2, reason="second"),
        backend.rollback("churn", reason="recall dropped"),
    ]
    out["moves"] = [(a.name, a.version) for a in moves]
    out["production"] = backend.model("churn").production
    events = backend.events("churn")
    out["events"] = [(e.action, e.from_version, e.to_version, e.reason) for e in events]

    since = until - timedelta(hours=2)
    metrics = backend.metrics("churn", since=since, until=until, step=600)
    out["metrics"] = metrics
    timeline = backend.drift("churn", since=since, until=until, step=3600)
    assert isinstance(timeline, DriftTimeline)
    out["drift"] = (
        timeline.overall.model,
        timeline.overall.version,
        timeline.overall.rows,
        timeline.step_seconds,
        [(w.since, w.until, w.rows) for w in timeline.windows],
    )
    out["drift_options"] = backend.drift_options("churn").to_dict()

    rule = backend.set_alert(
        "churn", "errors", metric="error_rate", threshold=0.05, window_seconds=120, rollback=True
    )
    assert isinstance(rule, AlertRule)
    out["rule"] = _rule(rule)
    out["rules"] = [_rule(r) for r in backend.alerts("churn")]
    out["deleted"] = _rule(backend.delete_alert("churn", "errors"))
    out["rules_after"] = backend.alerts("churn")
    return out


def _rule(rule: AlertRule) -> tuple[Any, ...]:
    return (rule.model, rule.name, rule.metric, rule.threshold, rule.window_seconds, rule.rollback)


def test_open_backend_chooses_by_server_url_and_finds_the_token(
    tmp_path: Path, server: LiveServer
) -> None:
    with open_backend(_settings(tmp_path)) as embedded:
        assert isinstance(embedded, Registry)
    remote_settings = server.settings.replace(server_url=server.url)
    with open_backend(remote_settings) as remote:
        assert isinstance(remote, Client)
        assert remote.token == server.token  # read from <home>/token, as the front ends said
        assert remote.whoami()["role"] == "admin"
    assert token_source(remote_settings) == str(server.settings.home / "token")
    assert token_source(remote_settings.replace(token="dk_x")) == "DEPLOYKIT_TOKEN"


def test_both_modes_answer_the_scenario_alike(
    tmp_path: Path, server: LiveServer, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, y = data
    until = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(minutes=5)
    with open_backend(_settings(tmp_path)) as embedded:
        local = _scenario(embedded, X, y, until)
    with open_backend(server.settings.replace(server_url=server.url)) as remote:
        served = _scenario(remote, X, y, until)

    # The digests match too: the same estimators serialize to the same bytes either way.
    for key in ("pushed", "versions", "moves", "production", "events", "drift_options"):
        assert local[key] == served[key], key
    assert local["production"] == 1
    assert [e[0] for e in local["events"]][:3] == ["rollback", "deploy", "deploy"]

    # Nothing was served: the same empty figures, key for key.
    lm, sm = local["metrics"], served["metrics"]
    assert lm == sm
    assert lm["total"]["requests"] == 0
    assert lm["versions"] == {}
    assert lm["series"] == []
    assert (lm["step_seconds"], lm["window_seconds"]) == (600, 7200)

    assert local["drift"] == served["drift"]
    assert local["drift"][:3] == ("churn", 1, 0)  # production's version, no logged rows
    assert len(local["drift"][4]) == 2  # two one-hour windows

    assert local["rule"] == served["rule"] == ("churn", "errors", "error_rate", 0.05, 120, True)
    assert local["rules"] == served["rules"] == [local["rule"]]
    assert local["deleted"] == served["deleted"] == local["rule"]
    assert local["rules_after"] == served["rules_after"] == []


@pytest.mark.parametrize("mode", ["embedded", "server"])
def test_mistakes_get_the_same_errors(
    mode: str, tmp_path: Path, server: LiveServer, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, y = data
    settings = (
        _settings(tmp_path)
        if mode == "embedded"
        else server.settings.replace(server_url=server.url)
    )
    with open_backend(settings) as backend:
        with pytest.raises(ModelNotFoundError, match="nosuchmodel"):
            backend.metrics("nosuchmodel")
        with pytest.raises(ModelNotFoundError, match="nosuchmodel"):
            backend.drift("nosuchmodel")
        with pytest.raises(TypeError, match=r"push\(\) got unexpected keyword.*'evalution'"):
            backend.push(LogisticRegression().fit(X, y), "typo", evalution=None)  # type: ignore[call-arg]
        with pytest.raises(NotFoundError, match="nosuchmodel"):
            backend.delete_alert("nosuchmodel", "nosuchrule")
        with pytest.raises(TypeError, match=r"set_alert\(\) got unexpected keyword.*'treshold'"):
            backend.set_alert("typo", "errors", metric="error_rate", treshold=0.1)  # type: ignore[call-arg]
        with pytest.raises(TypeError, match=r"set_alert\(\) missing .*'threshold'"):
            backend.set_alert("typo", "errors", metric="error_rate")  # type: ignore[call-arg]


def test_the_embedded_registry_reads_what_a_server_on_its_database_measured(
    server: LiveServer, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    """Telemetry and prediction logs live in the shared database and artifact store: an
    embedded Registry on the server's home reports the same traffic as the server."""
    X, y = data
    with open_backend(server.settings.replace(server_url=server.url)) as remote:
        assert isinstance(remote, Client)
        remote.push(LogisticRegression().fit(X, y), "shared", X=X, deploy=True)
        for start in range(0, 30, 10):
            remote.predict("shared", X.iloc[start : start + 10])
        since = datetime.now(timezone.utc) - timedelta(minutes=10)
        served_metrics = remote.metrics("shared", since=since, step=60)  # flushes telemetry
        served_drift = remote.drift("shared", since=since)  # flushes the prediction log
    with open_backend(server.settings) as embedded:
        assert isinstance(embedded, Registry)
        local_metrics = embedded.metrics("shared", since=since, step=60)
        local_drift = embedded.drift("shared", since=since)
    assert served_metrics["total"]["requests"] == 3
    assert local_metrics["total"]["requests"] == 3
    assert local_metrics["total"]["rows"] == served_metrics["total"]["rows"] == 30
    assert local_metrics["versions"].keys() == served_metrics["versions"].keys() == {"1"}
    assert local_drift.overall.rows == served_drift.overall.rows == 30
    # the same verdicts, feature by feature, from the same rows
    assert local_drift.overall.to_dict()["features"] == served_drift.overall.to_dict()["features"]
