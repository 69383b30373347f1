"""deploykit.Client against a real server: the Registry's operations over HTTP."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

import deploykit
from deploykit.errors import (
    AliasNotFoundError,
    ArtifactError,
    ArtifactIntegrityError,
    AuthenticationError,
    ConfigurationError,
    ModelNotFoundError,
    NothingToRollBackError,
    SignatureError,
    StorageError,
)
from deploykit.records import Alias, ModelInfo, ModelVersion
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer, free_port
from deploykit.settings import Settings


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("client-home")
    settings = Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"})
    with LiveServer(settings, ServerConfig()) as live:
        yield live


@pytest.fixture
def client(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[deploykit.Client]:
    for key in list(os.environ):
        if key.startswith("DEPLOYKIT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DEPLOYKIT_HOME", str(server.settings.home))
    with deploykit.Client(server.url) as c:  # token read from <home>/token
        yield c


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = make_classification(n_samples=200, n_features=4, random_state=0)
    return pd.DataFrame(X, columns=["a", "b", "c", "d"]), y


def test_push_over_http_then_predict(client: deploykit.Client, data) -> None:
    X, y = data
    model = LogisticRegression().fit(X, y)
    seen: list[tuple[int, int]] = []
    version = client.push(model, "churn", X=X, progress=lambda s, t: seen.append((s, t)))
    assert isinstance(version, ModelVersion)
    assert version.ref == "churn:1"
    assert version.signature is not None
    assert version.aliases == ()
    assert seen[0][0] == 0
    assert seen[-1][0] == seen[-1][1] == version.size
    with pytest.raises(AliasNotFoundError, match="deploykit deploy churn 1"):
        client.predict("churn", X.iloc[:2])
    alias = client.deploy("churn", 1, reason="first")
    assert isinstance(alias, Alias)
    assert alias.version == 1
    assert alias.updated_by == "local admin"
    result = client.predict("churn", X.iloc[:5], proba=True)
    assert result.predictions == model.predict(X.iloc[:5]).tolist()
    np.testing.assert_allclose(result.probabilities, model.predict_proba(X.iloc[:5]))
    assert result.version == 1
    assert result.classes == [0, 1]
    assert len(result.request_id) > 8
    for data_form in (
        X.iloc[:5].to_numpy(),
        X.iloc[:5].to_dict(orient="records"),
        X.iloc[:5].to_dict(orient="list"),
    ):
        assert client.predict("churn", data_form).predictions == result.predictions
    recorded = {"model": "churn", "recorded": 1, "authenticated": True}  # the local admin token
    assert client.feedback("churn", result.request_id, 1) == recorded
    assert client.feedback("churn", result, [1, 0, 1, 1, 0]) == recorded  # or the Prediction


def test_reads_return_the_registry_records(client: deploykit.Client, data) -> None:
    X, y = data
    tree = DecisionTreeClassifier(random_state=0).fit(X, y)
    client.push(tree, "tree", X=X, deploy=True)
    client.push(tree, "tree", X=X, deploy=True, description="same bytes")
    assert [m.name for m in client.models()][:2] == ["churn", "tree"] or "tree" in [
        m.name for m in client.models()
    ]
    info = client.model("tree")
    assert isinstance(info, ModelInfo)
    assert info.production == 2
    assert [v.version for v in client.versions("tree")] == [1, 2]
    assert client.version("tree", "latest").description == "same bytes"
    assert client.version("tree", "production").version == 2
    assert client.aliases("tree")[0].name == "production"
    back = client.rollback("tree", reason="test")
    assert back.version == 1
    with pytest.raises(NothingToRollBackError):
        client.rollback("tree")
    events = client.events("tree", action="rollback")
    assert events[0].reason == "test"
    assert events[0].actor == "local admin"
    assert client.last_event_id() >= events[0].id
    loaded = client.load("tree", 1)
    assert (loaded.predict(X) == tree.predict(X)).all()
    metrics = client.metrics("tree")
    assert metrics["model"] == "tree"


def test_errors_come_back_as_the_same_classes(client: deploykit.Client, data) -> None:
    X, _ = data
    with pytest.raises(ModelNotFoundError):
        client.model("nope")
    with pytest.raises(SignatureError) as caught:
        client.predict("churn", X.drop(columns=["d"]).iloc[:2])
    assert any("missing column" in p for p in caught.value.problems)
    with (
        deploykit.Client(client.url, token="dk_wrong") as wrong,
        pytest.raises(AuthenticationError),
    ):
        wrong.models()
    nowhere = f"http://127.0.0.1:{free_port()}"
    with (
        deploykit.Client(nowhere, token="x", timeout=2) as down,
        pytest.raises(StorageError, match="deploykit serve"),
    ):
        down.models()


def test_an_upload_that_does_not_match_its_digest_is_refused(client: deploykit.Client) -> None:
    response = httpx.post(
        f"{client.url}/v1/artifacts",
        content=b"some bytes",
        headers={
            "authorization": f"Bearer {client.token}",
            "content-type": "application/octet-stream",
            "x-content-digest": "sha256:" + "0" * 64,
        },
    )
    assert response.status_code == 422  # the request's bytes are wrong, not the server
    assert response.json()["error"]["type"] == "ArtifactIntegrityError"


def test_a_deploy_that_cannot_load_keeps_the_old_version_serving(
    client: deploykit.Client, server: LiveServer, data
) -> None:
    X, y = data
    client.push(LogisticRegression().fit(X, y), "fragile", X=X, deploy=True)
    broken = client.push(LogisticRegression(C=0.1).fit(X, y), "fragile", X=X)
    # damage the stored bytes of version 2: its digest no longer matches
    store = Path(server.settings.artifacts_url) / "sha256"
    digest = broken.digest.split(":", 1)[1]
    path = store / digest[:2] / digest[2:]
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    # (the server loads version 2's intact compiled artifact; the registry's digest check of
    # the original, which stays the source of truth, refuses the move)
    with pytest.raises(ArtifactError, match=r"(still serves|stays on) version 1") as caught:
        client.deploy("fragile", 2)
    assert isinstance(caught.value, ArtifactIntegrityError)
    assert client.model("fragile").production == 1
    assert client.predict("fragile", X.iloc[:1]).version == 1


@pytest.mark.parametrize(
    ("url", "expected"),
    [("http://127.0.0.1:8765/", "http://127.0.0.1:8765"), ("http://h:1/v1", "http://h:1")],
)
def test_the_server_url_is_normalised(url: str, expected: str) -> None:
    with deploykit.Client(url, token="t") as client:
        assert client.url == expected


def test_a_url_without_scheme_fails_when_the_client_is_made() -> None:
    with pytest.raises(ConfigurationError, match=r"did you mean 'http://127\.0\.0\.1:8765'"):
        deploykit.Client("127.0.0.1:8765", token="t")
