"""Comparing two versions' predictions: on shadow/canary traffic, or on a DataFrame.

:func:`compare_predictions` is the vectorized core (1M pairs in well under 2 s): the
agreement rate, the cross-table of the two predictions (``np.bincount`` over factorized
codes), the feature bins of the reference profile where they disagree most, and a few
example rows. :func:`compare_versions` feeds it: from the prediction log (a shadow logs
both versions under one request id, paired here by request id and row position) or
from ``data`` scored by both versions; and adds latency and error deltas (telemetry)
and accuracy deltas (feedback labels). A canary's requests are answered by one version
each, so there are no pairs: the prediction mix, latency, errors and accuracy compare.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from deploykit.errors import ConflictError, InvalidInputError

if TYPE_CHECKING:
    from deploykit.monitoring.profile import ReferenceProfile
    from deploykit.registry import Registry

__all__ = [
    "Comparison",
    "compare_predictions",
    "compare_versions",
    "id_keys",
    "pair_rows",
    "resolve_version",
]

_TOP_LABELS = 20  # cross-table labels kept by name; the rest pool under "other"
_TOP_BINS = 10
_MIN_BIN_ROWS = 20  # a bin with fewer pairs says little about where they disagree


@dataclass(frozen=True)
class Comparison:
    """Versions ``a`` and ``b`` of ``model`` side by side (see the module docstring)."""

    model: str
    a: int
    b: int
    source: str  # "shadow log", "canary log" or "data"
    pairs: int
    agreement: float | None = None
    mean_abs_difference: float | None = None
    crosstab: dict[str, dict[str, int]] = field(default_factory=dict)
    prediction_mix: dict[str, dict[str, float]] = field(default_factory=dict)
    disagreement: list[dict[str, Any]] = field(default_factory=list)
    serving: dict[str, dict[str, Any]] = field(default_factory=dict)
    accuracy: dict[str, Any] | None = None
    examples: list[dict[str, Any]] = field(default_factory=list)
    since: str | None = None
    until: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return _finite(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Comparison:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def summary(self) -> str:
        """One paragraph a person reads: how much they agree and what differs."""
        parts = [f"{self.model}:{self.a} vs {self.model}:{self.b} on {self.source}"]
        if self.agreement is not None:
            parts.append(f"{self.pairs:,} pairs, agreement {self.agreement:.1%}")
        else:
            parts.append("no paired rows (each request went to one version)")
        if self.mean_abs_difference is not None:
            parts.append(f"mean |a-b| {self.mean_abs_difference:.4g}")
        if self.disagreement:
            top = self.disagreement[0]
            parts.append(
                f"most disagreement where {top['feature']} in {top['bin']} "
                f"({top['disagreement']:.1%} of {top['rows']:,})"
            )
        a, b = self.serving.get("a", {}), self.serving.get("b", {})
        if a.get("p95_ms") is not None and b.get("p95_ms") is not None:
            parts.append(f"p95 {a['p95_ms']:.2f} -> {b['p95_ms']:.2f} ms")
        if a.get("error_rate") is not None and b.get("error_rate") is not None:
            parts.append(f"errors {a['error_rate']:.2%} -> {b['error_rate']:.2%}")
        if self.accuracy and self.accuracy.get("delta") is not None:
            parts.append(
                f"accuracy {self.accuracy['a']:.3f} -> {self.accuracy['b']:.3f} "
                f"({self.accuracy['delta']:+.3f})"
            )
        return "; ".join(parts) + "."

    def __str__(self) -> str:
        return self.summary()


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        return _finite(value.item())
    return value


def _is_regression(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype.kind != "f" and b.dtype.kind != "f":
        return False
    sample = np.concatenate([a[:1000], b[:1000]]).astype(float)
    sample = sample[np.isfinite(sample)]
    return bool(len(sample)) and not np.all(sample == np.round(sample))


def _labels(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return codes, [str(u) for u in uniques]


def compare_predictions(
    a: Any,
    b: Any,
    *,
    inputs: pd.DataFrame | None = None,
    profile: ReferenceProfile | None = None,
    request_ids: Any = None,
    rows: np.ndarray | None = None,
    examples: int = 5,
) -> dict[str, Any]:
    """Agreement, cross-table, disagreement by feature bin and example rows of two
    aligned prediction arrays. ``inputs`` and ``request_ids`` are row-aligned with them,
    or, given ``rows``, ``inputs.iloc[rows]`` is (taken column by column, only as needed:
    no copy of the whole frame)."""
    pa_, pb_ = np.asarray(a), np.asarray(b)
    if pa_.shape[0] != pb_.shape[0]:
        raise InvalidInputError(
            f"The two prediction arrays must have one value per row each. Got {len(pa_)} "
            f"and {len(pb_)} instead."
        )
    n = len(pa_)
    out: dict[str, Any] = {"pairs": n}
    if n == 0:
        return out
    regression = _is_regression(pa_, pb_)
    if regression:
        fa, fb = pa_.astype(float), pb_.astype(float)
        diff = np.abs(fa - fb)
        scale = max(float(np.nanstd(fa)), 1e-12)
        differ = diff > 1e-6 * scale
        out["mean_abs_difference"] = float(np.nanmean(diff))
    else:
        codes_a, labels_a = _labels(pa_)
        codes_b, labels_b = _labels(pb_)
        # one label space, so equal labels get equal codes
        space = list(dict.fromkeys(labels_a + labels_b))
        index = {lab: i for i, lab in enumerate(space)}
        map_a = np.array([index[x] for x in labels_a], dtype=np.int64)
        map_b = np.array([index[x] for x in labels_b], dtype=np.int64)
        ca, cb = map_a[codes_a], map_b[codes_b]
        differ = ca != cb
        k = len(space)
        counts = np.bincount(ca * k + cb, minlength=k * k).reshape(k, k)
        out["crosstab"] = _crosstab(counts, space)
        out["prediction_mix"] = {
            "a": _mix(np.bincount(ca, minlength=k), space),
            "b": _mix(np.bincount(cb, minlength=k), space),
        }
    out["agreement"] = float(1.0 - differ.mean())
    if inputs is not None and profile is not None:
        out["disagreement"] = _by_bins(differ, inputs, profile, rows)
    if examples:
        found = []
        for i in np.flatnonzero(differ)[:examples]:
            at = int(i) if rows is None else int(rows[i])
            row: dict[str, Any] = {"a": _plain(pa_[i]), "b": _plain(pb_[i])}
            if request_ids is not None:
                ids = request_ids
                row["request_id"] = str(
                    ids.iloc[at] if isinstance(ids, pd.Series) else np.asarray(ids)[at]
                )
            if inputs is not None:
                row["input"] = {str(c): _plain(v) for c, v in inputs.iloc[at].items()}
            found.append(row)
        out["examples"] = found
    return out


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _mix(counts: np.ndarray, space: list[str]) -> dict[str, float]:
    total = max(int(counts.sum()), 1)
    order = np.argsort(-counts)[:_TOP_LABELS]
    return {space[i]: float(counts[i] / total) for i in order if counts[i]}


def _crosstab(counts: np.ndarray, space: list[str]) -> dict[str, dict[str, int]]:
    order = np.argsort(-counts.sum(axis=1) - counts.sum(axis=0))
    keep, rest = order[:_TOP_LABELS], order[_TOP_LABELS:]
    table: dict[str, dict[str, int]] = {}
    for i in keep:
        row = {space[j]: int(counts[i, j]) for j in keep if counts[i, j]}
        if len(rest):
            other = int(counts[i, rest].sum())
            if other:
                row["other"] = other
        table[space[i]] = row
    if len(rest):
        table["other"] = {"other": int(counts[np.ix_(rest, rest)].sum())}
    return table


def _by_bins(
    differ: np.ndarray,
    inputs: pd.DataFrame,
    profile: ReferenceProfile,
    rows: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """The reference profile's bins of each feature, ranked by disagreement rate."""
    found: list[dict[str, Any]] = []
    weights = differ.astype(np.float64)
    for feature in profile.features:
        if feature.name not in inputs.columns:
            continue
        column = inputs[feature.name]
        if rows is not None:
            column = pd.Series(column.to_numpy()[rows])
        if feature.kind == "numeric" and len(feature.bin_edges) >= 2:
            values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
            edges = np.asarray(feature.bin_edges[1:-1], dtype=float)
            if len(edges) <= 32:  # a few edges: counting comparisons beats a binary search
                codes = np.zeros(len(values), dtype=np.int64)
                for edge in edges:
                    codes += values >= edge
            else:
                codes = np.searchsorted(edges, values, side="right")
            codes = np.where(np.isnan(values), len(edges) + 1, codes)
            names = [*_edge_names(feature.bin_edges), "missing"]
        else:
            known = list((feature.frequencies or {}).keys())
            text = column.astype(str).to_numpy()
            mapping = {v: i for i, v in enumerate(known)}
            codes = pd.Series(text).map(mapping).fillna(len(known)).to_numpy(dtype=np.int64)
            names = [f"= {v}" for v in known] + ["other"]
        size = len(names)
        totals = np.bincount(codes, minlength=size)[:size]
        misses = np.bincount(codes, weights=weights, minlength=size)[:size]
        for i in np.flatnonzero(totals >= _MIN_BIN_ROWS):
            found.append(
                {
                    "feature": feature.name,
                    "bin": names[i],
                    "rows": int(totals[i]),
                    "disagreement": float(misses[i] / totals[i]),
                }
            )
    found.sort(key=lambda d: (-d["disagreement"], -d["rows"]))
    return found[:_TOP_BINS]


