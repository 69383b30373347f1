"""Whether JupyterLab may show a console in a frame, judged as the browser would judge it.

Against real HTTP servers on loopback: small ones answering with each kind of header, and a
real `deploykit console` (Voila) started with and without ``--frame-ancestors``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from deploykit.console.serve import frame_ancestors_policy, serve
from deploykit.errors import ConfigurationError
from deploykit.server.testing import free_port
from deploykit.serverext.console import framing
from deploykit.settings import Settings

LAB = "http://127.0.0.1:8888"

HEADERS = {
    "/self": {"Content-Security-Policy": "frame-ancestors 'self'; report-uri /api/csp"},
    "/lab": {"Content-Security-Policy": f"frame-ancestors 'self' {LAB}"},
    "/any": {"Content-Security-Policy": "default-src 'self'; frame-ancestors *"},
    "/deny": {"X-Frame-Options": "DENY"},
    "/plain": {},
}


class _Headers(BaseHTTPRequestHandler):
    def do_HEAD(self) -> None:
        self.send_response(200)
        for key, value in HEADERS[self.path].items():
            self.send_header(key, value)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Headers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("path", "embed"),
    [("/self", False), ("/lab", True), ("/any", True), ("/deny", False), ("/plain", True)],
)
def test_framing_follows_the_consoles_headers(site: str, path: str, embed: bool):
    found = framing(site + path, LAB)
    assert (found["reachable"], found["embed"]) == (True, embed)
    if not embed:
        assert "opened in a new tab" in found["reason"]


def test_a_console_that_allows_only_itself_says_how_to_allow_this_lab(site: str):
    reason = framing(site + "/self", LAB)["reason"]
    assert f"not by this JupyterLab ({LAB})" in reason
    assert f"deploykit console --frame-ancestors {LAB}" in reason


def test_no_console_answering_is_said_so():
    url = f"http://127.0.0.1:{free_port()}/console/"
    found = framing(url, LAB)
    assert (found["reachable"], found["embed"]) == (False, False)
    assert found["reason"].startswith(f"No deploy console answers at {url}")


def test_frame_ancestors_must_be_origins():
    assert frame_ancestors_policy([LAB + "/"]) == f"frame-ancestors 'self' {LAB}"
    with pytest.raises(ConfigurationError, match="'frame_ancestors' entry must be an origin"):
        frame_ancestors_policy(["127.0.0.1:8888/lab"])


@pytest.mark.slow
def test_deploykit_console_lets_the_named_lab_frame_it(tmp_path: Path):
    settings = Settings.from_env({"DEPLOYKIT_HOME": str(tmp_path)})
    port = free_port()
    with serve(
        settings,
        port=port,
        server_url="http://127.0.0.1:9",  # never called: no page is rendered
        preheat=False,
        log_path=tmp_path / "voila.log",
        frame_ancestors=[LAB],
    ) as console:
        console.wait_ready()
        assert framing(console.url, LAB)["embed"] is True
        refused = framing(console.url, "http://127.0.0.1:9999")
        assert (refused["reachable"], refused["embed"]) == (True, False)
