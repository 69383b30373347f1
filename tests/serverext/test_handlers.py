"""The /deploykit/api/* handlers in a real Jupyter server, against a real deploykit server."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from deploykit.client import Client
from deploykit.server.testing import LiveServer, free_port

ROUTES = [
    ("GET", ("status",)),
    ("GET", ("models",)),
    ("GET", ("models", "iris")),
    ("GET", ("models", "iris", "card")),
    ("GET", ("console",)),
    ("POST", ("models", "iris", "rollback")),
    ("POST", ("models", "iris", "deploy")),
]


async def call(jp_fetch: Any, *parts: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
    """(status, JSON) of a request; error replies too, rather than an exception."""
    if body is not None:
        kwargs.update(method="POST", body=json.dumps(body))
    try:
        response = await jp_fetch("deploykit", "api", *parts, **kwargs)
    except HTTPClientError as err:
        response = err.response
    assert response is not None
    return response.code, json.loads(response.body)


async def test_status_names_the_server_and_never_sends_its_token(jp_fetch, deploykit_server):
    code, status = await call(jp_fetch, "status")
    assert code == 200
    assert status["mode"] == "server"
    assert status["target"] == deploykit_server.url
    assert status["figures"] is True
    assert status["note"] is None
    assert status["token_source"] == "c.DeployKitLab.token"
    assert status["console"] == {"kind": "jupyter", "url": "deploykit/console/", "reason": None}
    assert status["access"] == {
        "role": "admin",
        "name": "local admin",
        "can_act": True,
        "reason": None,
    }
    assert status["window_seconds"] == 300  # the console's window: one badge for both
    assert len(status["config_id"]) == 16
    assert deploykit_server.token not in json.dumps(status)


async def test_models_carry_live_version_badge_and_serving_figures(jp_fetch):
    code, reply = await call(jp_fetch, "models")
    assert code == 200
    rows = {row["name"]: row for row in reply["models"]}
    assert sorted(rows) == ["churn", "draft", "iris"]
    iris = rows["iris"]
    assert iris["live_version"] == 2
    assert iris["status"] == "serving"
    assert iris["requests_per_s"] > 0
    assert iris["p95_ms"] > 0
    assert iris["error_rate"] == 0
    assert iris["drift_share"] == 0  # 60 rows of the training data: nothing drifted
    assert rows["churn"]["status"] == "idle"  # deployed, never called
    assert rows["churn"]["requests_per_s"] == 0
    assert rows["churn"]["drift_share"] is None  # no predictions logged: no report
    draft = rows["draft"]
    assert (draft["live_version"], draft["status"]) == (None, "not deployed")
    assert draft["requests_per_s"] is None


async def test_model_detail_lists_versions_newest_first_with_moves(jp_fetch):
    code, detail = await call(jp_fetch, "models", "iris")
    assert code == 200
    assert detail["live_version"] == 2
    assert detail["can_roll_back"] is True
    assert (detail["rollback_targets"], detail["previous_version"]) == ([1], 1)
    assert [v["version"] for v in detail["versions"]] == [2, 1]
    assert detail["versions"][0]["description"] == "a tree"
    assert detail["versions"][0]["aliases"] == ["production"]
    assert detail["versions"][0]["estimator"].endswith("DecisionTreeClassifier")
    assert "accuracy" in detail["versions"][0]["metrics"] or detail["versions"][0]["metrics"] == {}
    assert [(e["action"], e["to_version"]) for e in detail["events"][:2]] == [
        ("deploy", 2),
        ("push", 2),
    ]


async def test_a_model_with_one_version_cannot_roll_back(jp_fetch):
    _, detail = await call(jp_fetch, "models", "draft")
    assert detail["live_version"] is None
    assert detail["can_roll_back"] is False
    assert (detail["rollback_targets"], detail["previous_version"]) == ([], None)


async def test_rollback_moves_production_on_the_server(jp_fetch, server_client: Client):
    code, moved = await call(
        jp_fetch, "models", "churn", "rollback", body={"reason": "tree overfits", "if_current": 2}
    )
    assert code == 200
    assert (moved["from_version"], moved["version"], moved["alias"]) == (2, 1, "production")
    assert server_client.model("churn").production == 1
    event = server_client.events("churn", limit=1)[0]
    assert (event.action, event.from_version, event.to_version) == ("rollback", 2, 1)
    assert event.reason == "tree overfits"


async def test_rollback_needs_a_reason_and_moves_nothing(jp_fetch, server_client: Client):
    code, error = await call(jp_fetch, "models", "iris", "rollback", body={"reason": "  "})
    assert code == 422
    assert error["type"] == "InvalidInputError"
    assert error["message"].startswith("A rollback of 'iris' needs a reason")
    assert server_client.model("iris").production == 2


async def test_rollback_refuses_when_production_moved_since_the_user_looked(
    jp_fetch, server_client: Client
):
    code, error = await call(
        jp_fetch, "models", "iris", "rollback", body={"reason": "stale page", "if_current": 1}
    )
    assert code == 409
    assert error["type"] == "ConflictError"
    assert error["message"].startswith("Production of 'iris' moved to v2 since you opened it")
    assert "reg.events()" not in error["message"]  # the GUI's words, not a Python hint
    assert server_client.model("iris").production == 2


async def test_deploy_moves_production_to_the_chosen_version(jp_fetch, server_client: Client):
    body = {"version": 1, "reason": "back to the baseline", "if_current": 2}
    code, moved = await call(jp_fetch, "models", "iris", "deploy", body=body)
    assert code == 200
    assert (moved["from_version"], moved["version"]) == (2, 1)
    event = server_client.events("iris", limit=1)[0]
    assert (event.action, event.to_version, event.reason) == ("deploy", 1, "back to the baseline")
    server_client.deploy("iris", 2, reason="restore for the other tests")


async def test_deploy_refuses_a_stale_page_and_a_bad_version(jp_fetch, server_client: Client):
    code, error = await call(
        jp_fetch, "models", "iris", "deploy", body={"version": 1, "if_current": 1}
    )
    assert (code, error["type"]) == (409, "ConflictError")
    code, error = await call(jp_fetch, "models", "iris", "deploy", body={"version": "one"})
    assert code == 422
    assert "The 'version' field must be a version number" in error["message"]
    assert server_client.model("iris").production == 2


@pytest.mark.parametrize(
    "body", [[1, 2], {"reason": 5}, {"reason": "x", "to": "two"}, {"reason": "x", "to": 0}]
)
async def test_a_malformed_rollback_body_is_422_naming_the_field(jp_fetch, body):
    code, error = await call(jp_fetch, "models", "iris", "rollback", body=body)
    assert code == 422
    assert "must be" in error["message"]


async def test_an_unknown_model_is_404_with_the_registry_message(jp_fetch):
    code, error = await call(jp_fetch, "models", "nope")
    assert code == 404
    assert error["type"] == "ModelNotFoundError"
    assert "nope" in error["message"]


@pytest.mark.parametrize(("method", "parts"), ROUTES)
async def test_every_route_needs_the_jupyter_token(jp_fetch, method, parts, server_client):
    kwargs: dict[str, Any] = {"method": method, "headers": {"Authorization": ""}}
    if method == "POST":
        kwargs["body"] = json.dumps({"reason": "no token"})
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("deploykit", "api", *parts, **kwargs)
    assert err.value.code == 403
    assert server_client.model("iris").production == 2


@pytest.mark.parametrize("lab_config", [{"token": "not-a-token"}], indirect=True)
async def test_a_wrong_deploykit_token_is_a_502_naming_the_setting(jp_fetch, lab_config):
    code, error = await call(jp_fetch, "models")
    assert code == 502
    assert error["type"] == "AuthenticationError"
    assert "c.DeployKitLab.token" in error["message"]


@pytest.mark.parametrize("lab_config", [{"viewer": True}], indirect=True)
async def test_a_viewer_token_makes_the_sidebar_read_only_and_says_why(
    jp_fetch, server_client: Client
):
    _, status = await call(jp_fetch, "status")
    access = status["access"]
    assert (access["role"], access["can_act"]) == ("viewer", False)
    assert "need a 'deployer' or 'admin' token in c.DeployKitLab.token" in access["reason"]
    code, _ = await call(jp_fetch, "models", "churn", "rollback", body={"reason": "try"})
    assert code == 403  # the deploykit server refuses anyway
    assert server_client.model("churn").production is not None


@pytest.mark.parametrize("lab_config", [{"unreachable": True}], indirect=True)
async def test_an_unreachable_server_is_a_503_saying_so(jp_fetch):
    code, error = await call(jp_fetch, "models")
    assert code == 503
    assert error["message"].startswith("Cannot reach the deploykit server")
    code, status = await call(jp_fetch, "status")  # still answers: the sidebar can say why
    assert code == 200
    assert status["access"]["can_act"] is False
    assert status["access"]["reason"].startswith("Cannot reach the deploykit server")


@pytest.fixture
def lab_config(request: pytest.FixtureRequest, deploykit_server: LiveServer) -> dict[str, Any]:
    """The server under test, changed by a test's indirect parameter."""
    config = {"server_url": deploykit_server.url, "token": deploykit_server.token}
    change = dict(getattr(request, "param", {}))
    if change.pop("unreachable", False):
        config["server_url"] = f"http://127.0.0.1:{free_port()}"
    if change.pop("viewer", False):
        with Client(deploykit_server.url, token=deploykit_server.token) as admin:
            config["token"] = admin.create_token("viewer", name="analyst")
    return {**config, **change}
