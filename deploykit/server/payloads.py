"""Predict request bodies in MLflow's scoring formats, turned into model input.

Accepted (exactly one key, plus an ignored ``params``)::

    {"dataframe_split":   {"columns": [...], "data": [[...], ...]}}
    {"dataframe_records": [{"col": value, ...}, ...]}
    {"instances":         [[...], ...] | [{"col": value}, ...]}
    {"inputs":            [[...], ...] | [{"col": value}, ...] | {"col": [...], ...}}

so a client written for ``mlflow models serve`` works unchanged. Rows given as
lists follow the signature's column order.

Extra columns (named, but not in the signature) are ignored online and listed in the
answer's ``ignored_columns``: a client may send a whole record, ids included. Batch
scoring passes them through to its output instead (``deploykit score --keep``).

The common case (every column numeric, columns complete and in order) is one
``numpy`` call: no DataFrame is built unless the model needs one. Anything else
goes through :meth:`deploykit.signature.Signature.validate`, which names every
problem (column, expected, received).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np

from deploykit.errors import InvalidInputError, SignatureError
from deploykit.server.wire import PayloadTooLargeError

if TYPE_CHECKING:
    import pandas as pd

# pandas (and deploykit.signature, which needs it) load on first use: a worker serving only
# compiled models with numeric signatures answers from plain numpy and never imports them.

__all__ = [
    "FORMATS",
    "InputSpec",
    "Limits",
    "Parsed",
    "check_limits",
    "ignored_columns",
    "parse_body",
    "predict_failure",
    "to_model_input",
]

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_EXAMPLE = '{"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 2.0]]}}'


@dataclass(frozen=True)
class Parsed:
    """A request body in one of three shapes, not yet checked against a signature."""

    shape: str  # "rows" (list of lists), "records" (list of dicts) or "columns" (dict of lists)
    data: Any  # for "rows", also a 2-D float64 ndarray a decoder built (see ``plain``)
    columns: list[str] | None = None  # for "rows": the names sent, if any
    format: str = "inputs"
    #: the decoder knows the values hold no JSON boolean (the body had no ``true`` or
    #: ``false`` literal, or a typed tensor): a matrix numpy builds from them is the
    #: signature's numeric fast path without checking every value's type in Python. For a
    #: matrix (``data`` an ndarray): its values were JSON numbers, so none is NaN
    plain: bool = False

    def names(self) -> list[str]:
        """The column names the body gave (none for rows sent as bare lists)."""
        if self.shape == "rows":
            return list(self.columns or ())
        if self.shape == "columns":
            return [str(k) for k in self.data]
        seen: dict[str, None] = {}
        for record in self.data:
            seen.update(dict.fromkeys(map(str, record)))
        return list(seen)

    @property
    def nrows(self) -> int:
        if self.shape == "columns":
            first: Any = next(iter(self.data.values()), [])
            return len(first) if isinstance(first, list) else 1
        return len(self.data)


@dataclass(frozen=True)
class Limits:
    """How much one predict request may hold (server options max_rows/columns/cells)."""

    rows: int
    columns: int
    cells: int

    @classmethod
    def of(cls, config: Any, width: int | None = None) -> Limits:
        """The limits for a model whose signature has ``width`` columns (None: unknown)."""
        return _limits(config.max_rows, config.max_columns, config.max_cells, width)

    @property
    def commas(self) -> int:
        """Most commas a body within the limits has: one per value, name or row, about."""
        return self.cells + self.columns + self.rows


@functools.lru_cache(maxsize=256)  # the predict hot path asks for the same few, every request
def _limits(rows: int, columns: int, cells: int, width: int | None) -> Limits:
    return Limits(rows, max(columns, 2 * width) if width else columns, cells)


def over_limit(
    what: str, got: int | str, limit: int, option: str, hint: str
) -> PayloadTooLargeError:
    """A 413 naming the limit, the server option that sets it, and what to do instead."""
    got = f"{got:,}" if isinstance(got, int) else got
    return PayloadTooLargeError(
        f"The request holds {got} {what}; this server takes at most {limit:,} per request "
        f"(server option {option}, DEPLOYKIT_SERVE_{option.upper()}). {hint}"
    )


_FEWER_ROWS = "Send fewer rows per request."


def check_limits(parsed: Parsed, limits: Limits, columns: list[str] | None = None) -> None:
    """413 if ``parsed`` holds more rows, columns or values than ``limits``; O(rows).

    Run before anything is built or checked column by column, so the cost of a refused
    request does not grow with what it holds. ``columns``: the signature's, for the hint.
    """
    data = parsed.data
    if parsed.shape == "columns":
        rows, widest = parsed.nrows, len(data)
        cells = rows * widest
    elif isinstance(data, np.ndarray):  # a tensor decoded straight into a matrix
        rows, widest = data.shape
        cells = data.size
    else:
        rows = len(data)
        if rows > limits.rows:  # before walking the rows
            raise over_limit("rows", rows, limits.rows, "max_rows", _FEWER_ROWS)
        names = len(parsed.columns) if parsed.columns is not None else 0
        if names > limits.columns:
            raise over_limit("columns", names, limits.columns, "max_columns", _hint(columns))
        widest, cells = _widths(data)
        widest, cells = max(widest, names), cells + names
    check_counts(rows, widest, cells, limits, columns)


def check_counts(
    rows: int, width: int, cells: int, limits: Limits, columns: list[str] | None = None
) -> None:
    """413 naming the first of ``rows``, ``width`` (columns) and ``cells`` (values) that is
    over ``limits``; ``columns``: the signature's, for the hint."""
    if rows > limits.rows:
        raise over_limit("rows", rows, limits.rows, "max_rows", _FEWER_ROWS)
    if width > limits.columns:
        raise over_limit("columns", width, limits.columns, "max_columns", _hint(columns))
    if cells > limits.cells:
        raise over_limit("values", cells, limits.cells, "max_cells", _FEWER_ROWS)


