"""Drift methods by name: a method is its configuration; its calculation is registered apart.

    DriftMethod("psi", threshold=0.2)     # config: what to compute, when to call it drift
    method_spec("psi")                    # calculation: kinds, score type, default threshold
    register_method(MethodSpec(...))      # add your own

Built in:

============= =========== ============ ========= =============================================
name          kinds       score        default   computed against the reference profile's ...
============= =========== ============ ========= =============================================
psi           both        distance     0.1       quantile bins / category counts
wasserstein   numeric     distance     0.1       sample, in reference standard deviations
ks            numeric     p-value      0.05      sample (two-sample KS)
jensenshannon categorical distance     0.1       category counts (base 2, in [0, 1])
chi2          both        p-value      0.05      quantile bins / category counts
============= =========== ============ ========= =============================================

A distance flags drift at or above its threshold, a p-value below it. An unknown
name is an :class:`~deploykit.errors.InvalidInputError` listing the known ones.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from deploykit.errors import InvalidInputError
from deploykit.monitoring import stats
from deploykit.monitoring.columns import Current
from deploykit.monitoring.profile import OTHER, FeatureProfile

__all__ = ["DriftMethod", "MethodSpec", "Pair", "method_names", "method_spec", "register_method"]

UNSEEN_EXAMPLES = 5


class Pair:
    """A feature's reference profile and its current data, with what methods share, cached."""

    def __init__(self, reference: FeatureProfile, current: Current) -> None:
        self.reference = reference
        self.current = current
        self.kind = reference.kind

    @property
    def comparable(self) -> bool:
        """Both sides hold at least one present value."""
        if self.current.present == 0:
            return False
        if self.kind == "numeric":
            return bool(self.reference.bin_counts)
        return bool(self.reference.frequencies)

    @functools.cached_property
    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """(reference, current) counts over the reference's bins or categories."""
        ref = self.reference
        if self.kind == "numeric":
            values = self._values
            inner = np.asarray(ref.bin_edges[1:-1], dtype=np.float64)
            below = np.searchsorted(values, inner, side="left")
            cur = np.diff(np.concatenate(([0], below, [len(values)])))
            return np.asarray(ref.bin_counts, dtype=np.int64), cur
        keys, cur, _ = self._categories
        return np.array([(ref.frequencies or {}).get(k, 0) for k in keys], dtype=np.int64), cur

    @functools.cached_property
    def _categories(self) -> tuple[list[str], np.ndarray, list[tuple[str, int]]]:
        known = list(self.reference.frequencies or {})
        keys = [k for k in known if k != OTHER] + [OTHER]
        index = {k: i for i, k in enumerate(keys[:-1])}
        cur = np.zeros(len(keys), dtype=np.int64)
        unseen: list[tuple[str, int]] = []
        counts = self.current.counts if self.current.counts is not None else ()
        for label, n in zip(self.current.labels, np.asarray(counts).tolist(), strict=True):
            if not n:
                continue
            i = index.get(label)
            if i is None:
                cur[-1] += n
                unseen.append((label, n))
            else:
                cur[i] += n
        return keys, cur, unseen

    @property
    def categories(self) -> list[str]:
        """The category keys :attr:`counts` follows, the pooled rest (``OTHER``) last."""
        return self._categories[0]

    @property
    def unseen(self) -> tuple[int, tuple[str, ...]]:
        """Current values of categories the reference never named, and the commonest few."""
        if self.kind != "categorical":
            return 0, ()
        found = sorted(self._categories[2], key=lambda item: (-item[1], item[0]))
        return sum(n for _, n in found), tuple(label for label, _ in found[:UNSEEN_EXAMPLES])

    @property
    def _values(self) -> np.ndarray:
        assert self.current.values is not None
        return self.current.values

    @functools.cached_property
    def sample(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The reference sample, sorted, weighted so that each quantile bin holds its true share.

        The sample (1,000 values at most) alone would put a noise floor of ~0.04
        reference std under the Wasserstein distance; the bins were counted on the
        whole training set, so re-weighting the sample to match them removes most of
        that noise (post-stratification).
        """
        ref = self.reference
        sample = np.sort(np.asarray(ref.sample, dtype=np.float64))
        sample = sample[np.isfinite(sample)]
        if not len(sample) or len(ref.bin_counts) < 2:
            return sample, None
        inner = np.asarray(ref.bin_edges[1:-1], dtype=np.float64)
        which = np.searchsorted(inner, sample, side="right")
        in_sample = np.bincount(which, minlength=len(ref.bin_counts))
        share = np.asarray(ref.bin_counts, dtype=np.float64) / max(sum(ref.bin_counts), 1)
        weights = (share / np.maximum(in_sample, 1))[which]
        return sample, weights if weights.sum() > 0 else None

    @property
    def scale(self) -> float:
        """What numeric distances are divided by: the reference standard deviation (1 if 0)."""
        std = self.reference.std
        return std if std is not None and math.isfinite(std) and std > 0 else 1.0

    # -- the calculations ------------------------------------------------------------
    def psi(self) -> float:
        return stats.psi(*self.counts)

    def jensenshannon(self) -> float:
        return stats.jensenshannon(*self.counts)

    def chi2(self) -> float:
        return stats.chi2_homogeneity(*self.counts)[1]

    def ks(self) -> float:
        sample, _ = self.sample
        return stats.ks_2samp(sample, self._values)[1] if len(sample) else math.nan

    def wasserstein(self) -> float:
        sample, weights = self.sample
        if not len(sample):
            return math.nan
        return stats.wasserstein(sample, self._values, weights) / self.scale


@dataclasses.dataclass(frozen=True)
class MethodSpec:
    """How a method computes its score, and how its threshold reads."""

    name: str
    kinds: tuple[str, ...]
    score: str  # "distance": drift at or above the threshold; "p_value": drift below it
    default_threshold: float
    compute: Callable[[Pair], float]
    description: str = ""
    max_threshold: float = math.inf  # distances bounded like JS take thresholds up to this

    def __post_init__(self) -> None:
        if self.score not in ("distance", "p_value"):
            raise InvalidInputError(
                f"The 'score' of MethodSpec {self.name!r} must be 'distance' or 'p_value'. "
                f"Got {self.score!r} instead."
            )

    def check_threshold(self, threshold: Any, *, where: str = "") -> float:
        """``threshold`` as a float, or an InvalidInputError naming the allowed range."""
        if self.score == "p_value":
            ok = _is_number(threshold) and 0 < threshold < 1
            allowed = "a float in (0, 1) (a p-value)"
        else:
            ok = _is_number(threshold) and 0 < threshold <= self.max_threshold
            upper = "" if math.isinf(self.max_threshold) else f", at most {self.max_threshold:g}"
            allowed = f"a float > 0{upper}"
        if not ok:
            raise InvalidInputError(
                f"The 'threshold' parameter of drift method {self.name!r}{where} must be "
                f"{allowed}. Got {threshold!r} instead."
            )
        return float(threshold)

    def is_drift(self, score: float, threshold: float) -> bool:
        return score < threshold if self.score == "p_value" else score >= threshold


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


_REGISTRY: dict[str, MethodSpec] = {}


def register_method(spec: MethodSpec) -> MethodSpec:
    """Make ``spec`` available by its name (replacing one of the same name)."""
    _REGISTRY[spec.name] = spec
    return spec


def method_names() -> list[str]:
    return sorted(_REGISTRY)


def method_spec(name: str) -> MethodSpec:
    """The calculation registered as ``name``; InvalidInputError lists the known ones."""
    spec = _REGISTRY.get(name) if isinstance(name, str) else None
    if spec is None:
        close = difflib.get_close_matches(str(name), method_names(), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InvalidInputError(
            f"Unknown drift method {name!r}; known methods are "
            f"{', '.join(map(repr, method_names()))} (or 'auto').{hint}"
        )
    return spec


@dataclasses.dataclass(frozen=True)
class DriftMethod:
    """A drift method's configuration: the calculation's name and the verdict's threshold."""

    name: str
    threshold: float | None = None  # None: the method's default

    def __post_init__(self) -> None:
        spec = method_spec(self.name)
        if self.threshold is not None:
            object.__setattr__(self, "threshold", spec.check_threshold(self.threshold))

    @property
    def spec(self) -> MethodSpec:
        return method_spec(self.name)

    @property
    def cutoff(self) -> float:
        return self.spec.default_threshold if self.threshold is None else float(self.threshold)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.name, "threshold": self.threshold}


for _spec in (
    MethodSpec(
        "psi", ("numeric", "categorical"), "distance", 0.1, Pair.psi, "population stability index"
    ),
    MethodSpec(
        "wasserstein",
        ("numeric",),
        "distance",
        0.1,
        Pair.wasserstein,
        "Wasserstein-1 distance in reference standard deviations",
    ),
    MethodSpec("ks", ("numeric",), "p_value", 0.05, Pair.ks, "Kolmogorov–Smirnov test p-value"),
    MethodSpec(
        "jensenshannon",
        ("categorical",),
        "distance",
        0.1,
        Pair.jensenshannon,
        "Jensen–Shannon distance, base 2",
        max_threshold=1.0,
    ),
    MethodSpec(
        "chi2", ("numeric", "categorical"), "p_value", 0.05, Pair.chi2, "chi-squared test p-value"
    ),
):
    register_method(_spec)
