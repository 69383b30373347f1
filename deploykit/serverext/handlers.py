"""Authenticated REST handlers under ``<base_url>/deploykit/api/``.

Blocking registry and HTTP calls run in a thread so the Jupyter server stays
responsive. A deploykit error becomes its HTTP status with ``{"message", "type"}``,
the shape Jupyter's own API errors have, so the front end reads both alike.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

from jupyter_server.base.handlers import APIHandler
from tornado import web

from deploykit.errors import AuthenticationError, DeployKitError, InvalidInputError, http_status
from deploykit.serverext.console import framing
from deploykit.serverext.deployments import Deployments

__all__ = ["handlers"]

_SETTINGS_KEY = "deploykit.deployments"  # set by DeployKitLab.initialize_settings
CARD_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


class _DeploymentsHandler(APIHandler):
    @property
    def deployments(self) -> Deployments:
        deployments: Deployments = self.settings[_SETTINGS_KEY]
        return deployments

    async def _answer(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        try:
            result = await asyncio.to_thread(fn, *args, **kwargs)
        except DeployKitError as exc:
            self._fail(exc)
            return
        self.finish(json.dumps(result))

    async def _move(
        self,
        fn: Callable[..., Any],
        name: str,
        read: Callable[[], tuple[tuple[Any, ...], dict[str, Any]]],
    ) -> None:
        """``fn(name, *args, **kwargs, acting_for=<the Jupyter user>)`` with what ``read``
        takes from the body; a body ``read`` refuses is answered like ``fn``'s errors."""
        try:
            args, kwargs = read()
        except DeployKitError as exc:
            self._fail(exc)
            return
        await self._answer(fn, name, *args, **kwargs, acting_for=jupyter_user(self.current_user))

    def _fail(self, exc: DeployKitError) -> None:
        message = str(exc)
        status = http_status(exc)
        if isinstance(exc, AuthenticationError):
            # The deploykit server refused *our* token: a gateway problem, not the browser's
            # (a 401 here would read as "your Jupyter session expired").
            status = 502
            message += (
                f" The Jupyter server's token for {self.deployments.target} is wrong: set "
                "c.DeployKitLab.token or DEPLOYKIT_TOKEN and restart Jupyter."
            )
        self.set_status(status)
        self.finish(json.dumps({"message": message, "type": type(exc).__name__}))


class StatusHandler(_DeploymentsHandler):
    @web.authenticated
    async def get(self) -> None:
        await self._answer(self.deployments.status)  # asks the server who the token is


class ConsoleHandler(_DeploymentsHandler):
    """How 'Open deploy console' should open: in a Lab tab, in a new browser tab, or not."""

    @web.authenticated
    async def get(self) -> None:
        console = dict(self.deployments.console)
        chosen = (self.get_argument("url", "") or "").strip()  # the user's Lab settings
        if chosen:
            absolute = chosen.startswith(("http://", "https://"))
            console = {
                "kind": "external" if absolute else "jupyter",
                "url": chosen if absolute else chosen.lstrip("/"),
                "reason": None,
            }
        if console["kind"] == "jupyter":
            console.update(embed=True, reachable=True)
        elif console["kind"] == "external":
            origin = f"{self.request.protocol}://{self.request.host}"
            console.update(await asyncio.to_thread(framing, console["url"], origin))
        else:
            console.update(embed=False, reachable=False)
        self.finish(json.dumps(console))


class ModelsHandler(_DeploymentsHandler):
    @web.authenticated
    async def get(self) -> None:
        await self._answer(lambda: {"models": self.deployments.models()})


class ModelHandler(_DeploymentsHandler):
    @web.authenticated
    async def get(self, name: str) -> None:
        await self._answer(self.deployments.model, name)


