"""The console's kernels: one per open page, owned by the visitor it serves, bounded.

Runs inside the Voila process. :class:`ConsoleKernelManager` is Voila's kernel manager
(``VoilaConfiguration.multi_kernel_manager_class``); Voila's preheat pool wraps it.

- A kernel starts with no deploykit credentials: no ``DEPLOYKIT_TOKEN``, and a
  ``DEPLOYKIT_HOME`` of its own that holds no ``token`` file. It gets a random key instead.
- When a page takes a kernel (a preheated one or a fresh one), the page's visitor is bound
  to it (:meth:`ConsoleKernelManager.bind`). The kernel, blocked in ``Console.from_env()``,
  asks :class:`KernelIdentityHandler` with its key and receives the visitor's token, once.
  A preheated kernel therefore runs the notebook's imports before any visit, and learns
  whom it serves at the visit; it never holds anyone else's identity.
- Culling: a console kernel is never idle (it refreshes its page every few seconds), so
  "idle" here means *no browser connected*: a kernel with no websocket for
  ``cull_idle_timeout`` seconds is shut down (checked every ``cull_interval``). Pooled
  kernels are kept (Voila's pool says so). At most ``max_kernels`` pages are open at once,
  ``max_kernels_per_visitor`` per visitor.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import os
import secrets
import shutil
import tempfile
import time
import uuid
from typing import Any

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado import web
from traitlets import Integer

from deploykit.console.visit import ENV_IDENTITY_URL, ENV_KERNEL_ID, ENV_KERNEL_KEY

__all__ = [
    "ENV_IDENTITY_URL",
    "ENV_KERNEL_ID",
    "ENV_KERNEL_KEY",
    "IDENTITY_PATH",
    "ConsoleKernelManager",
    "KernelIdentityHandler",
]

#: under the console's base URL
IDENTITY_PATH = "deploykit/kernel-identity"
#: what a kernel must never inherit from the Voila process
_WITHHELD = ("DEPLOYKIT_TOKEN", "JUPYTER_TOKEN", "JUPYTER_TOKEN_FILE")
_WAIT_MAX = 30.0


@dataclasses.dataclass
class _Owner:
    session_key: str
    visitor: str  # the token's fingerprint: every session of one token counts together
    name: str
    role: str
    token: str | None = dataclasses.field(repr=False)  # None once the kernel has it


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:16]


class ConsoleKernelManager(AsyncMappingKernelManager):
    """Kernels bound to visitors, started without credentials, culled when unwatched."""

    cull_idle_timeout = Integer(
        120,
        config=True,
        help="Shut a console kernel down once no browser has been connected to it for this "
        "many seconds (0: never). Console kernels refresh their page, so they are never "
        "idle in Jupyter's sense; an unwatched one is.",
    )
    cull_interval = Integer(30, config=True, help="How often to look for kernels to cull (s).")
    max_kernels = Integer(
        20, config=True, help="Console pages open at once (kernels, beside the preheated pool)."
    )
    max_kernels_per_visitor = Integer(
        4, config=True, help="Console pages one signed-in visitor may have open at once."
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]
        self._keys: dict[str, str] = {}
        self._owners: dict[str, _Owner] = {}
        self._bound: dict[str, asyncio.Event] = {}
        self._alone_since: dict[str, float] = {}
        self._sockets: dict[str, set[Any]] = {}  # kernel id -> its open page websockets
        # the kernels' DEPLOYKIT_HOME: empty, so no client in a kernel finds <home>/token
        self._home = tempfile.mkdtemp(prefix="deploykit-console-kernels-")

    # -- starting and binding ----------------------------------------------------------------

    async def start_kernel(  # type: ignore[override]
        self, *, kernel_id: str | None = None, env: dict[str, str] | None = None, **kwargs: Any
    ) -> str:
        kernel_id = kernel_id or str(uuid.uuid4())
        key = secrets.token_urlsafe(32)
        self._keys[kernel_id] = key
        try:
            started: str = await super().start_kernel(
                kernel_id=kernel_id, env=self._kernel_env(env, kernel_id, key), **kwargs
            )
        except BaseException:
            self._keys.pop(kernel_id, None)
            raise
        self._alone_since[started] = time.monotonic()
        return started

    def _kernel_env(self, env: dict[str, str] | None, kernel_id: str, key: str) -> dict[str, str]:
        clean = {k: v for k, v in (env or os.environ).items() if k not in _WITHHELD}
        clean.update(
            {
                "DEPLOYKIT_HOME": self._home,
                ENV_KERNEL_ID: kernel_id,
                ENV_KERNEL_KEY: key,
                ENV_IDENTITY_URL: self.identity_url(),
            }
        )
        return clean

    def identity_url(self) -> str:
        """Where a kernel asks whom it serves: the Voila process itself, on loopback when it
        listens everywhere."""
        app = self.parent
        host = str(getattr(app, "ip", "") or "127.0.0.1")
        if host in ("0.0.0.0", "*", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        base = str(getattr(app, "server_url", None) or getattr(app, "base_url", "/"))
        base = base if base.endswith("/") else base + "/"
        return f"http://{host}:{getattr(app, 'port', 8866)}{base}{IDENTITY_PATH}"

    def bind(self, kernel_id: str, session: Any) -> None:
        """``kernel_id`` now serves ``session`` (a :class:`~deploykit.console.signin.Session`)."""
        self._owners[kernel_id] = _Owner(
            session.key, fingerprint(session.token), session.name, session.role, session.token
        )
        self._alone_since.pop(kernel_id, None)  # not culled while its page renders
        self._bound.setdefault(kernel_id, asyncio.Event()).set()
        self.log.info(
            "deploykit console: kernel %s serves %s (%s)", kernel_id, session.name, session.role
        )

    def page_done(self, kernel_id: str) -> None:
        """The page of ``kernel_id`` was sent (or its request died): from now on the kernel
        counts as unwatched until a browser connects."""
        if kernel_id in self and self._kernel_connections.get(kernel_id, 0) <= 0:
            self._alone_since[kernel_id] = time.monotonic()

    def owner_of(self, kernel_id: str) -> str | None:
        owner = self._owners.get(kernel_id)
        return None if owner is None or kernel_id not in self else owner.session_key

    def kernels_of(self, session_key: str) -> list[str]:
        return [k for k, o in self._owners.items() if o.session_key == session_key and k in self]

    def refusal(self, token: str) -> tuple[int, str] | None:
        """Why a visit with ``token`` may not have a kernel now (status, message), or None.
        Counted per token, not per session: signing in again does not lift the cap."""
        visitor = fingerprint(token)
        mine = sum(1 for k, o in self._owners.items() if o.visitor == visitor and k in self)
        if mine >= self.max_kernels_per_visitor:
            return 429, (
                f"You have {mine} console pages open, the most one visitor may have. Close one "
                f"(its kernel stops at once) or wait {self.cull_idle_timeout} s after closing."
            )
        open_pages = sum(1 for k in self._owners if k in self)
        if open_pages >= self.max_kernels:
            return 503, (
                f"The console has {open_pages} pages open, its limit; try again in a minute."
            )
        return None

    async def claim(self, kernel_id: str, key: str, wait: float) -> dict[str, str] | None:
        """The visitor ``kernel_id`` serves, once, for the holder of its key; None if no
        visitor came within ``wait`` seconds. PermissionError for a wrong key, LookupError
        once handed out."""
        expected = self._keys.get(kernel_id)
        if expected is None or not secrets.compare_digest(expected, key):
            raise PermissionError(kernel_id)
        event = self._bound.setdefault(kernel_id, asyncio.Event())
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=min(wait, _WAIT_MAX))
        owner = self._owners.get(kernel_id)
        if owner is None:
            return None
        if owner.token is None:
            raise LookupError(kernel_id)
        token, owner.token = owner.token, None
        return {"token": token, "name": owner.name, "role": owner.role}

    async def shutdown_session(self, session_key: str) -> None:
        """Shut down every kernel of a session (signed out, or its token revoked)."""
        for kernel_id in self.kernels_of(session_key):
            with contextlib.suppress(Exception):
                await self.shutdown_kernel(kernel_id)

    def socket_opened(self, kernel_id: str, socket: Any) -> None:
        self._sockets.setdefault(kernel_id, set()).add(socket)

    def socket_closed(self, kernel_id: str, socket: Any) -> None:
        self._sockets.get(kernel_id, set()).discard(socket)

    async def shutdown_kernel(self, kernel_id: str, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        try:
            await super().shutdown_kernel(kernel_id, *args, **kwargs)  # type: ignore[no-untyped-call]
        finally:
            for table in (self._keys, self._owners, self._bound, self._alone_since):
                table.pop(kernel_id, None)
            # Jupyter leaves a dead kernel's websockets open: close them, the page is over
            for socket in self._sockets.pop(kernel_id, set()):
                with contextlib.suppress(Exception):
                    socket.close(1001, "The console stopped this page's kernel.")

    def __del__(self) -> None:
        shutil.rmtree(getattr(self, "_home", ""), ignore_errors=True)

    # -- culling: unwatched, not idle --------------------------------------------------------

    def notify_connect(self, kernel_id: str) -> None:
        super().notify_connect(kernel_id)  # type: ignore[no-untyped-call]
        self._alone_since.pop(kernel_id, None)

    def notify_disconnect(self, kernel_id: str) -> None:
        super().notify_disconnect(kernel_id)  # type: ignore[no-untyped-call]
        if self._kernel_connections.get(kernel_id, 0) <= 0 and kernel_id in self:
            self._alone_since[kernel_id] = time.monotonic()

    async def cull_kernel_if_idle(self, kernel_id: str) -> None:
        kernel = self._kernels.get(kernel_id)
        if kernel is None:
            return
        if getattr(kernel, "execution_state", None) == "dead":
            await self.shutdown_kernel(kernel_id)
            return
        since = self._alone_since.get(kernel_id)
        if since is None or self._kernel_connections.get(kernel_id, 0) > 0:
            return  # watched, or its page is still rendering
        alone = time.monotonic() - since
        if alone >= self.cull_idle_timeout:
            owner = self._owners.get(kernel_id)
            self.log.info(
                "deploykit console: culling kernel %s (%s), no browser for %d s",
                kernel_id,
                owner.name if owner else "no visitor",
                alone,
            )
            await self.shutdown_kernel(kernel_id)


class KernelIdentityHandler(web.RequestHandler):
    """``GET <base>deploykit/kernel-identity``: a kernel, proving itself with the key it was
    started with, learns the visitor it serves (``?wait=`` seconds for one to come).

    200 ``{"token", "name", "role"}`` once; 204 no visitor yet; 403 wrong key; 410 already
    handed out. Never cached."""

    def initialize(self, kernel_manager: ConsoleKernelManager) -> None:
        self.kernels = kernel_manager

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")

    async def get(self) -> None:
        kernel_id = self.request.headers.get("X-Deploykit-Kernel", "")
        key = self.request.headers.get("X-Deploykit-Kernel-Key", "")
        try:
            wait = float(self.get_query_argument("wait", "0"))
        except ValueError:
            wait = 0.0
        try:
            visitor = await self.kernels.claim(kernel_id, key, max(0.0, wait))
        except PermissionError:
            raise web.HTTPError(403) from None
        except LookupError:
            raise web.HTTPError(410) from None
        if visitor is None:
            self.set_status(204)
            return
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(visitor))
