"""Loaded model versions and the alias follower that hot-swaps them.

Each worker keeps a :class:`LoadedModel` per version it serves: the estimator
(loaded from bytes whose digest matched the registry), its signature, how to
call it (on an ndarray or a DataFrame), and its micro-batcher.

:class:`ModelHost` follows the registry: every ``poll_interval`` it reads where
the alias points for every model (``registry.alias_versions()``, one small query),
and on PostgreSQL it is also woken at once by the NOTIFY each alias move sends
(:mod:`deploykit.registry.watch`). It compares *state*, not event ids, so no
commit order can hide a move. For each model whose served version changed, it
loads, digest-checks and warms the new version *before* swapping the reference.
A request holds the :class:`LoadedModel` it started with, so nothing in flight
fails during a swap. If the new version cannot load, the old one keeps serving
and :attr:`ModelHost.failures` says why.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deploykit.errors import (
    AliasNotFoundError,
    ArtifactError,
    DeployKitError,
    FormatNotAllowedError,
    InvalidInputError,
    ModelNotFoundError,
    NotFoundError,
    error_class,
)
from deploykit.records import ModelVersion, utcnow
from deploykit.server.batching import MicroBatcher
from deploykit.server.config import ServerConfig
from deploykit.server.experiments import Split
from deploykit.server.memory import settle_heap
from deploykit.server.payloads import InputSpec, Parsed, to_model_input

__all__ = ["LoadedModel", "ModelHost", "load_version"]

log = logging.getLogger("deploykit.server")

# sklearn warns when an estimator fitted on a DataFrame predicts on an ndarray; the
# server does that on purpose (5x cheaper) after checking both agree at load time.
_FEATURE_NAMES_WARNING = "X does not have valid feature names"
_CACHE_EXTRA = 4  # versions kept loaded beyond those the aliases point at
_ALIASED_TTL = 1.0  # seconds a model's aliased versions are remembered (versioned predict)
# How long a production that failed to load is answered from the failure before loading it
# again (None: never, the setting will not change in this process). Other failures (a
# database or S3 hiccup) are retried on the next request.
_RETRY_AFTER: dict[str, float | None] = {
    "FormatNotAllowedError": None,
    "ArtifactIntegrityError": 30.0,  # a rehash of a big model per request is a DoS
}


def quiet_feature_name_warning() -> None:
    warnings.filterwarnings("ignore", message=_FEATURE_NAMES_WARNING, category=UserWarning)


@dataclass
class LoadedModel:
    """One version, ready to predict."""

    record: ModelVersion
    estimator: Any
    spec: InputSpec | None
    want_array: bool
    classes: list[Any] | None
    has_proba: bool
    batcher: MicroBatcher = field(repr=False)
    warm_ms: float = 0.0
    loaded_at: float = field(default_factory=time.time)
    #: "onnx" (a deploykit.compile.CompiledModel in ``compiled``) or "sklearn"
    runtime: str = "sklearn"
    #: why a version serves with scikit-learn (None when compiled)
    runtime_reason: str | None = None
    compiled: Any = field(default=None, repr=False)
    #: loads the original estimator, for what the compiled one may not answer (rows with
    #: nulls a tree converter does not route as scikit-learn does): on first such request
    fallback: Callable[[], Any] | None = field(default=None, repr=False)
    _fallback_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    #: what the wire protocols work out once per version rather than per request (the v2
    #: decoding plan: deploykit.server.protocols.tensors.plan), keyed by protocol
    wire: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.record.model

    @property
    def version(self) -> int:
        return self.record.version

    def to_input(self, parsed: Parsed) -> tuple[Any, int]:
        return to_model_input(parsed, self.spec, want_array=self.want_array)

    async def predict_timed(
        self, data: Any, rows: int, proba: bool, logging: bool
    ) -> tuple[Any, Any, float]:
        """(predictions, probabilities, seconds in the model) through the batcher. With the
        prediction log on, a classifier's scores come too even when not asked for:
        estimated performance (deploykit.monitoring.estimate) reads them before any label
        arrives."""
        started = time.perf_counter()
        score = proba or (self.has_proba and logging)
        predictions, probabilities = await self.batcher.predict(data, rows, score)
        return predictions, probabilities, time.perf_counter() - started

    def predict_sync(self, data: Any, proba: bool) -> tuple[np.ndarray, np.ndarray | None]:
        compiled = self.compiled
        if compiled is not None:
            if compiled.info.nulls == "sklearn" and _has_nulls(data):
                return self._predict_original(data, proba, "nulls", compiled.info.null_reason)
            if type(data) is np.ndarray and data.dtype == np.float64:
                feed = compiled.feed_matrix(data)
            else:
                feed = compiled.feed(data)
            if _has_infinity(feed):  # scikit-learn refuses them, or routes them its own way
                return self._predict_original(data, proba, "infinite values", _NOT_VERIFIED)
            return compiled.run(feed, proba)
        return self._predict_estimator(self.estimator, data, proba)

    def _predict_original(
        self, data: Any, proba: bool, what: str = "nulls", why: str | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Rows the compiled model was not verified on (``what`` they hold, ``why`` not)
        go to the original estimator."""
        with self._fallback_lock:
            if self.estimator is None:
                assert self.fallback is not None
                try:
                    self.estimator = self.fallback()
                except FormatNotAllowedError as exc:
                    raise FormatNotAllowedError(
                        f"This input holds {what}, which {self.record.ref} answers with its "
                        f"original model: its compiled (ONNX) form was not verified on them "
                        f"({why}). {exc}"
                    ) from None
        return self._predict_estimator(self.estimator, data, proba)

    def _predict_estimator(
        self, estimator: Any, data: Any, proba: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        try:
            predictions = np.asarray(estimator.predict(data))
            probabilities = np.asarray(estimator.predict_proba(data)) if proba else None
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            # The input passed the signature, yet the model refused it (NaN into a model
            # without an imputer, an unseen category...): the caller's data, not a fault.
            raise InvalidInputError(
                f"Model {self.record.ref} could not predict on this input: "
                f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
            ) from None
        return predictions, probabilities

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "version": self.version,
            "digest": self.record.digest,
            "mode": "inline" if self.batcher.inline else "batched",
            "input": "ndarray" if self.want_array else "DataFrame",
            "warm_ms": round(self.warm_ms, 4),
            "runtime": self.runtime,
            "runtime_reason": self.runtime_reason,
        }


