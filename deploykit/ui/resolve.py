"""Finding the notebook variables a ``%deploy`` line names.

A name is looked up in the notebook's namespace; anything else (``X_test[:5]``,
``df.drop(columns='y')``) is evaluated there, as IPython does for ``{expr}`` in
magics. A missing name is a one-line UsageError that suggests the closest
variable, because a typo is the most common mistake in a magic line.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from IPython.core.error import UsageError

__all__ = [
    "data_variables",
    "fitted_estimators",
    "is_fitted_estimator",
    "lookup",
    "require_estimator",
    "user_variables",
]

# Names IPython puts in every namespace; never what a user means.
_IPYTHON_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython", "open"})


def user_variables(namespace: Mapping[str, Any]) -> list[str]:
    """The names a user defined: no underscores in front, no IPython built-ins, no modules."""
    return [
        name
        for name, value in namespace.items()
        if not name.startswith("_")
        and name not in _IPYTHON_NAMES
        and type(value).__name__ != "module"
    ]


def _missing(name: str, namespace: Mapping[str, Any], prefer: list[str] | None) -> UsageError:
    close: list[str] = []
    for pool in (prefer, user_variables(namespace)):
        if pool:
            close = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
            if close:
                break
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return UsageError(f"No variable named '{name}' in this notebook{hint}")


def lookup(namespace: Mapping[str, Any], expr: str, *, prefer: list[str] | None = None) -> Any:
    """The value ``expr`` names or computes in ``namespace``; UsageError if it cannot.

    ``prefer`` lists the names to suggest first for a typo (fitted models for a
    MODEL argument, say).
    """
    if expr.isidentifier():
        if expr in namespace:
            return namespace[expr]
        raise _missing(expr, namespace, prefer)
    try:
        # A copy: evaluating must not add __builtins__ or anything else to the user's namespace.
        return eval(expr, dict(namespace))
    except NameError as exc:
        if exc.name is not None:
            raise _missing(exc.name, namespace, prefer) from None
        raise UsageError(f"Could not evaluate '{expr}' in this notebook: {exc}.") from None
    except Exception as exc:
        raise UsageError(
            f"Could not evaluate '{expr}' in this notebook: {type(exc).__name__}: {exc}."
        ) from None


def is_fitted_estimator(value: Any) -> bool:
    """Whether ``value`` is a fitted scikit-learn-style model (an instance with ``predict``)."""
    if isinstance(value, type) or not callable(getattr(value, "predict", None)):
        return False
    if not callable(getattr(value, "fit", None)):
        return False
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(value)
    except NotFittedError:
        return False
    except (TypeError, AttributeError):  # not a scikit-learn estimator at all
        return False
    return True


def fitted_estimators(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The fitted models among the user's variables, by name."""
    return {
        name: namespace[name]
        for name in user_variables(namespace)
        if is_fitted_estimator(namespace[name])
    }


def data_variables(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The user's tables and arrays (DataFrame, Series, ndarray), by name."""
    import numpy as np
    import pandas as pd

    kinds = (pd.DataFrame, pd.Series, np.ndarray)
    return {
        name: namespace[name]
        for name in user_variables(namespace)
        if isinstance(namespace[name], kinds) and getattr(namespace[name], "ndim", 0) in (1, 2)
    }


def require_estimator(namespace: Mapping[str, Any], expr: str) -> Any:
    """The fitted model ``expr`` names; a UsageError saying what is wrong otherwise."""
    prefer = list(fitted_estimators(namespace)) if expr.isidentifier() else None
    value = lookup(namespace, expr, prefer=prefer)
    if isinstance(value, type) or not callable(getattr(value, "predict", None)):
        raise UsageError(
            f"'{expr}' is a {type(value).__name__}, not a model: %deploy expects a fitted "
            "estimator with .predict(), such as a scikit-learn Pipeline."
        )
    if callable(getattr(value, "fit", None)) and not is_fitted_estimator(value):
        raise UsageError(
            f"The model '{expr}' is not fitted yet: call {expr}.fit(X, y) before %deploy."
        )
    return value
