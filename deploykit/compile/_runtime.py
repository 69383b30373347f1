"""Run a verified ONNX artifact: NumPy and onnxruntime only.

A worker that serves only compiled versions imports this and never scikit-learn,
SciPy or pandas (``tests/compile`` checks it in a real server). Loading an ONNX file
runs no Python code, which is why a server limited to ``onnx,skops`` never unpickles.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Any

import numpy as np

from deploykit.compile._record import InputPlan, RuntimeInfo
from deploykit.errors import InvalidInputError, UnreadableArtifactError

__all__ = ["CompiledEstimator", "CompiledModel"]

_DTYPES = {"float32": np.float32, "float64": np.float64}


class CompiledModel:
    """An ONNX Runtime session for one version, built once and called per request.

    One intra-op thread: a worker is one process per core, and ONNX Runtime's own
    thread pool would fight the other workers (and costs more than it saves on the
    small inputs a server sees).
    """

    def __init__(
        self,
        onnx: bytes | str,
        info: RuntimeInfo,
        *,
        label: str = "model",
        picklable: bool = False,
    ) -> None:
        """``onnx``: the model's bytes, or the path of a verified file (read by onnxruntime
        itself: no copy of the bytes stays in Python, ~10 MB less for a 100-tree forest)."""
        import onnxruntime as ort

        if info.plan is None:
            raise UnreadableArtifactError(f"The runtime record of {label} has no input plan.")
        compact = _compact_path(onnx, info)
        try:
            self.session = ort.InferenceSession(
                onnx, _options(ort, compact), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            _remove(compact)
            raise UnreadableArtifactError(
                f"The compiled (ONNX) artifact of {label} does not load in onnxruntime "
                f"{ort.__version__}: {type(exc).__name__}: {str(exc)[:300]}"
            ) from None
        if compact is not None:
            self.session = _compacted(ort, self.session, compact, info)
        # the bytes stay only where the model travels (Dask): a server keeps the session alone
        self._onnx = onnx if picklable and isinstance(onnx, bytes) else None
        self.label = label
        self.names = [i.name for i in self.session.get_inputs()]
        self.configure(info)

    def configure(self, info: RuntimeInfo) -> None:
        """Read inputs and outputs as ``info`` says (the session is kept as built)."""
        assert info.plan is not None
        self.info = info
        self.plan: InputPlan = info.plan
        self.dtype = _DTYPES[self.plan.dtype]
        outputs = info.outputs
        self._label = outputs.get("label") or outputs.get("value")
        self._proba = outputs.get("probabilities")
        self._predict_only = [self._label]
        self._both = [self._label, self._proba]
        self._argmax = info.labels == "argmax" and self._proba is not None
        self._classes = np.asarray(info.classes) if info.classes is not None else None
        self._tie = float(info.tolerance or 0.0)

    def __reduce__(self) -> tuple[Any, ...]:
        # a session does not pickle; its bytes do (Dask ships models to its workers)
        if self._onnx is None:
            raise TypeError(f"The compiled model of {self.label} was built picklable=False.")
        return (_rebuild, (self._onnx, self.info.to_dict(), self.label))

    @property
    def has_proba(self) -> bool:
        return self.info.has_proba and self._proba is not None

    def feed_matrix(self, matrix: np.ndarray) -> dict[str, np.ndarray]:
        """Inputs from a numeric matrix in signature order (float64, as parsed)."""
        if self.plan.layout == "matrix":
            return {self.names[0]: np.ascontiguousarray(matrix, dtype=self.dtype)}
        return self._feed_columns([matrix[:, i] for i in range(matrix.shape[1])])

    def feed(self, data: Any) -> dict[str, np.ndarray]:
        """Inputs from a validated frame (or array) in signature order, any column types."""
        if isinstance(data, np.ndarray) and data.dtype.kind in "fiub":
            return self.feed_matrix(data.astype(np.float64, copy=False))
        if self.plan.layout == "matrix":
            return {self.names[0]: np.asarray(data, dtype=self.dtype)}
        if isinstance(data, np.ndarray):
            return self._feed_columns([data[:, i] for i in range(data.shape[1])])
        return self._feed_columns([data[c].to_numpy() for c in self.plan.columns])

    def _feed_columns(self, columns: list[np.ndarray]) -> dict[str, np.ndarray]:
        feed = {}
        for name, kind, values in zip(self.names, self.plan.kinds, columns, strict=True):
            feed[name] = _column(values, kind, self.dtype).reshape(-1, 1)
        return feed

    def run(self, feed: dict[str, np.ndarray], proba: bool) -> tuple[np.ndarray, Any]:
        """(predictions, probabilities or None), as scikit-learn's predict/predict_proba."""
        try:
            if self._argmax:
                label, probabilities = self.session.run(self._both, feed)
                label = _first_best(probabilities, self._classes, self._tie)
                if not proba:
                    probabilities = None
            elif proba and self._proba is not None:
                label, probabilities = self.session.run(self._both, feed)
            else:
                (label,) = self.session.run(self._predict_only, feed)
                probabilities = None
        except Exception as exc:  # what passed the signature and still failed: the input
            raise InvalidInputError(
                f"Model {self.label} could not predict on this input: "
                f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}"
            ) from None
        return label.reshape(-1), probabilities


