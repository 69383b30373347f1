"""The console as a user gets it: `deploykit console` (Voila, preheated kernel) on a real
server, in Debian's Chromium driven by Playwright, signed in with the operator's link.
Rollback from the page moves the server's production alias, and a move made elsewhere
reaches the open page on its own.

Needs ``apt-get install chromium`` (``.ci/run`` installs it); Playwright downloads no browser.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from deploykit.client import Client
from deploykit.registry import Registry
from deploykit.server.testing import LiveServer, free_port
from tests.console.processes import stop_tree
from tests.console.seeding import fleet

pytestmark = pytest.mark.slow

CHROMIUM = Path(os.environ.get("DEPLOYKIT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with fleet(tmp_path_factory.mktemp("browser-home")) as live:
        yield live


@pytest.fixture
def console_url(server: LiveServer) -> Iterator[str]:
    """`deploykit console` in a child process, as a user starts it; stopped with Ctrl+C."""
    port = free_port()
    env = {**os.environ, "DEPLOYKIT_HOME": str(server.settings.home)}  # the console needs no token
    command = [sys.executable, "-m", "deploykit", "console", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--server", server.url],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/console/"
    log = Path(server.settings.home) / "console.log"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.communicate()[0].decode()
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            try:
                if httpx.get(f"{url}voila/static/voila.js", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield url
    finally:
        # `kill`: reaches the command even where Ctrl+C is ignored (a background job);
        # it stops Voila and its kernels, and stop_tree kills whatever would be left
        out = stop_tree(proc)
    assert proc.returncode == 0, out
    assert f"deploykit console on {url} for {server.url}" in out
    with pytest.raises(httpx.TransportError):
        httpx.get(url, timeout=1)


@pytest.fixture
def page(console_url: str, server: LiveServer, tmp_path: Path) -> Iterator[Page]:
    assert CHROMIUM.exists(), f"No Chromium at {CHROMIUM}: apt-get install -y chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        # An air-gapped console needs nothing from the internet: every request that would
        # leave loopback (a CDN's fonts...) is refused here and listed.
        outside: list[str] = []
        page.route(re.compile(r"^(?!https?://127\.0\.0\.1[:/]|wss?://127\.0\.0\.1[:/]|data:)"),
                   lambda route: (outside.append(route.request.url), route.abort()))  # fmt: skip
        # the operator's sign-in link (`deploykit up` prints it); the token then leaves the URL
        page.goto(f"{console_url}?token={server.token}", timeout=120_000)
        assert page.url == console_url
        yield page
        page.screenshot(path=str(tmp_path / "console.png"), full_page=True)
        browser.close()
    assert outside == [], f"the console asked the internet for {outside}"
    # Voila's known noise (plotly's renderer, shared-module versions) is not ours
    assert not [e for e in errors if "deploykit" in e.lower() or "dk-" in e], errors


def test_rollback_from_the_console_moves_production_and_the_page_follows_the_server(
    page: Page, server: LiveServer
):
    expect(page.locator(".dk-open")).to_have_count(2, timeout=120_000)
    overview = page.locator(".dk-overview")
    expect(overview).to_contain_text("v3")
    expect(overview).to_contain_text("not deployed")

    page.locator(".dk-open", has_text="iris").click()
    heading = page.locator(".dk-model-heading")
    expect(heading).to_contain_text("production: version 3", timeout=30_000)
    expect(page.locator(".dk-chart-latency .main-svg").first).to_be_visible(timeout=30_000)
    # accuracy estimated from the logged scores, no label back yet: charted with its band
    estimated = page.locator(".dk-chart-estimated")
    expect(estimated.locator(".main-svg").first).to_be_visible(timeout=30_000)
    expect(estimated.locator(".legend")).to_contain_text("estimated accuracy")
    expect(estimated.locator(".legend")).to_contain_text("90% band")
    expect(page.get_by_text("Estimated accuracy of version 3 over this period")).to_be_visible()

    page.locator(".dk-rollback").click()
    page.locator(".dk-reason input").fill("v3 misroutes setosa")
    page.locator(".dk-confirm").click()
    expect(heading).to_contain_text("production: version 2", timeout=10_000)
    expect(page.locator(".dk-feedback")).to_contain_text("production rolled back: 3 → 2")

    with Client(server.url, token=server.token) as client:
        assert client.model("iris").production == 2
        event = client.events("iris", limit=1)[0]
        assert (event.action, event.from_version, event.to_version) == ("rollback", 3, 2)
        assert event.reason == "v3 misroutes setosa"
        assert event.actor == "local admin"  # the token that signed in

        # moved by someone else: the open page shows it within a few seconds, no reload
        client.deploy("iris", 3, reason="back to the tree")
        expect(heading).to_contain_text("production: version 3", timeout=20_000)
        expect(page.locator(".dk-events")).to_contain_text("back to the tree")


def test_the_model_page_tells_the_story_of_an_auto_rollback(page: Page, server: LiveServer):
    """After an alert rolled production back: its evidence on the page, linked from the
    audit log; Roll back here only below production; a manual redeploy clears the badge;
    and the page scrolls as one (print to PDF and full-page screenshots see all of it)."""
    from tests.console.test_story import _fire

    with Client(server.url, token=server.token) as client:
        if client.model("iris").production != 3:
            client.deploy("iris", 3, reason="test: start from the tree")
        _fire(server, 3)  # the drift rule fires on v3 and rolls production back to 2
    expect(page.locator(".dk-open")).to_have_count(2, timeout=120_000)
    expect(page.locator(".dk-overview")).to_contain_text("rolled back", timeout=20_000)
    page.locator(".dk-open", has_text="iris").click()
    heading = page.locator(".dk-model-heading")
    expect(heading).to_contain_text("production: version 2", timeout=30_000)
    expect(heading).to_contain_text("rolled back")

    evidence = page.locator(".dk-evidence")
    expect(evidence).to_contain_text("alert 'drift' fired at")
    expect(evidence).to_contain_text("rolled back automatically: 3 → 2")
    expect(page.locator(".dk-chart-evidence-drift .main-svg").first).to_be_visible(timeout=30_000)
    expect(page.locator(".dk-chart-evidence-drift")).to_contain_text("threshold")
    legend = page.locator(".dk-chart-latency .legend")
    for label in ("p50", "p95", "p99"):
        expect(legend).to_contain_text(label)

    # v3 is newer than production (v2): it offers Deploy, not "Roll back here"
    expect(page.locator(".dk-rollback-to:visible")).to_have_count(1)  # v1's only

    # the browser scrolls the page itself; no inner container holds the content
    sizes = page.evaluate(
        """() => ({page: document.scrollingElement.scrollHeight, view: innerHeight,
                   inner: [...document.querySelectorAll('*')].filter(e => {
                     const s = getComputedStyle(e);
                     return /(auto|scroll)/.test(s.overflowY) && e.scrollHeight > e.clientHeight + 2
                         && e.clientHeight > 0.5 * innerHeight;
                   }).length})"""
    )
    assert sizes["page"] > sizes["view"], sizes
    assert sizes["inner"] == 0, sizes
    page.evaluate("window.scrollTo(0, document.scrollingElement.scrollHeight)")
    assert page.evaluate("window.scrollY") > 0
    # the audit log's alert and auto-rollback link up to the evidence
    links = page.locator(".dk-evidence-link")
    expect(links).to_have_count(2)
    links.first.click()
    expect(page.locator("#dk-evidence")).to_be_in_viewport()

    with Client(server.url, token=server.token) as client:
        client.deploy("iris", 3, reason="test: back by hand")
    expect(heading).to_contain_text("production: version 3", timeout=20_000)
    expect(heading).not_to_contain_text("rolled back")
    with Registry(server.settings) as registry:  # the alert stays in the audit log
        assert [e.action for e in registry.events("iris", limit=3)] == [
            "deploy",
            "auto-rollback",
            "alert",
        ]
