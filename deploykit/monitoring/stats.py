"""The drift statistics themselves: small pure functions on sorted arrays and counts.

Each one takes what the reference profile keeps (a sorted sample, bin or category
counts) and the current data already reduced once (sorted values, counts), so a
window of a million rows costs one sort per numeric column and nothing per
statistic beyond the reference's size:

- :func:`ks_2samp` — two-sample Kolmogorov–Smirnov statistic, exact, with the
  asymptotic p-value (scipy's ``ks_2samp(..., method="asymp")``); O(m log n).
- :func:`wasserstein` — Wasserstein-1 distance, exact, with optional weights on
  the reference (scipy's ``wasserstein_distance``); O(m log n) after the sort.
- :func:`chi2_homogeneity` — chi-squared test of homogeneity of two count vectors
  (scipy's ``chi2_contingency(..., correction=False)``), pooling sparse cells.
- :func:`psi` — population stability index, zero shares floored at 1e-4 (as
  Evidently does).
- :func:`jensenshannon` — Jensen–Shannon distance in base 2, in [0, 1].
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as _stats

__all__ = ["chi2_homogeneity", "jensenshannon", "ks_2samp", "psi", "wasserstein"]

PSI_FLOOR = 1e-4


def ks_2samp(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """(D, p-value) of two sorted, NaN-free samples; ``ref`` is the small one.

    Between two consecutive reference values the reference CDF is constant and the
    current CDF can only rise, so the largest gap is found at the reference values
    themselves (just at and just before each): the current sample is only searched,
    never merged.
    """
    m, n = len(ref), len(cur)
    if not m or not n:
        return math.nan, math.nan
    values, first = np.unique(ref, return_index=True)
    below = first / m  # reference CDF just before each distinct value
    at = np.append(first[1:], m) / m  # ... and at it
    cur_below = np.searchsorted(cur, values, side="left") / n
    cur_at = np.searchsorted(cur, values, side="right") / n
    d = float(max(np.abs(cur_below - below).max(), np.abs(cur_at - at).max()))
    big, small = max(m, n), min(m, n)
    en = big * small / (big + small)
    return d, float(_stats.kstwo.sf(d, np.round(en)))


def wasserstein(ref: np.ndarray, cur: np.ndarray, ref_weights: np.ndarray | None = None) -> float:
    """Wasserstein-1 distance between two sorted, NaN-free samples, ``ref`` optionally weighted.

    W1 is the integral over t in [0, 1] of |Q_cur(t) - Q_ref(t)|. Q_ref is a step
    function with one step per reference value; within a step the current values
    it covers are a contiguous run of ``cur``, whose distances to the step's value
    come from prefix sums. Cost: O(m log n) on top of the sort of ``cur``.
    """
    m, n = len(ref), len(cur)
    if not m or not n:
        return math.nan
    if ref_weights is None:
        upper = np.arange(1, m + 1, dtype=np.float64) / m
    else:
        upper = np.cumsum(ref_weights, dtype=np.float64)
        upper /= upper[-1]
    upper[-1] = 1.0
    lower = np.concatenate(([0.0], upper[:-1]))
    a, b = lower * n, upper * n  # each reference step, in units of current ranks
    full_lo = np.minimum(np.ceil(a), n).astype(np.int64)
    full_hi = np.maximum(np.floor(b).astype(np.int64), full_lo)  # ranks wholly inside
    split = np.clip(np.searchsorted(cur, ref), full_lo, full_hi)
    prefix = _prefix_sums(cur, np.concatenate((full_lo, split, full_hi)))
    lo_sum, split_sum, hi_sum = prefix[:m], prefix[m : 2 * m], prefix[2 * m :]
    full = (
        ref * (split - full_lo)
        - (split_sum - lo_sum)
        + (hi_sum - split_sum)
        - ref * (full_hi - split)
    )
    # The ranks cut by a step's ends count for the part of them inside the step.
    first = np.minimum(np.floor(a).astype(np.int64), n - 1)
    inside_one = np.floor(a) == np.floor(b)  # the step lies within a single rank
    left = np.where(inside_one, b - a, np.minimum(full_lo, b) - a)
    right = np.where(inside_one, 0.0, b - full_hi)
    last = np.minimum(full_hi, n - 1)
    total = full + left * np.abs(cur[first] - ref) + right * np.abs(cur[last] - ref)
    return float(total.sum() / n)


def _prefix_sums(values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """``values[:i].sum()`` for each i in ``at``, in one pass (no n-long cumsum array)."""
    cuts = np.unique(np.concatenate(([0], at)))
    cuts = cuts[cuts < len(values)]
    sums = np.concatenate(([0.0], np.cumsum(np.add.reduceat(values, cuts))))
    # sums[k] is the sum before cuts[k]; len(values) maps past the last cut, to the total
    return sums[np.searchsorted(np.append(cuts, len(values)), at)]


def chi2_homogeneity(
    reference: ArrayLike, current: ArrayLike, *, min_expected: float = 5.0
) -> tuple[float, float, int]:
    """(statistic, p-value, degrees of freedom) of the 2 x k table [ref; cur].

    Cells where either row expects fewer than ``min_expected`` counts are pooled
    into one (and that pool into its smallest neighbour if still too small): with
    rare categories the chi-squared tail is far too light otherwise, which matters
    at the small significance levels a correction across features asks for.
    With ``min_expected=0`` this is ``scipy.stats.chi2_contingency([ref, cur],
    correction=False)`` on the non-empty cells.
    """
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    big, n = ref.sum(), cur.sum()
    if big <= 0 or n <= 0:
        return math.nan, math.nan, 0
    keep = (ref + cur) > 0
    ref, cur = ref[keep], cur[keep]
    if min_expected > 0:
        ref, cur = _pool(ref, cur, min_expected)
    cells = len(ref)
    if cells < 2:
        return 0.0, 1.0, 0
    total = ref + cur
    exp_ref, exp_cur = total * (big / (big + n)), total * (n / (big + n))
    stat = float(
        (((ref - exp_ref) ** 2) / exp_ref).sum() + (((cur - exp_cur) ** 2) / exp_cur).sum()
    )
    return stat, float(_stats.chi2.sf(stat, cells - 1)), cells - 1


def _pool(ref: np.ndarray, cur: np.ndarray, min_expected: float) -> tuple[np.ndarray, np.ndarray]:
    share = min(ref.sum(), cur.sum()) / (ref.sum() + cur.sum())
    small = (ref + cur) * share < min_expected
    if not small.any():
        return ref, cur
    ref = np.append(ref[~small], ref[small].sum())
    cur = np.append(cur[~small], cur[small].sum())
    if len(ref) > 1 and (ref[-1] + cur[-1]) * share < min_expected:
        j = int(np.argmin((ref + cur)[:-1]))
        ref[j] += ref[-1]
        cur[j] += cur[-1]
        ref, cur = ref[:-1], cur[:-1]
    return ref, cur


def _shares(counts: ArrayLike) -> np.ndarray:
    values = np.asarray(counts, dtype=np.float64)
    total = values.sum()
    return values / total if total > 0 else values


def psi(reference: ArrayLike, current: ArrayLike) -> float:
    """Population stability index of two aligned count vectors (bins or categories)."""
    p, q = _shares(reference), _shares(current)
    if not p.sum() or not q.sum():
        return math.nan
    p = np.where(p == 0, PSI_FLOOR, p)
    q = np.where(q == 0, PSI_FLOOR, q)
    return float(((q - p) * np.log(q / p)).sum())


def jensenshannon(reference: ArrayLike, current: ArrayLike) -> float:
    """Jensen–Shannon distance (base 2, so in [0, 1]) of two aligned count vectors."""
    p, q = _shares(reference), _shares(current)
    if not p.sum() or not q.sum():
        return math.nan
    mid = (p + q) / 2

    def kl(x: np.ndarray) -> float:
        nz = x > 0
        return float((x[nz] * np.log2(x[nz] / mid[nz])).sum())

    return math.sqrt(max((kl(p) + kl(q)) / 2, 0.0))
