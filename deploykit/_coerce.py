"""Turn request data into what a model was trained on; the engine of ``Signature.validate``.

Two steps, both reporting problems as sentences rather than raising, so that
``validate`` can list them all: :func:`split_input` takes any accepted shape (DataFrame,
ndarray, rows, records, dict of columns) apart into columns, and :func:`convert_column`
checks one column against its :class:`~deploykit.signature.ColumnSpec` and casts it to
the training dtype. Common cases convert in one numpy call; cells are walked one by one
only when a value's type is in doubt, to find the rows a message must name.
"""

from __future__ import annotations

import difflib
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import chain, repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pandas.api import types as pdt

if TYPE_CHECKING:
    from deploykit.signature import ColumnSpec, Signature

Converted = tuple[Any, "str | None"]

_LISTED = 5  # row numbers quoted in one message before "and N more"
_NONE = type(None)
_NUMBERS = (int, float, np.integer, np.floating)
_BOOLS = (bool, np.bool_)
# Cell types that need no per-cell check, per family (nulls are found separately).
_SAFE_TYPES: dict[str, set[type]] = {
    "float": {int, float, np.float64, np.int64},
    "int": {int, np.int64},
    "bool": {bool, np.bool_},
    "string": {str},
    "datetime": set(),
}


def family_of(dtype: Any) -> str:
    """The kind of values a dtype holds; it decides how incoming cells are checked."""
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if pdt.is_bool_dtype(dtype):
        return "bool"
    if pdt.is_integer_dtype(dtype):
        return "int"
    if pdt.is_float_dtype(dtype):
        return "float"
    if pdt.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pdt.is_string_dtype(dtype) and not pdt.is_object_dtype(dtype):
        return "string"
    return "object"  # anything goes; Signature.infer refines object columns of strings


def scalar(value: Any) -> Any:
    """A JSON-ready Python scalar for a numpy or pandas one."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (pd.Timestamp, pd.Timedelta)):
        return value.isoformat()
    return value


def rows(index: Sequence[int] | np.ndarray) -> str:
    """``row 3`` / ``rows 2, 5`` / ``rows 0, 1, 2, 3, 4 and 95 more``."""
    shown = ", ".join(str(int(i)) for i in index[:_LISTED])
    more = f" and {len(index) - _LISTED} more" if len(index) > _LISTED else ""
    return f"{'row' if len(index) == 1 else 'rows'} {shown}{more}"


def convert_column(spec: ColumnSpec, values: Any) -> Converted:
    """``values`` (a typed array, or a sequence of Python objects) in ``spec``'s dtype."""
    try:
        dtype = getattr(values, "dtype", None)
        if dtype is not None and not pdt.is_object_dtype(dtype):
            return _convert_typed(spec, values)
        return _convert_cells(spec, values)
    except (ValueError, TypeError, OverflowError) as exc:  # last resort: a message, never a 500
        return None, f"column {spec.name!r}: cannot convert to {spec.dtype}: {exc}"


def _convert_typed(spec: ColumnSpec, values: Any) -> Converted:
    """A column that came typed, from a DataFrame or an ndarray."""
    dtype, family = values.dtype, spec.family
    same = dtype == spec.pandas_dtype and family != "category"
    numeric = isinstance(dtype, np.dtype) and dtype.kind in "iuf"
    if same or (family == "float" and numeric):
        values = values if same else values.astype(spec.pandas_dtype)
        if not spec.nullable and family not in ("int", "bool"):
            null = np.asarray(pd.isna(values), dtype=bool)
            if null.any():
                return None, _null_problem(spec, null)
        return values, None
    if family == "int" and numeric and dtype.kind in "iu":
        return _finish(spec, np.asarray(values, dtype=np.int64))
    return _convert_cells(spec, np.asarray(values, dtype=object))


