"""scikit-learn tree ensembles -> ONNX, built from the fitted arrays with NumPy.

skl2onnx walks every node of every tree in Python (~9 s for a 300-tree forest); here
each tree's ``tree_`` arrays (or a HistGradientBoosting predictor's ``nodes``) become
the ``ai.onnx.ml`` ``TreeEnsembleRegressor`` attributes in a few array operations, and
the converter plugs into skl2onnx per call (``custom_conversion_functions``), so
scalers or a ``ColumnTransformer`` before the trees still convert with skl2onnx.

Branching is exactly scikit-learn's:

- ``DecisionTree*``, ``RandomForest*``, ``ExtraTrees*``, ``GradientBoosting*`` cast X
  to float32 and test ``x <= threshold`` with a float64 threshold. Under a float input
  the threshold stored is the largest float32 <= the float64 one, for which
  ``x <= t32`` holds exactly when ``x <= t64`` does; under a double input X is rounded
  to float32 first and compared with the float64 thresholds themselves.
- ``HistGradientBoosting*`` compares float64 X with float64 thresholds: the graph casts
  to double and keeps them.
- A NaN goes where scikit-learn sends it (``missing_go_to_left`` ->
  ``nodes_missing_value_tracks_true``); ``GradientBoosting*`` ignores it (right).

Outputs are scikit-learn's: forests average per-tree normalised leaf distributions;
boosting adds the baseline (init estimator) to the sum of leaf values and applies the
loss's link (logistic, softmax, exp); labels are ``classes_[argmax]`` or the raw score's
sign, as each ``predict`` decides. ONNX Runtime sums in float32 under a float input,
in float64 under a double one; its outputs are float32 either way (ai.onnx.ml 3).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = [
    "Converters",
    "Ensemble",
    "TreeConversionError",
    "custom_functions",
    "ensemble_of",
    "supported",
]

# class name -> family; by name so that importing this module does not import sklearn
_FAMILIES = {
    "DecisionTreeClassifier": "forest",
    "DecisionTreeRegressor": "forest",
    "ExtraTreeClassifier": "forest",
    "ExtraTreeRegressor": "forest",
    "RandomForestClassifier": "forest",
    "RandomForestRegressor": "forest",
    "ExtraTreesClassifier": "forest",
    "ExtraTreesRegressor": "forest",
    "GradientBoostingClassifier": "boosting",
    "GradientBoostingRegressor": "boosting",
    "HistGradientBoostingClassifier": "hist",
    "HistGradientBoostingRegressor": "hist",
}


class TreeConversionError(Exception):
    """The ensemble has something the vectorised converter does not handle (``str()``);
    ``fallback``: skl2onnx's own converter may still handle it."""

    def __init__(self, message: str, *, fallback: bool = True) -> None:
        super().__init__(message)
        self.fallback = fallback


@dataclasses.dataclass
class _Tree:
    """One tree in flat arrays (node i's children are left[i], right[i])."""

    feature: np.ndarray  # int64
    threshold: np.ndarray  # float64
    left: np.ndarray  # int64
    right: np.ndarray  # int64
    leaf: np.ndarray  # bool
    missing_left: np.ndarray  # bool: NaN goes left
    values: np.ndarray  # (nodes, outputs) float64, read at leaves
    target: int  # the first output (target id) it adds to


@dataclasses.dataclass
class Ensemble:
    """What the graph needs from a fitted tree model."""

    trees: list[_Tree]
    n_targets: int
    aggregate: str  # "SUM" | "AVERAGE"
    base: np.ndarray | None  # (n_targets,) added to the aggregate
    link: str  # "proba" (already probabilities), "logistic", "softmax", "identity", "exp"
    label: str  # "argmax" | ">=0" | ">0" (the raw score's sign, binary boosting)
    classes: np.ndarray | None
    double: bool  # scikit-learn compares in float64 (HistGradientBoosting)


def supported(model: Any) -> bool:
    return type(model).__name__ in _FAMILIES and type(model).__module__.startswith("sklearn.")


def ensemble_of(model: Any) -> Ensemble:
    """The fitted ``model`` as an :class:`Ensemble`; TreeConversionError saying why not."""
    family = _FAMILIES.get(type(model).__name__)
    if family == "forest":
        return _forest(model)
    if family == "boosting":
        return _boosting(model)
    if family == "hist":
        return _hist(model)
    raise TreeConversionError(f"{type(model).__name__} is not a scikit-learn tree ensemble")


