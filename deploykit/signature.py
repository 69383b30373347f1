"""A model's input and output schema: which columns of which types it was trained on.

:meth:`Signature.infer` reads it from the training data (and the model) at push time.
:meth:`Signature.validate` checks every request against it and hands back data shaped as
at training time: a DataFrame with the training columns, order and dtypes, or an ndarray
for models fitted on arrays. It collects every problem before raising one
:class:`~deploykit.errors.SignatureError`, so a client can fix them all at once.

Validation sits on the serving hot path, so the happy path is vectorized: numeric
requests convert in one numpy call, and cells are walked one by one only when that
fails and a message must name the offending row and value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as pdt

from deploykit._coerce import (
    column_problems,
    convert_column,
    family_of,
    listing,
    mismatch_message,
    numeric_rows,
    quoted,
    scalar,
    split_input,
)
from deploykit.errors import InvalidInputError, NotAnEstimatorError, SignatureError

__all__ = ["ColumnSpec", "Signature"]

# String columns with at most this many distinct values (each seen twice on average)
# record them as categories, so the drift monitor can count unseen values.
MAX_CATEGORIES = 50


@dataclasses.dataclass(frozen=True)
class ColumnSpec:
    """One input column: its name, pandas dtype, whether it accepts nulls.

    ``nullable_by`` says who decided ``nullable``: ``data`` (the training data had
    nulls; signatures from before the probe all read so), ``probe`` (the model was
    tried with the column blanked at push) or ``user`` (``push(..., nullable=[...])``).

    ``family`` is the kind of values accepted: ``float``, ``int``, ``bool``, ``string``,
    ``category``, ``datetime``, or ``object`` (anything). It follows from ``dtype``,
    except that :meth:`Signature.infer` records ``string`` for ``object`` columns whose
    training values were all strings.
    """

    name: str
    dtype: str
    nullable: bool
    categories: tuple[Any, ...] | None = None
    family: str = ""
    nullable_by: str = "data"

    def __post_init__(self) -> None:
        if not self.family:
            object.__setattr__(self, "family", family_of(pdt.pandas_dtype(self.dtype)))

    @cached_property
    def pandas_dtype(self) -> Any:
        if self.family == "category":
            return pd.CategoricalDtype(list(self.categories or ()))
        return pdt.pandas_dtype(self.dtype)

    @classmethod
    def from_series(cls, name: str, series: pd.Series) -> ColumnSpec:
        dtype = series.dtype
        family = family_of(dtype)
        categories = None
        if family == "category":
            categories = tuple(scalar(c) for c in dtype.categories)
        elif family in ("string", "object") and pdt.infer_dtype(series) in ("string", "empty"):
            family = "string"
            uniques = series.dropna().unique()
            if len(uniques) <= min(MAX_CATEGORIES, series.count() / 2):
                categories = tuple(sorted(str(u) for u in uniques))
        return cls(name, str(dtype), bool(series.isna().any()), categories, family)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "dtype": self.dtype, "nullable": self.nullable}
        if self.categories is not None:
            d["categories"] = list(self.categories)
        if self.family != family_of(pdt.pandas_dtype(self.dtype)):
            d["family"] = self.family
        if self.nullable_by != "data":
            d["nullable_by"] = self.nullable_by
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ColumnSpec:
        categories = d.get("categories")
        return cls(
            d["name"],
            d["dtype"],
            bool(d["nullable"]),
            None if categories is None else tuple(categories),
            d.get("family", ""),
            d.get("nullable_by") or "data",
        )

    @cached_property
    def category_codes(self) -> dict[Any, int]:
        return {c: i for i, c in enumerate(self.categories or ())}

    def convert(self, values: Any) -> tuple[Any, str | None]:
        """This column's values in the training dtype, or (None, the problem found)."""
        return convert_column(self, values)