def _convert_cells(spec: ColumnSpec, values: Sequence[Any] | np.ndarray) -> Converted:
    """A column of Python objects: JSON values, records, object arrays."""
    types = set(map(type, values))
    if spec.family == "float" and types <= {int, float, _NONE}:  # the common case
        floats = np.array(values, dtype=np.float64)
        null = np.isnan(floats)
        if not spec.nullable and null.any():
            return None, _null_problem(spec, null)
        return _finish(spec, floats)
    cells = np.fromiter(values, dtype=object, count=len(values))
    null = np.asarray(pd.isna(cells), dtype=bool)
    if null.any():  # a NaN is a float: judge the types of the other cells only
        types = set(map(type, cells[~null]))
    safe = _SAFE_TYPES.get(spec.family)
    if spec.family == "category":
        safe = {str} if _string_categories(spec) else {int, float}
    if safe is None or not types - {_NONE} <= safe:
        bad = [i for i in np.flatnonzero(~null) if not _accepts(spec, cells[i])]
        if bad:
            return None, _value_problem(spec, cells, np.array(bad))
    if not spec.nullable and null.any():
        return None, _null_problem(spec, null)
    return _finish_cells(spec, cells, null)


def _string_categories(spec: ColumnSpec) -> bool:
    return all(isinstance(c, str) for c in spec.categories or ("",))


def _accepts(spec: ColumnSpec, value: Any) -> bool:
    """Whether one non-null cell is acceptable; the slow path, run only when in doubt."""
    family = spec.family
    if family == "float":
        return isinstance(value, _NUMBERS) and not isinstance(value, _BOOLS)
    if family == "int":
        if isinstance(value, (float, np.floating)):
            return float(value).is_integer()
        return isinstance(value, (int, np.integer)) and not isinstance(value, _BOOLS)
    if family == "bool":
        return isinstance(value, _BOOLS)
    if family == "string":
        return isinstance(value, str)
    if family == "category":
        if _string_categories(spec):
            return isinstance(value, str)
        return isinstance(value, _NUMBERS) and not isinstance(value, _BOOLS)
    if family == "datetime":
        return isinstance(value, (str, np.datetime64)) or hasattr(value, "isoformat")
    return True


def _finish_cells(spec: ColumnSpec, cells: np.ndarray, null: np.ndarray) -> Converted:
    """Checked Python objects -> the training dtype."""
    family, has_null = spec.family, bool(null.any())
    if family == "datetime":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas' format-inference chatter
            # utc=True: offsets may differ between rows; naive times are taken as UTC.
            parsed = pd.to_datetime(pd.Series(cells), errors="coerce", format="ISO8601", utc=True)
        bad = np.flatnonzero(~null & parsed.isna().to_numpy())
        if bad.size:
            return None, _value_problem(spec, cells, bad)
        tz = getattr(spec.pandas_dtype, "tz", None)
        parsed = parsed.dt.tz_convert(tz) if tz is not None else parsed.dt.tz_localize(None)
        return parsed.astype(spec.pandas_dtype).array, None
    if family == "category":
        return _categorical(spec, cells, null), None
    if family == "float":
        cells[null] = np.nan
        return _finish(spec, cells.astype(np.float64))
    if family in ("int", "bool") and has_null:
        if not isinstance(spec.pandas_dtype, np.dtype):  # nullable extension dtypes: Int64, boolean
            cells[null] = None
            return pd.array(cells, dtype=spec.pandas_dtype), None
        # A numpy int/bool column cannot hold a null: give what pandas gives for such a
        # column with gaps (float64 with NaN; object with NaN), as imputers expect.
        cells[null] = np.nan
        return (cells.astype(np.float64) if family == "int" else cells), None
    if family == "int":
        return _finish(spec, cells.astype(np.int64))
    if family == "bool":
        return cells.astype(bool), None
    if has_null:
        cells[null] = np.nan  # what scikit-learn's imputers look for in object columns
    if family == "string" and not pdt.is_object_dtype(spec.pandas_dtype):
        return pd.array(cells, dtype=spec.pandas_dtype), None
    return cells, None


