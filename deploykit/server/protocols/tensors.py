"""Open Inference Protocol (v2) tensors: decoded into model rows, answers encoded back.

Protocol-neutral (REST JSON, REST binary extension and gRPC all come through here). A
request holds either

- one tensor ``[rows, columns]`` whose values follow the signature's column order
  (any name but a column's), or
- one tensor per column, named by the column, shape ``[rows]`` or ``[rows, 1]``;

either becomes a :class:`~deploykit.server.payloads.Parsed`, which the signature checks
exactly as for ``/v1`` (named errors, extra columns ignored and listed). Outputs are
``predict`` (shape ``[rows]``) and ``predict_proba`` (``[rows, classes]``).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING, Any

import numpy as np

from deploykit.errors import InvalidInputError
from deploykit.server.payloads import Parsed, check_counts, json_type, over_limit
from deploykit.server.payloads import _hint as _hint

if TYPE_CHECKING:
    from deploykit.server.models import LoadedModel
    from deploykit.server.payloads import InputSpec, Limits

__all__ = [
    "DATATYPES",
    "OUTPUTS",
    "Output",
    "Plan",
    "Tensor",
    "answerable",
    "check_declared",
    "check_output_count",
    "decode_raw",
    "encode_raw",
    "json_data",
    "model_metadata",
    "output_array",
    "outputs_of",
    "plain_matrix",
    "plain_outputs",
    "plan",
    "requested",
    "to_parsed",
]

#: v2 datatype -> numpy dtype (little-endian, as the binary extension and gRPC raw bytes are)
DATATYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype("?"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": np.dtype(object),
}
OUTPUTS = ("predict", "predict_proba")
_MAX_DIMS = 2  # tabular models: rows, or rows x columns


@dataclass
class Tensor:
    """One input tensor, its values flat in row-major order (Python scalars)."""

    name: str
    datatype: str
    shape: list[int]
    values: list[Any]
    index: int = 0
    #: the values as a flat numeric ndarray, when the decoder built one (see ``from_json``)
    array: np.ndarray | None = None
    #: the values were JSON text (REST): no NaN among them (gRPC doubles may hold one)
    from_text: bool = False

    @property
    def where(self) -> str:
        """How an error names it: ``inputs[0] ('age')``."""
        return _where(self.index, self.name)


def _where(index: int, name: Any) -> str:
    return f"inputs[{index}] ({name!r})"


# what JSON values each datatype takes: (Python types, how an error says it)
_KINDS: dict[str, tuple[frozenset[type], str]] = {
    **{d: (frozenset({int}), "integers") for d in DATATYPES if d.startswith(("INT", "UINT"))},
    **{d: (frozenset({int, float}), "numbers") for d in ("FP16", "FP32", "FP64")},
    "BOOL": (frozenset({bool}), "true or false"),
    "BYTES": (frozenset({str}), "strings"),
}


def check_header(index: int, name: Any, datatype: Any, shape: Any) -> tuple[str, str, list[int]]:
    """(name, datatype, shape) of input ``index``, each checked, or a named 400."""
    if not isinstance(name, str) or not name:
        raise InvalidInputError(
            f"inputs[{index}].name must be a non-empty string. Got {name!r} instead."
        )
    if datatype not in DATATYPES:
        raise InvalidInputError(
            f"{_where(index, name)}.datatype must be one of {', '.join(DATATYPES)}. "
            f"Got {datatype!r} instead."
        )
    if (
        not isinstance(shape, list)
        or not 1 <= len(shape) <= _MAX_DIMS
        or not set(map(type, shape)) <= {int}  # bool is a type of its own here
        or min(shape) < 0
    ):
        raise InvalidInputError(
            f"{_where(index, name)}.shape must be [rows] or [rows, columns] (non-negative "
            f"integers). Got {shape!r} instead."
        )
    return name, datatype, shape


def check_declared(
    shapes: list[Any], values: int, limits: Limits, columns: list[str] | None = None
) -> None:
    """413 when the tensors' declared ``shapes``, or the ``values`` actually sent, hold more
    rows, columns or values than ``limits`` allow: decided from the tensor headers before
    any value is decoded, so a request claiming a million rows (or sending millions of
    values under a small shape) costs the worker nothing. Shapes that are not lists of
    non-negative integers are skipped: :func:`check_header` names them afterwards."""
    if len(shapes) > limits.columns:  # one tensor per column: as many columns as tensors
        raise over_limit("columns", len(shapes), limits.columns, "max_columns", _hint(columns))
    valid = [
        s
        for s in shapes
        if type(s) is list and 1 <= len(s) <= _MAX_DIMS and all(type(d) is int for d in s)
    ]
    if len(shapes) == 1 and valid and len(valid[0]) == 2:
        rows, width = valid[0]
    else:
        rows, width = max((s[0] for s in valid), default=0), len(shapes)
    cells = max(values, sum(math.prod(s) for s in valid if min(s) >= 0))
    check_counts(rows, width, cells, limits, columns)


#: most entries an 'outputs' list may hold: there are two outputs, repeats are harmless,
#: but a list of 300,000 of them is only work for the event loop
MAX_OUTPUTS = 16


def check_output_count(count: int) -> None:
    if count > MAX_OUTPUTS:
        raise InvalidInputError(
            f"'outputs' must list at most {MAX_OUTPUTS} outputs (a model here has two: "
            f"{', '.join(map(repr, OUTPUTS))}). Got {count:,} instead."
        )


def from_json(
    index: int,
    name: str,
    datatype: str,
    shape: list[int],
    data: Any,
    *,
    plain: bool = False,
    text: bool = False,
) -> Tensor:
    """A tensor whose values came as JSON (flat or nested lists), types checked.

    ``plain``: the values cannot hold a boolean (the JSON had no ``true``/``false``, or a
    typed gRPC field): numpy then tells numbers from anything else in one C pass.
    ``text``: they were parsed from JSON text, which has no NaN.
    """
    if not isinstance(data, list):
        raise InvalidInputError(
            f"{_where(index, name)}.data must be a list of values (flat, row-major, or "
            f"nested). Got {json_type(data)} instead."
        )
    if plain and datatype in _NUMBER_KINDS:
        array = _numbers(data, _NUMBER_KINDS[datatype])
        if array is not None and len(array) == math.prod(shape):
            return Tensor(name, datatype, shape, data, index, array, text)
    kinds = set(map(type, data))
    values = data
    if list in kinds:  # nested, row by row
        values = _flatten(data, _where(index, name))
        kinds = set(map(type, values))
    if len(values) != math.prod(shape):
        _check_count(_where(index, name), shape, len(values))
    allowed, expected = _KINDS[datatype]
    if not kinds <= allowed:
        at, bad = next((i, v) for i, v in enumerate(values) if type(v) not in allowed)
        raise InvalidInputError(
            f"{_where(index, name)}.data must hold {expected} for datatype {datatype}. "
            f"Got {json_type(bad)} {bad!r} at position {at} instead."
        )
    return Tensor(name, datatype, shape, values, index)


# numeric datatypes -> the numpy kinds their JSON values may come as
_NUMBER_KINDS = {
    **{d: "iu" for d in DATATYPES if d.startswith(("INT", "UINT"))},
    **{d: "fiu" for d in ("FP16", "FP32", "FP64")},
}


def _numbers(data: list[Any] | np.ndarray, kinds: str) -> np.ndarray | None:
    """``data`` as a flat ndarray if numpy reads it as numbers of ``kinds``, else None (then
    the value-by-value check runs, and names what is wrong). No booleans: see from_json."""
    if type(data) is np.ndarray:
        array = data
    else:
        try:
            array = np.array(data)
        except (ValueError, TypeError):
            return None
    if array.ndim != 1 or array.dtype.kind not in kinds:
        return None
    return array


def from_raw(index: int, name: str, datatype: str, shape: list[int], raw: bytes) -> Tensor:
    """A tensor sent as raw bytes (the binary extension, gRPC ``raw_input_contents``)."""
    values = decode_raw(raw, datatype, shape, _where(index, name))
    return Tensor(name, datatype, shape, values, index)


def decode_raw(raw: bytes, datatype: str, shape: list[int], where: str) -> list[Any]:
    count = math.prod(shape)
    if datatype == "BYTES":
        values: list[Any] = []
        at = 0
        while at < len(raw):
            if len(values) == count:  # stop at once: what follows could be millions more
                raise InvalidInputError(
                    f"{where}: shape {shape} holds {count} values. Got more BYTES elements "
                    "than that instead."
                )
            if at + 4 > len(raw):
                raise InvalidInputError(f"{where}: BYTES data ends inside a 4-byte length prefix.")
            (size,) = struct.unpack_from("<I", raw, at)
            at += 4
            if at + size > len(raw):
                raise InvalidInputError(f"{where}: a BYTES element runs past the data sent.")
            try:
                values.append(raw[at : at + size].decode("utf-8"))
            except UnicodeDecodeError:
                raise InvalidInputError(
                    f"{where}: BYTES element {len(values)} is not UTF-8 text; "
                    "deploykit models take text, not binary blobs."
                ) from None
            at += size
        _check_count(where, shape, len(values))
        return values
    dtype = DATATYPES[datatype]
    if len(raw) != count * dtype.itemsize:
        raise InvalidInputError(
            f"{where}: shape {shape} of {datatype} needs {count * dtype.itemsize} bytes. "
            f"Got {len(raw)} bytes instead."
        )
    array = np.frombuffer(raw, dtype=dtype)
    if datatype == "FP16":
        array = array.astype(np.float32)
    return array.tolist()


def encode_raw(array: np.ndarray, datatype: str) -> bytes:
    if datatype == "BYTES":
        parts = []
        for value in array.reshape(-1).tolist():
            data = value if isinstance(value, bytes) else str(value).encode("utf-8")
            parts.append(struct.pack("<I", len(data)) + data)
        return b"".join(parts)
    return np.ascontiguousarray(array, dtype=DATATYPES[datatype]).tobytes()


def _flatten(data: list[Any], where: str) -> list[Any]:
    if not data or not isinstance(data[0], list):
        if any(isinstance(v, list) for v in data):
            raise InvalidInputError(f"{where}.data mixes lists and plain values; nest evenly.")
        return data
    if not all(isinstance(v, list) for v in data):
        raise InvalidInputError(f"{where}.data mixes lists and plain values; nest evenly.")
    return _flatten(list(chain.from_iterable(data)), where)


def _check_count(where: str, shape: list[int], count: int) -> None:
    expected = math.prod(shape)
    if count != expected:
        raise InvalidInputError(
            f"{where}: shape {shape} holds {expected} values. Got {count} values instead."
        )


@dataclass
class Plan:
    """What decoding a request for one version needs, worked out on its first request
    (kept in ``LoadedModel.wire``): not again for every request."""

    #: the signature's column names (a tensor named after one is a column)
    columns: Any
    #: a model of float columns takes a numeric ``[rows, width]`` tensor as its matrix
    width: int | None
    #: :func:`requested`'s answers, by the output names asked
    outputs: dict[tuple[str, ...], tuple[list[str], bool]]


def plan(loaded: LoadedModel) -> Plan:
    found = loaded.wire.get("v2")
    if found is None:
        spec = loaded.spec
        found = loaded.wire["v2"] = Plan(
            spec._names() if spec is not None else frozenset(),
            len(spec.columns) if spec is not None and spec.all_float else None,
            {},
        )
    return found


def plain_matrix(
    plan: Plan, name: Any, datatype: Any, shape: Any, data: Any, from_text: bool
) -> Parsed | None:
    """The common input, one flat numeric ``[rows, width]`` tensor (rows > 0) for a model of
    float columns, as :func:`check_header`, :func:`from_json` (``plain``) and
    :func:`to_parsed` decode it, in a few checks; None for anything else, which they then
    decode (and name what is wrong). ``data``: the values as a list with no boolean among
    them (JSON without a ``true``/``false`` literal), or as a flat numeric ndarray (a typed
    gRPC field). ``from_text``: they were JSON text, hence no NaN."""
    width = plan.width
    if width is None or type(shape) is not list or len(shape) != 2:
        return None
    rows, columns = shape
    kinds = _NUMBER_KINDS.get(datatype) if type(datatype) is str else None
    if (
        kinds is None
        or type(rows) is not int
        or type(columns) is not int
        or columns != width
        or rows < 1
        or len(data) != rows * width
        or type(name) is not str
        or not name
        or name in plan.columns
    ):
        return None
    array = _numbers(data, kinds)
    if array is None:
        return None
    matrix = array.astype(np.float64, copy=False).reshape(rows, width)
    return Parsed("rows", matrix, None, "inputs", plain=from_text)


def plain_outputs(
    plan: Plan, names: tuple[str, ...], loaded: LoadedModel
) -> tuple[list[str], bool]:
    """:func:`requested`, remembered per version for the few combinations there are."""
    found = plan.outputs.get(names)
    if found is None:
        found = requested(list(names), loaded)
        if len(names) <= len(OUTPUTS):  # repeats are allowed: remember no endless variety
            plan.outputs[names] = found
    return found


def to_parsed(tensors: list[Tensor], loaded: LoadedModel) -> Parsed:
    """The rows the tensors hold, for the signature to check (see the module's docstring)."""
    if not tensors:
        raise InvalidInputError(
            "The request must have at least one input tensor in 'inputs': one [rows, columns] "
            "tensor, or one [rows] tensor per column."
        )
    spec = loaded.spec
    if len(tensors) == 1 and (spec is None or tensors[0].name not in spec._names()):
        return _matrix(tensors[0], spec)
    return _columns(tensors)


def _matrix(tensor: Tensor, spec: InputSpec | None = None) -> Parsed:
    if len(tensor.shape) != 2:
        raise InvalidInputError(
            f"{tensor.where}.shape must be [rows, columns] for a tensor holding whole rows "
            f"(or name one tensor per column after the model's columns). "
            f"Got {tensor.shape} instead."
        )
    rows, width = tensor.shape
    if (
        tensor.array is not None
        and spec is not None
        and spec.all_float
        and width == len(spec.columns)
    ):  # numbers for a model of float columns: the matrix it takes, no rows of lists between
        matrix = tensor.array.astype(np.float64, copy=False).reshape(rows, width)
        return Parsed("rows", matrix, None, "inputs", plain=tensor.from_text)
    values = tensor.values
    data = [values[i * width : (i + 1) * width] for i in range(rows)]
    return Parsed("rows", data, None, "inputs")


def _columns(tensors: list[Tensor]) -> Parsed:
    data: dict[str, list[Any]] = {}
    lengths = set()
    for tensor in tensors:
        shape = tensor.shape
        if len(shape) == 2 and shape[1] != 1:
            raise InvalidInputError(
                f"{tensor.where}.shape must be [rows] or [rows, 1] for a tensor per column. "
                f"Got {shape} instead. To send whole rows, send a single [rows, columns] "
                "tensor named after none of the columns."
            )
        if tensor.name in data:
            raise InvalidInputError(f"{tensor.where}: the input {tensor.name!r} is sent twice.")
        data[tensor.name] = tensor.values
        lengths.add(shape[0])
    if len(lengths) > 1:
        raise InvalidInputError(
            "Every per-column input tensor must have the same number of rows. "
            f"Got {', '.join(map(str, sorted(lengths)))} instead."
        )
    return Parsed("columns", data, None, "inputs")


# ---------------------------------------------------------------------- outputs
@dataclass
class Output:
    name: str
    datatype: str
    shape: list[int]
    array: np.ndarray

    def values(self) -> list[Any]:
        return values(self.array, self.datatype)

    def json_data(self) -> Any:
        return json_data(self.array, self.datatype)


def values(array: np.ndarray, datatype: str) -> list[Any]:
    """An output's values, flat, as Python scalars (strings for BYTES)."""
    flat = array.reshape(-1)
    if datatype == "BYTES":
        return [str(v) for v in flat.tolist()]
    return list(flat.tolist())


def json_data(array: np.ndarray, datatype: str) -> Any:
    """What goes in an output's JSON ``data``: the flat array itself where orjson writes it
    as :func:`values` would read (float64, integers, booleans), else :func:`values`."""
    if datatype != "BYTES" and (array.dtype.kind in "iub" or array.dtype == np.float64):
        return np.ascontiguousarray(array.reshape(-1))
    return values(array, datatype)


def requested(names: list[str], loaded: LoadedModel) -> tuple[list[str], bool]:
    """(output names, whether probabilities are needed); all outputs when none is named."""
    available = ["predict", *(["predict_proba"] if loaded.has_proba else [])]
    if not names:
        return available, loaded.has_proba
    for i, name in enumerate(names):
        if name not in available:
            why = f" ({loaded.record.ref} has no predict_proba)" if name == "predict_proba" else ""
            raise InvalidInputError(
                f"outputs[{i}].name must be one of {', '.join(map(repr, available))}{why}. "
                f"Got {name!r} instead."
            )
    return list(dict.fromkeys(names)), "predict_proba" in names


def datatype_of(dtype: np.dtype[Any]) -> str:
    name = _NAMES.get(dtype)
    if name is None:
        name = _NAMES[dtype] = _datatype_of(dtype)
    return name


_NAMES: dict[np.dtype[Any], str] = {}


def _datatype_of(dtype: np.dtype[Any]) -> str:
    if dtype.kind == "b":
        return "BOOL"
    if dtype.kind in "iuf":
        for name, known in DATATYPES.items():
            if known == dtype.newbyteorder("<") and name != "BYTES":
                return name
        return "FP64" if dtype.kind == "f" else "INT64"
    return "BYTES"


def outputs_of(
    names: list[str], predictions: np.ndarray, probabilities: np.ndarray | None
) -> list[Output]:
    outputs = []
    for name in names:
        array = output_array(name, predictions, probabilities)
        outputs.append(Output(name, datatype_of(array.dtype), list(array.shape), array))
    return outputs


def answerable(names: list[str], probabilities: np.ndarray | None) -> list[str]:
    """``names`` less ``predict_proba`` when the version that answered has none: a canary's
    candidate without predict_proba answers its classes only, as it does on ``/v1``."""
    if probabilities is None and "predict_proba" in names:
        return [name for name in names if name != "predict_proba"] or ["predict"]
    return names


def output_array(name: str, predictions: np.ndarray, probabilities: np.ndarray | None) -> Any:
    """The array of output ``name`` (one :func:`requested` chose)."""
    if name == "predict":
        return predictions
    assert probabilities is not None
    return probabilities.astype(np.float64, copy=False)


# ---------------------------------------------------------------------- metadata
def _column_datatype(dtype: str, family: str) -> str:
    if family in ("float", "int", "bool"):
        try:
            return datatype_of(np.dtype(dtype))
        except TypeError:  # pandas extension dtypes (Int64, boolean...): nullable
            return {"float": "FP64", "int": "INT64", "bool": "BOOL"}[family]
    return "BYTES"


def model_metadata(loaded: LoadedModel) -> dict[str, Any]:
    """The v2 model metadata: inputs from the signature, outputs from the estimator."""
    spec = loaded.spec
    inputs: list[dict[str, Any]] = []
    if spec is not None:
        types = [_column_datatype(c.dtype, c.family) for c in spec.signature.inputs]
        if len(set(types)) == 1 and types[0] != "BYTES":
            inputs.append({"name": "input", "datatype": types[0], "shape": [-1, len(types)]})
        else:
            inputs.extend(
                {"name": c, "datatype": t, "shape": [-1]}
                for c, t in zip(spec.columns, types, strict=True)
            )
    else:
        width = getattr(loaded.estimator, "n_features_in_", None)
        inputs.append({"name": "input", "datatype": "FP64", "shape": [-1, int(width or -1)]})
    classes = loaded.classes
    predict_type = datatype_of(np.asarray(classes).dtype) if classes is not None else "FP64"
    outputs = [{"name": "predict", "datatype": predict_type, "shape": [-1]}]
    if loaded.has_proba:
        n = len(classes) if classes is not None else -1
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, n]})
    return {
        "name": loaded.name,
        "versions": [str(loaded.version)],
        "platform": "scikit-learn",
        "inputs": inputs,
        "outputs": outputs,
    }
