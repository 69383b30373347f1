"""The Lab sidebar's rollbacks name the Jupyter user (issue 12, point 9), against a real
``jupyter server`` process with deploykit's extension and a real deploykit server.

The Jupyter server holds one deploykit token for everyone who uses that Jupyter; the
audit log records "<token name> for <Jupyter user>": the token that acted, and the
person the Jupyter server vouches for.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jupyter_server.auth.identity import IdentityProvider, User

from deploykit.client import Client
from deploykit.server.testing import LiveServer, free_port
from tests.console.seeding import fleet

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


JUPYTER_USERS = {"alice-secret": ("alice", "Alice Liddell"), "bob-secret": ("bob", "bob")}


class TwoUsers(IdentityProvider):  # type: ignore[misc]
    """Two Jupyter users told apart by their own Jupyter token, as JupyterHub does."""

    def get_user(self, handler: Any) -> User | None:
        found = re.fullmatch(r"token (\S+)", handler.request.headers.get("Authorization", ""))
        who = JUPYTER_USERS.get(found.group(1)) if found else None
        return None if who is None else User(who[0], name=who[1])

    def is_token_authenticated(self, handler: Any) -> bool:
        return True  # scripts with a token header: no xsrf cookie to send

    @property
    def auth_enabled(self) -> bool:
        return True


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with fleet(tmp_path_factory.mktemp("lab-actor")) as live:
        yield live


@pytest.fixture(scope="module")
def admin(server: LiveServer) -> Iterator[Client]:
    with Client(server.url, token=server.token) as client:
        yield client


@pytest.fixture(scope="module")
def lab(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``jupyter server`` with the deploykit extension, holding the local admin token."""
    root = tmp_path_factory.mktemp("jupyter")
    port = free_port()
    config = {
        "ServerApp": {
            "jpserver_extensions": {"deploykit": True},
            "identity_provider_class": "tests.security.test_lab_actor.TwoUsers",
            "ip": "127.0.0.1",
            "port": port,
            "port_retries": 0,
            "open_browser": False,
            "allow_root": True,  # CI containers run as root
            "root_dir": str(root),
        },
        "DeployKitLab": {"server_url": server.url, "token": server.token},
    }
    (root / "jupyter_server_config.json").write_text(json.dumps(config))
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(root / "config"),
        "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
        "JUPYTER_DATA_DIR": str(root / "data"),
        "DEPLOYKIT_HOME": str(root / "home"),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    log = open(root / "jupyter.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", f"--config={root / 'jupyter_server_config.json'}"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=root,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (root / "jupyter.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (root / "jupyter.log").read_text()[-3000:]
            try:
                status = httpx.get(f"{url}/deploykit/api/status", timeout=2).status_code
                if status == 403:  # up, and refusing a caller with no identity
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _rollback(lab: str, jupyter_token: str | None, reason: str) -> httpx.Response:
    headers = {"Authorization": f"token {jupyter_token}"} if jupyter_token else {}
    return httpx.post(
        f"{lab}/deploykit/api/models/iris/rollback",
        json={"reason": reason},
        headers=headers,
        timeout=60,
    )


def test_a_lab_rollback_names_the_jupyter_user_beside_the_token(lab: str, admin: Client):
    live = admin.model("iris").production
    try:
        moved = _rollback(lab, "alice-secret", "alice saw p95 double")
        assert moved.status_code == 200, moved.text
        event = admin.events("iris", limit=1)[0]
        assert (event.action, event.reason) == ("rollback", "alice saw p95 double")
        assert event.actor == "local admin for Alice Liddell (alice)"
        admin.deploy("iris", live, reason="test: back")

        assert _rollback(lab, "bob-secret", "bob's turn").status_code == 200
        assert admin.events("iris", limit=1)[0].actor == "local admin for bob"
    finally:
        if admin.model("iris").production != live:
            admin.deploy("iris", live, reason="test teardown")


def test_no_jupyter_identity_no_rollback(lab: str, admin: Client):
    before = (admin.model("iris").production, len(admin.events("iris", limit=1000)))
    assert _rollback(lab, None, "anonymous").status_code == 403
    assert _rollback(lab, "mallory-guess", "forged").status_code == 403
    assert (admin.model("iris").production, len(admin.events("iris", limit=1000))) == before


def test_the_server_checks_the_on_behalf_of_header(server: LiveServer, admin: Client):
    live = admin.model("iris").production
    assert live is not None
    deployer = admin.create_token("deployer", name="ci bot")
    url = f"{server.url}/v1/models/iris/deploy"
    for bad in ("x" * 101, "carol\tdoe"):
        answer = httpx.post(
            url,
            json={"version": live, "reason": "no-op"},
            headers={"Authorization": f"Bearer {deployer}", "X-Deploykit-On-Behalf-Of": bad},
        )
        assert answer.status_code == 422, answer.text
        assert "X-Deploykit-On-Behalf-Of" in answer.json()["error"]["message"]
    with Client(server.url, token=deployer) as bot:
        other = 2 if live != 2 else 1
        try:
            bot.on_behalf_of("José").deploy("iris", other, reason="for José")
            assert admin.events("iris", limit=1)[0].actor == "ci bot for José"
            bot.deploy("iris", live, reason="back")  # the original client acts for no one
            assert admin.events("iris", limit=1)[0].actor == "ci bot"
        finally:
            if admin.model("iris").production != live:
                admin.deploy("iris", live, reason="test teardown")