_NOT_VERIFIED = "verification at push runs on finite values only"


def _has_infinity(feed: dict[str, np.ndarray]) -> bool:
    """Whether a compiled model's float inputs hold +-inf (a C pass per input array)."""
    floats = [v for v in feed.values() if v.dtype.kind == "f"]
    if not floats:
        return False
    # one pass over one array: a feed per column (30 arrays of a row) costs 40 us one by one
    values = floats[0] if len(floats) == 1 else np.concatenate(floats, axis=None)
    return bool(np.isinf(values).any())


def _has_nulls(data: Any) -> bool:
    if isinstance(data, np.ndarray):
        if data.dtype.kind == "f":
            return bool(np.isnan(data).any())
        return data.dtype.kind == "O" and any(v is None or v != v for v in data.ravel())
    isna = getattr(data, "isna", None)  # a DataFrame
    return bool(isna().to_numpy().any()) if callable(isna) else False


def _warm_row(spec: InputSpec | None, estimator: Any) -> Any:
    """One plausible input row: zeros for numbers, the first category for categories."""
    if spec is None:
        n = getattr(estimator, "n_features_in_", None)
        return None if n is None else np.zeros((1, int(n)))
    return spec.example_row()


def check_format(record: ModelVersion, config: ServerConfig) -> None:
    """Refuse, before a byte is read, a version stored in a format this server does not load."""
    if record.format in config.formats:
        return
    from deploykit.serialization import CODE_FORMATS

    allowed = ",".join(config.formats)
    onnx_hint = " (or with X, so that it compiles to ONNX)" if "onnx" in config.formats else ""
    why = (
        "Loading a pickle runs the code it holds. Push the model again with "
        f"format='skops'{onnx_hint}, or add it to DEPLOYKIT_SERVE_FORMATS if you trust "
        "everyone who can push"
        if record.format in CODE_FORMATS
        else f"Add {record.format!r} to DEPLOYKIT_SERVE_FORMATS to serve it"
    )
    raise FormatNotAllowedError(
        f"{record.ref} is stored as {record.format!r}, a format this server does not load "
        f"(DEPLOYKIT_SERVE_FORMATS={allowed}). {why}."
    )


