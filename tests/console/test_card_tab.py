"""The model page's Card tab, driven through its widgets on a real server (no browser)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deploykit.client import Client
from deploykit.console import Console


@pytest.fixture
def console(client: Client) -> Iterator[Console]:
    c = Console(client, refresh_seconds=0.2)
    yield c
    c.stop()


def test_the_card_tab_loads_the_live_versions_card_when_opened(console, client, production):
    console.overview.rows["iris"].open_button.click()
    view = console.pages["iris"]
    assert [title for title in view.tabs.titles] == ["Overview", "Card"]
    assert "Open to load the card" in view.card.body.value  # nothing fetched before a look
    view.open_card()
    assert view.card.picker.value == production
    html = view.card.body.value
    assert f"<h1>Model card: iris, version {production}</h1>" in html
    assert "<h2>History</h2>" in html
    view.card.picker.value = 1
    assert "<h1>Model card: iris, version 1</h1>" in view.card.body.value
    assert view.card.body.value == client.card("iris", 1, format="html")