@dataclasses.dataclass(frozen=True)
class Signature:
    """What a model takes and returns.

    ``kind`` is ``"dataframe"`` when the model was fitted on a DataFrame (validate
    returns one) or ``"array"`` when fitted on a numpy array (validate returns an
    ndarray; columns are named ``f0``…``fn`` unless the training frame named them).
    ``output`` describes predictions, e.g. ``{"kind": "classes", "dtype": "int64",
    "classes": [0, 1], "probabilities": True}`` or ``{"kind": "values", "dtype":
    "float64", "probabilities": False}``.
    """

    inputs: tuple[ColumnSpec, ...]
    kind: str = "dataframe"
    output: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: how nullability was probed at push: rows, columns, predict calls, seconds
    probe: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        """Input column names, in training order."""
        return [c.name for c in self.inputs]

    @cached_property
    def _index(self) -> pd.Index:
        return pd.Index(self.columns)

    @cached_property
    def _names(self) -> frozenset[str]:
        return frozenset(self.columns)

    @cached_property
    def _dtypes(self) -> list[Any]:
        return [c.pandas_dtype for c in self.inputs]

    @cached_property
    def _homogeneous(self) -> np.dtype | None:
        """The one float dtype of every column, if so: such input converts in one call."""
        dtypes = {c.dtype for c in self.inputs}
        if len(dtypes) == 1 and {c.family for c in self.inputs} == {"float"}:
            dtype = self.inputs[0].pandas_dtype
            return dtype if isinstance(dtype, np.dtype) else None
        return None

    @cached_property
    def _not_nullable(self) -> np.ndarray:
        return np.array([not c.nullable for c in self.inputs], dtype=bool)

    # -- infer ---------------------------------------------------------------------

    @classmethod
    def infer(
        cls,
        X: Any,
        model: Any = None,
        *,
        nullable: Sequence[str] | None = None,
        probe: bool = True,
    ) -> Signature:
        """The signature of a model trained on ``X``.

        ``X`` is the training data: a DataFrame or a 2-D array. With ``model``, its
        ``classes_`` and ``predict_proba`` describe the output, and a prediction on the
        first rows of ``X`` gives the output dtype (and checks that the two agree).
        A column accepts nulls if ``X`` has some there, or (with ``model`` and
        ``probe``) if the model predicts with the column blanked on a few rows of ``X``
        (see :mod:`deploykit._nullprobe`), or if it is named in ``nullable``.
        """
        frame, kind = _training_frame(X)
        if model is not None:
            if not callable(getattr(model, "predict", None)):
                raise NotAnEstimatorError(
                    f"The 'model' parameter of Signature.infer must have a predict method. "
                    f"Got {type(model).__name__} instead."
                )
            frame, kind = _align_with_model(frame, kind, model)
        inputs = tuple(ColumnSpec.from_series(str(n), frame[n]) for n in frame.columns)
        signature = cls(inputs, kind)
        if model is not None:
            signature = dataclasses.replace(
                signature, output=_infer_output(model, signature, frame)
            )
            if probe:
                from deploykit._nullprobe import probe_nullable

                signature, report = probe_nullable(signature, frame, model)
                signature = dataclasses.replace(signature, probe=report)
        return signature.with_nullable(nullable or ())

    def with_nullable(self, names: Sequence[str]) -> Signature:
        """A copy in which the columns ``names`` accept nulls (the user's word for it)."""
        if isinstance(names, str):
            names = [names]
        unknown = [n for n in names if n not in self._names]
        if unknown:
            raise InvalidInputError(
                f"The 'nullable' parameter names column(s) {quoted(unknown)} the model does "
                f"not take. Its columns are {listing(self.columns)}."
            )
        chosen = set(names)
        inputs = tuple(
            dataclasses.replace(c, nullable=True, nullable_by="user") if c.name in chosen else c
            for c in self.inputs
        )
        return dataclasses.replace(self, inputs=inputs)

    # -- validate ------------------------------------------------------------------

    def validate(self, data: Any, *, allow_extra: bool = False) -> pd.DataFrame | np.ndarray:
        """``data`` as the model expects it, or :class:`SignatureError` listing every problem.

        ``data`` is a DataFrame, a 2-D ndarray or list of rows (positional: one value
        per column, in training order), a list of records (dicts), or a dict of
        column -> list of values (a dict of scalars is one record). Ints are accepted
        for float columns; strings are never taken for numbers. Columns the model does
        not know are an error unless ``allow_extra`` (then they are dropped). Values
        outside a column's training categories are accepted and kept, since encoders
        with ``handle_unknown`` deal with them; :meth:`unseen_categories` counts them.
        Row numbers in messages are 0-based positions in ``data``.
        """
        fast = self._validate_fast(data)
        if fast is not None:
            return fast
        columns, index, problems = split_input(self, data, allow_extra)
        converted = {}
        for spec in self.inputs:
            if spec.name in columns:
                values, problem = spec.convert(columns[spec.name])
                if problem:
                    problems.append(problem)
                elif isinstance(values, np.ndarray) and values.dtype == object:
                    # pandas 3 would read an object array of strings as "str": keep object
                    values = pd.Series(values, index=index, dtype=object, copy=False)
                converted[spec.name] = values
        if problems:
            raise SignatureError(mismatch_message(problems), problems=problems)
        if self.kind == "array":
            return np.column_stack([np.asarray(v) for v in converted.values()])
        return pd.DataFrame(converted, index=index, copy=False)  # dict is in training order

    def validate_columns(self, columns: Sequence[str], *, allow_extra: bool = False) -> None:
        """Check column names only (cheap); raise :class:`SignatureError` on mismatch."""
        problems = column_problems(self, columns, allow_extra)
        if problems:
            raise SignatureError(mismatch_message(problems), problems=problems)

    def unseen_categories(self, data: pd.DataFrame) -> dict[str, int]:
        """Per column, how many non-null values of validated ``data`` were never seen
        in training (columns with recorded categories only; zero counts left out)."""
        counts = {}
        if isinstance(data, pd.DataFrame):
            for spec in self.inputs:
                if spec.categories is not None and spec.name in data.columns:
                    column = data[spec.name]
                    unseen = int((~column.isin(spec.categories) & column.notna()).sum())
                    if unseen:
                        counts[spec.name] = unseen
        return counts

    def _validate_fast(self, data: Any) -> pd.DataFrame | np.ndarray | None:
        """The happy path without per-cell Python; None means "take the careful path"."""
        if isinstance(data, pd.DataFrame) and self.kind == "dataframe":
            if not data.columns.equals(self._index) or data.dtypes.tolist() != self._dtypes:
                return None
            if self._not_nullable.any():
                if self._homogeneous is not None:
                    null = np.isnan(data.to_numpy()).any(axis=0)
                else:
                    null = data.isna().to_numpy().any(axis=0)
                if (null & self._not_nullable).any():
                    return None
            return data
        dtype = self._homogeneous
        if dtype is None:
            return None
        array = numeric_rows(data, self.columns, self._names)
        if array is None or array.ndim != 2 or array.shape[1] != len(self.inputs):
            return None
        if array.dtype != dtype:
            if array.dtype.kind not in "iuf":
                return None
            array = array.astype(dtype)
        if not len(array) or (np.isnan(array).any(axis=0) & self._not_nullable).any():
            return None
        if self.kind == "array":
            return array
        return pd.DataFrame(array, columns=self._index, copy=False)

    # -- serialization -------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        d = {
            "kind": self.kind,
            "inputs": [c.to_dict() for c in self.inputs],
            "output": dict(self.output),
        }
        if self.probe:
            d["probe"] = dict(self.probe)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Signature:
        inputs = tuple(ColumnSpec.from_dict(c) for c in d["inputs"])
        return cls(
            inputs,
            d.get("kind", "dataframe"),
            dict(d.get("output") or {}),
            dict(d.get("probe") or {}),
        )