def public_message(text: str, roots: Iterable[Path]) -> str:
    """``text`` with this server's folders (home, artifact store, cache) replaced by names.

    Load errors reach HTTP callers (predict answers, /healthz); where files live is not
    theirs to know. deploykit's own messages carry no paths; this catches other libraries'.
    """
    for root, label in sorted(
        ((str(r), f"<{r.name or 'root'}>") for r in roots), key=lambda p: -len(p[0])
    ):
        if len(root) > 1:
            text = text.replace(root, label)
    return text


def load_version(registry: Any, record: ModelVersion, config: ServerConfig) -> LoadedModel:
    """Load (digest-checked by the registry), inspect and warm one version.

    A version compiled at push runs on its verified ONNX artifact when this server loads
    ``onnx`` (DEPLOYKIT_SERVE_FORMATS): the original is not read, let alone unpickled.
    """
    runtime = record.runtime or {}
    reason = runtime.get("reason") if runtime else "pushed before compiled inference"
    if runtime.get("runtime") == "onnx" and runtime.get("digest"):
        if "onnx" in config.formats:
            try:
                return _load_compiled(registry, record, config)
            except (ArtifactError, ImportError) as exc:
                if record.format not in config.formats:
                    raise
                reason = f"the compiled artifact does not load here ({exc})"
                log.warning("%s serves with scikit-learn: %s", record.ref, reason)
        else:
            reason = "this server does not load onnx (DEPLOYKIT_SERVE_FORMATS)"
    loaded = _load_original(registry, record, config)
    loaded.runtime_reason = reason
    return loaded


def _load_compiled(registry: Any, record: ModelVersion, config: ServerConfig) -> LoadedModel:
    """The version on ONNX Runtime: session built and warmed here, before any swap."""
    from deploykit.compile._record import RuntimeInfo
    from deploykit.compile._runtime import CompiledModel

    info = RuntimeInfo.from_dict(record.runtime or {})
    assert info.digest is not None
    assert info.plan is not None
    try:
        path = registry.artifacts.local_path(info.digest)  # verified against its digest
    except DeployKitError as exc:
        raise type(exc)(public_message(str(exc), _roots(registry))) from None
    compiled = CompiledModel(str(path), info, label=record.ref)
    plan = info.plan
    spec = InputSpec.light(record.signature, plan.families) if record.signature else None
    loaded = LoadedModel(
        record=record,
        estimator=None,
        spec=spec,
        want_array=plan.layout == "matrix",
        classes=info.classes,
        has_proba=compiled.has_proba,
        batcher=MicroBatcher(lambda d, p: (np.empty(0), None), inline=True),  # set below
        runtime="onnx",
        compiled=compiled,
        fallback=lambda: _load_original(registry, record, config).estimator,
    )
    if plan.layout == "matrix":
        row: Any = np.zeros((1, len(plan.columns)))
    else:
        row = spec.example_row() if spec is not None else None
    return _warmed(loaded, row, config)


