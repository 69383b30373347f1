"""The predict routes, dispatched without Starlette's middleware and router walk.

A 1-row predict costs ~100 µs of CPU; Starlette's error middleware, exception
middleware and router (a regex per route until one matches) add ~15% to it. The
predict endpoints (``/v1`` predict, Open Inference v2 infer) are bare ASGI callables
that catch every exception themselves and answer it in the protocol's error shape, so
the middleware has nothing to do for them: :class:`ServerApp` matches a POST to one
of them by its path segments and calls the endpoint directly. Everything else (other
methods, other paths, a ``root_path``) goes through Starlette as before, and a path
matches here exactly when Starlette's router would pick the same route: only the
routes at the head of the route list qualify, and they are tried in their order.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.routing import Route

__all__ = ["ServerApp"]

# (segments of the path; for each, the literal text or None for a parameter's name slot)
_Pattern = tuple[tuple[str | None, ...], tuple[str, ...], Route]


class ServerApp(Starlette):
    """Starlette, with POSTs to the leading bare-ASGI POST routes dispatched directly."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._hot: dict[int, list[_Pattern]] = {}
        for route in self.router.routes:
            if not _direct(route):
                break  # past here Starlette's order decides: leave the rest to it
            assert isinstance(route, Route)
            segments = route.path.split("/")
            literal = tuple(None if s.startswith("{") else s for s in segments)
            names = tuple(s[1:-1].split(":")[0] for s in segments if s.startswith("{"))
            self._hot.setdefault(len(segments), []).append((literal, names, route))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            parts = scope["path"].split("/")
            for literal, names, route in self._hot.get(len(parts), ()):
                params = _match(parts, literal, names)
                if params is not None:
                    scope["app"] = self
                    scope["router"] = self.router
                    scope["route"] = route
                    scope["endpoint"] = route.endpoint
                    scope["path_params"] = params
                    await route.endpoint(scope, receive, send)
                    return
        await super().__call__(scope, receive, send)


def _direct(route: Any) -> bool:
    """A POST-only route whose endpoint is an ASGI callable of ours, with str parameters."""
    return (
        type(route) is Route
        and route.methods == {"POST"}
        and route.app is route.endpoint
        and all(type(c).__name__ == "StringConvertor" for c in route.param_convertors.values())
    )


def _match(
    parts: list[str], literal: tuple[str | None, ...], names: tuple[str, ...]
) -> dict[str, str] | None:
    params: dict[str, str] = {}
    i = 0
    for part, expected in zip(parts, literal, strict=True):
        if expected is None:
            if not part:
                return None  # Starlette's [^/]+: a parameter is never empty
            params[names[i]] = part
            i += 1
        elif part != expected:
            return None
    return params
