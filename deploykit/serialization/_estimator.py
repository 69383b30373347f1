"""Refuse objects that are not fitted estimators before anything is stored."""

from __future__ import annotations

import sys
from typing import Any

from deploykit.errors import NotAnEstimatorError

__all__ = ["check_estimator", "class_path"]


def check_estimator(obj: Any) -> str:
    """Check that ``obj`` is a fitted estimator and return its class path.

    ``obj`` must have a callable ``predict``. When it looks like a scikit-learn
    estimator (it has ``fit``), it must also pass
    :func:`sklearn.utils.validation.check_is_fitted`. Objects that predict but
    cannot be fitted (hand-written wrappers) are taken as they are.

    Returns the shortest public dotted path of the class, such as
    ``"sklearn.ensemble.RandomForestClassifier"``.
    """
    name = type(obj).__name__
    if not callable(getattr(obj, "predict", None)):
        raise NotAnEstimatorError(
            f"The model passed to push is {_article(name)} {name}, not a fitted estimator: "
            "it has no predict() method. Pass a fitted scikit-learn estimator or Pipeline."
        )
    # Imported here: scikit-learn is heavy and `import deploykit` must stay quick.
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(obj)
    except NotFittedError:
        raise NotAnEstimatorError(
            f"The model passed to push, {name}, is not fitted yet: call fit() before pushing it."
        ) from None
    except TypeError:
        pass  # no fit() method: a predict-only wrapper, nothing to check
    return class_path(type(obj))


def class_path(cls: type) -> str:
    """The shortest ``module.Class`` path under which ``cls`` is importable.

    ``sklearn.ensemble._forest.RandomForestClassifier`` becomes
    ``sklearn.ensemble.RandomForestClassifier``: private modules are an
    implementation detail that moves between releases.
    """
    qualname = cls.__qualname__
    parts = cls.__module__.split(".")
    for end in range(1, len(parts)):
        # Every parent of an imported module is in sys.modules; nothing new is imported.
        module = sys.modules.get(".".join(parts[:end]))
        if module is not None and getattr(module, qualname, None) is cls:
            return f"{module.__name__}.{qualname}"
    return f"{cls.__module__}.{qualname}"


def _article(noun: str) -> str:
    return "an" if noun[:1].lower() in "aeiou" else "a"
