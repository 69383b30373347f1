"""The console's trust model against real processes: a deploykit server (uvicorn), the
console (Voila, preheated kernels), raw websockets and Debian's Chromium.

Issue 12, point 1: with no credentials, a raw websocket drove the console's widgets and
moved production as "local admin". Point 5: every visit left a ~250 MB kernel behind.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright
from websockets.exceptions import ConnectionClosed, InvalidStatus

from deploykit.client import Client
from deploykit.console.serve import ConsoleProcess, serve
from deploykit.server.testing import LiveServer, free_port
from tests.console.seeding import fleet
from tests.security._kernel_socket import KernelSocket

pytestmark = pytest.mark.slow

CHROMIUM = Path(os.environ.get("DEPLOYKIT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
CULL_SECONDS = 8


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with fleet(tmp_path_factory.mktemp("console-access")) as live:
        yield live


@pytest.fixture(scope="module")
def admin(server: LiveServer) -> Iterator[Client]:
    with Client(server.url, token=server.token) as client:
        yield client


@pytest.fixture(scope="module")
def tokens(admin: Client) -> dict[str, str]:
    return {
        "viewer": admin.create_token("viewer", name="vera viewer"),
        "deployer": admin.create_token("deployer", name="dora deployer"),
    }


def _start(server: LiveServer, home: Path, **config: object) -> ConsoleProcess:
    return serve(
        server.settings,
        port=free_port(),
        server_url=server.url,
        log_path=home / f"console-{time.monotonic_ns()}.log",
        cull_seconds=CULL_SECONDS,
        config={"ConsoleIdentityProvider.recheck_seconds": 1, **config},
    ).wait_ready(timeout=120)


@pytest.fixture(scope="module")
def console(server: LiveServer, tokens: dict[str, str]) -> Iterator[ConsoleProcess]:
    # started from a shell that holds the admin token, as an operator's often does
    os.environ["DEPLOYKIT_TOKEN"] = server.token or ""
    try:
        handle = _start(server, Path(server.settings.home))
    finally:
        del os.environ["DEPLOYKIT_TOKEN"]
    try:
        yield handle
    finally:
        handle.stop()
    logs = handle.logs()
    for token in [*tokens.values(), server.token or "dk_"]:
        assert token not in logs  # signed in with ?token=: never logged


@pytest.fixture
def untouched(admin: Client) -> Iterator[None]:
    """Nothing may move: production and the audit log are as before the test."""
    production = admin.model("iris").production
    events = len(admin.events("iris", limit=1000))
    yield
    assert admin.model("iris").production == production
    assert len(admin.events("iris", limit=1000)) == events


@contextmanager
def _signed_in(console: ConsoleProcess, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=120) as http:
        answer = http.get(console.sign_in_url(token))
        assert answer.status_code == 302, answer.text
        assert answer.headers["location"] == "/console/"  # the token leaves the address bar
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
        assert token not in cookie
        yield http


def _page_kernel(http: httpx.Client, console: ConsoleProcess) -> str:
    page = http.get(console.url)
    assert page.status_code == 200, page.text[:500]
    found = re.search(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})", page.text)
    assert found, "no kernel id in the page"
    return found.group(1)


def _ws(console: ConsoleProcess, kernel_id: str, path: str = "api/kernels/{}/channels") -> str:
    return console.url.replace("http://", "ws://") + path.format(kernel_id)


def _cookie(http: httpx.Client) -> str:
    return "; ".join(f"{name}={value}" for name, value in http.cookies.items())


def _kernels(console: ConsoleProcess) -> list[int]:
    """The kernel processes under the console (Voila's children)."""
    found = []
    for task in Path(f"/proc/{console.pid}/task").glob("*/children"):
        found += [int(p) for p in task.read_text().split()]
    return found


def test_no_credentials_get_no_page_no_kernel_and_no_websocket(
    console: ConsoleProcess, tokens: dict[str, str], untouched: None
):
    page = httpx.get(console.url)
    assert page.status_code == 302
    assert page.headers["location"].startswith("/console/login?next=")
    form = httpx.get(f"{console.url}login")
    assert form.status_code == 200
    assert 'name="token"' in form.text
    # a forged cookie is no session
    forged = httpx.get(console.url, cookies={"deploykit-console-127-0-0-1": "2|1:0|x"})
    assert forged.status_code == 302

    # the attack of issue 12 on a live kernel whose id the attacker somehow learned
    with _signed_in(console, tokens["deployer"]) as deployer:
        kernel = _page_kernel(deployer, console)
        assert httpx.get(f"{console.url}api/kernels/{kernel}").status_code == 403
        with pytest.raises(InvalidStatus) as refused:
            KernelSocket(_ws(console, kernel))
        assert refused.value.response.status_code == 403
        # Voila's unauthenticated request-info websocket is not served at all (the
        # client, following the redirect, lands on the sign-in form)
        with pytest.raises(InvalidStatus):
            KernelSocket(_ws(console, kernel, "voila/query/{}"))
        assert httpx.post(f"{console.url}voila/api/shutdown/{kernel}").status_code == 403
        wrong_key = {"X-Deploykit-Kernel": kernel, "X-Deploykit-Kernel-Key": "guess"}
        identity = httpx.get(f"{console.url}deploykit/kernel-identity", headers=wrong_key)
        assert identity.status_code == 403
        # the kernel is still there for its owner
        assert deployer.get(f"{console.url}api/kernels/{kernel}").status_code == 200


def test_neither_the_console_nor_its_kernels_hold_the_admin_token(
    console: ConsoleProcess, server: LiveServer, tokens: dict[str, str]
):
    with _signed_in(console, tokens["deployer"]) as deployer:
        _page_kernel(deployer, console)  # a kernel serving a visitor, beside the pooled one
        kernels = _kernels(console)
        assert len(kernels) >= 2
        for pid in [console.pid, *kernels]:
            environ = dict(
                item.split("=", 1)
                for item in Path(f"/proc/{pid}/environ").read_text().split("\0")
                if "=" in item
            )
            assert "DEPLOYKIT_TOKEN" not in environ
            assert (server.token or "dk_") not in Path(f"/proc/{pid}/environ").read_text()
            if pid != console.pid:  # a kernel's home has no token file to fall back on
                assert not (Path(environ["DEPLOYKIT_HOME"]) / "token").exists()
        assert deployer.get(f"{console.url}elsewhere").status_code == 404


def test_a_refused_token_is_told_so_and_gets_no_session(console: ConsoleProcess):
    answer = httpx.get(console.sign_in_url("dk_not-a-token"))
    assert answer.status_code == 401
    assert "refused that token" in answer.text
    assert "dk_not-a-token" not in answer.text
    assert "deploykit-console" not in answer.headers.get("set-cookie", "")  # no session
    assert httpx.get(console.url, params={"token": "dk_é\u2028"}).status_code == 401
    with httpx.Client() as posted:
        form = posted.get(f"{console.url}login")
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form.text)
        assert xsrf
        reply = posted.post(
            f"{console.url}login", data={"token": "dk_wrong", "_xsrf": xsrf.group(1)}
        )
    assert reply.status_code == 401
    assert "refused that token" in reply.text


