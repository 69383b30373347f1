"""Compiled inference: scikit-learn models converted to ONNX at push, verified, served.

    compiled = compile_model(model, signature=draft.signature, X=X)   # at push
    compiled.info.runtime       -> "onnx" | "sklearn"
    compiled.info.describe()    -> "onnx (41× faster on 1 row)" / "sklearn: <reason>"
    CompiledModel(onnx_bytes, info).run(feed, proba)                    # at serve time

Core: no Jupyter or web imports. :mod:`deploykit.compile._runtime` and ``_record``
import neither scikit-learn nor pandas, so a server of compiled versions needs neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deploykit.compile._record import InputPlan, RuntimeInfo, describe_runtime

if TYPE_CHECKING:
    from deploykit.compile._compile import Compiled
    from deploykit.compile._runtime import CompiledModel

__all__ = [
    "Compiled",
    "CompiledModel",
    "InputPlan",
    "RuntimeInfo",
    "compile_for_push",
    "compile_model",
    "describe_runtime",
]


def compile_model(model: Any, *, signature: Any, X: Any, tolerance: float = 1e-5) -> Compiled:
    """See :func:`deploykit.compile._compile.compile_model` (imported on first use)."""
    from deploykit.compile._compile import compile_model as run

    return run(model, signature=signature, X=X, tolerance=tolerance)


def compile_for_push(model: Any, signature: Any, X: Any, settings: Any) -> Compiled:
    """:func:`compile_model` under ``settings`` (``compile``, ``compile_tolerance``)."""
    if not settings.compile:
        from deploykit.compile._compile import Compiled

        return Compiled(None, RuntimeInfo.sklearn("compilation is off (DEPLOYKIT_COMPILE=0)"))
    try:
        return compile_model(model, signature=signature, X=X, tolerance=settings.compile_tolerance)
    except Exception as exc:  # a push never fails for want of a faster runtime
        from deploykit.compile._compile import Compiled

        reason = f"compilation failed ({type(exc).__name__}: {str(exc)[:200]})"
        return Compiled(None, RuntimeInfo.sklearn(reason))


def __getattr__(name: str) -> Any:
    if name == "CompiledModel":
        from deploykit.compile._runtime import CompiledModel

        return CompiledModel
    if name == "Compiled":
        from deploykit.compile._compile import Compiled

        return Compiled
    raise AttributeError(name)
