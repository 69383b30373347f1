"""Voila, as the console runs it: ``python -m deploykit.console.voila_app NOTEBOOK [options]``.

Voila's own app with the console's trust model wired in (see :mod:`~deploykit.console.signin`
and :mod:`~deploykit.console.kernels`):

- identity: :class:`ConsoleIdentityProvider` (sign in with a deploykit token); kernels:
  :class:`ConsoleAuthorizer` (a session reaches only its own kernels);
- the page: no visitor, no kernel (the sign-in form instead); ``?token=`` signs in and
  redirects to the page without it; the kernel the page takes is bound to the visitor;
- routes changed: the shutdown route checks the kernel's owner; Voila's ``voila/query``
  websocket (request info for preheated kernels, unauthenticated) and ``voila/files``
  are not served; ``deploykit/kernel-identity`` is, for kernels holding their key;
- every ``recheck_seconds`` the sessions that have pages open are checked with the
  deploykit server: a revoked token's kernels are shut down, which closes its pages.

Voila's static files (its JavaScript and CSS, the same for everyone) stay public.
"""

from __future__ import annotations

import asyncio
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated
from tornado import web
from tornado.escape import url_escape
from tornado.ioloop import IOLoop, PeriodicCallback
from voila.app import Voila
from voila.request_info_handler import RequestInfoSocketHandler
from voila.shutdown_kernel_handler import VoilaShutdownKernelHandler
from voila.static_file_handler import AllowListFileHandler
from voila.tornado.handler import TornadoVoilaHandler
from voila.tornado.kernel_websocket_handler import VoilaKernelWebsocketHandler

from deploykit.console.kernels import IDENTITY_PATH, ConsoleKernelManager, KernelIdentityHandler
from deploykit.console.signin import (
    ConsoleAuthorizer,
    ConsoleIdentityProvider,
    ConsoleUser,
    Session,
    sign_in_page,
)

__all__ = ["ConsoleVoila", "main"]


class _VisitKernels:
    """The kernel manager as one page visit sees it: the kernel the page takes is bound to
    the visitor the moment it is taken (preheated or started)."""

    def __init__(self, manager: ConsoleKernelManager, session: Session) -> None:
        self._manager = manager
        self._session = session
        self.kernel_id: str | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._manager, name)

    async def get_rendered_notebook(self, *args: Any, **kwargs: Any) -> Any:
        task, cache, kernel_id = await self._manager.get_rendered_notebook(  # type: ignore[attr-defined]
            *args, **kwargs
        )
        self._manager.bind(kernel_id, self._session)
        self.kernel_id = kernel_id
        return task, cache, kernel_id

    async def start_kernel(self, **kwargs: Any) -> str:
        kernel_id = await self._manager.start_kernel(**kwargs)
        self._manager.bind(kernel_id, self._session)
        self.kernel_id = kernel_id
        return kernel_id


class ConsolePageHandler(TornadoVoilaHandler):
    """The console page, for a signed-in visitor only."""

    _visit: _VisitKernels | None = None

    @property
    def kernel_manager(self) -> Any:
        return self._visit or self.settings["kernel_manager"]

    @allow_unauthenticated  # checked below, so a refused ?token= never reaches a redirect
    async def get(self, path: str | None = None) -> None:
        provider: ConsoleIdentityProvider = self.identity_provider
        user = self.current_user
        if "token" in self.request.query_arguments:
            if not isinstance(user, ConsoleUser):  # a refused token: say so, keep it out of URLs
                self.set_status(401)
                self.finish(sign_in_page(self, None))
                return
            # signed in (the cookie is set): the page again, without the token in the URL
            self.redirect(self.request.path)
            return
        if not isinstance(user, ConsoleUser):
            self.redirect(f"{self.base_url}login?next={url_escape(self.request.uri or '')}")
            return
        if path:  # one notebook, served at the base URL; Voila's file route is not served
            raise web.HTTPError(404, log_message=f"Nothing at {self.request.path}.")
        session = provider.session_of(user.session_key)
        manager: ConsoleKernelManager = self.settings["kernel_manager"]
        refused = None if session is None else manager.refusal(session.token)
        if session is None or refused is not None:
            status, message = refused or (401, "Your session ended; sign in again.")
            raise web.HTTPError(status, reason=message.split(";")[0][:80], log_message=message)
        self._visit = visit = _VisitKernels(manager, session)
        try:
            async for snippet in self.get_generator(path=path):
                self.write(snippet)
                self.flush()
        finally:
            if visit.kernel_id is not None:
                manager.page_done(visit.kernel_id)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = getattr(exc, "log_message", None) or self._reason
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"{status_code}: {message}\n")