def _training_frame(X: Any) -> tuple[pd.DataFrame, str]:
    """Training data as a DataFrame with string column names, and the signature kind."""
    if isinstance(X, pd.DataFrame):
        labels = list(X.columns)
        if not labels:
            raise InvalidInputError("The training data X has no columns; pass the features.")
        if not X.columns.is_unique:
            dupes = sorted({str(c) for c in X.columns[X.columns.duplicated()]})
            raise InvalidInputError(
                f"The columns of X must be unique. Got duplicates {quoted(dupes)}; rename them."
            )
        if all(isinstance(c, str) for c in labels):
            return X, "dataframe"
        if any(isinstance(c, str) for c in labels):
            raise InvalidInputError(
                "The column names of X must be all strings (as scikit-learn requires). "
                f"Got {labels[:6]!r}; rename them with X.columns = X.columns.astype(str)."
            )
        X = X.to_numpy()  # unnamed columns: scikit-learn treats the frame as an array
    if isinstance(X, pd.Series) or getattr(X, "ndim", 2) != 2:
        fix = (
            "pass the feature table, e.g. X_train, or X_train[['age']] for one column"
            if isinstance(X, pd.Series)
            else "pass a DataFrame, or reshape a single feature with X.reshape(-1, 1)"
        )
        raise InvalidInputError(
            "The training data X must be 2-D (rows x columns). Got a "
            f"{type(X).__name__} of shape {getattr(X, 'shape', '?')}: was it the target y? {fix}."
        )
    array = np.asarray(X)
    if array.ndim != 2:
        raise InvalidInputError(
            f"The training data X must be 2-D (rows x columns). Got an array of "
            f"shape {array.shape}; pass a DataFrame or a 2-D numpy array."
        )
    return pd.DataFrame(array, columns=[f"f{i}" for i in range(array.shape[1])]), "array"


