"""``%load_ext deploykit``: the ``%deploy`` line magic and rich display of deploykit records.

    %load_ext deploykit
    %deploy evaluate model X_test y_test --name churn
    %deploy push model --name churn --data X_train --gate "roc_auc>=0.9" --deploy
    %deploy help

Modules: ``parser`` (the grammar), ``help`` (``%deploy help``), ``progress``,
``commands`` (the magic). The session, the actions, the rendering and the name
resolution it shares with the widgets and the console are in :mod:`deploykit.ui`.
"""

from __future__ import annotations

from typing import Any

from deploykit.magics.commands import DeployMagics
from deploykit.ui.results import register_formatters, unregister_formatters
from deploykit.ui.session import Session

__all__ = ["DeployMagics", "Session", "load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(shell: Any) -> None:
    """Register ``%deploy`` and the record formatters in ``shell``."""
    magics = DeployMagics(shell)
    shell.register_magics(magics)
    register_formatters(shell)


def unload_ipython_extension(shell: Any) -> None:
    """Remove what :func:`load_ipython_extension` added, and close the session's registry."""
    magics = shell.magics_manager.registry.pop("DeployMagics", None)
    shell.magics_manager.magics["line"].pop("deploy", None)
    if magics is not None:
        magics.session.close()
    unregister_formatters(shell)
