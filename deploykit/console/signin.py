"""Who visits the console: each visitor signs in with their own deploykit token.

Runs inside the Voila process (:mod:`deploykit.console.voila_app` installs it):

- ``GET  <base>login``   a form that takes a token; ``POST`` signs in and goes back to ``next``.
- ``GET  <base>?token=dk_...`` signs in once; the page then redirects to itself without
  the token, so the token never sits in the address bar, a kernel's environment or a log.
- ``GET  <base>logout``  ends the session (and shuts its kernels down).

A token is checked against the deploykit server (``GET /v1/whoami``), which answers its
name and role. The browser gets a random session id in a signed, HttpOnly, SameSite=Lax
cookie (Secure over https); the token stays in this process's memory, checked again every
``recheck_seconds`` while it is used, so a revoked token loses the console within seconds.
:class:`ConsoleAuthorizer` lets a session reach only the kernels its own page started.
"""

from __future__ import annotations

import dataclasses
import html
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx
from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.auth.identity import IdentityProvider, User
from jupyter_server.auth.login import LoginFormHandler
from jupyter_server.base.handlers import JupyterHandler
from tornado import web
from traitlets import Float, Integer, Unicode

__all__ = [
    "ConsoleAuthorizer",
    "ConsoleIdentityProvider",
    "ConsoleUser",
    "Session",
    "TokenRefusedError",
    "sign_in_page",
]

_NON_ALNUM = re.compile(r"[^A-Za-z0-9]")
_TOKEN_FIELD = "token"


class TokenRefusedError(Exception):
    """The deploykit server refused the token (unknown or revoked)."""


class ServerUnreachableError(Exception):
    """The deploykit server did not answer; nothing is known about the token."""


@dataclasses.dataclass
class Session:
    """A signed-in visitor. ``key`` names the session to the kernel manager (public);
    ``id`` is the cookie's secret value; ``token`` never leaves this process but to the
    visitor's own kernels."""

    id: str
    key: str
    token: str = dataclasses.field(repr=False)
    name: str
    role: str
    checked_at: float
    created_at: float = dataclasses.field(default_factory=time.monotonic)


@dataclasses.dataclass
class ConsoleUser(User):
    """The jupyter_server user of a session: ``username`` is the token's name."""

    role: str = ""
    session_key: str = ""


def _user(session: Session) -> ConsoleUser:
    return ConsoleUser(
        username=session.name,
        name=session.name,
        display_name=f"{session.name} ({session.role})",
        role=session.role,
        session_key=session.key,
    )


