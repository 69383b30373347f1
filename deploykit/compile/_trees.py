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
- A NaN goes where scikit-learn sends it (``missing_go_to_left``); ``GradientBoosting*``
  ignores it (right). Every split is ``BRANCH_LEQ`` and none tracks missing values, the
  loop ONNX Runtime runs fastest (tracking NaN at some nodes costs ~10% of a forest's
  time, a mix of modes more): a NaN compares false, so it goes right by itself, and the
  splits that send it left read a second copy of the input in which NaN is -inf (the
  graph appends it: ``Concat(X, Where(IsNaN(X), -inf, X))``, feature ``f + width``).
  -inf <= t for every threshold, +inf included; numbers are the same in both copies.

Outputs are scikit-learn's: forests average per-tree normalised leaf distributions
(a binary classifier's trees hold the second class's alone, the first is ``1 - p``: its
leaves then carry one weight, which ONNX Runtime reads from the node instead of a
separate table; with the untracked splits above, 100 rows of RF(100) take ~0.7x the time;
zero weights are not written, adding 0 is exact);
boosting adds the baseline (init estimator) to the sum of leaf values and applies the
loss's link (logistic, softmax, exp); labels are ``classes_[argmax]`` or the raw score's
sign, as each ``predict`` decides. ONNX Runtime sums in float32 under a float input,
in float64 under a double one; its outputs are float32 either way (ai.onnx.ml 3).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
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
    values: np.ndarray  # (nodes, outputs) float64, read at leaves (zeros not written)
    target: int  # the first output (target id) it adds to


@dataclasses.dataclass
class Ensemble:
    """What the graph needs from a fitted tree model."""

    trees: list[_Tree]
    n_targets: int
    aggregate: str  # "SUM" | "AVERAGE"
    base: np.ndarray | None  # (n_targets,) added to the aggregate
    # "proba" (already probabilities), "complement" (the second class's probability p of
    # two: [1 - p, p]), "logistic", "softmax", "identity", "exp"
    link: str
    label: str  # "argmax" | ">=0" | ">0" (the raw score's sign, binary boosting)
    classes: np.ndarray | None
    double: bool  # scikit-learn compares in float64 (HistGradientBoosting)
    width: int  # input features: a NaN-left split reads feature + width (the -inf copy)


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
    link = "proba" if classifier else "identity"
    if n_targets == 2 and classifier:  # the second class's probability; the first is 1 - p
        for tree in trees:
            tree.values = tree.values[:, 1:]
        n_targets, link = 1, "complement"
    return Ensemble(
        trees=trees,
        n_targets=n_targets,
        aggregate="SUM" if single else "AVERAGE",
        base=None,
        link=link,
        label="argmax",
        classes=np.asarray(model.classes_) if classifier else None,
        double=False,
        width=_width(model),
    )


def _width(model: Any) -> int:
    width = getattr(model, "n_features_in_", None)
    if not isinstance(width, (int, np.integer)) or width < 1:
        raise TreeConversionError(f"{type(model).__name__} does not say how many features it reads")
    return int(width)


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
    return _boosted(model, trees, base, link, label, classifier, double=False)


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
    return _boosted(model, trees, base, link, label, classifier, double=True)


def _boosted(
    model: Any,
    trees: list[_Tree],
    base: np.ndarray,
    link: str,
    label: str,
    classifier: bool,
    *,
    double: bool,
) -> Ensemble:
    """A boosting ensemble: the baseline plus the sum of the trees, through the loss's link
    (GradientBoosting compares in float32, HistGradientBoosting in float64)."""
    return Ensemble(
        trees=trees,
        n_targets=len(base),
        aggregate="SUM",
        base=base,
        link=link,
        label=label,
        classes=np.asarray(model.classes_) if classifier else None,
        double=double,
        width=_width(model),
    )


def float32_at_most(threshold: np.ndarray) -> np.ndarray:
    """The largest float32 <= each float64 threshold: for every float32 x,
    ``x <= result`` exactly when ``x <= threshold``."""
    rounded = threshold.astype(np.float32)
    up = rounded.astype(np.float64) > threshold
    rounded[up] = np.nextafter(rounded[up], np.float32(-np.inf))
    return rounded