def _warmed(loaded: LoadedModel, x: Any, config: ServerConfig) -> LoadedModel:
    """``loaded`` timed on ``x`` and given the batcher its speed calls for: a model that
    answers faster than ``inline_predict_max_ms`` runs inline (a thread hop costs more)."""
    warm_ms = 0.0
    if x is not None:
        try:
            timings = []
            for _ in range(3):
                start = time.perf_counter()
                loaded.predict_sync(x, False)
                timings.append((time.perf_counter() - start) * 1000)
            warm_ms = sorted(timings)[1]
        except InvalidInputError as exc:
            log.warning("warm-up of %s on a synthetic row failed: %s", loaded.record.ref, exc)
    loaded.warm_ms = warm_ms
    record = loaded.record
    compiled = loaded.compiled is not None
    loaded.batcher = MicroBatcher(
        loaded.predict_sync,
        inline=warm_ms < config.inline_predict_max_ms,
        max_rows=config.batch_max_size,
        max_wait=config.batch_max_wait_ms / 1000.0,
        name=f"{record.model}-{record.version}",
        inline_max_ms=config.inline_predict_max_ms,
        # onnxruntime releases the GIL: its long calls overlap the event loop and each
        # other; a scikit-learn call mostly holds it, so only very long ones leave the loop
        offload_ms=config.offload_predict_ms if compiled else config.inline_predict_max_ms,
        threads=config.threads_per_version if compiled else 1,
    )
    return loaded


def _load_original(registry: Any, record: ModelVersion, config: ServerConfig) -> LoadedModel:
    """The version on scikit-learn, from its original artifact (a pickle runs code)."""
    check_format(record, config)
    try:
        estimator = registry.load(record.model, record.version)
    except DeployKitError as exc:
        message = public_message(str(exc), _roots(registry))
        if message == str(exc):
            raise
        raise type(exc)(message) from None
    except Exception as exc:  # unpickling runs arbitrary code: anything can come out
        raise ArtifactError(
            public_message(
                f"Version {record.ref} cannot be loaded here: {type(exc).__name__}: {exc}. "
                "Check that this server has the libraries the model was pushed with "
                f"({', '.join(f'{k} {v}' for k, v in record.environment.items()) or 'unknown'}).",
                _roots(registry),
            )
        ) from None
    spec = InputSpec.from_signature(record.signature) if record.signature else None
    row = _warm_row(spec, estimator)
    want_array = _prefers_array(estimator, spec, row)
    classes = getattr(estimator, "classes_", None)
    loaded = LoadedModel(
        record=record,
        estimator=estimator,
        spec=spec,
        want_array=want_array,
        classes=None if classes is None else np.asarray(classes).tolist(),
        has_proba=hasattr(estimator, "predict_proba"),
        batcher=MicroBatcher(lambda d, p: (np.empty(0), None), inline=True),  # set below
    )
    return _warmed(loaded, None if row is None else _input_like(row, spec, want_array), config)


def _roots(registry: Any) -> list[Path]:
    settings = getattr(registry, "settings", None)
    if settings is None:
        return []
    roots = [Path(settings.home).expanduser().absolute()]
    if "://" not in settings.artifacts_url:
        roots.append(Path(settings.artifacts_url).expanduser().absolute())
    cache = getattr(getattr(registry, "_store", None), "cache_dir", None)
    if cache is not None:
        roots.append(Path(cache))
    return roots


def _input_like(row: Any, spec: InputSpec | None, want_array: bool) -> Any:
    import pandas as pd  # the scikit-learn path: pandas is loaded already

    if isinstance(row, pd.DataFrame):
        return row.to_numpy() if want_array else row
    if want_array or spec is None:
        return row
    return pd.DataFrame(row, columns=list(spec.columns))