def _edge_names(edges: tuple[float, ...]) -> list[str]:
    inner = edges[1:-1]
    names = [f"< {inner[0]:.4g}"] if inner else ["all"]
    names += [f"[{lo:.4g}, {hi:.4g})" for lo, hi in itertools.pairwise(inner)]
    if inner:
        names.append(f">= {inner[-1]:.4g}")
    return names


_MIX = np.uint64(0x9E3779B97F4A7C15)


def id_keys(ids: Any) -> np.ndarray:
    """A 64-bit key per request id, vectorized.

    The server's ids have one length (hex nonce, dot, hex MAC), so their bytes are read
    straight from the Arrow buffer as 8-byte words and folded: no per-string work, which
    is what a million ids cost otherwise. Ids of mixed lengths are hashed by pandas."""
    import pyarrow as pa

    try:
        arr = pa.array(ids, type=pa.string())
        if isinstance(arr, pa.ChunkedArray):  # a column read from several log files
            arr = arr.combine_chunks()
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = None
    if arr is not None and len(arr) and arr.null_count == 0:
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[
            arr.offset : arr.offset + len(arr) + 1
        ]
        lengths = np.diff(offsets)
        width = int(lengths[0])
        if width > 0 and (lengths == width).all():
            raw = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
            raw = raw.reshape(len(arr), width)
            pad = (-width) % 8
            if pad:
                raw = np.concatenate([raw, np.zeros((len(arr), pad), np.uint8)], axis=1)
            words = np.ascontiguousarray(raw).view(np.uint64)
            key = words[:, 0].copy()
            for column in words[:, 1:].T:
                key = (key ^ column) * _MIX
            return key ^ (key >> np.uint64(31))
    return pd.util.hash_array(np.asarray(ids, dtype=object), categorize=False)


