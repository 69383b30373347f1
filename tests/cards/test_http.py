"""The card over HTTP: a real server on loopback; Markdown or HTML by Accept; roles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploykit.client import Client
from deploykit.errors import PermissionDeniedError
from deploykit.registry import Registry
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer
from tests.cards.conftest import push_quietly, settings_for


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, churn_data: Any, churn_model: Any
) -> Iterator[tuple[LiveServer, Registry]]:
    home = tmp_path_factory.mktemp("cards-server")
    settings = settings_for(home)
    registry = Registry(settings)
    X, _ = churn_data
    push_quietly(registry, churn_model, X=X.drop(columns="region"), card={"owners": "ana"})
    with LiveServer(settings, ServerConfig()) as live:
        yield live, registry
    registry.close()


def _token(live: LiveServer, role: str) -> str:
    answer = httpx.post(
        f"{live.url}/v1/tokens",
        json={"role": role, "name": f"{role}-cards"},
        headers={"authorization": f"Bearer {live.token}"},
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"])


def test_a_viewer_reads_markdown_or_html_by_accept(server: Any) -> None:
    live, registry = server
    url = f"{live.url}/v1/models/churn/versions/1/card"
    viewer = {"authorization": f"Bearer {_token(live, 'viewer')}"}
    markdown = httpx.get(url, headers={**viewer, "accept": "text/markdown"})
    assert markdown.status_code == 200
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text == registry.card("churn", 1)
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    html = httpx.get(url, headers={**viewer, "accept": browser})
    assert html.headers["content-type"].startswith("text/html")
    assert "<h1>Model card: churn, version 1</h1>" in html.text
    assert "script-src" not in html.headers["content-security-policy"]  # no script runs
    assert httpx.get(url).status_code == 401  # not without a token
    assert httpx.get(url + "?format=pdf", headers=viewer).status_code == 422


def test_amending_needs_a_deployer_and_is_on_record(server: Any) -> None:
    live, registry = server
    url = f"{live.url}/v1/models/churn/versions/1/card"
    body = {"fields": {"limitations": "Monthly plans only"}, "reason": "legal review"}
    viewer = {"authorization": f"Bearer {_token(live, 'viewer')}"}
    assert httpx.post(url, json=body, headers=viewer).status_code == 403
    deployer = {"authorization": f"Bearer {_token(live, 'deployer')}"}
    answer = httpx.post(url, json=body, headers=deployer)
    assert answer.status_code == 200, answer.text
    assert answer.json()["revision"] >= 2
    assert answer.json()["actor"] == "deployer-cards"
    bad = httpx.post(url, json={"fields": {"colour": "red"}}, headers=deployer)
    assert bad.status_code == 422
    assert "'colour'" in bad.json()["error"]["message"]
    assert "Monthly plans only" in registry.card("churn", 1)


def test_the_client_speaks_the_same_protocol(server: Any, tmp_path: Path) -> None:
    live, registry = server
    with Client(live.url, token=_token(live, "deployer")) as client:
        assert client.card("churn", 1) == registry.card("churn", 1)
        assert client.card("churn", 1, revision=1, format="html") == registry.card(
            "churn", 1, revision=1, format="html"
        )
        revision = client.amend_card("churn", 1, {"notes": "via the client"})
        assert revision.fields["notes"] == "via the client"
        lineage = client.lineage("churn", 1)
        assert lineage == registry.lineage("churn", 1)
        assert lineage is not None
        assert lineage["reference"]["kind"] == "dataframe"
    with (
        Client(live.url, token=_token(live, "viewer")) as client,
        pytest.raises(PermissionDeniedError),
    ):
        client.amend_card("churn", 1, {"notes": "no"})


def test_the_openapi_document_describes_the_card(server: Any) -> None:
    live, _ = server
    doc = httpx.get(f"{live.url}/openapi.json").json()
    card = doc["paths"]["/v1/models/{name}/versions/{ref}/card"]
    assert set(card["get"]["responses"]["200"]["content"]) == {"text/markdown", "text/html"}
    assert "post" in card
    assert "/v1/models/{name}/versions/{ref}/lineage" in doc["paths"]