def attribute_arrays(ensemble: Ensemble, double: bool) -> list[tuple[str, str, np.ndarray]]:
    """The TreeEnsembleRegressor attributes as (name, kind, array), kind "ints",
    "floats" (float32), "tensor" (float64) or "modes" (True for a leaf)."""
    trees = ensemble.trees
    sizes = np.array([len(t.leaf) for t in trees])
    tree_ids = np.repeat(np.arange(len(trees)), sizes)
    node_ids = np.concatenate([np.arange(n) for n in sizes])
    leaf = np.concatenate([t.leaf for t in trees])
    branch = ~leaf
    feature = np.where(branch, np.concatenate([t.feature for t in trees]), 0)
    left = np.where(branch, np.concatenate([t.left for t in trees]), 0)
    right = np.where(branch, np.concatenate([t.right for t in trees]), 0)
    nan_left = branch & np.concatenate([t.missing_left for t in trees])
    feature = np.where(nan_left, feature + ensemble.width, feature)  # the -inf copy
    threshold = np.where(branch, np.concatenate([t.threshold for t in trees]), 0.0)
    # targets: every leaf adds its values to its tree's outputs; a zero adds nothing, so
    # only a leaf whose values are all zero keeps one (ONNX Runtime wants one per leaf)
    leaf_tree, leaf_node, leaf_target, weight = [], [], [], []
    for i, t in enumerate(trees):
        nodes = np.flatnonzero(t.leaf)
        values = t.values[nodes]
        keep = values != 0.0
        keep[~keep.any(axis=1), 0] = True
        row, column = np.nonzero(keep)  # leaf by leaf, targets in order
        leaf_tree.append(np.full(len(row), i))
        leaf_node.append(nodes[row])
        leaf_target.append(t.target + column)
        weight.append(values[row, column])

    def numbers(name: str, values: np.ndarray) -> tuple[str, str, np.ndarray]:
        if double:
            return name + "_as_tensor", "tensor", values.astype(np.float64)
        return name, "floats", values.astype(np.float32)

    found = [
        ("nodes_treeids", "ints", tree_ids),
        ("nodes_nodeids", "ints", node_ids),
        ("nodes_featureids", "ints", feature),
        ("nodes_modes", "modes", leaf),
        numbers("nodes_values", threshold if double else float32_at_most(threshold)),
        ("nodes_truenodeids", "ints", left),
        ("nodes_falsenodeids", "ints", right),
        ("target_treeids", "ints", np.concatenate(leaf_tree)),
        ("target_nodeids", "ints", np.concatenate(leaf_node)),
        ("target_ids", "ints", np.concatenate(leaf_target)),
        numbers("target_weights", np.concatenate(weight)),
    ]
    if ensemble.base is not None:
        found.append(numbers("base_values", ensemble.base))
    return found


def reads_nan_copy(ensemble: Ensemble) -> bool:
    """Whether some split sends NaN left, so the graph must append the -inf copy of X."""
    return any(bool((t.missing_left & ~t.leaf).any()) for t in ensemble.trees)


def attribute_bytes(ensemble: Ensemble, double: bool) -> bytes:
    """The TreeEnsembleRegressor attributes in protobuf's wire format, as NodeProto
    fields: appended to a serialized NodeProto, they add its attributes.

    Written with NumPy: going through Python lists (``attr.ints.extend``) and then
    serializing costs ~1 s for a 300-tree forest, and ``onnx.helper.make_attribute``
    checks every element in Python on top. ``tests/compile/test_trees.py`` checks the
    bytes parse to the protos built the slow way.
    """
    from onnx import AttributeProto, numpy_helper

    parts = []
    for name, kind, values in attribute_arrays(ensemble, double):
        if kind == "ints":
            body = _field(8, _varints(values).tobytes())  # packed: every parser reads it
            type_ = AttributeProto.INTS
        elif kind == "floats":
            body = _field(7, values.astype("<f4").tobytes())
            type_ = AttributeProto.FLOATS
        elif kind == "tensor":
            body = _field(5, numpy_helper.from_array(values).SerializeToString())
            type_ = AttributeProto.TENSOR
        else:
            body = _records(values, _field(9, b"LEAF"), _field(9, b"BRANCH_LEQ"))
            type_ = AttributeProto.STRINGS
        attribute = _field(1, name.encode()) + _key(20, 0) + _varint(type_) + body
        parts.append(_field(5, attribute))  # NodeProto.attribute
    return b"".join(parts)