class CardHandler(_DeploymentsHandler):
    """A version's model card as a page (the sidebar links here; ``?version=N``, default
    production). Its HTML comes from Markdown with raw HTML off; the page runs no script."""

    @web.authenticated
    async def get(self, name: str) -> None:
        raw = self.get_argument("version", "production")
        ref: int | str = int(raw) if raw.isascii() and raw.isdigit() else raw
        try:
            page = await asyncio.to_thread(self.deployments.card, name, ref)
        except DeployKitError as exc:
            self._fail(exc)
            return
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Content-Security-Policy", CARD_POLICY)
        self.set_header("X-Content-Type-Options", "nosniff")
        # Past APIHandler.finish, which would label the page application/json.
        super(APIHandler, self).finish(page)


class RollbackHandler(_DeploymentsHandler):
    @web.authenticated
    async def post(self, name: str) -> None:
        def read() -> tuple[tuple[Any, ...], dict[str, Any]]:
            body = _object_body(self.get_json_body(), '{"reason": "..."}', what="rollback")
            return (), {
                "reason": _reason_field(body, required=True) or "",
                "to": _version_field(body, "to"),
                "if_current": _version_field(body, "if_current"),
            }

        await self._move(self.deployments.rollback, name, read)


class DeployHandler(_DeploymentsHandler):
    @web.authenticated
    async def post(self, name: str) -> None:
        def read() -> tuple[tuple[Any, ...], dict[str, Any]]:
            example = '{"version": 2, "reason": "..."}'
            body = _object_body(self.get_json_body(), example, what="request")
            version = _version_field(body, "version")
            if version is None:
                raise InvalidInputError(
                    "The 'version' field must be the version number to deploy (1, 2, ...). "
                    "Got nothing instead."
                )
            return (version,), {
                "reason": _reason_field(body, required=False),
                "if_current": _version_field(body, "if_current"),
            }

        await self._move(self.deployments.deploy, name, read)


def _object_body(body: Any, example: str, *, what: str) -> dict[str, Any]:
    body = body or {}
    if not isinstance(body, dict):
        raise InvalidInputError(
            f"The {what} body must be a JSON object such as {example}. "
            f"Got a JSON {type(body).__name__} instead."
        )
    return body


def _reason_field(body: dict[str, Any], *, required: bool) -> str | None:
    """The ``reason`` of a move (for the audit log): a string; null too if not ``required``."""
    reason = body.get("reason")
    if reason is None and required:
        reason = ""  # an empty reason: Deployments.rollback says one is needed
    if reason is not None and not isinstance(reason, str):
        expected = "a string (why, for the audit log)" + ("" if required else " or null")
        raise InvalidInputError(
            f"The 'reason' field must be {expected}. "
            f"Got {type(reason).__name__} {reason!r} instead."
        )
    return reason


def jupyter_user(user: Any) -> str | None:
    """How the audit log names the Jupyter user: the username, with the display name when
    it differs. None for Jupyter's anonymous users (a shared Jupyter token names nobody:
    "Anonymous Io" with a random id), so a single-user Jupyter records its token alone."""
    username = str(getattr(user, "username", "") or "").strip()
    name = str(getattr(user, "name", "") or "").strip()
    if re.fullmatch(r"[0-9a-f]{32}", username) and name.startswith("Anonymous "):
        return None
    if not username:
        return name or None
    if name and name != username:
        return f"{name} ({username})"
    return username


def _version_field(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(
            f"The {key!r} field must be a version number (1, 2, ...) or null. "
            f"Got {value!r} instead."
        )
    return value


def handlers() -> list[tuple[str, type[APIHandler]]]:
    """The routes, relative to Jupyter's base URL."""
    model = "/deploykit/api/models/([^/]+)"
    return [
        ("/deploykit/api/status", StatusHandler),
        ("/deploykit/api/console", ConsoleHandler),
        ("/deploykit/api/models", ModelsHandler),
        (model, ModelHandler),
        (f"{model}/card", CardHandler),
        (f"{model}/rollback", RollbackHandler),
        (f"{model}/deploy", DeployHandler),
    ]
