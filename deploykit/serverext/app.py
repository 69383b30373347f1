"""``DeployKitLab``: the server extension, its ``c.DeployKitLab.*`` settings and its lifetime.

    # jupyter_server_config.py
    c.DeployKitLab.server_url = "https://deploy.example.org"
    c.DeployKitLab.token = "dk_..."          # stays in the Jupyter server
    c.DeployKitLab.console_url = "voila/render/notebooks/console.ipynb"

Unset traits fall back to the ``DEPLOYKIT_*`` environment variables, as
everywhere else in deploykit. An ``ExtensionApp`` rather than a bare load
function so that Jupyter closes the connection to the deploykit server on exit.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Float, Instance, Int, Unicode, default, validate

from deploykit.errors import ConfigurationError
from deploykit.serverext.deployments import Deployments
from deploykit.settings import Settings

__all__ = ["DEFAULT_CONSOLE_URL", "DeployKitLab"]

DEFAULT_CONSOLE_URL = "voila/render/notebooks/console.ipynb"


class DeployKitLab(ExtensionApp):
    """Where the Deployments sidebar reads its figures and sends rollbacks."""

    name = "deploykit"
    description = "deploykit's Deployments API for the JupyterLab sidebar"

    server_url = Unicode(
        None,
        allow_none=True,
        config=True,
        help="URL of the deploykit server (default: DEPLOYKIT_SERVER_URL). "
        "None: the embedded registry, with no serving figures.",
    )
    token = Unicode(
        None,
        allow_none=True,
        config=True,
        help="Token for the deploykit server (default: DEPLOYKIT_TOKEN, then <home>/token). "
        "It is used by the Jupyter server only and never sent to the browser.",
    )
    console_url = Unicode(
        DEFAULT_CONSOLE_URL,
        config=True,
        help="The deploy console opened by 'Open deploy console': a path under Jupyter's "
        "base URL (served by Voila's server extension) or an absolute http(s) URL.",
    )
    refresh_seconds = Float(
        5.0, config=True, help="How often the sidebar refreshes itself, in seconds (>= 1)."
    )
    window_seconds = Int(
        900, config=True, help="Requests/s and p95 latency are taken over this many seconds."
    )
    deployments = Instance(Deployments, allow_none=True, help="Built from the traits above.")

    @default("server_url")
    def _server_url_default(self) -> str | None:
        url = Settings.from_env().server_url  # dynamic defaults skip @validate
        return url.rstrip("/") if url else None

    @validate("server_url")
    def _check_server_url(self, proposal: Any) -> str | None:
        value = proposal["value"]
        if value is None or not value.strip():
            return None
        if not value.startswith(("http://", "https://")):
            raise ConfigurationError(
                "The 'server_url' setting of DeployKitLab must be an http(s) URL such as "
                f"http://127.0.0.1:8765. Got {value!r} instead."
            )
        return str(value.rstrip("/"))

    @validate("console_url")
    def _check_console_url(self, proposal: Any) -> str:
        value = str(proposal["value"]).strip()
        if not value:
            raise ConfigurationError(
                "The 'console_url' setting of DeployKitLab must be a path such as "
                f"{DEFAULT_CONSOLE_URL} or an http(s) URL. Got an empty string instead."
            )
        return value

    @validate("refresh_seconds")
    def _check_refresh(self, proposal: Any) -> float:
        value = float(proposal["value"])
        if value < 1:
            raise ConfigurationError(
                "The 'refresh_seconds' setting of DeployKitLab must be a number >= 1. "
                f"Got {value} instead."
            )
        return value

    @validate("window_seconds")
    def _check_window(self, proposal: Any) -> int:
        value = int(proposal["value"])
        if not 60 <= value <= 90 * 86400:
            raise ConfigurationError(
                "The 'window_seconds' setting of DeployKitLab must be an integer in "
                f"[60, {90 * 86400}]. Got {value} instead."
            )
        return value

    def deploykit_settings(self) -> Settings:
        """deploykit's settings with this configuration's server URL and token applied."""
        env = Settings.from_env()
        return env.replace(server_url=self.server_url, token=self.token or env.token)

    def initialize_settings(self) -> None:
        self.deployments = Deployments.from_config(self)
        self.settings["deploykit.deployments"] = self.deployments
        self.log.info("deploykit: Deployments API on %s", self.deployments.describe())

    def initialize_handlers(self) -> None:
        from deploykit.serverext.handlers import handlers

        self.handlers.extend(handlers())

    async def stop_extension(self) -> None:
        if self.deployments is not None:
            self.deployments.close()