def _is_classifier(model: Any) -> bool:
    return hasattr(model, "classes_")


def _sk_tree(tree: Any, values: np.ndarray, target: int) -> _Tree:
    leaf = tree.children_left == -1
    return _Tree(
        feature=tree.feature.astype(np.int64),
        threshold=tree.threshold.astype(np.float64),
        left=tree.children_left.astype(np.int64),
        right=tree.children_right.astype(np.int64),
        leaf=leaf,
        missing_left=tree.missing_go_to_left.astype(bool),
        values=values,
        target=target,
    )


def _forest(model: Any) -> Ensemble:
    estimators = getattr(model, "estimators_", None)
    single = estimators is None
    members = [model] if estimators is None else list(estimators)
    if getattr(model, "n_outputs_", 1) != 1:
        raise TreeConversionError(f"{type(model).__name__} with several outputs")
    classifier = _is_classifier(model)
    trees = []
    for member in members:
        tree = member.tree_
        value = np.asarray(tree.value, dtype=np.float64)[:, 0, :]
        if classifier:  # per-tree probabilities, as DecisionTreeClassifier.predict_proba
            total = value.sum(axis=1, keepdims=True)
            value = value / np.where(total == 0.0, 1.0, total)
        trees.append(_sk_tree(tree, value, 0))
    n_targets = len(model.classes_) if classifier else 1
    if classifier and trees[0].values.shape[1] != n_targets:
        raise TreeConversionError(f"{type(model).__name__}'s trees do not hold every class")
    return Ensemble(
        trees=trees,
        n_targets=n_targets,
        aggregate="SUM" if single else "AVERAGE",
        base=None,
        link="proba" if classifier else "identity",
        label="argmax",
        classes=np.asarray(model.classes_) if classifier else None,
        double=False,
    )


def _boosting(model: Any) -> Ensemble:
    from sklearn.dummy import DummyClassifier, DummyRegressor

    init = model.init_
    if isinstance(init, str) and init == "zero":
        base = np.zeros(model.estimators_.shape[1])
    elif isinstance(init, (DummyClassifier, DummyRegressor)):  # a constant per class
        probe = np.zeros((1, model.n_features_in_), dtype=np.float32)
        base = np.asarray(model._raw_predict_init(probe), dtype=np.float64)[0]
    else:
        raise TreeConversionError(
            f"{type(model).__name__} with init={type(init).__name__} (not a constant)"
        )
    classifier = _is_classifier(model)
    scale = float(model.learning_rate)
    link, label = "identity", "argmax"
    if classifier:
        loss = type(model._loss).__name__
        if loss == "ExponentialLoss":  # predict_proba: expit(2 * raw)
            link, label = "logistic", ">=0"
            scale, base = 2 * scale, 2 * base
        elif loss == "HalfBinomialLoss":
            link, label = "logistic", ">=0"
        elif loss == "HalfMultinomialLoss":
            link = "softmax"
        else:
            raise TreeConversionError(f"{type(model).__name__} with the loss {loss}")
    trees = []
    for stage in model.estimators_:
        for k, member in enumerate(stage):
            tree = member.tree_
            value = np.asarray(tree.value, dtype=np.float64)[:, 0, :1] * scale
            sk = _sk_tree(tree, value, k)
            sk.missing_left = np.zeros_like(sk.leaf)  # predict_stages: NaN <= t is false
            trees.append(sk)
    return Ensemble(
        trees=trees,
        n_targets=len(base),
        aggregate="SUM",
        base=base,
        link=link,
        label=label,
        classes=np.asarray(model.classes_) if classifier else None,
        double=False,
    )


