"""scikit-learn -> ONNX with skl2onnx, for one input plan.

The plans tried for a model come from its signature (:func:`plans_for`): numbers only
give one matrix input (the cheapest call), anything else one input per column, named
after it (what a ``ColumnTransformer`` selecting columns by name needs). Which numeric
precision comes first depends on the model: trees compare in float32 in scikit-learn
itself, so float32 is exact for them; linear models compute in float64.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deploykit.compile._record import InputPlan

__all__ = ["ConversionError", "convert", "convert_graph", "plans_for"]

# ai.onnx.ml 3 stores tree thresholds as tensors: double-precision trees when asked.
_OPSET = {"": 17, "ai.onnx.ml": 3}
_TREE_WORDS = ("Tree", "Forest", "Boosting", "Bagging")
# Tree ensembles convert with deploykit.compile._trees (NumPy over the fitted arrays)
# rather than skl2onnx's node-by-node walk; bench/compile/run.py turns it off to compare.
VECTORISED_TREES = True


class ConversionError(Exception):
    """skl2onnx cannot convert the model under this plan; ``str()`` is the reason shown."""


def plans_for(model: Any, signature: Mapping[str, Any] | None) -> list[InputPlan] | str:
    """The plans to try, best first; or why none can work (a reason string)."""
    if not signature or not signature.get("inputs"):
        count = getattr(model, "n_features_in_", None)
        if not isinstance(count, int):
            return "no signature to name the inputs (push with X)"
        inputs = [{"name": f"f{i}", "dtype": "float64", "nullable": True} for i in range(count)]
    else:
        inputs = list(signature["inputs"])
    from deploykit.signature import ColumnSpec

    specs = [ColumnSpec.from_dict(c) for c in inputs]
    columns = tuple(c.name for c in specs)
    families = tuple(c.family for c in specs)
    nullable = tuple(c.nullable for c in specs)
    for spec in specs:
        if spec.family == "datetime":
            return f"column {spec.name!r} holds datetimes, which ONNX inputs cannot"
    dtypes = ("float32", "float64") if _tree_based(model) else ("float64", "float32")
    if _final(model).__class__.__name__.startswith("HistGradientBoosting"):
        dtypes = ("float64", "float32")  # it compares float64 X with float64 thresholds
    numeric = all(f in ("float", "int", "bool") for f in families)
    plans: list[InputPlan] = []
    if numeric:
        kinds = ("float",) * len(columns)
        plans += [InputPlan("matrix", d, columns, families, nullable, kinds) for d in dtypes]
    kinds = tuple(
        "float"
        if f in ("float", "bool") or (f == "int" and n)
        else "int"
        if f == "int"
        else "string"
        for f, n in zip(families, nullable, strict=True)
    )
    if not numeric or _selects_columns(model):  # one input per column: only a
        # ColumnTransformer can take them (plain estimators accept a single input)
        plans += [InputPlan("columns", d, columns, families, nullable, kinds) for d in dtypes]
    return plans


def _selects_columns(model: Any) -> bool:
    stack = [model]
    while stack:
        est = stack.pop()
        if hasattr(est, "transformers_"):
            return True
        stack.extend(step for _, step in getattr(est, "steps", None) or [])
    return False


def _final(model: Any) -> Any:
    steps = getattr(model, "steps", None)
    return steps[-1][1] if steps else model


def _tree_based(model: Any) -> bool:
    return any(word in type(_final(model)).__name__ for word in _TREE_WORDS)


def convert(model: Any, plan: InputPlan) -> bytes:
    """The ONNX bytes of ``model`` taking ``plan``'s inputs; ConversionError saying why not."""
    return convert_graph(model, plan)[0]


def convert_graph(model: Any, plan: InputPlan) -> tuple[bytes, list[str], list[str]]:
    """:func:`convert`, with the graph's output and input names (reading them back from
    the bytes parses the whole model again: ~0.2 s for a 300-tree forest)."""
    import skl2onnx
    import sklearn
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )

    number = FloatTensorType if plan.dtype == "float32" else DoubleTensorType
    if plan.layout == "matrix":
        initial = [("X", number([None, len(plan.columns)]))]
    else:
        types = {"float": number, "int": Int64TensorType, "string": StringTensorType}
        initial = [(c, types[k]([None, 1])) for c, k in zip(plan.columns, plan.kinds, strict=True)]
    from deploykit.compile import _trees

    try:
        custom = _trees.custom_functions(model) if VECTORISED_TREES else None
    except _trees.TreeConversionError as exc:
        if not exc.fallback:  # HistGradientBoosting: skl2onnx cannot do better
            raise ConversionError(f"unsupported step: {exc}") from None
        custom = None  # skl2onnx's own converter may know the case (several outputs)
    # zipmap off for the classifiers skl2onnx converts; none given when there are none:
    # skl2onnx then skips walking every sub-estimator (and every tree) to place options
    options = {
        id(est): {"zipmap": False}
        for est in _classifiers(model)
        if custom is None or not _trees.supported(est)
    }
    try:
        onx = convert_sklearn(
            model,
            initial_types=initial,
            options=options or None,
            target_opset=_OPSET,
            **(custom.kwargs if custom else {}),
        )
        data = custom.serialize(onx) if custom is not None else bytes(onx.SerializeToString())
    except Exception as exc:  # skl2onnx raises RuntimeError, ValueError, NameError, ...
        raise ConversionError(
            _reason(exc, model, skl2onnx.__version__, sklearn.__version__)
        ) from None
    outputs = [o.name for o in onx.graph.output]
    return data, outputs, [i.name for i in onx.graph.input]


def _classifiers(model: Any) -> list[Any]:
    """Every classifier inside ``model`` (zipmap off: probabilities as one tensor)."""
    from sklearn.base import is_classifier

    found: list[Any] = []
    stack = [model]
    while stack:
        est = stack.pop()
        if is_classifier(est):
            found.append(est)
        for _, step in getattr(est, "steps", None) or []:
            stack.append(step)
        for _, step, _cols in getattr(est, "transformers_", None) or []:
            stack.append(step)
    return found


def _reason(exc: BaseException, model: Any, skl2onnx_version: str, sklearn_version: str) -> str:
    text = str(exc).strip()
    if "shape calculator" in text or "MissingShapeCalculator" in type(exc).__name__:
        import re

        found = re.search(r"type '?<class '([\w.]+)'>", text) or re.search(r"'([\w.]+)'", text)
        what = found.group(1).rsplit(".", 1)[-1] if found else type(model).__name__
        return f"unsupported step: skl2onnx {skl2onnx_version} has no converter for {what}"
    cause = exc.__cause__ or exc
    first = (str(cause).strip().splitlines() or [""])[0][:200]
    return (
        f"skl2onnx {skl2onnx_version} cannot convert {type(model).__name__} as fitted with "
        f"scikit-learn {sklearn_version} ({type(cause).__name__}: {first})"
    )
