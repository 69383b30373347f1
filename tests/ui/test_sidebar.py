"""The sidebar in a real JupyterLab, in Debian's Chromium (Python Playwright), against a real
deploykit server: it lists the models, and its Rollback moves the server's production alias.

Needs ``apt-get install chromium`` and the built extension (see conftest.py; ``.ci/run``
does both). Playwright never downloads a browser here.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from deploykit.client import Client
from deploykit.server.testing import LiveServer, free_port
from tests.ui.lab import CHROMIUM, CHROMIUM_ARGS, lab_environment, running_lab, write_base_config

pytestmark = pytest.mark.slow


def _check_prerequisites() -> None:
    assert CHROMIUM.exists(), f"No Chromium at {CHROMIUM}: apt-get install -y chromium"


@pytest.fixture(scope="module")
def lab(deploykit_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``jupyter lab`` on a free port, its config and state in a temporary folder; its URL."""
    _check_prerequisites()
    root = tmp_path_factory.mktemp("lab")
    token = secrets.token_hex(16)
    port = free_port()
    config = {
        "ServerApp": {
            "jpserver_extensions": {"deploykit": True},
            "allow_root": True,
            "ip": "127.0.0.1",
            "port": port,
            "port_retries": 0,
            "open_browser": False,
            "root_dir": str(root / "notebooks"),
            "token": token,
        },
        "IdentityProvider": {"token": token},
        "LabApp": {"expose_app_in_browser": True, "news_url": None},
        "DeployKitLab": {"server_url": deploykit_server.url, "token": deploykit_server.token},
    }
    write_base_config(root)
    (root / "config" / "jupyter_server_config.json").write_text(json.dumps(config))
    (root / "notebooks" / "train.ipynb").write_text(json.dumps(_notebook(["model = None"])))
    with running_lab(root, port, token, lab_environment(root)) as url:
        yield f"{url}/lab?reset&token={token}"  # reset: every page starts from the default layout


def _notebook(sources: list[str]) -> dict[str, object]:
    return {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "source": s,
                "outputs": [],
                "execution_count": None,
            }
            for s in sources
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, lab: str) -> Iterator[Page]:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(lab, timeout=120_000)
    page.locator("#jp-main-dock-panel").wait_for(timeout=120_000)
    yield page
    page.close()
    assert not [e for e in errors if "deploykit" in e.lower()], errors


def open_sidebar(page: Page) -> None:
    tab = page.locator('.jp-SideBar [data-id="deploykit-sidebar"]')
    expect(tab.locator("svg")).to_have_count(1)  # an icon, not rotated text: this build
    tab.click()
    expect(page.locator("#deploykit-sidebar")).to_be_visible()


def test_the_sidebar_lists_the_models_of_the_server(page: Page, deploykit_server: LiveServer):
    open_sidebar(page)
    panel = page.locator("#deploykit-sidebar")
    models = panel.locator("li.jp-DeploykitPanel-model")
    expect(models).to_have_count(3)
    assert sorted(models.evaluate_all("ns => ns.map(n => n.dataset.model)")) == [
        "churn",
        "draft",
        "iris",
    ]
    iris = panel.locator('li[data-model="iris"]')
    expect(iris.locator('[data-field="live"]')).to_have_text("live v2")
    expect(iris.locator(".jp-DeploykitBadge")).to_have_text("serving")
    expect(iris.locator('[data-field="p95"]')).to_contain_text(" ms")
    expect(iris.locator('[data-field="drift"]')).to_have_text("drift 0%")
    draft = panel.locator('li[data-model="draft"]')
    expect(draft.locator(".jp-DeploykitBadge")).to_have_text("not deployed")
    expect(draft.locator('[data-field="p95"]')).to_have_text("p95 –")
    expect(panel.locator(".jp-DeploykitPanel-target")).to_have_text(
        f"Server: {deploykit_server.url}"
    )


def test_rollback_in_the_sidebar_moves_production_on_the_server(page: Page, server_client: Client):
    open_sidebar(page)
    panel = page.locator("#deploykit-sidebar")
    panel.get_by_role("button", name="churn", exact=True).click()
    expect(panel.locator(".jp-DeploykitPanel-live")).to_have_text("In production: v2")
    panel.get_by_role("button", name="Rollback…").click()

    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Production of churn serves version 2.")
    dialog.locator("textarea").fill("the tree overfits")
    dialog.get_by_role("button", name="Roll back").click()

    expect(panel.locator(".jp-DeploykitPanel-notice")).to_have_text(
        "churn: production moved from v2 to v1."
    )
    expect(panel.locator(".jp-DeploykitPanel-live")).to_have_text("In production: v1")
    assert server_client.model("churn").production == 1
    event = server_client.events("churn", limit=1)[0]
    assert (event.action, event.from_version, event.to_version) == ("rollback", 2, 1)
    assert event.reason == "the tree overfits"


def test_palette_commands_insert_a_push_cell(page: Page):
    page.evaluate(
        "() => window.jupyterapp.commands.execute('docmanager:open', "
        "{path: 'train.ipynb', factory: 'Notebook'})"
    )
    page.locator(".jp-Dialog").get_by_role("button", name="No Kernel").click()
    notebook = page.locator(".jp-NotebookPanel .jp-Notebook")
    expect(notebook.locator(".jp-Cell")).to_have_count(1)
    page.evaluate("() => window.jupyterapp.commands.execute('deploykit:insert-push')")
    expect(notebook.locator(".jp-Cell")).to_have_count(2)
    expect(notebook.locator(".jp-Cell").nth(1)).to_contain_text("%deploy push model --name")

    labels = page.evaluate(
        "() => ['open-console', 'refresh', 'insert-push', 'show-deployments']"
        ".map(c => window.jupyterapp.commands.label('deploykit:' + c))"
    )
    assert labels == [
        "Open deploy console",
        "Refresh deployments",
        "Insert %deploy push cell",
        "Show Deployments sidebar",
    ]


def test_each_version_links_to_its_model_card(page: Page, server_client: Client):
    open_sidebar(page)
    panel = page.locator("#deploykit-sidebar")
    panel.get_by_role("button", name="iris", exact=True).click()
    links = panel.locator(".jp-DeploykitPanel-versions a.jp-DeploykitPanel-card")
    expect(links).to_have_count(len(server_client.versions("iris")))
    live = server_client.model("iris").production
    link = panel.locator(f'li[data-version="{live}"] a.jp-DeploykitPanel-card')
    with page.expect_popup() as popup_info:
        link.click()
    card = popup_info.value
    expect(card.locator("h1")).to_have_text(f"Model card: iris, version {live}")
    expect(card.locator("h2", has_text="History")).to_have_count(1)
    card.close()