def _align_with_model(frame: pd.DataFrame, kind: str, model: Any) -> tuple[pd.DataFrame, str]:
    """Check ``frame`` against what the model saw in ``fit``; adopt its feature names."""
    name = type(model).__name__
    n_features = getattr(model, "n_features_in_", None)
    if n_features is not None and n_features != frame.shape[1]:
        raise InvalidInputError(
            f"{name} was fitted on {n_features} features but X has {frame.shape[1]} columns. "
            "Pass the data the model was trained on."
        )
    feature_names = getattr(model, "feature_names_in_", None)
    if feature_names is not None:
        names = [str(n) for n in feature_names]
        if kind == "array":  # fitted on a frame, given its .values: name the columns back
            return frame.set_axis(names, axis=1), "dataframe"
        if set(frame.columns) == set(names):
            frame = frame[names]  # the order predict needs
        else:
            raise InvalidInputError(
                f"{name} was fitted on columns {listing(names)} but X has columns "
                f"{listing(list(frame.columns))}. Pass the data the model was trained on."
            )
    elif kind == "dataframe" and n_features is not None:
        kind = "array"  # fitted without feature names: a frame would make sklearn warn
    return frame, kind


def predictions_of(model: Any, X: Any, data: str) -> np.ndarray:
    """``model.predict(X)`` as an array, where a push infers from predictions (the signature,
    the reference profile): any estimator failure names the model and ``data``."""
    try:
        return np.asarray(model.predict(X))
    except Exception as exc:  # keep the cause chained
        raise InvalidInputError(
            f"{type(model).__name__}.predict failed on {data} "
            f"({type(exc).__name__}: {exc}). Pass a fitted model and its training data."
        ) from exc


def _infer_output(model: Any, signature: Signature, frame: pd.DataFrame) -> dict[str, Any]:
    classes = getattr(model, "classes_", None)
    output: dict[str, Any]
    if isinstance(classes, np.ndarray) and classes.ndim == 1:
        output = {
            "kind": "classes",
            "dtype": str(classes.dtype),
            "classes": [scalar(c) for c in classes],
        }
    else:
        output = {"kind": "values", "dtype": "float64"}
    output["probabilities"] = hasattr(model, "predict_proba")
    if len(frame):
        head = signature.validate(frame.iloc[:5], allow_extra=True)
        predictions = predictions_of(model, head, "the first rows of X")
        output["dtype"] = str(predictions.dtype)
        if predictions.ndim == 2:
            output["outputs"] = int(predictions.shape[1])
    return output