def _hist(model: Any) -> Ensemble:
    name = type(model).__name__
    if getattr(model, "_preprocessor", None) is not None or (
        getattr(model, "is_categorical_", None) is not None and np.any(model.is_categorical_)
    ):
        raise TreeConversionError(
            f"{name} with categorical features: categorical splits do not compile",
            fallback=False,
        )
    classifier = _is_classifier(model)
    loss = type(model._loss).__name__
    if classifier:
        if loss == "HalfBinomialLoss":
            link, label = "logistic", ">0"
        elif loss == "HalfMultinomialLoss":
            link, label = "softmax", "argmax"
        else:
            raise TreeConversionError(f"{name} with the loss {loss}", fallback=False)
    else:
        links = {"IdentityLink": "identity", "LogLink": "exp"}
        link_name = type(model._loss.link).__name__
        if link_name not in links:
            raise TreeConversionError(
                f"{name} with the link {link_name} (loss {loss})", fallback=False
            )
        link, label = links[link_name], "argmax"
    trees = []
    for iteration in model._predictors:
        for k, predictor in enumerate(iteration):
            nodes = predictor.nodes
            if nodes["is_categorical"].any():
                raise TreeConversionError(
                    f"{name} with categorical splits: they do not compile", fallback=False
                )
            leaf = nodes["is_leaf"].astype(bool)
            trees.append(
                _Tree(
                    feature=nodes["feature_idx"].astype(np.int64),
                    threshold=nodes["num_threshold"].astype(np.float64),
                    left=nodes["left"].astype(np.int64),
                    right=nodes["right"].astype(np.int64),
                    leaf=leaf,
                    missing_left=nodes["missing_go_to_left"].astype(bool),
                    values=nodes["value"].astype(np.float64)[:, None],
                    target=k,
                )
            )
    base = np.asarray(model._baseline_prediction, dtype=np.float64).reshape(-1)
    return Ensemble(
        trees=trees,
        n_targets=len(base),
        aggregate="SUM",
        base=base,
        link=link,
        label=label,
        classes=np.asarray(model.classes_) if classifier else None,
        double=True,
    )


def float32_at_most(threshold: np.ndarray) -> np.ndarray:
    """The largest float32 <= each float64 threshold: for every float32 x,
    ``x <= result`` exactly when ``x <= threshold``."""
    rounded = threshold.astype(np.float32)
    up = rounded.astype(np.float64) > threshold
    rounded[up] = np.nextafter(rounded[up], np.float32(-np.inf))
    return rounded


def add_attributes(node: Any, ensemble: Ensemble, double: bool) -> None:
    """Add the TreeEnsembleRegressor attributes to ``node`` (a NodeProto), in place and
    from whole arrays (``onnx.helper.make_attribute`` checks every element in Python,
    and a proto built apart would be copied in)."""
    from onnx import AttributeProto, numpy_helper

    trees = ensemble.trees
    sizes = np.array([len(t.leaf) for t in trees])
    tree_ids = np.repeat(np.arange(len(trees)), sizes)
    node_ids = np.concatenate([np.arange(n) for n in sizes])
    leaf = np.concatenate([t.leaf for t in trees])
    branch = ~leaf
    feature = np.where(branch, np.concatenate([t.feature for t in trees]), 0)
    left = np.where(branch, np.concatenate([t.left for t in trees]), 0)
    right = np.where(branch, np.concatenate([t.right for t in trees]), 0)
    missing = np.where(branch, np.concatenate([t.missing_left for t in trees]), False)
    threshold = np.where(branch, np.concatenate([t.threshold for t in trees]), 0.0)
    # targets: every leaf adds its values to its tree's outputs
    leaf_tree, leaf_node, leaf_target, weight = [], [], [], []
    for i, t in enumerate(trees):
        nodes = np.flatnonzero(t.leaf)
        width = t.values.shape[1]
        leaf_tree.append(np.full(len(nodes) * width, i))
        leaf_node.append(np.repeat(nodes, width))
        leaf_target.append(np.tile(np.arange(t.target, t.target + width), len(nodes)))
        weight.append(t.values[nodes].reshape(-1))

    def ints(name: str, values: np.ndarray) -> None:
        attr = node.attribute.add(name=name, type=AttributeProto.INTS)
        attr.ints.extend(values.astype(np.int64).tolist())

    def numbers(name: str, values: np.ndarray) -> None:
        if double:
            attr = node.attribute.add(name=name + "_as_tensor", type=AttributeProto.TENSOR)
            attr.t.CopyFrom(numpy_helper.from_array(values.astype(np.float64)))
        else:
            attr = node.attribute.add(name=name, type=AttributeProto.FLOATS)
            attr.floats.extend(values.astype(np.float32).tolist())

    ints("nodes_treeids", tree_ids)
    ints("nodes_nodeids", node_ids)
    ints("nodes_featureids", feature)
    modes = node.attribute.add(name="nodes_modes", type=AttributeProto.STRINGS)
    modes.strings.extend(np.where(leaf, b"LEAF", b"BRANCH_LEQ").tolist())
    numbers("nodes_values", threshold if double else float32_at_most(threshold))
    ints("nodes_truenodeids", left)
    ints("nodes_falsenodeids", right)
    ints("nodes_missing_value_tracks_true", missing)
    ints("target_treeids", np.concatenate(leaf_tree))
    ints("target_nodeids", np.concatenate(leaf_node))
    ints("target_ids", np.concatenate(leaf_target))
    numbers("target_weights", np.concatenate(weight))
    if ensemble.base is not None:
        numbers("base_values", ensemble.base)