def too_many_values(limits: Limits) -> PayloadTooLargeError:
    """The 413 for a body whose commas alone show more values than ``limits`` take."""
    return over_limit(
        "values", f"more than {limits.cells:,}", limits.cells, "max_cells", _FEWER_ROWS
    )


def _widths(data: list[Any]) -> tuple[int, int]:
    """(widest row, values) of a list of rows (lists), records (dicts) or plain values."""
    if not data or not isinstance(data[0], (list, dict)):
        return 1, len(data)
    try:
        widths = list(map(len, data))
    except TypeError:  # rows mixed with plain values: refused later, counted all the same
        widths = [len(r) if isinstance(r, (list, dict)) else 1 for r in data]
    return max(widths), sum(widths)


def _hint(columns: list[str] | None) -> str:
    if not columns:
        return "Send only the columns the model was trained on."
    return f"The model takes {len(columns):,} columns ({_listing(columns)})."


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:6])
    return shown if len(names) <= 6 else f"{shown}, …"


def _bad(message: str) -> InvalidInputError:
    return InvalidInputError(f"{message} Example of a valid body: {_EXAMPLE}")


def parse_body(body: Any, *, plain: bool = False) -> Parsed:
    """The scoring payload of a decoded JSON body; InvalidInputError naming what is wrong.

    ``plain``: the raw body held no ``true``/``false`` literal (see :attr:`Parsed.plain`).
    """
    if not isinstance(body, dict):
        raise _bad(
            "The request body must be a JSON object with one of the keys "
            f"{', '.join(FORMATS)}. Got {json_type(body)} instead."
        )
    found = [k for k in FORMATS if k in body]
    if len(found) != 1:
        unknown = sorted(set(body) - {*FORMATS, "params", "proba", "request_id"})
        got = f"the key(s) {', '.join(map(repr, found))}" if found else "none of them"
        extra = f" (unknown keys: {', '.join(map(repr, unknown))})" if unknown else ""
        raise _bad(
            f"The request body must have exactly one of the keys {', '.join(FORMATS)}. "
            f"Got {got}{extra}."
        )
    fmt = found[0]
    value = body[fmt]
    if fmt == "dataframe_split":
        if not isinstance(value, dict) or not isinstance(value.get("data"), list):
            raise _bad(
                "'dataframe_split' must be an object with a 'data' list of rows and "
                "optionally 'columns'."
            )
        columns = value.get("columns")
        if columns is not None and (
            not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)
        ):
            raise _bad("'dataframe_split.columns' must be a list of column names (strings).")
        return _rows_or_records(value["data"], fmt, columns, plain)
    if fmt == "dataframe_records":
        if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
            raise _bad("'dataframe_records' must be a list of objects, one per row.")
        return Parsed("records", value, None, fmt)
    if isinstance(value, dict) and fmt == "inputs":
        if not all(isinstance(v, list) for v in value.values()):
            # one row given as {"col": value}
            return Parsed("records", [value], None, fmt)
        lengths = {len(v) for v in value.values()}
        if len(lengths) > 1:
            raise _bad(
                "Every column of 'inputs' must have the same number of values. "
                f"Got lengths {sorted(lengths)} instead."
            )
        return Parsed("columns", value, None, fmt)
    if not isinstance(value, list):
        raise _bad(f"'{fmt}' must be a list of rows. Got {json_type(value)} instead.")
    return _rows_or_records(value, fmt, None, plain)


