"""JupyterLab as a user sets it up: only a ``jupyter_server_config.py`` says where deploykit is.

In a real JupyterLab, in Debian's Chromium, against a real ``deploykit serve`` on loopback:

- the inserted ``%deploy push`` cell, run in a real kernel of that Lab, lands on the
  configured server and says so (not in the kernel's own embedded registry);
- "Open deploy console" shows the console (rendered by this Jupyter server's Voila, nothing
  copied), and its overview gives every model the badge the sidebar gives it;
- a wrong token is an error that Refresh recovers from once the configuration is fixed,
  and a restart with a viewer's token turns the open sidebar read-only.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from deploykit.client import Client
from deploykit.server.testing import LiveServer, free_port
from tests.ui.lab import (
    CHROMIUM,
    CHROMIUM_ARGS,
    lab_environment,
    running_lab,
    server_config_py,
    write_base_config,
)

pytestmark = pytest.mark.slow

TRAIN = (
    "from sklearn.datasets import load_iris\n"
    "from sklearn.linear_model import LogisticRegression\n"
    "X_train, y_train = load_iris(return_X_y=True, as_frame=True)\n"
    "model = LogisticRegression(max_iter=300).fit(X_train, y_train)"
)


class Lab:
    """A Lab folder (config, notebooks, state) and how to (re)start Jupyter on it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.token = secrets.token_hex(16)
        write_base_config(root)

    def configure(self, **deploykit: object) -> None:
        config = server_config_py(self.port, self.token, self.root, deploykit)
        (self.root / "config" / "jupyter_server_config.py").write_text(config)

    def run(self) -> Iterator[str]:
        return running_lab(self.root, self.port, self.token, lab_environment(self.root))

    def page_url(self, base: str) -> str:
        return f"{base}/lab?reset&token={self.token}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), f"No Chromium at {CHROMIUM}: apt-get install -y chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def lab(
    deploykit_server: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Lab, str]]:
    """A Lab configured for the seeded server by jupyter_server_config.py alone."""
    setup = Lab(tmp_path_factory.mktemp("lab-target"))
    setup.configure(server_url=deploykit_server.url, token=deploykit_server.token)
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "source": TRAIN,
                "outputs": [],
                "execution_count": None,
            }
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (setup.root / "notebooks" / "train.ipynb").write_text(json.dumps(notebook))
    with setup.run() as url:
        yield setup, url


def _page(browser: Browser, url: str) -> Page:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(url, timeout=120_000)
    page.locator("#jp-main-dock-panel").wait_for(timeout=120_000)
    # this checkout's build is the one loaded (see tests/ui/lab.py)
    caption = page.evaluate("() => window.jupyterapp.commands.caption('deploykit:open-console')")
    assert caption.startswith("The deploykit console in a JupyterLab tab (or a browser tab")
    return page


@pytest.fixture
def page(browser: Browser, lab: tuple[Lab, str]) -> Iterator[Page]:
    setup, url = lab
    page = _page(browser, setup.page_url(url))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    page.close()
    assert not [e for e in errors if "deploykit" in e.lower()], errors


def _sidebar(page: Page) -> Locator:
    page.locator('.jp-SideBar [data-id="deploykit-sidebar"]').click()
    panel = page.locator("#deploykit-sidebar")
    expect(panel).to_be_visible()
    return panel


def test_the_inserted_push_cell_lands_on_the_configured_server(
    page: Page, lab: tuple[Lab, str], deploykit_server: LiveServer, server_client: Client
):
    setup, _ = lab
    page.evaluate(
        "() => window.jupyterapp.commands.execute('docmanager:open', "
        "{path: 'train.ipynb', factory: 'Notebook'})"
    )
    cells = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")
    expect(cells).to_have_count(1)
    page.evaluate("() => window.jupyterapp.commands.execute('deploykit:insert-push')")
    expect(cells).to_have_count(2)
    expect(cells.nth(1)).to_contain_text("%deploy push model --name my-model")
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

    output = cells.nth(1).locator(".jp-OutputArea")
    expect(output).to_contain_text("Pushed my-model:1", timeout=180_000)
    expect(output).to_contain_text(f"→ {deploykit_server.url}")
    expect(output).to_contain_text("production → 1")
    assert server_client.model("my-model").production == 1
    # nothing went into an embedded registry of the kernel's own
    assert not (setup.root / "kernel-home" / "registry.db").exists()

    panel = _sidebar(page)
    panel.get_by_role("button", name="Refresh").click()
    expect(panel.locator('li[data-model="my-model"] [data-field="live"]')).to_have_text("live v1")


_CONSOLE_BADGE = """(grid, name) => {
  const cells = Array.from(grid.children);
  const i = cells.findIndex(c => c.classList.contains('dk-open') && c.innerText.trim() === name);
  if (i < 0) return null;
  // the badge's <span title="…">; ipywidgets puts title="null" on its own nodes
  const titles = Array.from(cells[i + 3].querySelectorAll('span[title]'))
    .map(n => n.getAttribute('title')).filter(t => t && t !== 'null');
  return [cells[i + 3].innerText.trim(), titles[0] || ''];
}"""


