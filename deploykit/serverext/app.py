"""``DeployKitLab``: the server extension, its ``c.DeployKitLab.*`` settings and its lifetime.

    # jupyter_server_config.py
    c.DeployKitLab.server_url = "https://deploy.example.org"
    c.DeployKitLab.token = "dk_..."          # stays in the Jupyter server
    c.DeployKitLab.console_url = "http://127.0.0.1:8766/console/"   # optional

Unset traits fall back to the ``DEPLOYKIT_*`` environment variables, as
everywhere else in deploykit. An ``ExtensionApp`` rather than a bare load
function so that Jupyter closes the connection to the deploykit server on exit.

One target for everything in Lab: the kernels this Jupyter server starts (notebooks,
and the console Voila renders) get the same server and token through their
environment (``DEPLOYKIT_SERVER_URL``, ``DEPLOYKIT_TOKEN``; for the embedded registry
``DEPLOYKIT_HOME`` and its database and artifacts), so ``%deploy push`` lands where the
sidebar looks. ``c.DeployKitLab.share_with_kernels = False`` turns that off.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Float, Instance, Int, Unicode, default, validate

from deploykit.errors import ConfigurationError
from deploykit.monitoring import health
from deploykit.serverext.deployments import Deployments
from deploykit.settings import Settings

__all__ = ["CONSOLE_PATH", "DeployKitLab"]

#: Where this Jupyter server renders the packaged console notebook when Voila is installed.
CONSOLE_PATH = "deploykit/console/"
_KERNEL_VARIABLES = (
    "DEPLOYKIT_SERVER_URL",
    "DEPLOYKIT_TOKEN",
    "DEPLOYKIT_HOME",
    "DEPLOYKIT_DATABASE_URL",
    "DEPLOYKIT_ARTIFACTS_URL",
)


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
        None,
        allow_none=True,
        config=True,
        help="The deploy console opened by 'Open deploy console': None (default) renders "
        "the packaged console in this Jupyter server when Voila is installed; else a path "
        "under Jupyter's base URL, or the http(s) URL of a running `deploykit console` "
        "(embedded if it allows this origin in frame-ancestors, else opened in a new tab).",
    )
    share_with_kernels = Bool(
        True,
        config=True,
        help="Give the kernels this Jupyter server starts the same deploykit server and "
        "token (or embedded registry) as the sidebar, through DEPLOYKIT_* variables.",
    )
    refresh_seconds = Float(
        5.0, config=True, help="How often the sidebar refreshes itself, in seconds (>= 1)."
    )
    window_seconds = Int(
        health.WINDOW_SECONDS,
        config=True,
        help="Requests/s, p95 latency and the badge are taken over this many seconds "
        "(default: the console's window, so both show the same badge).",
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
    def _check_console_url(self, proposal: Any) -> str | None:
        if proposal["value"] is None:
            return None
        value = str(proposal["value"]).strip()
        if not value:
            raise ConfigurationError(
                "The 'console_url' setting of DeployKitLab must be a path such as "
                "voila/render/console.ipynb or an http(s) URL such as "
                "http://127.0.0.1:8766/console/. Got an empty string instead."
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

    def console(self) -> dict[str, Any]:
        """How 'Open deploy console' opens: ``kind`` is ``jupyter`` (a page of this Jupyter
        server, shown in a Lab tab), ``external`` (another host: embedded if it allows it),
        or ``none`` (``reason`` says what to install or set)."""
        url = self.console_url
        if url is None and self.server_url is None:
            return {
                "kind": "none",
                "url": None,
                "reason": "The console reads a deploykit server, and this Jupyter uses the "
                "embedded registry: start one with `deploykit up`, then set "
                "c.DeployKitLab.server_url to it and restart Jupyter.",
            }
        if url is None:
            if voila_installed():
                return {"kind": "jupyter", "url": CONSOLE_PATH, "reason": None}
            return {
                "kind": "none",
                "url": None,
                "reason": "The console needs Voila in this Jupyter server's environment: "
                "pip install 'deploykit[console]' and restart Jupyter. Or run `deploykit "
                "console` and set c.DeployKitLab.console_url to its address.",
            }
        if url.startswith(("http://", "https://")):
            return {"kind": "external", "url": url, "reason": None}
        return {"kind": "jupyter", "url": url.lstrip("/"), "reason": None}

    def kernel_environment(self) -> tuple[dict[str, str], list[str]]:
        """The DEPLOYKIT_* variables kernels need to target what the sidebar shows, and
        those they must not inherit (a server URL when the sidebar is embedded)."""
        settings = self.deploykit_settings()
        if settings.server_url is not None:
            env = {"DEPLOYKIT_SERVER_URL": settings.server_url}
            if settings.token:
                env["DEPLOYKIT_TOKEN"] = settings.token
            return env, []
        return {
            "DEPLOYKIT_HOME": str(settings.home),
            "DEPLOYKIT_DATABASE_URL": settings.database_url,
            "DEPLOYKIT_ARTIFACTS_URL": settings.artifacts_url,
        }, ["DEPLOYKIT_SERVER_URL"]

    def initialize_settings(self) -> None:
        self.deployments = Deployments.from_config(self)
        self.settings["deploykit.deployments"] = self.deployments
        self.log.info("deploykit: Deployments API on %s", self.deployments.describe())
        if self.share_with_kernels:
            # Kernels inherit the Jupyter server's environment (jupyter_client copies
            # os.environ at each start, Voila too): the one place every kernel start passes.
            self._saved_env = {k: os.environ.get(k) for k in _KERNEL_VARIABLES}
            env, drop = self.kernel_environment()
            for key in drop:
                os.environ.pop(key, None)
            os.environ.update(env)
            self.log.info("deploykit: kernels started here use %s", self.deployments.describe())

    def initialize_handlers(self) -> None:
        from deploykit.serverext.handlers import handlers

        self.handlers.extend(handlers())
        console = self.console()
        if console["kind"] == "jupyter" and console["url"] == CONSOLE_PATH:
            from deploykit.serverext.console import console_handlers

            self.handlers.extend(console_handlers(self.serverapp, "/" + CONSOLE_PATH))

    async def stop_extension(self) -> None:
        saved: dict[str, str | None] = getattr(self, "_saved_env", {})
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if self.deployments is not None:
            self.deployments.close()


def voila_installed() -> bool:
    return importlib.util.find_spec("voila") is not None