def _rows_or_records(
    data: list[Any], fmt: str, columns: list[str] | None, plain: bool = False
) -> Parsed:
    if data and all(isinstance(r, dict) for r in data):
        return Parsed("records", data, None, fmt)
    if data and not isinstance(data[0], list):
        data = [data] if columns is not None or fmt != "dataframe_split" else data
        if not all(isinstance(r, list) for r in data):
            raise _bad(f"'{fmt}' must be a list of rows, each a list of values.")
    return Parsed("rows", data, columns, fmt, plain)


_NULLS = ("nullable", "nullable_by")  # how a column's nulls were decided, not its values


class InputSpec:
    """A version's signature, with what the predict hot path needs precomputed.

    Built from a :class:`~deploykit.signature.Signature`, or (:meth:`light`) from the
    signature's dict and column families known beforehand, in which case the Signature
    (and pandas) is built only when a request leaves the numeric fast path.
    """

    def __init__(
        self,
        signature: Any = None,
        *,
        data: Mapping[str, Any] | None = None,
        families: Sequence[str] | None = None,
    ) -> None:
        if signature is not None:
            self.__dict__["signature"] = signature
            data = signature.to_dict()
            families = [c.family for c in signature.inputs]
        assert data is not None
        assert families is not None
        self._data = data
        inputs = list(data["inputs"])
        self.columns: list[str] = [str(c["name"]) for c in inputs]
        self.kind: str = data.get("kind", "dataframe")
        self.all_float = set(families) == {"float"}
        nullable = [bool(c["nullable"]) for c in inputs]
        self.any_nullable = any(nullable)
        self._not_nullable = ~np.array(nullable, dtype=bool)

    @classmethod
    def from_signature(cls, data: Mapping[str, Any]) -> InputSpec:
        from deploykit.signature import Signature

        return cls(Signature.from_dict(data))

    @classmethod
    def light(cls, data: Mapping[str, Any], families: Sequence[str]) -> InputSpec:
        """A spec that builds its Signature (pandas) only when a request needs it."""
        return cls(data=data, families=families)

    def takes_input_of(self, other: InputSpec) -> bool:
        """Whether every model input ``other`` built from a body is this spec's input for
        it too: same kind, columns, dtypes and categories, and nulls allowed wherever
        ``other`` allows them (the outputs may differ). A shadow then reuses production's."""
        mine, theirs = list(self._data["inputs"]), list(other._data["inputs"])
        if self.kind != other.kind or len(mine) != len(theirs):
            return False
        for a, b in zip(mine, theirs, strict=True):
            if b.get("nullable") and not a.get("nullable"):
                return False
            if {k: v for k, v in a.items() if k not in _NULLS} != {
                k: v for k, v in b.items() if k not in _NULLS
            }:
                return False
        return True

    @functools.cached_property
    def signature(self) -> Any:
        from deploykit.signature import Signature

        return Signature.from_dict(self._data)

    @functools.cached_property
    def _index(self) -> pd.Index:
        import pandas as pd

        return pd.Index(self.columns)

    def example_row(self) -> Any:
        """One plausible row, to warm a freshly loaded model."""
        values: list[Any] = []
        for spec in self.signature.inputs:
            if spec.categories:
                values.append(spec.categories[0])
            else:
                values.append(
                    {
                        "float": 0.0,
                        "int": 0,
                        "bool": False,
                        "string": "",
                        "datetime": "2000-01-01",
                    }.get(spec.family, 0.0)
                )
        return self.signature.validate([values])

    def numeric(self, parsed: Parsed) -> np.ndarray | None:
        """A float64 matrix in signature order if the payload is plain numbers; else None.

        Same rule as the signature: JSON numbers only (a string or a bool is never taken
        for a number); nulls only where the training data had them.
        """
        columns = self.columns
        data = parsed.data
        numbers_only = False  # JSON numbers alone: no null, and JSON has no NaN
        try:
            if parsed.shape == "rows":
                if isinstance(data, np.ndarray):
                    matrix = data  # decoded as float64 numbers, none of them a boolean
                    numbers_only = parsed.plain
                elif not data or not isinstance(data[0], list):
                    return None
                elif parsed.plain and (quick := _quick_matrix(data)) is not None:
                    matrix, numbers_only = quick, True
                elif not set(map(type, chain.from_iterable(data))) <= _NUMERIC:
                    return None
                else:
                    matrix = np.array(data, dtype=np.float64)
                if parsed.columns is not None and parsed.columns != columns:
                    if len(parsed.columns) != len(columns) or set(parsed.columns) != set(columns):
                        return None
                    matrix = matrix[:, [parsed.columns.index(c) for c in columns]]
            elif parsed.shape == "records":
                keys = self._names()
                if any(r.keys() != keys for r in data):
                    return None
                get = itemgetter(*columns)
                rows = [get(r) for r in data] if len(columns) > 1 else [[get(r)] for r in data]
                if not set(map(type, chain.from_iterable(rows))) <= _NUMERIC:
                    return None
                matrix = np.array(rows, dtype=np.float64)
            else:
                if data.keys() != self._names():
                    return None
                cols = [data[c] for c in columns]
                if not set(map(type, chain.from_iterable(cols))) <= _NUMERIC:
                    return None
                matrix = np.array(cols, dtype=np.float64).T
        except (ValueError, TypeError, KeyError, IndexError):
            return None  # ragged rows and the like: the signature explains
        if matrix.ndim != 2 or matrix.shape[1] != len(columns) or matrix.shape[0] == 0:
            return None
        if not numbers_only and (np.isnan(matrix).any(axis=0) & self._not_nullable).any():
            return None
        return matrix

    def _names(self) -> Any:
        names = self.__dict__.get("_keys")
        if names is None:
            names = self.__dict__["_keys"] = dict.fromkeys(self.columns).keys()
        return names

    def validate(self, parsed: Parsed) -> Any:
        """The signature's thorough check, naming every problem."""
        if isinstance(parsed.data, np.ndarray):  # as sent: values, not a matrix
            parsed = Parsed(parsed.shape, parsed.data.tolist(), parsed.columns, parsed.format)
        if parsed.shape == "rows" and parsed.columns is not None:
            if len(parsed.columns) > len(self.columns):  # names only: no frame for a bad request
                self.signature.validate_columns(parsed.columns, allow_extra=True)
            return self.signature.validate(_as_frame(parsed), allow_extra=True)
        return self.signature.validate(parsed.data, allow_extra=True)