def test_one_visitor_cannot_reach_another_visitors_kernel(
    console: ConsoleProcess, tokens: dict[str, str], untouched: None
):
    with (
        _signed_in(console, tokens["deployer"]) as deployer,
        _signed_in(console, tokens["viewer"]) as viewer,
    ):
        kernel = _page_kernel(deployer, console)
        assert viewer.get(f"{console.url}api/kernels/{kernel}").status_code == 403
        with pytest.raises(InvalidStatus) as refused:
            KernelSocket(_ws(console, kernel), cookie=_cookie(viewer))
        assert refused.value.response.status_code == 403
        assert deployer.get(f"{console.url}api/kernels/{kernel}").status_code == 200


def test_a_viewer_forging_widget_clicks_moves_nothing(
    console: ConsoleProcess, tokens: dict[str, str], untouched: None
):
    with _signed_in(console, tokens["viewer"]) as viewer:
        kernel = _page_kernel(viewer, console)
        socket = KernelSocket(_ws(console, kernel), cookie=_cookie(viewer))
        try:
            socket.refresh_widgets()
            (iris,) = socket.find("dk-open", description="iris")
            socket.click(iris)
            socket.drain(lambda m: False, timeout=5)  # the model page builds its widgets
            socket.refresh_widgets()
            deploys = socket.find("dk-deploy")
            assert deploys
            assert all(socket.states[c]["disabled"] for c in deploys)
            # the buttons are disabled in the browser; the kernel gets the clicks anyway
            for button in [*deploys, *socket.find("dk-rollback")]:
                socket.click(button)
                for box in socket.find("dk-reason"):
                    socket.type(box, "forged")
                for confirm in socket.find("dk-confirm"):
                    socket.click(confirm)
            socket.drain(lambda m: False, timeout=5)
        finally:
            socket.close()


