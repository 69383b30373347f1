"""The sidebar's per-version Deploy: POST /deploykit/api/models/{name}/deploy (issue 14),
through a real Jupyter server to a real deploykit server (this module's own)."""

from __future__ import annotations

import pytest

from deploykit.client import Client
from tests.serverext.test_handlers import call


async def test_deploy_points_production_at_the_version_with_the_reason(
    jp_fetch, server_client: Client
):
    body = {"version": 1, "reason": "the baseline calibrates better", "if_current": 2}
    code, moved = await call(jp_fetch, "models", "churn", "deploy", body=body)
    assert code == 200
    assert (moved["from_version"], moved["version"], moved["alias"]) == (2, 1, "production")
    assert server_client.model("churn").production == 1
    event = server_client.events("churn", limit=1)[0]
    assert (event.action, event.from_version, event.to_version) == ("deploy", 2, 1)
    assert event.reason == "the baseline calibrates better"


async def test_deploy_needs_a_reason_and_refuses_a_stale_page(jp_fetch, server_client: Client):
    code, error = await call(jp_fetch, "models", "iris", "deploy", body={"version": 1})
    assert code == 422
    assert error["message"].startswith("A deploy of 'iris' version 1 needs a reason")
    body = {"version": 1, "reason": "stale", "if_current": 1}
    code, error = await call(jp_fetch, "models", "iris", "deploy", body=body)
    assert code == 409
    assert error["type"] == "ConflictError"
    assert server_client.model("iris").production == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reason": "x"}, "'version' field is required"),
        ({"version": "two", "reason": "x"}, "'version' field must be"),
        ({"version": 1, "reason": 5}, "'reason' field must be"),
        ([1], "must be a JSON object"),
    ],
)
async def test_a_malformed_deploy_body_is_422_naming_the_field(jp_fetch, body, field):
    code, error = await call(jp_fetch, "models", "iris", "deploy", body=body)
    assert code == 422
    assert field in error["message"]


async def test_deploying_a_missing_version_is_404(jp_fetch):
    body = {"version": 9, "reason": "typo"}
    code, error = await call(jp_fetch, "models", "iris", "deploy", body=body)
    assert code == 404
    assert "no version 9" in error["message"]