_NUMERIC = {int, float, type(None)}


def _quick_matrix(rows: list[Any]) -> np.ndarray | None:
    """``rows`` as float64 if numpy reads them as numbers, given they hold no boolean.

    numpy itself tells numbers (a float or int dtype) from strings, nulls or nested lists
    (any other dtype, or no matrix at all): one C pass where checking each value's type
    in Python takes four times as long. Booleans, which numpy would read as 0 and 1, are
    ruled out by the caller. None: let the thorough check decide.
    """
    try:
        matrix = np.array(rows)
    except (ValueError, TypeError):
        return None
    if matrix.dtype.kind not in "fiu" or matrix.ndim != 2:
        return None
    return matrix.astype(np.float64, copy=False)


def no_bool_literal(body: bytes) -> bool:
    """Whether the raw JSON ``body`` holds no ``true`` and no ``false`` (see ``Parsed.plain``).

    Both words end in ``e``, which numbers rarely hold: past a few kB, numpy finds every
    ``e`` in one pass and the bytes before each are compared (~6 µs for the 21 kB of a
    100-row request, against ~23 µs for two substring searches).
    """
    if len(body) >= 4096:
        at = np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == _E)
        if len(at) <= 256:  # else exponents everywhere: search as below
            return not any(
                body[max(p - 3, 0) : p] == b"tru" or body[max(p - 4, 0) : p] == b"fals"
                for p in at.tolist()
            )
    return b"true" not in body and b"false" not in body