# --- skl2onnx plumbing: parser, shape calculator, converter (per call, not registered
# globally, so a user's own skl2onnx conversions in the same process are untouched)


def _label_type(classes: np.ndarray) -> Any:
    from skl2onnx.common.data_types import (
        BooleanTensorType,
        DoubleTensorType,
        Int64TensorType,
        StringTensorType,
    )

    kind = classes.dtype.kind
    if kind in "iu":
        return Int64TensorType([None])
    if kind == "b":
        return BooleanTensorType([None])
    if kind == "f":
        return DoubleTensorType([None])
    if all(isinstance(c, str) for c in classes.tolist()):
        return StringTensorType([None])
    raise TreeConversionError("class labels that are neither all numbers nor all text")


def _classes_tensor(classes: np.ndarray) -> np.ndarray:
    kind = classes.dtype.kind
    if kind in "iu":
        return classes.astype(np.int64)
    if kind == "b":
        return classes.astype(bool)
    if kind == "f":
        return classes.astype(np.float64)
    return np.array([str(c) for c in classes.tolist()], dtype=object)


def _parser(scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None) -> list[Any]:
    from skl2onnx.common.data_types import FloatTensorType

    operator = scope.declare_local_operator("DeployKitTreeEnsemble", model)
    operator.inputs = inputs
    if _is_classifier(model):
        label = scope.declare_local_variable("label", _label_type(np.asarray(model.classes_)))
        proba = scope.declare_local_variable("probabilities", FloatTensorType())
        operator.outputs.extend([label, proba])
    else:
        operator.outputs.append(scope.declare_local_variable("variable", FloatTensorType()))
    return list(operator.outputs)


def _shape(operator: Any) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    model = operator.raw_operator
    if len(operator.inputs) != 1:
        raise TreeConversionError(f"{type(model).__name__} takes one input, not several")
    if _is_classifier(model):
        operator.outputs[0].type = _label_type(np.asarray(model.classes_))
        operator.outputs[1].type = FloatTensorType([None, len(model.classes_)])
    else:
        operator.outputs[0].type = FloatTensorType([None, 1])


