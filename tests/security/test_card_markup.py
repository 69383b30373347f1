"""Card text is user input: whatever a deployer writes (or a description pushed), the HTML
every surface serves shows it as text. No tag, handler or javascript: link survives."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from deploykit.registry import Registry
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer
from deploykit.settings import Settings

PAYLOADS = {
    "intended_use": "<script>alert('use')</script>",
    "limitations": '<img src=x onerror="alert(1)"> and [click](javascript:alert(2))',
    "notes": "<iframe src=//evil.example></iframe> | a | breaker |\n\n<b onmouseover=x>b</b>",
    "owners": ["<svg onload=alert(3)>"],
}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("card-markup")
    settings = Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"})
    X, y = make_classification(n_samples=100, n_features=4, random_state=0)
    with Registry(settings) as reg, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg.push(LogisticRegression().fit(X, y), "m", X=X, description="<script>desc()</script>")
    with LiveServer(settings, ServerConfig()) as server:
        yield server


def _assert_inert(page: str) -> None:
    body = page.split("</style>", 1)[-1]
    assert not re.search(r"<(script|img|iframe|svg)\b", body, re.IGNORECASE), body[:2000]
    assert not re.search(r"<[^>]+\son\w+\s*=", body, re.IGNORECASE)
    assert "javascript:" not in re.findall(r'href="([^"]*)"', body).__repr__()
    assert "&lt;script&gt;alert('use')&lt;/script&gt;" in body.replace("&#x27;", "'")


def test_a_deployers_markup_is_text_on_every_served_card(live: LiveServer, tmp_path: Path) -> None:
    auth = {"authorization": f"Bearer {live.token}"}
    url = f"{live.url}/v1/models/m/versions/1/card"
    amended = httpx.post(url, json={"fields": PAYLOADS, "reason": "x"}, headers=auth)
    assert amended.status_code == 200, amended.text
    page = httpx.get(url, headers={**auth, "accept": "text/html"})
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    _assert_inert(page.text)
    assert "&lt;script&gt;desc()&lt;/script&gt;" in page.text  # the pushed description too
    from deploykit.client import Client

    with Client(live.url, token=live.token) as client:
        _assert_inert(client.card("m", 1, format="html"))


def test_a_reason_with_pipes_cannot_add_columns_to_the_history(live: LiveServer) -> None:
    auth = {"authorization": f"Bearer {live.token}"}
    url = f"{live.url}/v1/models/m/versions/1/card"
    reason = "a | b | c\n| injected | row |"
    httpx.post(url, json={"fields": {"notes": "n"}, "reason": reason}, headers=auth)
    markdown = httpx.get(url, headers={**auth, "accept": "text/markdown"}).text
    history = markdown.split("## History", 1)[1].split("\n\n", 2)[1].splitlines()
    cells = {len(re.findall(r"(?<!\\)\|", line)) for line in history}
    assert cells == {5}  # 4 columns on every line, the header's included
    assert not any(line.startswith("| injected") for line in history)