class ConsoleIdentityProvider(IdentityProvider):
    """Visitors sign in with a deploykit token, checked by the deploykit server."""

    server_url = Unicode(
        "http://127.0.0.1:8765",
        config=True,
        help="The deploykit server that vouches for tokens (GET /v1/whoami).",
    )
    recheck_seconds = Float(
        10.0,
        config=True,
        help="A session's token is checked with the server again when it is used this "
        "many seconds after the last check; a revoked token is refused from then on.",
    )
    session_hours = Float(12.0, config=True, help="A session ends this many hours after sign-in.")
    max_sessions = Integer(
        10_000, config=True, help="Sessions kept in memory; the oldest go first beyond this."
    )
    check_timeout = Float(
        10.0, config=True, help="Seconds to wait for the deploykit server to answer a check."
    )

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("token", None)  # Voila passes Jupyter's shared token: not used here
        super().__init__(**kwargs)
        self.token = ""
        self.sessions: dict[str, Session] = {}
        #: called with a session the server no longer vouches for (the app shuts its kernels)
        self.on_end: Callable[[Session], Any] | None = None
        self._http: httpx.AsyncClient | None = None

    # -- jupyter_server's IdentityProvider interface ------------------------------------

    @property
    def auth_enabled(self) -> bool:
        return True

    @property
    def login_available(self) -> bool:
        return True

    def get_handlers(self) -> list[tuple[str, object]]:
        base = _base_url(self.parent)
        return [(f"{base}login", SignInHandler), (f"{base}logout", SignOutHandler)]

    def get_cookie_name(self, handler: web.RequestHandler) -> str:
        return _NON_ALNUM.sub("-", f"deploykit-console-{handler.request.host}")

    async def get_user(self, handler: web.RequestHandler) -> ConsoleUser | None:
        known = getattr(handler, "_jupyter_current_user", None)  # Jupyter's per-request cache
        if isinstance(known, ConsoleUser):
            return known
        session = await self._session_from_cookie(handler)
        reading = handler.request.method in ("GET", "HEAD")
        token = handler.get_query_argument(_TOKEN_FIELD, "") if reading else ""
        same = session is not None and secrets.compare_digest(
            session.token.encode("utf-8"), token.encode("utf-8")
        )
        if token and not same:
            try:
                session = await self.sign_in(handler, token)
            except (TokenRefusedError, ServerUnreachableError) as exc:
                handler._deploykit_sign_in_error = str(exc)  # type: ignore[attr-defined]
                return None
        return None if session is None else _user(session)

    def is_token_authenticated(self, handler: web.RequestHandler) -> bool:
        return False  # a session cookie, never a shared token: xsrf and origin checks apply

    def validate_security(self, app: Any, ssl_options: dict[str, Any] | None = None) -> None:
        pass  # Jupyter's warnings are about its shared token, which the console does not use

    # -- sessions -------------------------------------------------------------------------

    async def sign_in(self, handler: web.RequestHandler, token: str) -> Session:
        """Check ``token`` with the server; a new session and its cookie. Raises
        :class:`TokenRefusedError` or :class:`ServerUnreachableError`."""
        token = token.strip()
        name, role = await self.check(token)
        now = time.monotonic()
        session = Session(
            id=secrets.token_urlsafe(32),
            key=secrets.token_hex(8),
            token=token,
            name=name,
            role=role,
            checked_at=now,
        )
        self._forget_stale(now)
        self.sessions[session.id] = session
        self._set_cookie(handler, session)
        handler.log.info(  # type: ignore[attr-defined]
            "deploykit console: %s (%s) signed in from %s", name, role, handler.request.remote_ip
        )
        return session

    def sign_out(self, handler: web.RequestHandler) -> Session | None:
        session = self.sessions.pop(self._cookie_value(handler) or "", None)
        self.clear_login_cookie(handler)
        if session is not None and self.on_end is not None:
            self.on_end(session)
        return session

    async def check(self, token: str) -> tuple[str, str]:
        """(name, role) the server gives ``token``."""
        if not token or not token.isascii() or len(token) > 512:
            raise TokenRefusedError("That is not a deploykit token.")
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.check_timeout)
        url = self.server_url.rstrip("/") + "/v1/whoami"
        try:
            answer = await self._http.get(url, headers={"authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            raise ServerUnreachableError(
                f"The deploykit server at {self.server_url} did not answer "
                f"({type(exc).__name__}); try again in a moment."
            ) from None
        if answer.status_code in (401, 403):
            raise TokenRefusedError(
                "The deploykit server refused that token (unknown or revoked). Ask an admin "
                "for one: deploykit token create --role viewer --name 'your name'."
            )
        try:
            body = answer.json()
            name, role = str(body["name"]), str(body["role"])
        except (ValueError, KeyError, TypeError):
            raise ServerUnreachableError(
                f"The deploykit server at {self.server_url} answered {answer.status_code} "
                "instead of who the token is; try again in a moment."
            ) from None
        if answer.status_code != 200:
            raise ServerUnreachableError(f"The deploykit server answered {answer.status_code}.")
        return name, role

    async def recheck(self, session: Session) -> bool:
        """Ask the server about ``session``'s token again; False (and the session ended)
        once it is refused. An unreachable server keeps the session: it can act on nothing
        until the server answers, and the server checks the token itself then."""
        try:
            name, role = await self.check(session.token)
        except TokenRefusedError:
            self.end(session)
            return False
        except ServerUnreachableError:
            session.checked_at = time.monotonic()
            return True
        session.name, session.role, session.checked_at = name, role, time.monotonic()
        return True

    def end(self, session: Session) -> None:
        if self.sessions.pop(session.id, None) is not None and self.on_end is not None:
            self.on_end(session)

    def session_of(self, key: str) -> Session | None:
        return next((s for s in self.sessions.values() if s.key == key), None)

    # -- helpers ----------------------------------------------------------------------------

    async def _session_from_cookie(self, handler: web.RequestHandler) -> Session | None:
        session = self.sessions.get(self._cookie_value(handler) or "")
        if session is None:
            return None
        now = time.monotonic()
        if now - session.created_at > self.session_hours * 3600:
            self.end(session)
            return None
        if now - session.checked_at > self.recheck_seconds and not await self.recheck(session):
            return None
        return session

    def _cookie_value(self, handler: web.RequestHandler) -> str | None:
        raw = handler.get_secure_cookie(
            self.get_cookie_name(handler), max_age_days=max(self.session_hours / 24, 0.01)
        )
        return raw.decode("ascii", errors="replace") if raw else None

    def _set_cookie(self, handler: web.RequestHandler, session: Session) -> None:
        options: dict[str, Any] = {
            "httponly": True,
            "samesite": "Lax",
            "path": _base_url(self.parent),
            "expires_days": None,  # a browser session cookie: gone when the browser closes
        }
        secure = self.secure_cookie
        if secure is None:
            secure = handler.request.protocol == "https"
        if secure:
            options["secure"] = True
        options.update(self.cookie_options)
        handler.set_secure_cookie(self.get_cookie_name(handler), session.id, **options)

    def _forget_stale(self, now: float) -> None:
        limit = self.session_hours * 3600
        for s in list(self.sessions.values()):
            if now - s.created_at > limit:
                self.end(s)
        while len(self.sessions) >= self.max_sessions:
            self.end(min(self.sessions.values(), key=lambda s: s.created_at))

    def clear_login_cookie(self, handler: web.RequestHandler) -> None:
        handler.clear_cookie(self.get_cookie_name(handler), path=_base_url(self.parent))


class ConsoleAuthorizer(Authorizer):
    """A signed-in visitor may reach the kernels their own pages started, and no other."""

    def is_authorized(
        self, handler: JupyterHandler, user: User, action: str, resource: str
    ) -> bool:
        if not isinstance(user, ConsoleUser):
            return False
        if resource != "kernels":
            return True
        kernel_id = kernel_id_of(handler)
        owners = handler.settings["kernel_manager"]
        return kernel_id is not None and owners.owner_of(kernel_id) == user.session_key


def kernel_id_of(handler: web.RequestHandler) -> str | None:
    kernel_id = getattr(handler, "kernel_id", None)
    if kernel_id is None:
        kernel_id = handler.path_kwargs.get("kernel_id")
    if kernel_id is None and handler.path_args:
        kernel_id = handler.path_args[0]
    return str(kernel_id) if kernel_id else None


def _base_url(app: Any) -> str:
    base = str(getattr(app, "server_url", None) or getattr(app, "base_url", "/") or "/")
    return base if base.endswith("/") else base + "/"


class SignInHandler(LoginFormHandler):
    """The sign-in form: one field, the visitor's deploykit token."""

    def _render(self, message: Any = None) -> None:
        error = message.get("error") if isinstance(message, dict) else None
        self.write(sign_in_page(self, error))

    @allow_unauthenticated
    async def post(self) -> None:
        provider: ConsoleIdentityProvider = self.identity_provider  # type: ignore[assignment]
        token = self.get_body_argument(_TOKEN_FIELD, default="")
        try:
            await provider.sign_in(self, token)
        except (TokenRefusedError, ServerUnreachableError) as exc:
            self.set_status(401 if isinstance(exc, TokenRefusedError) else 503)
            self.write(sign_in_page(self, str(exc)))
            return
        after = self.get_argument("next", default=self.base_url)
        self._redirect_safe(after)  # type: ignore[no-untyped-call]


class SignOutHandler(JupyterHandler):
    @allow_unauthenticated
    def get(self) -> None:
        self.identity_provider.sign_out(self)  # type: ignore[attr-defined]
        self.redirect(f"{self.base_url}login")


def sign_in_page(handler: JupyterHandler, error: str | None) -> str:
    next_url = handler.get_argument("next", default=handler.base_url)
    if "token=" in next_url:  # never carry a token through the form
        next_url = handler.base_url
    error = error or getattr(handler, "_deploykit_sign_in_error", None)
    problem = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · deploykit console</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font:15px/1.5 system-ui,sans-serif;max-width:30rem;margin:12vh auto;padding:0 1rem;
color:#1f2328}}
h1{{font-size:1.4rem;margin:0 0 .5rem}} p{{margin:.5rem 0}}
input[type=password]{{width:100%;padding:.5rem;font:inherit;box-sizing:border-box}}
button{{margin-top:.75rem;padding:.45rem 1.2rem;font:inherit}}
.error{{color:#b42318}} .muted{{color:#656d76;font-size:.9rem}}
</style></head>
<body><main>
<h1>deploykit console</h1>
<p>Sign in with your own deploykit token: the console acts with its role, and the audit
log names you.</p>
{problem}
<form method="post" action="{html.escape(handler.base_url)}login?next={
        html.escape(web.escape.url_escape(next_url))
    }">
{handler.xsrf_form_html()}
<label for="token">Token</label>
<input type="password" id="token" name="token" autocomplete="current-password" required
 autofocus>
<button type="submit">Sign in</button>
</form>
<p class="muted">No token? An admin makes one:
<code>deploykit token create --role viewer --name "your name"</code>.</p>
</main></body></html>"""