def _finish(spec: ColumnSpec, values: np.ndarray) -> Converted:
    """A float64/int64 array -> the training dtype, refusing ints it cannot hold."""
    dtype = spec.pandas_dtype
    if spec.family == "int" and isinstance(dtype, np.dtype) and dtype != values.dtype:
        info = np.iinfo(dtype)
        bad = np.flatnonzero((values < info.min) | (values > info.max))
        if bad.size:
            return None, _value_problem(spec, values.astype(object), bad)
    if values.dtype == dtype:
        return values, None
    return (values.astype(dtype) if isinstance(dtype, np.dtype) else pd.array(values, dtype)), None


def _categorical(spec: ColumnSpec, cells: np.ndarray, null: np.ndarray) -> pd.Categorical:
    # Unseen values are kept, appended after the training categories so known codes stay
    # put: encoders with handle_unknown decide; Signature.unseen_categories counts them.
    known = spec.category_codes
    codes = np.fromiter(map(known.get, cells, repeat(-1)), dtype=np.intp, count=len(cells))
    unseen = (codes < 0) & ~null
    dtype = spec.pandas_dtype
    if unseen.any():
        extra = list(pd.unique(cells[unseen]))
        dtype = pd.CategoricalDtype([*dtype.categories, *extra])
        lookup = {c: len(known) + i for i, c in enumerate(extra)}
        codes[unseen] = [lookup[c] for c in cells[unseen]]
    return pd.Categorical.from_codes(codes, dtype=dtype, validate=False)


def _value_problem(spec: ColumnSpec, cells: np.ndarray, bad: np.ndarray) -> str:
    expected = {"string": "string", "category": "category"}.get(spec.family, spec.dtype)
    rows_of: dict[str, list[int]] = {}  # each distinct bad value once, with its rows
    for i in bad:
        rows_of.setdefault(repr(scalar(cells[i])), []).append(int(i))
    shown = list(rows_of.items())[:3]
    got = ", ".join(f"{value} ({rows(where)})" for value, where in shown)
    if len(rows_of) > len(shown):
        got += f" and {len(rows_of) - len(shown)} more values"
    message = f"column {spec.name!r}: expected {expected}, got {got}"
    if spec.family in ("float", "int") and any(_numeric_text(cells[i]) for i in bad[:_LISTED]):
        message += NUMBERS_AS_TEXT
    return message


NUMBERS_AS_TEXT = " (numbers sent as strings)"
_SHOWN_PROBLEMS = 5


def mismatch_message(problems: Sequence[str]) -> str:
    """One message for all problems: the first few in full, the rest counted, hints once."""
    shown = [p.replace(NUMBERS_AS_TEXT, "") for p in problems[:_SHOWN_PROBLEMS]]
    message = "The input does not match the model's signature: " + "; ".join(shown)
    if len(problems) > len(shown):
        message += f"; and {len(problems) - len(shown)} more problem(s)"
    message += "."
    if any(NUMBERS_AS_TEXT in p for p in problems):
        message += (
            " Numbers arrived as strings: send JSON numbers, not strings "
            "(in pandas, convert with X.astype(float))."
        )
    return message


def _numeric_text(value: Any) -> bool:
    try:
        return isinstance(value, str) and bool(float(value) == float(value))
    except ValueError:
        return False


def _null_problem(spec: ColumnSpec, null: np.ndarray) -> str:
    why = (
        "but the model failed on nulls there when probed at push"
        if spec.nullable_by == "probe"
        else "but the model was trained without nulls"
    )
    return f"column {spec.name!r}: null values at {rows(np.flatnonzero(null))} {why}"


# -- input shapes --------------------------------------------------------------------

Split = tuple[dict[str, Any], Any, list[str]]  # column -> values, index, problems