def _converter(
    scope: Any, operator: Any, container: Any, pending: dict[str, tuple[Ensemble, bool]]
) -> None:
    from onnx import TensorProto
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    model = operator.raw_operator
    ensemble = ensemble_of(model)
    source = operator.inputs[0]
    x = source.full_name

    def name(hint: str) -> str:
        return str(scope.get_unique_variable_name(hint))

    def cast(value: str, to: int) -> str:
        out = name("cast")
        container.add_node("Cast", [value], [out], name=name("Cast"), to=to)
        return out

    double = ensemble.double or isinstance(source.type, DoubleTensorType)
    if ensemble.double:  # float64 as scikit-learn's HistGradientBoosting reads X
        if not isinstance(source.type, DoubleTensorType):
            x = cast(x, TensorProto.DOUBLE)
    elif double:  # float64 input: round to float32 as scikit-learn does, compare in float64
        x = cast(cast(x, TensorProto.FLOAT), TensorProto.DOUBLE)
    elif not isinstance(source.type, FloatTensorType):
        x = cast(x, TensorProto.FLOAT)

    raw = operator.outputs[0].full_name if ensemble.classes is None else name("raw")
    if ensemble.classes is None and ensemble.link == "exp":
        raw = name("raw")
    node = name("TreeEnsembleRegressor")
    container.add_node(
        "TreeEnsembleRegressor",
        [x],
        [raw],
        op_domain="ai.onnx.ml",
        op_version=3,
        name=node,
        n_targets=ensemble.n_targets,
        aggregate_function=ensemble.aggregate,
        post_transform="NONE",
    )
    # the tree arrays join the node once skl2onnx is done: it copies every node proto
    # while assembling and optimising the graph, ~1 s more for a 300-tree forest
    pending[node] = (ensemble, double)

    if ensemble.classes is None:
        if ensemble.link == "exp":
            container.add_node("Exp", [raw], [operator.outputs[0].full_name], name=name("Exp"))
        return

    proba = operator.outputs[1].full_name
    if ensemble.link == "proba":
        container.add_node("Identity", [raw], [proba], name=name("Identity"))
    elif ensemble.link == "softmax":
        container.add_node("Softmax", [raw], [proba], name=name("Softmax"), axis=1)
    else:  # logistic: [1 - p, p]
        positive = name("positive")
        container.add_node("Sigmoid", [raw], [positive], name=name("Sigmoid"))
        one = name("one")
        container.add_initializer(one, TensorProto.FLOAT, [1], [1.0])
        negative = name("negative")
        container.add_node("Sub", [one, positive], [negative], name=name("Sub"))
        container.add_node("Concat", [negative, positive], [proba], name=name("Concat"), axis=1)

    index = name("index")
    if ensemble.label == "argmax":
        scores = proba if ensemble.link == "proba" else raw
        container.add_node("ArgMax", [scores], [index], name=name("ArgMax"), axis=1, keepdims=0)
    else:  # binary boosting: the raw score's sign, as its predict tests it
        zero = name("zero")
        container.add_initializer(zero, TensorProto.FLOAT, [1], [0.0])
        test = name("test")
        op = "GreaterOrEqual" if ensemble.label == ">=0" else "Greater"
        container.add_node(op, [raw, zero], [test], name=name(op))
        flat = name("flat")
        shape = name("shape")
        container.add_initializer(shape, TensorProto.INT64, [1], [-1])
        container.add_node("Reshape", [test, shape], [flat], name=name("Reshape"))
        container.add_node("Cast", [flat], [index], name=name("Cast"), to=TensorProto.INT64)
    classes = name("classes")
    values = _classes_tensor(ensemble.classes)
    from onnx import numpy_helper

    tensor = numpy_helper.from_array(values, name=classes)
    container.add_initializer(classes, tensor.data_type, [len(values)], values.tolist())
    container.add_node(
        "Gather", [classes, index], [operator.outputs[0].full_name], name=name("Gather"), axis=0
    )


def _walk(model: Any) -> Iterator[Any]:
    stack = [model]
    while stack:
        est = stack.pop()
        yield est
        stack.extend(step for _, step in getattr(est, "steps", None) or [])
        stack.extend(step for _, step, _cols in getattr(est, "transformers_", None) or [])


class Converters:
    """skl2onnx's per-call ``custom_*`` arguments for the tree ensembles of one model
    (:attr:`kwargs`), and :meth:`attach`, which completes the converted graph."""

    def __init__(self, types: set[type]) -> None:
        self.pending: dict[str, tuple[Ensemble, bool]] = {}

        def convert(scope: Any, operator: Any, container: Any) -> None:
            _converter(scope, operator, container, self.pending)

        self.kwargs: dict[str, dict[type, Any]] = {
            "custom_parsers": dict.fromkeys(types, _parser),
            "custom_shape_calculators": dict.fromkeys(types, _shape),
            "custom_conversion_functions": dict.fromkeys(types, convert),
        }

    def attach(self, onx: Any) -> None:
        """Add the tree arrays to their nodes in the converted ModelProto."""
        for node in onx.graph.node:
            found = self.pending.pop(node.name, None)
            if found is not None:
                add_attributes(node, *found)
        if self.pending:
            raise TreeConversionError(f"skl2onnx dropped the tree nodes {sorted(self.pending)}")


def custom_functions(model: Any) -> Converters | None:
    """The converters for the tree ensembles in ``model`` (None when it holds none).
    TreeConversionError when one cannot be converted here: a HistGradientBoosting
    model with categorical splits, say."""
    found = [est for est in _walk(model) if supported(est)]
    if not found:
        return None
    for est in found:
        ensemble = ensemble_of(est)  # raises before skl2onnx starts
        if ensemble.classes is not None:
            _label_type(ensemble.classes)
    return Converters({type(est) for est in found})
