"""``with thing:`` closes ``thing`` at the end: the context-manager methods, written once.

Registries, clients, server and console processes all hold something to release
(connections, a child process); each says how in ``close`` and inherits the rest.
"""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

__all__ = ["Closing"]

_C = TypeVar("_C", bound="Closing")


class Closing:
    """Mixin: ``__enter__`` gives the object, ``__exit__`` calls its ``close``."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
