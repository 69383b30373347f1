"""In a console kernel: whom this kernel serves, asked of the console process that started it.

``deploykit console`` starts kernels with no deploykit token. When a signed-in visitor
takes one, the console binds the visitor to it; the kernel, holding the key it was
started with, then receives the visitor's token once (:mod:`deploykit.console.kernels`).
A preheated kernel waits here until someone visits.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

import httpx

from deploykit.errors import ConfigurationError

__all__ = ["Visitor", "served", "wait_for_visitor"]

ENV_IDENTITY_URL = "DEPLOYKIT_CONSOLE_IDENTITY_URL"  # as deploykit.console.kernels sets them
ENV_KERNEL_ID = "DEPLOYKIT_CONSOLE_KERNEL_ID"
ENV_KERNEL_KEY = "DEPLOYKIT_CONSOLE_KERNEL_KEY"


@dataclasses.dataclass(frozen=True)
class Visitor:
    """The signed-in visitor a console kernel acts for."""

    name: str
    role: str
    token: str = dataclasses.field(repr=False)


def served(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process is a kernel started by ``deploykit console``."""
    env = os.environ if environ is None else environ
    return bool(env.get(ENV_IDENTITY_URL))


def wait_for_visitor(environ: Mapping[str, str] | None = None, *, poll: float = 25.0) -> Visitor:
    """Block until the console binds a visitor to this kernel; that visitor."""
    env = os.environ if environ is None else environ
    url, kernel, key = (env.get(k, "") for k in (ENV_IDENTITY_URL, ENV_KERNEL_ID, ENV_KERNEL_KEY))
    if not (url and kernel and key):
        raise ConfigurationError(
            "This kernel was not started by `deploykit console` (no "
            f"{ENV_IDENTITY_URL}/{ENV_KERNEL_ID}/{ENV_KERNEL_KEY}); it has no visitor."
        )
    headers = {"X-Deploykit-Kernel": kernel, "X-Deploykit-Kernel-Key": key}
    with httpx.Client(timeout=poll + 10, trust_env=False) as http:
        while True:
            try:
                answer = http.get(url, params={"wait": poll}, headers=headers)
            except httpx.TransportError as exc:
                raise ConfigurationError(
                    f"The console process at {url} did not answer ({exc}); reload the page."
                ) from None
            if answer.status_code == 204:
                continue  # no visitor yet: a preheated kernel waits for one
            if answer.status_code != 200:
                raise ConfigurationError(
                    f"The console refused to say whom this kernel serves "
                    f"({answer.status_code}); reload the page."
                )
            body = answer.json()
            return Visitor(name=str(body["name"]), role=str(body["role"]), token=body["token"])