def column_problems(sig: Signature, names: Sequence[Any], allow_extra: bool) -> list[str]:
    """Missing, unexpected (with a did-you-mean) and duplicate column names.

    Linear in ``len(names)`` and bounded in output, whatever a caller sends: one pass
    counts the names, at most :data:`_LISTED` unexpected names get a problem (and a
    difflib suggestion) of their own, the rest are counted.
    """
    counts = Counter(names)
    known = sig._names
    problems = []
    missing = [c for c in sig.columns if c not in counts]
    if missing:
        problems.append(f"missing column{'s' if len(missing) > 1 else ''}: {quoted(missing)}")
    if allow_extra:  # extras are ignored, but one that looks like a missing name is a typo
        problems += _typos(missing, [n for n in counts if n not in known])
    unexpected = [] if allow_extra else [n for n in counts if n not in known]
    for name in unexpected[:_LISTED]:
        close = difflib.get_close_matches(str(name), missing[:_SUGGEST_FROM], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(f"unexpected column {name!r}{hint}")
    if len(unexpected) > _LISTED:
        rest = unexpected[_LISTED:]
        problems.append(
            f"and {len(rest):,} more unexpected column{'s' if len(rest) > 1 else ''}: "
            f"{quoted(rest)}"
        )
    if len(counts) < len(names):
        dupes = sorted(str(n) for n, k in counts.items() if k > 1)
        problems.append(f"duplicate column{'s' if len(dupes) > 1 else ''}: {quoted(dupes)}")
    return problems


_SUGGEST_FROM = 1000  # missing names difflib compares one unexpected name with, at most


def _typos(missing: Sequence[str], extras: Sequence[Any]) -> list[str]:
    """Sent columns that look like misspellings of missing ones (bounded like the rest)."""
    found = []
    candidates = [str(n) for n in extras[:_SUGGEST_FROM]]
    for name in missing[:_LISTED]:
        close = difflib.get_close_matches(name, candidates, n=1)
        if close:
            found.append(f"unexpected column {close[0]!r} (did you mean {name!r}?)")
    return found


def quoted(names: Sequence[Any], limit: int = 10) -> str:
    """``'a', 'b'``; past ``limit`` names, ``'a', 'b', … and 49,997 more``."""
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown if len(names) <= limit else f"{shown} … and {len(names) - limit:,} more"


def listing(names: Sequence[str]) -> str:
    return ", ".join(names) if len(names) <= 6 else f"{names[0]}…{names[-1]}"


def _width_problem(sig: Signature, got: str) -> str:
    return f"expected {len(sig.inputs)} columns ({listing(sig.columns)}), got {got}"


def split_input(sig: Signature, data: Any, allow_extra: bool) -> Split:
    """Any accepted input -> (column name -> values, index to keep, problems)."""
    if isinstance(data, pd.DataFrame):
        if sig.kind == "array" or all(isinstance(c, (int, np.integer)) for c in data.columns):
            columns = [_typed(data.iloc[:, j]) for j in range(data.shape[1])]
            return _positional(sig, columns, len(data), data.index)
        problems = column_problems(sig, list(data.columns), allow_extra)
        if not data.columns.is_unique:
            return {}, None, problems
        present = {c: _typed(data[c]) for c in sig.columns if c in data.columns}
        return present, data.index, problems
    if isinstance(data, np.ndarray):
        if data.ndim != 2:
            return {}, None, [_shape_problem(data)]
        return _positional(sig, list(data.T), len(data), None)
    if isinstance(data, Mapping):
        if not any(isinstance(v, (list, tuple, np.ndarray, pd.Series)) for v in data.values()):
            return _records(sig, [data], allow_extra)  # a dict of scalars is one record
        problems = column_problems(sig, list(data.keys()), allow_extra)
        lengths = {k: len(v) for k, v in data.items() if k in sig._names}
        if len(set(lengths.values())) > 1:
            return {}, None, [*problems, f"columns have different lengths: {lengths}"]
        if not any(lengths.values()):
            return {}, None, [*problems, "the input has no rows"]
        return (
            {k: v if isinstance(v, np.ndarray) else list(v) for k, v in data.items()},
            None,
            problems,
        )
    if not isinstance(data, (list, tuple)):
        return {}, None, [_shape_problem(data)]
    if not data:
        return {}, None, ["the input has no rows"]
    if all(isinstance(r, Mapping) for r in data):
        return _records(sig, data, allow_extra)
    if not all(isinstance(r, (list, tuple, np.ndarray)) for r in data):
        return {}, None, [_shape_problem(data)]
    widths = np.fromiter(map(len, data), dtype=np.intp, count=len(data))
    wrong = np.flatnonzero(widths != len(sig.inputs))
    if wrong.size == len(data) and len(set(widths)) == 1:
        return {}, None, [_width_problem(sig, str(widths[0]))]
    if wrong.size:
        got = ", ".join(str(w) for w in sorted(set(widths[wrong])))
        return {}, None, [_width_problem(sig, f"{got} at {rows(wrong)}")]
    return _positional(sig, list(zip(*data, strict=True)), len(data), None)


def _positional(sig: Signature, columns: list[Any], n_rows: int, index: Any) -> Split:
    if len(columns) != len(sig.inputs):
        return {}, None, [_width_problem(sig, str(len(columns)))]
    if not n_rows:
        return {}, None, ["the input has no rows"]
    return dict(zip(sig.columns, columns, strict=True)), index, []


def _records(sig: Signature, records: Sequence[Mapping[Any, Any]], allow_extra: bool) -> Split:
    keys: set[Any] = set().union(*records)
    problems = column_problems(sig, sorted(keys, key=str), allow_extra)
    # A key absent from some records is null there, as pandas.DataFrame(records) has it.
    columns = {c: [r.get(c) for r in records] for c in sig.columns if c in keys}
    return columns, None, problems


def _typed(series: pd.Series) -> Any:
    """A Series' values without its index: ndarray for numpy dtypes, else the pandas array."""
    return series.to_numpy() if isinstance(series.dtype, np.dtype) else series.array


def _shape_problem(data: Any) -> str:
    shape = getattr(data, "shape", None)
    if shape is not None:
        what = f"an array of shape {tuple(shape)}"
    elif isinstance(data, (list, tuple)):
        what = f"a flat list of {len(data)} values; wrap one row in a list: [[...]]"
    else:
        what = type(data).__name__
    return (
        "expected a DataFrame, a 2-D array or list of rows, a list of records or a dict "
        f"of columns, got {what}"
    )


def numeric_rows(data: Any, names: list[str], known: frozenset[str]) -> np.ndarray | None:
    """Plainly numeric input as one ndarray (rows x columns), else None.

    The fast path of ``validate``: a type check over all cells in C (``set(map(type,
    ...))``) and one numpy conversion, without a Python loop per cell.
    """
    if isinstance(data, np.ndarray):
        return data
    if isinstance(data, pd.DataFrame):
        return data.to_numpy()
    if isinstance(data, Mapping):
        if data.keys() != known:
            return None
        columns = [data[n] for n in names]
        return _floats(columns, transpose=True)
    if not isinstance(data, list) or not data:
        return None
    if isinstance(data[0], dict):
        try:
            if any(r.keys() != known for r in data):
                return None
            data = list(map(itemgetter(*names), data))
        except (AttributeError, KeyError, TypeError):
            return None
    return _floats(data, transpose=False) if isinstance(data[0], (list, tuple)) else None


def _floats(nested: list[Any], *, transpose: bool) -> np.ndarray | None:
    try:
        if not set(map(type, chain.from_iterable(nested))) <= {int, float, _NONE}:
            return None
        array = np.array(nested, dtype=np.float64)
    except (TypeError, ValueError):  # ragged rows, scalars: the careful path explains
        return None
    return array.T if transpose else array