def test_a_revoked_token_loses_the_console(console: ConsoleProcess, admin: Client, untouched: None):
    secret = admin.create_token("deployer", name="rex revoked")
    (info,) = [t for t in admin.tokens() if t["name"] == "rex revoked"]
    with _signed_in(console, secret) as rex:
        kernel = _page_kernel(rex, console)
        socket = KernelSocket(_ws(console, kernel), cookie=_cookie(rex))
        admin.revoke_token(info["id"])
        # The server forgets the token within its 5 s cache; the console checks the
        # sessions that have pages open every second (recheck_seconds): the open page is
        # closed with its kernel, though the page makes no request.
        with pytest.raises(ConnectionClosed):
            socket.drain(lambda m: False, timeout=25)
        assert rex.get(console.url).status_code == 302  # to the sign-in form
        assert rex.get(f"{console.url}api/kernels/{kernel}").status_code == 403
    assert httpx.get(console.sign_in_url(secret)).status_code == 401


def test_kernels_stay_bounded_however_many_visits(
    server: LiveServer, admin: Client, tmp_path: Path
):
    """Visits that never open the page's websocket (a script, a crashed tab) leave no
    kernel behind; one visitor holds at most max_kernels_per_visitor at once."""
    handle = _start(server, tmp_path, **{"ConsoleKernelManager.max_kernels_per_visitor": 2})
    try:
        pool = len(_kernels(handle))
        assert pool == 1  # the preheated kernel
        visitor = admin.create_token("viewer", name="busy visitor")
        statuses = []
        for _ in range(20):  # a fresh session each time: the cap is the token's, not a cookie's
            with _signed_in(handle, visitor) as http:
                statuses.append(http.get(handle.url).status_code)
        assert statuses[:2] == [200, 200]
        assert set(statuses[2:]) == {429}
        assert len(_kernels(handle)) <= pool + 2
        deadline = time.monotonic() + CULL_SECONDS + 30
        while len(_kernels(handle)) > pool:
            assert time.monotonic() < deadline, f"{len(_kernels(handle))} kernels left"
            time.sleep(0.5)
        with _signed_in(handle, visitor) as http:  # culled: the visitor may visit again
            assert http.get(handle.url).status_code == 200
    finally:
        handle.stop()


# --------------------------------------------------------------------- in Chromium
@pytest.fixture
def browser() -> Iterator[object]:
    assert CHROMIUM.exists(), f"No Chromium at {CHROMIUM}: apt-get install -y chromium"
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _sign_in_in_browser(browser: object, console: ConsoleProcess, token: str) -> object:
    page = browser.new_context(viewport={"width": 1400, "height": 1400}).new_page()  # type: ignore[attr-defined]
    page.goto(console.url, timeout=120_000)
    expect(page.locator("input[name=token]")).to_be_visible()
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    expect(page.locator(".dk-open", has_text="iris")).to_be_visible(timeout=120_000)
    return page