def test_open_deploy_console_shows_the_console_with_the_sidebars_badges(page: Page):
    panel = _sidebar(page)
    models = panel.locator("li.jp-DeploykitPanel-model")
    expect(models.first).to_be_visible()
    names = models.evaluate_all("ns => ns.map(n => n.dataset.model)")
    assert {"iris", "churn", "draft"} <= set(names)

    page.evaluate("() => window.jupyterapp.commands.execute('deploykit:open-console')")
    frame = page.locator("#deploykit-console iframe")
    expect(frame).to_have_attribute(
        "src", re.compile(r"^http://127\.0\.0\.1:\d+/deploykit/console/$")
    )
    console = page.frame_locator("#deploykit-console iframe")
    grid = console.locator(".dk-overview")
    expect(grid).to_be_visible(timeout=240_000)
    expect(grid.locator(".dk-open", has_text="draft")).to_be_visible(timeout=60_000)

    panel.get_by_role("button", name="Refresh").click()
    for name in names:
        badge = panel.locator(f'li[data-model="{name}"] .jp-DeploykitBadge')
        sidebar = (badge.inner_text().strip(), badge.get_attribute("title") or "")
        shown = grid.evaluate(_CONSOLE_BADGE, name)
        assert shown is not None, f"{name} is not in the console's overview"
        assert tuple(shown) == sidebar, name
    assert dict.fromkeys(["serving", "idle", "not deployed"]).keys() <= {
        panel.locator(f'li[data-model="{n}"] .jp-DeploykitBadge').inner_text() for n in names
    }


def test_refresh_recovers_from_a_wrong_token_and_follows_a_restart_as_viewer(
    browser: Browser,
    deploykit_server: LiveServer,
    server_client: Client,
    tmp_path_factory: pytest.TempPathFactory,
):
    setup = Lab(tmp_path_factory.mktemp("lab-restart"))
    viewer = server_client.create_token("viewer", name="analyst")

    setup.configure(server_url=deploykit_server.url, token="dk_not_a_token")
    with setup.run() as url:
        page = _page(browser, setup.page_url(url))
        # While Jupyter restarts, Lab says it lost the server; a user dismisses that.
        lost = page.locator(".jp-Dialog", has_text="Server Connection Error")
        page.add_locator_handler(
            lost, lambda dialog: dialog.get_by_role("button", name="Close").click()
        )
        panel = _sidebar(page)
        error = panel.locator(".jp-DeploykitPanel-error")
        expect(error).to_contain_text("c.DeployKitLab.token")
        empty = panel.locator(".jp-DeploykitPanel-empty")
        expect(empty).to_have_text(
            "The models could not be read (see above). Refresh to try again."
        )
        panel.get_by_role("button", name="Refresh").click()
        expect(error).to_contain_text("c.DeployKitLab.token")  # still told, never "Loading…"

    setup.configure(server_url=deploykit_server.url, token=deploykit_server.token)
    with setup.run():
        panel.get_by_role("button", name="Refresh").click()
        expect(error).to_be_hidden(timeout=30_000)
        expect(panel.locator('li[data-model="iris"]')).to_be_visible()
        panel.get_by_role("button", name="churn", exact=True).click()
        expect(panel.get_by_role("button", name="Rollback…")).to_be_visible()
        expect(panel.locator(".jp-DeploykitPanel-deploy")).to_have_count(1)

    setup.configure(server_url=deploykit_server.url, token=viewer)
    with setup.run():
        panel.get_by_role("button", name="Refresh").click()
        note = panel.locator(".jp-DeploykitPanel-readonly")
        expect(note).to_contain_text("has the 'viewer' role", timeout=30_000)
        # the configuration changed: the open model closed, nothing stale left to click
        expect(panel.locator(".jp-DeploykitPanel-notice")).to_contain_text(
            f"The Jupyter server now uses server: {deploykit_server.url}", timeout=30_000
        )
        panel.get_by_role("button", name="churn", exact=True).click()
        expect(panel.locator(".jp-DeploykitPanel-live")).to_contain_text("In production")
        expect(panel.get_by_role("button", name="Rollback…")).to_have_count(0)
        expect(panel.locator(".jp-DeploykitPanel-deploy")).to_have_count(0)
        page.screenshot(path=str(setup.root / "viewer.png"))
    page.close()


def test_a_console_url_setting_nobody_answers_gives_a_note_not_a_blank_frame(
    page: Page, lab: tuple[Lab, str]
):
    setup, url = lab
    nobody = f"http://127.0.0.1:{free_port()}/console/"
    settings = f"{url}/lab/api/settings/deploykit-labextension:plugin"
    headers = {"Authorization": f"token {setup.token}"}
    raw = json.dumps({"consoleUrl": nobody, "refreshSeconds": 30})
    assert httpx.put(settings, json={"raw": raw}, headers=headers).status_code == 204
    try:
        page.reload()
        page.locator("#jp-main-dock-panel").wait_for(timeout=120_000)
        page.evaluate("() => window.jupyterapp.commands.execute('deploykit:open-console')")
        expect(page.get_by_text(f"No deploy console answers at {nobody}")).to_be_visible()
        expect(page.locator("#deploykit-console")).to_have_count(0)
    finally:
        httpx.put(settings, json={"raw": "{}"}, headers=headers)
