"""Tokens and roles: viewer < deployer < admin; 401 without a valid token, 403 without the role."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer
from tests.server.conftest import Served, settings_for


def _token(served: Served, role: str) -> str:
    response = httpx.post(
        f"{served.url}/v1/tokens",
        json={"role": role, "name": f"a {role}"},
        headers=served.headers(),
    )
    assert response.status_code == 201, response.text
    return response.json()["token"]


def test_the_local_admin_token_file_is_private(served: Served) -> None:
    path = Path(served.settings.home) / "token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert httpx.get(f"{served.url}/v1/whoami", headers=served.headers()).json() == {
        "role": "admin",
        "name": "local admin",
    }


def test_reads_need_a_token(served: Served) -> None:
    response = httpx.get(f"{served.url}/v1/models")
    assert response.status_code == 401
    assert "deploykit token create" in response.json()["error"]["message"]
    bad = httpx.get(f"{served.url}/v1/models", headers={"authorization": "Bearer dk_nope"})
    assert bad.status_code == 401
    basic = httpx.get(f"{served.url}/v1/models", headers={"authorization": "Basic eDp5"})
    assert basic.status_code == 401


@pytest.mark.parametrize(
    ("role", "read", "deploy", "tokens"),
    [("viewer", 200, 403, 403), ("deployer", 200, 200, 403), ("admin", 200, 200, 200)],
)
def test_each_role_may_do_what_it_should(
    served: Served, role: str, read: int, deploy: int, tokens: int
) -> None:
    h = {"authorization": f"Bearer {_token(served, role)}"}
    assert httpx.get(f"{served.url}/v1/models/lr/versions", headers=h).status_code == read
    moved = httpx.post(f"{served.url}/v1/models/lr/deploy", json={"version": 1}, headers=h)
    assert moved.status_code == deploy, moved.text
    if deploy == 403:
        assert "'deployer' role" in moved.json()["error"]["message"]
        assert moved.json()["error"]["type"] == "PermissionDeniedError"
    assert httpx.get(f"{served.url}/v1/tokens", headers=h).status_code == tokens


def test_tokens_are_stored_hashed_and_revocable(served: Served) -> None:
    secret = _token(served, "viewer")
    listed = httpx.get(f"{served.url}/v1/tokens", headers=served.headers()).json()
    assert all(secret not in str(t) for t in listed)
    db = Path(served.settings.home, "registry.db").read_bytes()
    assert secret.encode() not in db
    token_id = next(t["id"] for t in reversed(listed) if t["role"] == "viewer")
    h = {"authorization": f"Bearer {secret}"}
    assert httpx.get(f"{served.url}/v1/models", headers=h).status_code == 200
    revoked = httpx.delete(f"{served.url}/v1/tokens/{token_id}", headers=served.headers())
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"]
    assert httpx.get(f"{served.url}/v1/models", headers=h).status_code == 401


def test_predict_is_open_by_default(served: Served) -> None:
    assert served.post("/v1/models/lr/predict", {"inputs": [[0] * 5]}).status_code == 200


def test_predict_can_require_a_token(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    with LiveServer(settings, ServerConfig(predict_requires_token=True)) as server:
        body = {"inputs": [[0.0]]}
        # no model yet: with a token the answer is the 404, without it a 401
        assert httpx.post(f"{server.url}/v1/models/m/predict", json=body).status_code == 401
        h = {"authorization": f"Bearer {server.token}"}
        assert (
            httpx.post(f"{server.url}/v1/models/m/predict", json=body, headers=h).status_code == 404
        )
        feedback = {"request_id": "r", "label": 1}
        assert httpx.post(f"{server.url}/v1/models/m/feedback", json=feedback).status_code == 401