# An ONNX file at least this big is re-read from onnxruntime's own format once loaded:
# a session from ONNX holds ~3x the file, one from ORT format ~20 MB (measured on forests
# of 1.5, 3.8 and 7.7 MB: 15/18, 24/20, 40/23 MB), so smaller files gain nothing.
_COMPACT_BYTES = 4 << 20


def _options(ort: Any, save_to: str | None = None) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if save_to is not None:  # the session also writes its optimized model, in ORT format
        options.optimized_model_filepath = save_to
        options.add_session_config_entry("session.save_model_format", "ORT")
        # its warning that a model optimized at this level suits this machine only: it is
        # read back here, once, and checked against the session that wrote it
        options.log_severity_level = 3
    return options


def _compact_path(onnx: bytes | str, info: RuntimeInfo) -> str | None:
    """Where the loading session writes the model in ORT format, for a big numeric model.

    A session built from an ONNX file keeps far more than one built from the same model
    in onnxruntime's own (flatbuffers) format: for a RandomForest(100) of 277k nodes,
    ~62 MB against ~26 MB once loaded (10.7 MB file); a worker serving it alone, 142 MB
    against 110 MB. So a big model is loaded once from
    the verified ONNX, which writes its ORT form to a private temporary file, then from
    that file; the file is gone once read. Numeric single-input models only: those are
    the forests, and the ones a probe of random rows can check (see :func:`_compacted`).
    """
    plan = info.plan
    if plan is None or plan.layout != "matrix":
        return None
    size = len(onnx) if isinstance(onnx, bytes) else _size(onnx)
    if size < _COMPACT_BYTES:
        return None
    handle, path = tempfile.mkstemp(prefix="deploykit-", suffix=".ort")  # 0600
    os.close(handle)
    return path


def _compacted(ort: Any, first: Any, path: str, info: RuntimeInfo) -> Any:
    """The session read back from ``path`` if it answers exactly as ``first`` does on a
    probe of random rows (labels and probabilities bit for bit); else ``first``."""
    try:
        second = ort.InferenceSession(path, _options(ort), providers=["CPUExecutionProvider"])
        assert info.plan is not None
        (feed,) = first.get_inputs()
        width = len(info.plan.columns)
        rng = np.random.default_rng(0)
        probe = {feed.name: (rng.standard_normal((64, width)) * 3).astype(_DTYPES[info.plan.dtype])}
        names = [o.name for o in first.get_outputs()]
        same = all(
            np.array_equal(a, b)
            for a, b in zip(first.run(names, probe), second.run(names, probe), strict=True)
        )
    except Exception:  # anything unexpected: keep the session verified at push
        return first
    finally:
        _remove(path)
    return second if same else first


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _remove(path: str | None) -> None:
    if path is not None:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _first_best(probabilities: np.ndarray, classes: Any, tie: float) -> np.ndarray:
    """scikit-learn's ``classes_[argmax(proba)]``, with classes within ``tie`` of the best
    taken as tied (the first wins, as argmax's does on exact ties)."""
    best = probabilities.max(axis=1, keepdims=True)
    index = (probabilities >= best - tie).argmax(axis=1)
    return classes[index] if classes is not None else index


def _rebuild(onnx: bytes, info: dict[str, Any], label: str) -> CompiledModel:
    return CompiledModel(onnx, RuntimeInfo.from_dict(info), label=label, picklable=True)


class CompiledEstimator:
    """A compiled model with scikit-learn's face (``predict``, ``predict_proba``,
    ``classes_``), for code written against estimators: ``deploykit score``, say.

    ``fallback`` loads the original estimator; it answers inputs holding nulls when the
    verification at push sent those to scikit-learn (``RuntimeInfo.nulls``).
    """

    def __init__(self, compiled: CompiledModel, fallback: Any = None) -> None:
        self.compiled = compiled
        self._fallback = fallback
        self._original: Any = None
        if compiled.info.classes is not None:
            self.classes_ = np.asarray(compiled.info.classes)
        if compiled.has_proba:
            self.predict_proba = self._predict_proba

    def __dask_tokenize__(self) -> tuple[str, str | None]:
        return ("deploykit-compiled", self.compiled.info.digest)

    def _original_for(self, data: Any) -> Any:
        if self.compiled.info.nulls != "sklearn" or self._fallback is None:
            return None
        isna = getattr(data, "isna", None)
        nulls = (
            bool(isna().to_numpy().any())
            if callable(isna)
            else bool(np.isnan(np.asarray(data, dtype=float)).any())
        )
        if not nulls:
            return None
        if self._original is None:
            self._original = self._fallback()
        return self._original

    def predict(self, data: Any) -> np.ndarray:
        original = self._original_for(data)
        if original is not None:
            return np.asarray(original.predict(data))
        return self.compiled.run(self.compiled.feed(data), False)[0]

    def _predict_proba(self, data: Any) -> np.ndarray:
        original = self._original_for(data)
        if original is not None:
            return np.asarray(original.predict_proba(data))
        return np.asarray(self.compiled.run(self.compiled.feed(data), True)[1], dtype=np.float64)


def _column(values: np.ndarray, kind: str, dtype: Any) -> np.ndarray:
    if kind == "float":
        return np.asarray(values, dtype=dtype)
    if kind == "int":
        return np.asarray(values, dtype=np.int64)
    # text: ONNX string tensors hold str only; a null is "" (verified at push, see _compile)
    return np.asarray([_text(v) for v in values], dtype=object)


def _text(value: Any) -> str:
    if value is None or value != value or type(value).__name__ == "NAType":
        return ""
    return str(value)