def _prefers_array(estimator: Any, spec: InputSpec | None, row: Any) -> bool:
    """Predict on an ndarray unless the model needs column names (or dtypes) to work."""
    if spec is None:
        return True
    if spec.kind == "array":
        return True
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        # Fitted on an array although pushed with a DataFrame: arrays are what it knows.
        return spec.all_float
    if not spec.all_float or list(names) != list(spec.columns) or row is None:
        return False
    import pandas as pd

    frame = row if isinstance(row, pd.DataFrame) else pd.DataFrame(row, columns=list(names))
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_FEATURE_NAMES_WARNING)
            same = np.array_equal(
                np.asarray(estimator.predict(frame.to_numpy())),
                np.asarray(estimator.predict(frame)),
            )
    except Exception:
        return False
    return bool(same)


class ModelHost:
    """The versions this worker serves, kept in step with the registry's aliases."""

    def __init__(self, registry: Any, config: ServerConfig) -> None:
        self.registry = registry
        self.config = config
        self.alias = config.alias
        self.routes: dict[str, LoadedModel] = {}  # model name -> version its alias points at
        self.failures: dict[str, dict[str, Any]] = {}
        self._cache: OrderedDict[tuple[str, int], LoadedModel] = OrderedDict()
        self._load_lock = threading.Lock()
        # Held across "read where the aliases point" and "swap": a swap asked for by a
        # deploy route cannot be undone by a refresh that read the aliases just before.
        self._refresh_lock = threading.RLock()
        self._seen: dict[str, int] | None = None  # alias targets at the last poll
        self._stopping = threading.Event()
        self._follower: threading.Thread | None = None
        self._aliased: dict[str, tuple[float, frozenset[int]]] = {}
        self._failed_at: dict[str, float] = {}  # name -> monotonic time of its last failure
        self.swaps = 0
        # model name -> the running shadow/canary, once its candidate is loaded here
        self.splits: dict[str, Split] = {}
        # model name -> (experiment id, why its candidate cannot run here)
        self.experiment_failures: dict[str, tuple[int, str]] = {}

    # -------------------------------------------------------------- lookups
    def served(self, name: str) -> LoadedModel:
        """The version serving ``name``'s alias; 404 saying how to deploy one otherwise."""
        loaded = self.routes.get(name)
        if loaded is not None:
            return loaded
        return self._explain_missing(name)

    def _explain_missing(self, name: str) -> LoadedModel:
        known = {m.name: m for m in self.registry.models()}
        if name not in known:
            from deploykit.registry.names import did_you_mean

            raise ModelNotFoundError(
                f"No model named {name!r}{did_you_mean(name, known)}. Push one with "
                f"`deploykit push model.joblib --name {name}` or Registry.push(...)."
            )
        info = known[name]
        version = info.aliases.get(self.alias)
        if version is None:
            latest = info.latest_version
            hint = (
                f"`deploykit deploy {name} {latest}`, or POST /v1/models/{name}/deploy "
                f'with {{"version": {latest}}}'
                if latest
                else f"push a version first (`deploykit push model.joblib --name {name}`)"
            )
            raise AliasNotFoundError(
                f"Model {name!r} has no {self.alias!r} version yet, so it cannot answer "
                f"predictions. Deploy one: {hint}."
            )
        failure = self.failures.get(name)
        if failure and failure.get("version") == version:
            retry_after = _RETRY_AFTER.get(failure.get("type", ""), 0.0)
            if retry_after is None or time.monotonic() - self._failed_at[name] < retry_after:
                # Known not to load (a refused format, damaged bytes): say so without
                # loading, let alone rehashing, the artifact on every request.
                raise error_class(failure["type"])(
                    f"{name}:{version} cannot be served here: {failure['error']}"
                )
        # The alias was just moved here and the follower has not caught up: load now.
        try:
            return self.prepare(name, version, route=True)
        except DeployKitError as exc:
            self._failed(name, version, exc)
            raise type(exc)(f"{name}:{version} cannot be served here: {exc}") from None
        except Exception as exc:  # pragma: no cover - prepare wraps load errors already
            self._failed(name, version, exc)
            raise ArtifactError(f"{name}:{version} cannot be served here: {exc}") from None

    def version(self, name: str, version: int) -> LoadedModel:
        """A specific version (loaded on first use, kept in a small cache)."""
        for loaded in self.routes.values():
            if loaded.name == name and loaded.version == version:
                return loaded
        cached = self._cache.get((name, version))
        if cached is not None:
            self._cache.move_to_end((name, version))
            return cached
        return self.prepare(name, version)

    def is_aliased(self, name: str, version: int) -> bool:
        """Whether any alias of ``name`` points at ``version`` (remembered for a second).

        Versioned predict of a version no alias points at loads code nobody deployed, so
        it asks for more than the open predict does (see :mod:`deploykit.server.predict`).
        """
        if any(m.name == name and m.version == version for m in self.routes.values()):
            return True
        now = time.monotonic()
        cached = self._aliased.get(name)
        if cached is None or cached[0] < now:
            try:
                versions = frozenset(a.version for a in self.registry.aliases(name))
            except (NotFoundError, InvalidInputError):
                versions = frozenset()
            if len(self._aliased) > 10_000:  # bounded: made-up names must not grow memory
                self._aliased.clear()
            cached = self._aliased[name] = (now + _ALIASED_TTL, versions)
        return version in cached[1]

    # -------------------------------------------------------------- loading
    def prepare(self, name: str, version: int, *, route: bool = False) -> LoadedModel:
        """Load and warm ``name:version`` (or reuse it); serve it for the alias if ``route``."""
        if route:
            with self._refresh_lock:
                return self._prepare(name, version, route=True)
        return self._prepare(name, version, route=False)

    def _prepare(self, name: str, version: int, *, route: bool) -> LoadedModel:
        with self._load_lock:
            loaded = self._cache.get((name, version))
            if loaded is None:
                record = self.registry.version(name, version)
                loaded = load_version(self.registry, record, self.config)
                self._cache[(name, version)] = loaded
                evicted = self._trim()
                # keep the new objects out of the request path: see deploykit.server.memory
                settle_heap(reclaim_frozen=evicted)
            if route:
                self._swap(name, loaded)
            return loaded

    def _swap(self, name: str, loaded: LoadedModel) -> None:
        previous = self.routes.get(name)
        if previous is loaded:
            return
        self.routes[name] = loaded  # atomic: requests see either the old or the new one
        self.failures.pop(name, None)
        self.swaps += 1
        log.info(
            "%s now serves version %d (was %s) at %.3f",
            name,
            loaded.version,
            previous.version if previous else "none",
            time.monotonic(),
        )

    def _trim(self) -> bool:
        """Drop the oldest versions no alias serves beyond the few kept; True if any."""
        keep = {(m.name, m.version) for m in self.routes.values()}
        keep |= {(s.candidate.name, s.candidate.version) for s in self.splits.values()}
        extra = [k for k in self._cache if k not in keep]
        dropped = extra[: max(0, len(extra) - _CACHE_EXTRA)]
        for key in dropped:
            self._cache.pop(key, None)
        return bool(dropped)

    def refresh(self) -> None:
        """Serve, for every model, the version its alias points at now."""
        with self._refresh_lock:
            self._apply(self.registry.alias_versions(self.alias))

    def _apply(self, targets: dict[str, int]) -> None:
        with self._refresh_lock:
            for name in list(self.routes):
                if name not in targets:
                    log.info("%s has no %r alias any more; no longer served", name, self.alias)
                    self.routes.pop(name, None)
            for name, version in targets.items():
                current = self.routes.get(name)
                if current is not None and current.version == version:
                    continue
                failed = self.failures.get(name)
                if failed and failed.get("version") == version and not failed.get("retry"):
                    continue
                try:
                    self.prepare(name, version, route=True)
                except Exception as exc:
                    self._failed(name, version, exc)

    def _failed(self, name: str, version: int, exc: BaseException) -> None:
        """Record (for /healthz and later requests) why ``name:version`` cannot load here."""
        current = self.routes.get(name)
        message = str(exc) if isinstance(exc, DeployKitError) else repr(exc)
        self.failures[name] = {
            "version": version,
            "type": type(exc).__name__ if isinstance(exc, DeployKitError) else "ArtifactError",
            "error": message,
            "at": utcnow().isoformat(),
            "serving": current.version if current else None,
        }
        self._failed_at[name] = time.monotonic()
        log.error(
            "cannot serve %s:%d, %s keeps serving: %s",
            name,
            version,
            f"version {current.version}" if current else "nothing",
            message,
        )

    def follow_experiments(self) -> None:
        """Apply the running experiments: load each candidate here, then split for it.

        A candidate that cannot load here gets no split: production keeps every request.
        """
        running = self.registry.running_experiments()
        splits: dict[str, Split] = {}
        for name, experiment in running.items():
            if experiment.alias != self.alias:
                continue
            current = self.splits.get(name)
            if current is not None and current.experiment == experiment:
                splits[name] = current
                continue
            try:
                candidate = self.prepare(name, experiment.candidate)
            except Exception as exc:
                message = str(exc) if isinstance(exc, DeployKitError) else repr(exc)
                if self.experiment_failures.get(name, (None,))[0] != experiment.id:
                    log.error(
                        "%s:%d cannot run as a %s here, production answers all: %s",
                        name,
                        experiment.candidate,
                        experiment.kind,
                        message,
                    )
                self.experiment_failures[name] = (experiment.id, message)
                continue
            splits[name] = Split(experiment, candidate)
        self.splits = splits  # atomic: a request sees the old or the new table
        for name in [n for n in self.experiment_failures if n in splits or n not in running]:
            self.experiment_failures.pop(name, None)

    def following(self) -> dict[str, dict[str, Any]]:
        """The experiments this worker applies (for /healthz), and those it cannot."""
        out: dict[str, dict[str, Any]] = {
            name: {
                "id": s.experiment.id,
                "kind": s.kind,
                "candidate": s.experiment.candidate,
                "percent": s.experiment.percent,
            }
            for name, s in sorted(self.splits.items())
        }
        for name, (experiment_id, error) in sorted(self.experiment_failures.items()):
            out[name] = {"id": experiment_id, "error": error}
        return out

    def poll(self) -> bool:
        """Follow the aliases if they point elsewhere than at the last poll; True if so."""
        with self._refresh_lock:
            self.follow_experiments()
            targets = self.registry.alias_versions(self.alias)
            if targets == self._seen:
                return False
            self._seen = targets
            self._apply(targets)
            return True

    def start_following(self) -> None:
        """Poll the registry on a thread of its own until :meth:`close`.

        Its own thread, not a task on the event loop: a loop saturated with requests, or
        an executor busy with predict calls, must not delay a swap (the 1 s promise).
        """
        if self._follower is None:
            self._follower = threading.Thread(
                target=self._follow, name="deploykit-alias-follower", daemon=True
            )
            self._follower.start()

    def _follow(self) -> None:
        watch = getattr(self.registry, "watch_aliases", None)
        watcher = watch() if watch is not None else None
        try:
            while not self._stopping.is_set():
                if watcher is None:
                    self._stopping.wait(self.config.poll_interval)
                else:
                    watcher.wait(self.config.poll_interval)  # early on a NOTIFY
                if self._stopping.is_set():
                    break
                try:
                    self.poll()
                except Exception:
                    log.exception("following the registry failed; retrying")
        finally:
            if watcher is not None:
                watcher.close()

    def served_versions(self) -> list[tuple[str, str, int]]:
        return [(name, self.alias, m.version) for name, m in sorted(self.routes.items())]

    def close(self) -> None:
        self._stopping.set()
        if self._follower is not None:
            self._follower.join(timeout=5)
        for loaded in {id(m): m for m in [*self.routes.values(), *self._cache.values()]}.values():
            loaded.batcher.close()