def _rows(table: np.ndarray, which: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Row ``which[i]`` of ``table`` cut to ``sizes[i]`` bytes, concatenated."""
    chosen = table[which]
    return chosen[np.arange(table.shape[1]) < sizes[:, None]]


def _records(leaf: np.ndarray, yes: bytes, no: bytes) -> bytes:
    width = max(len(yes), len(no))
    table = np.zeros((2, width), dtype=np.uint8)
    table[0, : len(no)] = np.frombuffer(no, dtype=np.uint8)
    table[1, : len(yes)] = np.frombuffer(yes, dtype=np.uint8)
    which = leaf.astype(np.intp)
    return _rows(table, which, np.array([len(no), len(yes)])[which]).tobytes()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _field(field: int, payload: bytes) -> bytes:
    """A length-delimited field (bytes, a message, a packed array)."""
    return _key(field, 2) + _varint(len(payload)) + payload


def _varints(values: np.ndarray) -> np.ndarray:
    """Protobuf varints of int64 ``values``, concatenated (uint8); a negative number
    takes ten bytes, as protobuf writes it."""
    v = values.astype(np.int64).view(np.uint64)
    top = int(v.max(initial=0))
    if top < 1 << 32:  # node and tree numbers: narrower arithmetic, fewer groups
        v = v.astype(np.uint32)
    width = max(1, (top.bit_length() + 6) // 7)
    sizes = np.ones(len(v), dtype=np.uint8)
    for k in range(1, width):
        sizes += v >= (1 << (7 * k))
    shifts = (np.arange(width) * 7).astype(v.dtype)
    groups = ((v[:, None] >> shifts) & 0x7F).astype(np.uint8)
    columns = np.arange(width, dtype=np.uint8)
    groups[columns < sizes[:, None] - 1] |= 0x80  # a continuation bit on all but the last
    return groups[columns < sizes[:, None]]


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
    if reads_nan_copy(ensemble):
        x = _with_nan_copy(container, source, x, ensemble.width, double, name)

    if ensemble.classes is None:
        raw = name("raw") if ensemble.link == "exp" else operator.outputs[0].full_name
    elif ensemble.link == "proba":  # the trees' average is the probabilities
        raw = operator.outputs[1].full_name
    else:
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
    if ensemble.link == "softmax":
        container.add_node("Softmax", [raw], [proba], name=name("Softmax"), axis=1)
    elif ensemble.link in ("logistic", "complement"):  # [1 - p, p]
        positive = raw
        if ensemble.link == "logistic":
            positive = name("positive")
            container.add_node("Sigmoid", [raw], [positive], name=name("Sigmoid"))
        one = name("one")
        container.add_initializer(one, TensorProto.FLOAT, [1], [1.0])
        negative = name("negative")
        container.add_node("Sub", [one, positive], [negative], name=name("Sub"))
        container.add_node("Concat", [negative, positive], [proba], name=name("Concat"), axis=1)

    label = operator.outputs[0].full_name
    values = _classes_tensor(ensemble.classes)
    # classes 0, 1, ... k-1 are their own indices: no lookup
    numbered = values.dtype == np.int64 and np.array_equal(values, np.arange(len(values)))
    index = label if numbered else name("index")
    if ensemble.label == "argmax":
        scores = proba if ensemble.link in ("proba", "complement") else raw
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
    if numbered:
        return
    classes = name("classes")
    from onnx import numpy_helper

    tensor = numpy_helper.from_array(values, name=classes)
    container.add_initializer(classes, tensor.data_type, [len(values)], values.tolist())
    container.add_node("Gather", [classes, index], [label], name=name("Gather"), axis=0)


def _with_nan_copy(
    container: Any, source: Any, x: str, width: int, double: bool, name: Callable[[str], str]
) -> str:
    """``Concat(x, Where(IsNaN(x), -inf, x))``: the input, then a copy in which NaN is -inf
    (read by the splits that send NaN left; see the module's docstring)."""
    from onnx import TensorProto

    shape = getattr(source.type, "shape", None)
    given = shape[1] if shape is not None and len(shape) == 2 else None
    if isinstance(given, (int, np.integer)) and given != width:
        raise TreeConversionError(f"the trees read {width} features, the input has {given}")
    low = name("minus_inf")
    dtype = TensorProto.DOUBLE if double else TensorProto.FLOAT
    container.add_initializer(low, dtype, [1], [-np.inf])
    missing, copy, both = name("isnan"), name("nan_low"), name("with_nan_copy")
    container.add_node("IsNaN", [x], [missing], name=name("IsNaN"))
    container.add_node("Where", [missing, low, x], [copy], name=name("Where"))
    container.add_node("Concat", [x, copy], [both], name=name("Concat"), axis=1)
    return both


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

    def serialize(self, onx: Any) -> bytes:
        """The converted ModelProto's bytes, the tree arrays added to their nodes.

        Protobuf lets a message be written field by field: the model without its graph,
        then the graph without its nodes, then each node (the tree nodes with their
        attribute bytes appended), so the arrays never become Python protos."""
        from onnx import GraphProto, ModelProto

        nodes = []
        for node in onx.graph.node:
            data = node.SerializeToString()
            found = self.pending.pop(node.name, None)
            if found is not None:
                data += attribute_bytes(*found)
            nodes.append(_field(1, data))  # GraphProto.node
        if self.pending:
            raise TreeConversionError(f"skl2onnx dropped the tree nodes {sorted(self.pending)}")
        graph = GraphProto()
        graph.CopyFrom(onx.graph)
        del graph.node[:]
        model = ModelProto()
        model.CopyFrom(onx)
        model.ClearField("graph")
        graph_bytes = graph.SerializeToString() + b"".join(nodes)
        return bytes(model.SerializeToString()) + _field(7, graph_bytes)  # ModelProto.graph


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