def test_in_the_browser_a_viewer_sees_disabled_buttons_and_a_deployer_deploys(
    console: ConsoleProcess, tokens: dict[str, str], admin: Client, browser: object
):
    live = admin.model("iris").production
    viewer = _sign_in_in_browser(browser, console, tokens["viewer"])
    expect(viewer.locator(".dk-console")).to_contain_text("vera viewer (viewer)")  # type: ignore[attr-defined]
    viewer.locator(".dk-open", has_text="iris").click()  # type: ignore[attr-defined]
    deploy_buttons = viewer.locator("button.dk-deploy")  # type: ignore[attr-defined]
    expect(deploy_buttons.first).to_be_disabled(timeout=30_000)
    expect(viewer.locator("button.dk-rollback").first).to_be_disabled()  # type: ignore[attr-defined]

    deployer = _sign_in_in_browser(browser, console, tokens["deployer"])
    expect(deployer.locator(".dk-console")).to_contain_text("dora deployer (deployer)")  # type: ignore[attr-defined]
    deployer.locator(".dk-open", has_text="iris").click()  # type: ignore[attr-defined]
    try:
        rollback = deployer.locator("button.dk-rollback").first  # type: ignore[attr-defined]
        expect(rollback).to_be_enabled(timeout=30_000)
        rollback.click()
        deployer.locator(".dk-reason input").fill("v3 misroutes setosa")  # type: ignore[attr-defined]
        deployer.locator("button.dk-confirm").first.click()  # type: ignore[attr-defined]
        expect(deployer.locator(".dk-feedback")).to_contain_text("rolled back", timeout=20_000)  # type: ignore[attr-defined]
        assert admin.model("iris").production != live
        event = admin.events("iris", limit=1)[0]
        assert event.action == "rollback"
        assert event.reason == "v3 misroutes setosa"
        assert event.actor == "dora deployer"  # the person, not "local admin"
    finally:
        if admin.model("iris").production != live:
            admin.deploy("iris", live, reason="test teardown")


def test_without_preheating_a_page_kernel_acts_for_its_visitor(
    server: LiveServer, admin: Client, tokens: dict[str, str], tmp_path: Path
):
    """The kernel a visit starts (no pool) learns its visitor the same way: a rollback
    driven over its websocket is the deployer's in the audit log."""
    handle = serve(
        server.settings,
        port=free_port(),
        server_url=server.url,
        preheat=False,
        log_path=tmp_path / "console.log",
    ).wait_ready(timeout=120)
    live = admin.model("iris").production
    try:
        assert _kernels(handle) == []  # nothing runs before a visit
        with _signed_in(handle, tokens["deployer"]) as deployer:
            kernel = _page_kernel(deployer, handle)
            socket = KernelSocket(_ws(handle, kernel), cookie=_cookie(deployer))
            try:
                socket.refresh_widgets()
                (iris,) = socket.find("dk-open", description="iris")
                socket.click(iris)
                socket.drain(lambda m: False, timeout=5)
                socket.refresh_widgets()
                (rollback,) = socket.find("dk-rollback", disabled=False)
                socket.click(rollback)
                socket.drain(lambda m: False, timeout=2)
                (reason,) = socket.find("dk-reason")
                socket.type(reason, "driven over the websocket")
                (confirm,) = socket.find("dk-confirm")
                socket.click(confirm)
                deadline = time.monotonic() + 20
                while admin.model("iris").production == live:
                    assert time.monotonic() < deadline, "the rollback never happened"
                    socket.drain(lambda m: False, timeout=0.5)
            finally:
                socket.close()
        event = admin.events("iris", limit=1)[0]
        assert (event.action, event.reason) == ("rollback", "driven over the websocket")
        assert event.actor == "dora deployer"
    finally:
        if admin.model("iris").production != live:
            admin.deploy("iris", live, reason="test teardown")
        handle.stop()
