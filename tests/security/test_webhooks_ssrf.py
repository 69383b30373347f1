"""Alert webhooks cannot be aimed at link-local, loopback or private addresses
(server-side request forgery), neither when a rule is saved nor when an alert is sent.

No test here sends a packet to a refused address: refusals are asserted with the
socket's connect patched to fail the test, or against loopback receivers we run.
"""

from __future__ import annotations

import http.server
import logging
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from deploykit.errors import ConfigurationError, InvalidInputError, PickleWarning
from deploykit.monitoring.store import set_alert
from deploykit.monitoring.webhooks import check_webhook_url, resolve_webhook
from deploykit.registry import Registry
from deploykit.server.alerting import _post
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer, free_port
from deploykit.settings import Settings

REFUSED = [
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://[fe80::1]/hook",
    "http://127.0.0.1:8765/v1/models",
    "http://[::1]/hook",
    "http://localhost:8765/hook",
    "http://10.0.0.5/hook",
    "http://172.16.3.4/hook",
    "http://192.168.1.1/hook",
    "http://[fc00::1]/hook",
    "http://0.0.0.0/hook",
    "http://[::]/hook",
    "http://224.0.0.1/hook",
    "http://[::ffff:169.254.169.254]/hook",
    "https://100.64.0.1/hook",  # carrier-grade NAT: not public either
]


@pytest.fixture
def no_connections(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Any attempt to connect a socket fails the test (and is recorded)."""
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise AssertionError(f"a connection to {address!r} was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


def fake_dns(monkeypatch: pytest.MonkeyPatch, name: str, *answers: str) -> list[str]:
    """``name`` resolves to each of ``answers`` in turn (the last one repeats)."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != name:
            return real(host, port, *args, **kwargs)
        asked.append(host)
        ip = answers[min(len(asked), len(answers)) - 1]
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (ip, port or 80))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def settings_for(home: Path, **changes: Any) -> Settings:
    settings = Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"})
    return settings.replace(actor="tester", **changes)


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[Registry]:
    with Registry(settings_for(tmp_path / "home")) as registry:
        X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PickleWarning)
            registry.push(LogisticRegression().fit(X, [0, 0, 1, 1]), "churn", X=X, deploy=True)
        yield registry


@pytest.mark.parametrize("url", REFUSED)
def test_a_rule_aimed_at_a_private_address_is_refused_when_saved(
    reg: Registry, url: str, no_connections: list[Any]
) -> None:
    with pytest.raises(InvalidInputError, match=r"The 'webhook' parameter .* public address"):
        set_alert(reg, "churn", "errors", metric="error_rate", threshold=0.1, webhook=url)
    assert no_connections == []


def test_public_addresses_and_names_are_saved(reg: Registry, no_connections: list[Any]) -> None:
    for url in ("https://hooks.example.com/retrain", "http://8.8.8.8/hook"):
        set_alert(reg, "churn", "errors", metric="error_rate", threshold=0.1, webhook=url)
    assert no_connections == []  # names are resolved when sending, not when saving


def test_the_allow_setting_lets_chosen_networks_through(tmp_path: Path) -> None:
    check_webhook_url("http://10.20.3.4/hook", ["10.20.0.0/16"])
    with pytest.raises(InvalidInputError, match=r"10\.21\.0\.1 is a private address"):
        check_webhook_url("http://10.21.0.1/hook", ["10.20.0.0/16"])
    settings = Settings.from_env(
        {"DEPLOYKIT_HOME": str(tmp_path), "DEPLOYKIT_WEBHOOK_ALLOW_NETWORKS": "10.20.0.0/16, ::1"}
    )
    assert settings.webhook_allow_networks == ("10.20.0.0/16", "::1/128")
    with pytest.raises(ConfigurationError, match=r"WEBHOOK_ALLOW_NETWORKS .* Got '10\.0\.0\.0/33'"):
        Settings.from_env(
            {"DEPLOYKIT_HOME": str(tmp_path), "DEPLOYKIT_WEBHOOK_ALLOW_NETWORKS": "10.0.0.0/33"}
        )


