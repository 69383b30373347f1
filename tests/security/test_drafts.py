"""Issue 12, points 6 and 7: every push-draft field is checked, and a client's mistake is
never a 5xx nor a message naming the server's database or files.

Against a real ``deploykit serve`` on loopback, with an admin token.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import joblib
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from deploykit.errors import StorageError
from deploykit.registry import Registry, prepare_draft
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer
from deploykit.settings import Settings

COLUMNS = ["age", "tenure", "calls", "spend", "visits"]


@dataclass
class Server:
    url: str
    token: str
    home: Path
    draft: dict[str, Any]  # a valid draft of an uploaded artifact

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=60, **kwargs)

    def upload(self, data: bytes, digest: str | None = None) -> httpx.Response:
        headers = {"content-type": "application/octet-stream"}
        if digest is not None:
            headers["x-content-digest"] = digest
        return self.call("POST", "/v1/artifacts", content=data, headers=headers)

    def push(self, draft: Any, **body: Any) -> httpx.Response:
        return self.call("POST", "/v1/models/churn/versions", json={"draft": draft, **body})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    X, y = make_classification(n_samples=200, n_features=5, random_state=0)
    frame = pd.DataFrame(X, columns=COLUMNS)
    model = LogisticRegression().fit(frame, y)
    home = tmp_path_factory.mktemp("drafts-home")
    settings = Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"})
    with Registry(settings.replace(actor="tester")) as registry:
        registry.push(model, "churn", X=frame, deploy=True)
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    data = buffer.getvalue()
    with LiveServer(settings, ServerConfig(log_sample_rate=0.0)) as live:
        assert live.token is not None
        server = Server(live.url, live.token, home, {})
        stored = server.upload(data).json()
        draft = prepare_draft(model, X=frame, format="joblib")
        server.draft = draft.with_artifact(stored["digest"], stored["size"]).to_dict()
        yield server


def assert_private(response: httpx.Response, server: Server) -> None:
    """Nothing about where the registry lives is in the answer."""
    text = response.text
    for secret in (str(server.home), "sqlite", "registry.db", "/tmp/", "artifacts/sha256"):
        assert secret not in text, f"{secret!r} leaked: {text}"
    assert "Traceback" not in text


BAD_FIELDS = [
    ("format", 7, "must be one of 'joblib', 'skops'. Got an integer 7"),
    ("format", "pickle", "must be one of 'joblib', 'skops'. Got a string 'pickle'"),
    ("estimator", {}, "must be a string. Got an object {}"),
    ("estimator", "", "at least 1 character"),
    ("gate", [1], "must be an object or null. Got an array [1]"),
    ("gate", {"checks": []}, "'draft.gate' needs the field(s) 'passed'"),
    ("profile", "x", "must be an object or null. Got a string 'x'"),
    ("profile", {}, "'draft.profile' is not a reference profile deploykit can read"),
    ("metrics", "x", "must be an object. Got a string 'x'"),
    ("metrics", {"auc": "high"}, "'draft.metrics.auc' must be a number or null"),
    ("signature", {"inputs": [{"name": "a"}]}, "'draft.signature' is not a signature"),
    ("signature", [], "must be an object or null"),
    ("size", -1, "'draft.size' must be at least 0"),
    ("size", True, "'draft.size' must be an integer. Got a boolean True"),
    ("environment", {"numpy": 2}, "'draft.environment.numpy' must be a string"),
    ("description", 5, "'draft.description' must be a string"),
    ("evaluation", {"x": 1}, "'draft.evaluation' is not an evaluation report"),
    ("data_fingerprint", 3, "must be an object or null"),
    ("digest", "md5:abc", "'sha256:' followed by 64 lowercase hex digits. Got a string 'md5:abc'"),
]


@pytest.mark.parametrize(("field", "value", "expected"), BAD_FIELDS)
def test_each_bad_draft_field_gets_a_422_naming_it(
    server: Server, field: str, value: Any, expected: str
) -> None:
    before = server.call("GET", "/v1/models/churn").json()["latest_version"]
    response = server.push({**server.draft, field: value})
    assert response.status_code == 422, response.text
    message = response.json()["error"]["message"]
    assert f"draft.{field}" in message
    assert expected in message
    assert_private(response, server)
    assert server.call("GET", "/v1/models/churn").json()["latest_version"] == before


def test_a_bad_draft_leaves_every_read_working(server: Server) -> None:
    for field, value, _ in BAD_FIELDS:
        server.push({**server.draft, field: value})
    for path in ("/v1/models/churn/versions", "/v1/models/churn/drift", "/v1/models"):
        response = server.call("GET", path)
        assert response.status_code == 200, (path, response.text)


def test_a_valid_draft_is_registered(server: Server) -> None:
    response = server.push(server.draft)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["deployed"] is False
    assert body["deploy_error"] is None


def test_a_draft_naming_an_unknown_artifact_gets_a_422(server: Server) -> None:
    response = server.push({**server.draft, "digest": "sha256:" + "0" * 64})
    assert response.status_code == 422, response.text
    assert "names no artifact in the store" in response.json()["error"]["message"]
    assert_private(response, server)


def test_a_draft_with_the_wrong_size_gets_a_422(server: Server) -> None:
    response = server.push({**server.draft, "size": server.draft["size"] + 1})
    assert response.status_code == 422, response.text
    assert_private(response, server)


def test_an_upload_that_does_not_match_its_digest_gets_a_422(server: Server) -> None:
    claimed = "sha256:" + hashlib.sha256(b"other bytes").hexdigest()
    response = server.upload(b"these bytes", claimed)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["type"] == "ArtifactIntegrityError"
    assert "X-Content-Digest does not match" in response.json()["error"]["message"]
    assert_private(response, server)
    actual = "sha256:" + hashlib.sha256(b"these bytes").hexdigest()
    assert server.call("GET", f"/v1/artifacts/{actual}").status_code == 404  # not stored


def test_push_with_deploy_that_cannot_load_says_pushed_not_deployed(server: Server) -> None:
    garbage = b"not a joblib file " * 10
    stored = server.upload(garbage).json()
    draft = {**server.draft, "digest": stored["digest"], "size": stored["size"]}
    before = server.call("GET", "/v1/models/churn").json()["aliases"]["production"]
    response = server.push(draft, deploy=True)
    assert response.status_code == 200, response.text
    body = response.json()
    number = body["version"]
    assert body["deployed"] is False
    assert body["deploy_error"]["type"] == "UnreadableArtifactError"  # an ArtifactError
    assert "not a readable joblib file" in body["deploy_error"]["message"]
    assert f"pushed as version {number}, not deployed" in body["warnings"][0]
    assert_private(response, server)
    # The version and its push event exist; production did not move.
    assert server.call("GET", f"/v1/models/churn/versions/{number}").status_code == 200
    assert server.call("GET", "/v1/models/churn").json()["aliases"]["production"] == before
    events = server.call("GET", "/v1/events", params={"model": "churn", "action": "push"}).json()
    assert events[0]["to_version"] == number


def test_push_with_deploy_that_works_says_deployed(server: Server) -> None:
    response = server.push(server.draft, deploy=True)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["deployed"] is True
    assert "production" in body["aliases"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models/churn/versions/99999999999999999999",
        "/v1/models/churn/versions/-99999999999999999999",
    ],
)
def test_huge_version_numbers_are_not_found(server: Server, path: str) -> None:
    response = server.call("GET", path)
    assert response.status_code in (404, 422), response.text
    predict = server.call(
        "POST", "/v1/models/churn/versions/99999999999999999999/predict", json={"instances": [[0]]}
    )
    assert predict.status_code == 404, predict.text


def test_revoking_a_huge_token_id_is_not_found(server: Server) -> None:
    response = server.call("DELETE", "/v1/tokens/99999999999999999999")
    assert response.status_code == 404, response.text


def test_a_wrong_method_is_told_every_allowed_one(server: Server) -> None:
    response = server.call("PUT", "/v1/models/churn/versions")
    assert response.status_code == 405
    allowed = {m.strip() for m in response.headers["allow"].split(",")}
    assert {"GET", "POST"} <= allowed
    response = server.call("DELETE", "/v1/tokens")
    assert {"GET", "POST"} <= {m.strip() for m in response.headers["allow"].split(",")}


def test_the_schema_states_the_draft_and_the_path_patterns(server: Server) -> None:
    doc = httpx.get(f"{server.url}/openapi.json").json()
    draft = doc["components"]["schemas"]["VersionDraft"]
    assert draft["properties"]["format"]["enum"] == ["joblib", "skops"]
    assert draft["properties"]["size"]["minimum"] == 0
    push = doc["paths"]["/v1/models/{name}/versions"]["post"]
    body = push["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["draft"] == {"$ref": "#/components/schemas/VersionDraft"}
    params = {
        p["name"]: p["schema"]
        for path in doc["paths"].values()
        for op in path.values()
        for p in op.get("parameters", [])
        if p["in"] == "path"
    }
    assert params["name"]["pattern"].startswith("^[A-Za-z0-9]")
    assert params["token_id"]["pattern"] == "^[0-9]{1,18}$"
    assert params["digest"]["pattern"] == "^sha256:[0-9a-f]{64}$"
    limit = doc["paths"]["/v1/events"]["get"]["parameters"][1]["schema"]
    assert (limit["minimum"], limit["maximum"]) == (1, 10_000)


def test_database_errors_reach_a_remote_caller_without_url_or_path(tmp_path: Path) -> None:
    # A real database failure, as the registry words it for a local user, then as the
    # server sends it: the URL and the folder are replaced by stand-ins.
    import sqlalchemy as sa

    from deploykit.registry.database import run_in_transaction
    from deploykit.server.wire import error_body, keep_private

    url = f"sqlite:///{tmp_path / 'registry.db'}"
    engine = sa.create_engine(url)
    with pytest.raises(StorageError) as caught:
        run_in_transaction(engine, lambda c: c.exec_driver_sql("SELECT * FROM nowhere"))
    assert str(tmp_path) in str(caught.value)  # the local message keeps it: it helps there
    keep_private(tmp_path, "<deploykit home>")
    message = error_body(caught.value)["error"]["message"]
    assert str(tmp_path) not in message
    assert "sqlite" not in message
    assert "no such table: nowhere" in message
    engine.dispose()
