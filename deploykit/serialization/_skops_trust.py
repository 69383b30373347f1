"""Which skops types deploykit trusts beyond skops' own list, and why that is safe.

skops refuses, by default, a few types that every HistGradientBoosting or random
forest holds (``numpy.dtype``, ``...predictor.TreePredictor``, ``sklearn.tree._tree.Tree``),
so a plain scikit-learn model would not load without a setting. deploykit trusts a type
skops does not only when all of these hold, judged from the file's schema before
anything is constructed:

1. it lives in ``sklearn``, ``numpy`` or ``scipy`` (no third-party or user code);
2. skops builds it in a way that runs no code chosen by the file:

   - ``ObjectNode`` for a class written in Python: ``cls.__new__(cls)`` and then
     ``__setstate__``/``__dict__`` with the file's (themselves audited) values. A class
     written in C or Cython is refused (its ``__setstate__`` may trust raw memory), and a
     function is refused (a model calling it, e.g. ``FunctionTransformer(func=...)``,
     would run it on attacker-chosen arguments);
   - ``DTypeNode`` for ``numpy.dtype``: read from an empty ``.npy`` array header, pickles
     not allowed;
   - ``TreeNode`` for ``sklearn.tree._tree.Tree``: the constructor is fixed by skops,
     not named by the file, and ``Tree.__setstate__`` checks the arrays' shapes.
3. if scikit-learn indexes memory with its values unchecked (the node arrays of
   ``TreePredictor`` and ``Tree``: a crafted child index reads out of bounds, a crafted
   cycle loops forever), :func:`verify_model` checks every index after loading and
   before the model is used.

Anything else (third-party estimators, your own classes, functions) still needs
``DEPLOYKIT_SKOPS_TRUSTED``. The residual risk is the one skops already accepts for the
public estimators it trusts: scikit-learn code running on values the file chose.
"""

from __future__ import annotations

import importlib
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from deploykit.errors import UntrustedArtifactError

__all__ = ["default_trusted", "verify_model"]

_PACKAGES = frozenset({"sklearn", "numpy", "scipy"})
_FIXED_LOADERS = {
    "numpy.dtype": "DTypeNode",
    "sklearn.tree._tree.Tree": "TreeNode",
}
_TREE = "sklearn.tree._tree.Tree"
_PREDICTOR = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
_HEAP_TYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class created by a class statement
_MAX_SCHEMA = 64 << 20
# Modules of those packages that are not library code (test suites, entry points): a file
# naming them gets no import from this rule.
_UNIMPORTED = frozenset({"__main__", "conftest", "tests", "testing", "setup", "_pyinstaller"})


def default_trusted(path: str | os.PathLike[str], untrusted: list[str]) -> list[str]:
    """Those of ``untrusted`` (types in the skops file at ``path``) deploykit trusts."""
    if not untrusted:
        return []
    loaders = _loaders(Path(path))
    return [name for name in untrusted if _trusted(name, loaders.get(name, set()))]