def test_a_name_that_resolves_to_a_metadata_service_is_refused_when_sending(
    monkeypatch: pytest.MonkeyPatch,
    no_connections: list[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_dns(monkeypatch, "hooks.example", "169.254.169.254")
    with caplog.at_level(logging.WARNING, logger="deploykit.server"):
        _post("http://hooks.example/latest/meta-data", {"type": "deploykit.alert"})
    assert no_connections == []
    assert "alert webhook http://hooks.example/latest/meta-data refused" in caplog.text
    assert "169.254.169.254 (link-local)" in caplog.text
    fake_dns(monkeypatch, "six.example", "fe80::1")
    with pytest.raises(InvalidInputError, match=r"resolves to fe80::1 \(link-local\)"):
        resolve_webhook("https://six.example/hook")


class Receiver(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str]]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        Receiver.received.append((self.path, self.headers["host"]))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[int]:
    Receiver.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_the_post_goes_to_the_address_checked_not_a_second_lookup(
    monkeypatch: pytest.MonkeyPatch, receiver: int
) -> None:
    # DNS rebinding: the first answer passes the check, a second one would not. Here the
    # first is our receiver (allowed loopback); the second, 127.0.0.2, is not allowed and
    # nothing listens there: had the sender looked the name up again, nothing would arrive.
    asked = fake_dns(monkeypatch, "hooks.example", "127.0.0.1", "127.0.0.2")
    _post(f"http://hooks.example:{receiver}/hook?x=1", {"type": "deploykit.alert"},
          ("127.0.0.1/32",))  # fmt: skip
    assert Receiver.received == [("/hook?x=1", f"hooks.example:{receiver}")]
    assert asked == ["hooks.example"]  # one lookup, the one that was checked


@pytest.mark.slow
def test_a_server_never_sends_a_stored_rule_to_a_refused_address(
    tmp_path: Path, receiver: int
) -> None:
    home = tmp_path / "home"
    url = f"http://127.0.0.1:{receiver}/hook"
    X = pd.DataFrame(np.arange(8.0).reshape(4, 2), columns=["a", "b"])
    # The rule was saved where loopback was allowed; the server does not allow it.
    with Registry(settings_for(home, webhook_allow_networks=("127.0.0.1/32",))) as creator:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PickleWarning)
            creator.push(LogisticRegression().fit(X, [0, 0, 1, 1]), "churn", X=X, deploy=True)
        set_alert(creator, "churn", "bad-input", metric="client_error_rate", threshold=0.01,
                  window_seconds=10, min_count=1, webhook=url)  # fmt: skip
    config = ServerConfig(alert_interval_seconds=0.5, telemetry_flush_seconds=0.2)
    with LiveServer(settings_for(home), config) as server:
        # Saving such a rule through this server is refused outright, naming the field.
        answer = httpx.post(
            f"{server.url}/v1/models/churn/alerts",
            json={"rule": "again", "metric": "error_rate", "threshold": 0.1, "webhook": url},
            headers={"authorization": f"Bearer {server.token}"},
        )
        assert answer.status_code == 422, answer.text
        assert "'webhook'" in answer.json()["error"]["message"]
        assert "127.0.0.1 is a loopback address" in answer.json()["error"]["message"]

        httpx.post(f"{server.url}/v1/models/churn/predict", json={"inputs": [["x", "y"]]})
        deadline = time.monotonic() + 20
        with Registry(settings_for(home)) as reader:
            while not reader.events("churn", action="alert"):
                assert time.monotonic() < deadline, server.logs()
                time.sleep(0.2)
        time.sleep(1.0)  # the webhook thread has had its chance
        assert Receiver.received == []
        assert f"alert webhook {url} refused" in server.logs()


@pytest.mark.parametrize(
    "url",
    [
        "http://2852039166/",  # 169.254.169.254 as one number
        "http://0xa9fea9fe/",  # ... in hex
        "http://0251.0376.0251.0376/",  # ... in octal
        "http://169.254.169.254./",  # with the root's trailing dot
        "http://0/",  # 0.0.0.0
    ],
)
def test_other_spellings_of_a_refused_address_are_refused_when_saved(url: str) -> None:
    # parsing only: nothing is sent anywhere
    with pytest.raises(InvalidInputError, match="'webhook'"):
        check_webhook_url(url)
