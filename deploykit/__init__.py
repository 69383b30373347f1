"""deploykit: put a scikit-learn model in production without leaving Jupyter.

    import deploykit
    reg = deploykit.Registry()
    report = deploykit.evaluate(model, X_test, y_test, against=reg, name="churn")
    v = reg.push(model, name="churn", X=X_train, evaluation=report)
    reg.deploy("churn", v.version)

The heavy parts (scikit-learn, SQLAlchemy) are imported on first use, so
``import deploykit`` and ``%load_ext deploykit`` stay quick.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deploykit._lazy import lazy_exports
from deploykit._version import __version__
from deploykit.errors import *  # noqa: F403  (the exception tree is public API)
from deploykit.errors import __all__ as _error_names
from deploykit.records import Alias, Event, ModelInfo, ModelVersion
from deploykit.settings import Settings

if TYPE_CHECKING:
    from deploykit.client import Client, Prediction
    from deploykit.evaluation import EvaluationReport, Gate, evaluate
    from deploykit.registry import Registry
    from deploykit.signature import Signature

# public name -> module that defines it, imported on first attribute access
_LAZY = {
    "Client": "deploykit.client",
    "Prediction": "deploykit.client",
    "Registry": "deploykit.registry",
    "evaluate": "deploykit.evaluation",
    "EvaluationReport": "deploykit.evaluation",
    "Gate": "deploykit.evaluation",
    "Signature": "deploykit.signature",
}

__all__ = [
    "Alias",
    "Client",
    "EvaluationReport",
    "Event",
    "Gate",
    "ModelInfo",
    "ModelVersion",
    "Prediction",
    "Registry",
    "Settings",
    "Signature",
    "__version__",
    "evaluate",
    *_error_names,
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """Jupyter's entry point; jupyter_server is imported now, not with ``import deploykit``."""
    from deploykit.serverext import DeployKitLab

    return [{"module": "deploykit.serverext", "app": DeployKitLab}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """For ``jupyter labextension develop``; wheels ship the extension as shared data."""
    return [{"src": "labextension", "dest": "deploykit-labextension"}]


def load_ipython_extension(shell: Any) -> None:
    """``%load_ext deploykit``: the ``%deploy`` magic (IPython is imported only now)."""
    from deploykit.magics import load_ipython_extension as load

    load(shell)


def unload_ipython_extension(shell: Any) -> None:
    """``%unload_ext deploykit``."""
    from deploykit.magics import unload_ipython_extension as unload

    unload(shell)