_E = ord("e")


def _as_frame(parsed: Parsed) -> pd.DataFrame:
    """``dataframe_split`` rows with their column names, values kept as sent."""
    import pandas as pd

    rows, names = parsed.data, parsed.columns or []
    widths = {len(r) for r in rows}
    if widths != {len(names)}:
        raise SignatureError(
            f"Each row of 'dataframe_split.data' must have one value per column "
            f"({len(names)}). Got rows of {', '.join(map(str, sorted(widths)))} values instead.",
            problems=[f"expected {len(names)} values per row, got {sorted(widths)}"],
        )
    return pd.DataFrame(rows, columns=names, dtype=object)


def ignored_columns(parsed: Parsed, spec: InputSpec | None) -> list[str]:
    """The columns of ``parsed`` the model does not take, in the order sent."""
    if spec is None:
        return []
    known = spec._names()
    return [name for name in parsed.names() if name not in known]


def to_model_input(parsed: Parsed, spec: InputSpec | None, *, want_array: bool) -> tuple[Any, int]:
    """(model input, number of rows): an ndarray when ``want_array``, else as validated.

    ``spec`` is None for a version pushed without data or signature: the payload goes
    to the model as sent and the model's own checks apply.
    """
    if parsed.nrows == 0:
        if spec is None:
            raise InvalidInputError("The request holds no rows; send at least one.")
        from deploykit._coerce import mismatch_message

        problems = ["the input has no rows"]  # Signature.validate's verdict, word for word
        raise SignatureError(mismatch_message(problems), problems=problems)
    if spec is None:
        if parsed.shape == "rows" and parsed.columns is None:
            widths = sorted({len(r) if isinstance(r, list) else 1 for r in parsed.data})
            if len(widths) > 1:
                raise InvalidInputError(
                    f"Every row of '{parsed.format}' must have the same number of values. "
                    f"Got rows of {', '.join(map(str, widths[:10]))} values instead."
                )
            try:
                data = np.asarray(parsed.data)
            except ValueError as exc:  # nested lists of uneven depth and the like
                raise InvalidInputError(
                    f"'{parsed.format}' must be a list of rows of plain values: {exc}"
                ) from None
            return data, len(data)
        import pandas as pd

        frame = (
            _as_frame(parsed) if parsed.shape == "rows" else pd.DataFrame(parsed.data)
        ).infer_objects()
        return (frame.to_numpy() if want_array else frame), len(frame)
    if spec.all_float:
        matrix = spec.numeric(parsed)
        if matrix is not None:
            if want_array or spec.kind == "array":
                return matrix, len(matrix)
            import pandas as pd

            return pd.DataFrame(matrix, columns=spec._index, copy=False), len(matrix)
    validated = spec.validate(parsed)
    if want_array and type(validated).__name__ == "DataFrame":
        validated = validated.to_numpy()
    return validated, len(validated)


def predict_failure(ref: str, exc: BaseException) -> InvalidInputError:
    """The model refused input that passed the signature (NaN into a model without an
    imputer, an unseen category...): the caller's data, not a fault of the server."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return InvalidInputError(
        f"Model {ref} could not predict on this input: {type(exc).__name__}: {first}"
    )


def json_type(value: Any) -> str:
    """What a JSON client sent, in JSON's words (null, not NoneType)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    names: dict[type, str] = {dict: "an object", list: "an array", str: "a string"}
    return names.get(type(value), "a number")
