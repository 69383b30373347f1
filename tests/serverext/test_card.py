"""The sidebar's "card" links: a Jupyter page with the version's model card."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from deploykit.client import Client


async def test_the_card_page_shows_a_versions_card_and_runs_no_script(
    jp_fetch: Any, server_client: Client
) -> None:
    response = await jp_fetch("deploykit", "api", "models", "iris", "card", params={"version": "1"})
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "script-src" not in response.headers["Content-Security-Policy"]
    page = response.body.decode()
    assert page.startswith("<!doctype html>")
    assert "<h1>Model card: iris, version 1</h1>" in page
    markdown = server_client.card("iris", 1)
    assert "## History" in markdown
    assert "<h2>History</h2>" in page
    live = await jp_fetch("deploykit", "api", "models", "iris", "card")  # production
    production = server_client.model("iris").production
    assert f"<h1>Model card: iris, version {production}</h1>" in live.body.decode()


async def test_a_missing_version_is_a_404_that_says_so(jp_fetch: Any) -> None:
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("deploykit", "api", "models", "iris", "card", params={"version": "99"})
    assert err.value.code == 404
    assert err.value.response is not None
    assert "no version 99" in json.loads(err.value.response.body)["message"]