def _loaders(path: Path) -> dict[str, set[str]]:
    """Type name -> the skops loaders its nodes use, from the archive's schema.json."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("schema.json")
        if info.file_size > _MAX_SCHEMA:
            return {}
        schema = json.loads(archive.read(info))
    found: dict[str, set[str]] = {}
    for node in _nodes(schema):
        name = f"{node['__module__']}.{node['__class__']}"
        found.setdefault(name, set()).add(str(node.get("__loader__")))
    return found


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("__class__"), str) and isinstance(item.get("__module__"), str):
                yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _trusted(name: str, loaders: set[str]) -> bool:
    module, _, cls = name.rpartition(".")
    parts = module.split(".")
    if parts[0] not in _PACKAGES or not loaders or _UNIMPORTED.intersection(parts):
        return False
    fixed = _FIXED_LOADERS.get(name)
    if fixed is not None:
        return loaders == {fixed}
    if loaders != {"ObjectNode"}:
        return False
    try:  # importing a module of scikit-learn, NumPy or SciPy runs only their own code
        obj = getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError):
        return False
    return isinstance(obj, type) and all(
        bool(klass.__flags__ & _HEAP_TYPE) for klass in obj.__mro__[:-1]
    )


# -- after loading -------------------------------------------------------------------


def verify_model(model: Any, label: str) -> None:
    """Check the node indices of every tree in ``model``; UntrustedArtifactError if crafted."""
    for obj, owner in _objects(model):
        kind = f"{type(obj).__module__}.{type(obj).__qualname__}"
        problem = None
        if kind == _PREDICTOR:
            problem = _predictor_problem(obj, getattr(owner, "n_features_in_", None))
        elif kind == _TREE:
            problem = _tree_problem(obj)
        if problem:
            raise UntrustedArtifactError(
                f"The skops model file {label} holds a malformed {type(obj).__name__}: "
                f"{problem}. Such a file can crash the server; it was not loaded. "
                "Push the model again from the notebook that trained it."
            )


def _objects(root: Any, limit: int = 1_000_000) -> Iterator[tuple[Any, Any]]:
    """Every object reachable through attributes, lists, tuples and dicts, with its owner."""
    seen: set[int] = set()
    stack: list[tuple[Any, Any]] = [(root, None)]
    while stack and len(seen) < limit:
        obj, owner = stack.pop()
        if id(obj) in seen or isinstance(obj, (str, bytes, int, float, np.ndarray, type)):
            continue
        seen.add(id(obj))
        yield obj, owner
        if isinstance(obj, dict):
            stack.extend((v, owner) for v in obj.values())
        elif isinstance(obj, (list, tuple, set)):
            stack.extend((v, owner) for v in obj)
        elif hasattr(obj, "__dict__"):
            stack.extend((v, obj) for v in vars(obj).values())


def _indices_problem(left: np.ndarray, right: np.ndarray, leaf: np.ndarray) -> str | None:
    """Children of inner nodes must come later in the array (no cycle) and exist."""
    n = len(left)
    inner = np.flatnonzero(~leaf)
    for name, child in (("left", left), ("right", right)):
        bad = inner[(child[inner] <= inner) | (child[inner] >= n)]
        if bad.size:
            return f"node {int(bad[0])} has {name} child {int(child[bad[0]])} (of {n} nodes)"
    return None


def _predictor_problem(predictor: Any, n_features: Any) -> str | None:
    nodes = getattr(predictor, "nodes", None)
    if not isinstance(nodes, np.ndarray) or nodes.ndim != 1 or not len(nodes):
        return "no node array"
    names = nodes.dtype.names or ()
    if not {"left", "right", "is_leaf", "feature_idx", "bitset_idx", "is_categorical"} <= set(
        names
    ):
        return f"a node array with fields {names}"
    leaf = nodes["is_leaf"].astype(bool)
    problem = _indices_problem(
        nodes["left"].astype(np.int64), nodes["right"].astype(np.int64), leaf
    )
    if problem:
        return problem
    inner = ~leaf
    feature = nodes["feature_idx"].astype(np.int64)[inner]
    if (
        isinstance(n_features, (int, np.integer))
        and ((feature < 0) | (feature >= n_features)).any()
    ):
        return f"a split on a feature index outside 0..{int(n_features) - 1}"
    categorical = inner & nodes["is_categorical"].astype(bool)
    if categorical.any():
        bitsets = getattr(predictor, "raw_left_cat_bitsets", None)
        count = len(bitsets) if isinstance(bitsets, np.ndarray) else 0
        index = nodes["bitset_idx"].astype(np.int64)[categorical]
        if ((index < 0) | (index >= count)).any():
            return "a categorical split pointing outside its bitsets"
    return None


def _tree_problem(tree: Any) -> str | None:
    try:
        left = np.asarray(tree.children_left, dtype=np.int64)
        right = np.asarray(tree.children_right, dtype=np.int64)
        feature = np.asarray(tree.feature, dtype=np.int64)
        n_features = int(tree.n_features)
    except (AttributeError, TypeError, ValueError):
        return "no readable node arrays"
    leaf = left == -1
    if ((right == -1) != leaf).any():
        return "a node with one child"
    problem = _indices_problem(left, right, leaf)
    if problem:
        return problem
    if ((feature[~leaf] < 0) | (feature[~leaf] >= n_features)).any():
        return f"a split on a feature index outside 0..{n_features - 1}"
    return None
