"""What every deploy widget needs: the notebook's session and namespace, and error display."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any, TypeVar

import ipywidgets as widgets
from IPython.core.error import UsageError

from deploykit.errors import DeployKitError
from deploykit.ui import render
from deploykit.ui.session import Session, session_of

__all__ = ["USER_ERRORS", "Feedback", "current_namespace", "current_session"]

_T = TypeVar("_T")

#: Errors a user can fix; a widget shows them in one line and carries on.
USER_ERRORS = (DeployKitError, UsageError)


def _shell() -> Any:
    from IPython import get_ipython

    return get_ipython()


def current_session(session: Session | None) -> Session:
    """``session``, else the ``%deploy`` magic's (so both share target and evaluations)."""
    if session is not None:
        return session
    shell = _shell()
    if shell is not None:
        found = session_of(shell)
        if found is not None:
            return found
    return Session()


def current_namespace(namespace: dict[str, Any] | None) -> dict[str, Any]:
    """``namespace``, else the notebook's variables."""
    if namespace is not None:
        return namespace
    shell = _shell()
    return shell.user_ns if shell is not None else {}


class Feedback:
    """A one-line message area: errors in red, outcomes in green or grey."""

    def __init__(self) -> None:
        self.widget = widgets.HTML()
        self.error: str | None = None  # the last error shown, for code and tests
        self.message: str | None = None

    def fail(self, message: str) -> None:
        self.error, self.message = message, None
        self.widget.value = render.error_html(message)

    def say(self, message: str, *, ok: bool = True) -> None:
        self.error, self.message = None, message
        color = render.GOOD if ok else render.BAD
        self.widget.value = f'<span style="color:{color}">{html.escape(message)}</span>'

    def clear(self) -> None:
        self.error = self.message = None
        self.widget.value = ""

    def run(self, action: Callable[[], _T]) -> _T | None:
        """``action()``; a user error is shown here and gives None."""
        self.clear()
        try:
            return action()
        except USER_ERRORS as exc:
            self.fail(str(exc))
            return None

    def on_click(self, method: Callable[[], Any]) -> Callable[[Any], None]:
        """A button handler: like ``run``, and any other failure is shown too.

        A click has no cell to print a traceback under, so an unexpected error
        (a model whose predict raises, say) must also land in the panel.
        """

        def handler(_: Any) -> None:
            try:
                method()
            except Exception as exc:
                self.fail(f"{type(exc).__name__}: {exc}")

        return handler