def pair_rows(log: pd.DataFrame, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (into ``log``) of version ``a`` and of ``b`` scoring the same row of the
    same request: paired by request id and position within the request.

    Request ids become 64-bit keys once (:func:`id_keys`; a false pair needs a 64-bit
    collision), and everything after is integer sorting."""
    versions = log["version"].to_numpy()
    idx_a = np.flatnonzero(versions == a)
    idx_b = np.flatnonzero(versions == b)
    if not len(idx_a) or not len(idx_b):
        return idx_a[:0], idx_b[:0]
    hashed = id_keys(log["request_id"])

    def keys(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(sorted keys, positions into ``idx`` in that order) of one version's rows."""
        h = hashed[idx]
        order = np.argsort(h, kind="stable")  # stable: a request's rows keep their order
        hs = h[order]
        repeats = np.flatnonzero(hs[1:] == hs[:-1])
        if not len(repeats):  # one row per request (the usual case): sorted already
            return hs, order
        starts = np.r_[0, np.flatnonzero(hs[1:] != hs[:-1]) + 1]
        run = np.repeat(starts, np.diff(np.r_[starts, len(hs)]))
        pos = (np.arange(len(h)) - run).astype(np.uint64)
        key = hs + pos * _MIX  # row n of a request gets a key of its own
        again = np.argsort(key)
        return key[again], order[again]

    ka, oa = keys(idx_a)
    kb, ob = keys(idx_b)
    j = np.searchsorted(kb, ka)  # both sorted: a cache-friendly merge
    j[j == len(kb)] = 0
    hit = kb[j] == ka
    return idx_a[oa[hit]], idx_b[ob[j[hit]]]


def resolve_version(registry: Registry, name: str, ref: int | str) -> int:
    """The version number ``ref`` names; 'candidate': the last experiment's."""
    if isinstance(ref, str) and ref.strip().lower() == "candidate":
        experiment = registry.experiment(name)
        if experiment is None:
            raise ConflictError(
                f"Model {name!r} has had no experiment, so 'candidate' names no version. "
                "Give a version number."
            )
        return experiment.candidate
    return registry.version(name, ref).version


def compare_versions(
    registry: Registry,
    name: str,
    a: int | str = "production",
    b: int | str = "candidate",
    *,
    since: datetime | str | float | None = None,
    until: datetime | str | float | None = None,
    data: pd.DataFrame | None = None,
    examples: int = 5,
) -> Comparison:
    """:class:`Comparison` of versions ``a`` and ``b`` of ``name`` (module docstring)."""
    from deploykit.monitoring.periods import parse_time

    started = time.perf_counter()
    va, vb = resolve_version(registry, name, a), resolve_version(registry, name, b)
    if va == vb:
        raise InvalidInputError(f"Compare two different versions; both name version {va}.")
    profile = registry.profile(name, va) or registry.profile(name, vb)
    if data is not None:
        return _on_data(registry, name, va, vb, data, profile, examples, started)
    begin = parse_time(since, "since")
    end = parse_time(until, "until")
    experiment = registry.experiment(name)
    if begin is None:
        if experiment is not None and {va, vb} == {experiment.production, experiment.candidate}:
            begin = experiment.started_at
        else:
            begin = datetime.now(timezone.utc) - timedelta(days=1)
    log = _read_pairs_log(registry, name, va, vb, begin, end)
    i_a, i_b = pair_rows(log, va, vb) if len(log) else (np.empty(0, int), np.empty(0, int))
    inputs = _inputs(log)
    shadow = len(i_a) > 0
    if shadow:
        predictions = log["prediction"].to_numpy()
        # a shadow's rows carry no inputs (production's do): take them from the side that has
        rows = i_a
        if inputs is not None and inputs.iloc[i_a[:100]].isna().all().all():
            rows = i_b
        found = compare_predictions(
            predictions[i_a],
            predictions[i_b],
            inputs=inputs,
            profile=profile,
            request_ids=log["request_id"],
            rows=rows,
            examples=examples,
        )
    else:
        found = {"pairs": 0}
        if len(log):
            found["prediction_mix"] = {"a": _mix_of(log, va), "b": _mix_of(log, vb)}
    serving = _serving(registry, name, va, vb, begin, shadow)
    accuracy = _accuracy(registry, name, log, va, vb, begin, profile)
    return Comparison(
        model=name,
        a=va,
        b=vb,
        source="shadow log" if shadow else "canary log",
        serving=serving,
        accuracy=accuracy,
        since=begin.isoformat(),
        until=None if end is None else end.isoformat(),
        seconds=time.perf_counter() - started,
        **found,
    )


def _mix_of(log: pd.DataFrame, version: int) -> dict[str, float]:
    values = log.loc[log["version"] == version, "prediction"].astype(str)
    shares = values.value_counts(normalize=True).head(_TOP_LABELS)
    return {str(k): float(v) for k, v in shares.items()}


def _read_pairs_log(
    registry: Registry, name: str, va: int, vb: int, since: datetime, until: datetime | None
) -> pd.DataFrame:
    from deploykit.monitoring.logs import read_log
    from deploykit.monitoring.monitor import _storage_options

    table = read_log(
        registry.settings.artifacts_url,
        name,
        since=since,
        until=until,
        storage_options=_storage_options(registry),
    )
    if table.num_rows == 0:
        return pd.DataFrame({"request_id": [], "version": [], "prediction": []})
    frame = table.to_pandas()
    return frame[frame["version"].isin([va, vb])].reset_index(drop=True)


def _inputs(log: pd.DataFrame) -> pd.DataFrame | None:
    from deploykit.monitoring.logs import INPUT

    columns = [c for c in log.columns if str(c).startswith(INPUT)]
    if not columns:
        return None
    return log[columns].rename(columns=lambda c: str(c)[len(INPUT) :])


def _serving(
    registry: Registry, name: str, va: int, vb: int, since: datetime, shadow: bool
) -> dict[str, dict[str, Any]]:
    """Requests, error rate and latency percentiles of each version since ``since``.

    For a shadow, both from the shadow scorer's timings (the same requests, model time
    only), so the two figures compare like with like."""
    from deploykit.monitoring.telemetry import percentile, shadow_key, window_totals

    key = shadow_key(name) if shadow else name
    out: dict[str, dict[str, Any]] = {}
    for side, version in (("a", va), ("b", vb)):
        start = int(since.timestamp()) // 60 * 60  # whole telemetry buckets
        total = window_totals(registry.engine, key, since=start, version=version)
        rate = (total.errors_5xx / total.requests) if total.requests else None
        out[side] = {
            "version": version,
            "requests": total.requests,
            "errors_5xx": total.errors_5xx,
            "error_rate": rate,
            "p50_ms": percentile(total.hist, 0.5),
            "p95_ms": percentile(total.hist, 0.95),
            "p99_ms": percentile(total.hist, 0.99),
            "timed": "model (shadow)" if shadow else "request",
        }
    delta: dict[str, Any] = {}
    for figure in ("error_rate", "p50_ms", "p95_ms", "p99_ms"):
        x, y = out["a"][figure], out["b"][figure]
        delta[figure] = None if x is None or y is None else y - x
    out["delta"] = delta
    return out


def _accuracy(
    registry: Registry,
    name: str,
    log: pd.DataFrame,
    va: int,
    vb: int,
    since: datetime,
    profile: ReferenceProfile | None,
) -> dict[str, Any] | None:
    """Accuracy of each version on the logged rows feedback labelled (None if none were)."""
    from deploykit.monitoring.accuracy import label_rows
    from deploykit.monitoring.monitor import labels

    if not len(log):
        return None
    found = labels(registry, name, since)
    if not found:
        return None
    truth = label_rows(log["request_id"].to_numpy(), found)
    has = np.array([t is not None for t in truth])
    if not has.any():
        return None
    right = right_answers(log["prediction"].to_numpy()[has], truth[has])
    versions = log["version"].to_numpy()[has]
    out: dict[str, Any] = {}
    for side, version in (("a", va), ("b", vb)):
        mine = versions == version
        out[f"labelled_{side}"] = int(mine.sum())
        out[side] = float(right[mine].mean()) if mine.any() else None
    out["delta"] = None if out["a"] is None or out["b"] is None else out["b"] - out["a"]
    return out


def right_answers(predictions: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """1.0 where the prediction is the label (1, "1" and 1.0 are one class)."""
    p = pd.to_numeric(pd.Series(predictions), errors="coerce").to_numpy(dtype=float)
    t = pd.to_numeric(pd.Series(truth), errors="coerce").to_numpy(dtype=float)
    numeric = ~np.isnan(p) & ~np.isnan(t)
    text = pd.Series(predictions).astype(str).to_numpy() == pd.Series(truth).astype(str).to_numpy()
    return np.where(numeric, p == t, text).astype(float)


def _on_data(
    registry: Registry,
    name: str,
    va: int,
    vb: int,
    data: pd.DataFrame,
    profile: ReferenceProfile | None,
    examples: int,
    started: float,
) -> Comparison:
    if not isinstance(data, pd.DataFrame):
        raise InvalidInputError(
            f"The 'data' parameter of compare must be a pandas DataFrame. Got "
            f"{type(data).__name__} instead."
        )
    if data.empty:
        raise InvalidInputError("The 'data' parameter of compare has no rows.")
    serving: dict[str, dict[str, Any]] = {}
    predictions = []
    for side, version in (("a", va), ("b", vb)):
        model = registry.load(name, version)
        begin = time.perf_counter()
        try:
            predicted = np.asarray(model.predict(data))
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise InvalidInputError(
                f"{name}:{version} could not predict on 'data': {type(exc).__name__}: {exc}"
            ) from None
        ms = (time.perf_counter() - begin) * 1000
        predictions.append(predicted)
        serving[side] = {
            "version": version,
            "rows": len(data),
            "ms_per_1k_rows": ms * 1000 / len(data),
        }
    found = compare_predictions(
        predictions[0], predictions[1], inputs=data, profile=profile, examples=examples
    )
    return Comparison(
        model=name,
        a=va,
        b=vb,
        source="data",
        serving=serving,
        seconds=time.perf_counter() - started,
        **found,
    )