class ConsoleShutdownHandler(VoilaShutdownKernelHandler):
    """The page's kernel shutdown on unload, for the kernel's own visitor only."""

    @web.authenticated
    async def post(self, kernel_id: str) -> None:
        user = self.current_user
        manager: ConsoleKernelManager = self.settings["kernel_manager"]
        if not isinstance(user, ConsoleUser) or manager.owner_of(kernel_id) != user.session_key:
            raise web.HTTPError(403)
        await manager.shutdown_kernel(kernel_id)
        self.set_status(204)
        self.finish()


class ConsoleKernelSocket(VoilaKernelWebsocketHandler):
    """A page's kernel websocket, known to the kernel manager so that it closes with it."""

    async def open(self, kernel_id: str) -> None:
        await super().open(kernel_id)
        self.settings["kernel_manager"].socket_opened(kernel_id, self)

    def on_close(self) -> None:
        kernel_id = getattr(self, "kernel_id", None)
        if kernel_id is not None:
            self.settings["kernel_manager"].socket_closed(kernel_id, self)
        super().on_close()


class ConsoleVoila(Voila):
    """Voila with console sign-in, kernel ownership and culling."""

    name = "deploykit-console"

    def initialize(self, argv: Any = None) -> None:
        super().initialize(argv)
        # Forced, not defaults: the handlers below rely on these three.
        self.identity_provider_class = ConsoleIdentityProvider
        self.authorizer_class = ConsoleAuthorizer
        self.voila_configuration.multi_kernel_manager_class = ConsoleKernelManager

    def init_settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = super().init_settings()
        provider: ConsoleIdentityProvider = self.identity_provider
        manager: ConsoleKernelManager = self.kernel_manager
        provider.on_end = lambda session: IOLoop.current().add_callback(
            manager.shutdown_session, session.key
        )
        return settings

    def init_handlers(self) -> list[Any]:
        replaced = {
            TornadoVoilaHandler: ConsolePageHandler,
            VoilaShutdownKernelHandler: ConsoleShutdownHandler,
            VoilaKernelWebsocketHandler: ConsoleKernelSocket,
        }
        dropped = (RequestInfoSocketHandler, AllowListFileHandler)
        handlers = [
            (spec[0], replaced.get(spec[1], spec[1]), *spec[2:])
            for spec in super().init_handlers()
            if spec[1] not in dropped
        ]
        base = self.server_url if self.server_url.endswith("/") else self.server_url + "/"
        identity = (
            f"{base}{IDENTITY_PATH}",
            KernelIdentityHandler,
            {"kernel_manager": self.kernel_manager},
        )
        IOLoop.current().add_callback(self._start_rechecks)
        return [identity, *handlers]

    def _start_rechecks(self) -> None:
        provider: ConsoleIdentityProvider = self.identity_provider
        manager: ConsoleKernelManager = self.kernel_manager

        async def recheck() -> None:
            watched = [s for s in list(provider.sessions.values()) if manager.kernels_of(s.key)]
            await asyncio.gather(*(provider.recheck(s) for s in watched))

        every = max(provider.recheck_seconds, 1.0)
        self._rechecks = PeriodicCallback(recheck, every * 1000)
        self._rechecks.start()


def main() -> None:
    ConsoleVoila.launch_instance()


if __name__ == "__main__":
    main()
