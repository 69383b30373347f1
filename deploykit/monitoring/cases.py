"""Which rows of a window are the same case seen again: their labels move together.

A window's realized metric is random because its labels are (draws from the calibrated
probabilities, given the scores). Rows that are the same case seen again (a customer
scored every day, a retried request) carry one label between them, not one each: the
variance of the realized metric then sums per case, ``(sum of the case's gradients)^2 *
p (1 - p)``, not per row, and a window of 5,000 rows from 171 cases is worth far fewer
than 5,000 independent rows.

Rows are the same case when their logged inputs are identical (hashed per row, 64 bits:
a false match among 10,000 rows is a ~1e-11 chance), but only when inputs tell cases
apart: two distinct cases can share their inputs (few categorical columns), and then
their labels are independent. The evaluation kept at push says how often that happens:
``repeats`` of its ``rows`` labelled rows (distinct cases) repeat an earlier row's
inputs, a chance rate ``q`` per pair of rows. In a window, the identical pairs chance
explains at that rate are taken out: the share ``rho`` of identical pairs that are
repeats is ``1 - q * pairs(n) / identical pairs`` (1 when the evaluation's inputs were
all distinct). When the inputs were not logged, identical scores stand in, judged the
same way: the scores of a tree model collide between distinct inputs (rows of one
leaf), which its evaluation shows, so they are not used. A key whose evaluation rows
repeat more than :data:`MAX_REPEAT_SHARE` of the time, or an evaluation of fewer than
:data:`MIN_EVALUATION_ROWS` rows, does not identify cases: rows count one each.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from deploykit.monitoring.calibration import CalibrationEvidence

__all__ = ["Cases", "describe", "find_cases", "repeats", "row_keys", "window_cases"]

MAX_REPEAT_SHARE = 0.01  # evaluation rows repeating another's key beyond this: no grouping
MIN_EVALUATION_ROWS = 50  # fewer labelled rows cannot show that a key identifies cases


@dataclasses.dataclass(frozen=True)
class Cases:
    """The cases of a window's rows: ``index[i]`` is row i's case; ``share`` (rho) the
    share of identical pairs taken for the same case seen again; ``key`` "inputs" or
    "scores"."""

    index: np.ndarray
    share: float
    key: str

    @property
    def rows(self) -> int:
        return len(self.index)

    @property
    def distinct(self) -> int:
        return int(self.index.max()) + 1 if len(self.index) else 0

    @property
    def effective_rows(self) -> float:
        """As many independent rows as the window is worth for a mean (Kish's design
        effect): ``n / (1 + rho * (sum of count^2 / n - 1))``."""
        n = len(self.index)
        if n == 0:
            return 0.0
        counts = np.bincount(self.index).astype(np.float64)
        return float(n / (1.0 + self.share * (float(counts @ counts) / n - 1.0)))

    def subset(self, keep: np.ndarray) -> Cases:
        """The cases of the rows ``keep`` (a boolean mask), renumbered."""
        _, index = np.unique(self.index[keep], return_inverse=True)
        return Cases(index.astype(np.intp), self.share, self.key)

    def describe(self) -> str:
        """In words, for a report."""
        text = (
            f"{self.rows} rows are {self.distinct} distinct {self.key}, "
            f"worth {self.effective_rows:.0f} independent rows: rows with identical "
            f"{self.key} are taken for one case seen again, whose labels move together"
        )
        if self.share < 1.0:
            text += f" ({1 - self.share:.0%} of identical pairs put down to chance)"
        return text


def describe(
    evidence: CalibrationEvidence | None, cases: Cases | None, rows: int, *, key: str = "inputs"
) -> str | None:
    """How the band counted a window's ``rows``, in words (None without evidence); ``key``
    what rows were compared by ("inputs", or "scores" when the inputs were not logged)."""
    if evidence is None:
        return None
    if cases is not None:
        return cases.describe()
    found = evidence.input_repeats if key == "inputs" else evidence.score_repeats
    if found is None:
        why = f"the evaluation kept at push did not record whether its {key} tell cases apart"
    elif evidence.rows < MIN_EVALUATION_ROWS:
        why = f"an evaluation of {evidence.rows} rows cannot show that {key} tell cases apart"
    elif found > MAX_REPEAT_SHARE * evidence.rows:
        why = (
            f"{found} of the evaluation's {evidence.rows} rows repeat another's {key}, so "
            f"identical {key} need not be the same case"
        )
    else:
        why = f"no two rows share their {key}, or chance explains those that do"
    return f"{rows} rows, each counted as an independent case ({why})"


def row_keys(values: Any) -> np.ndarray | None:
    """One 64-bit hash per row of ``values`` (a DataFrame, a 2-D array, or a mapping of
    columns); None when the rows cannot be hashed."""
    import pandas as pd

    try:
        if isinstance(values, pd.DataFrame):
            frame = values
        elif isinstance(values, dict):
            frame = pd.DataFrame(values)
        else:
            array = np.asarray(values)
            if array.ndim != 2 or array.shape[1] == 0:
                return None
            if array.dtype.kind in "biuf":
                return _numeric_keys(array)
            frame = pd.DataFrame(array)
        if frame.shape[1] == 0:
            return None
        if all(kind in "biuf" for kind in (dtype.kind for dtype in frame.dtypes)):
            return _numeric_keys(frame.to_numpy(dtype=np.float64, na_value=np.nan))
        hashed = pd.util.hash_pandas_object(frame, index=False)
    except (TypeError, ValueError):  # unhashable cells (lists, dicts...)
        return None
    return np.asarray(hashed, dtype=np.uint64)


def _numeric_keys(array: np.ndarray) -> np.ndarray:
    """Numbers hashed without pandas (a window of 5,000 rows: ~6x cheaper): each row's
    float64 bits folded FNV-style, then mixed (splitmix64's finalizer). -0.0 is 0.0 and
    every NaN one NaN, as equal values must hash alike."""
    a = np.asarray(array, dtype=np.float64) + 0.0  # -0.0 + 0.0 == +0.0
    a[np.isnan(a)] = np.nan
    bits = a.view(np.uint64)
    h = np.full(len(a), 0xCBF29CE484222325, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(a.shape[1]):
            h = (h ^ bits[:, j]) * np.uint64(0x100000001B3)
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    return h


def repeats(keys: np.ndarray | None) -> int | None:
    """How many rows repeat an earlier row's key (None: unknown)."""
    if keys is None:
        return None
    return int(len(keys) - len(np.unique(keys)))


def find_cases(
    keys: np.ndarray | None, *, key: str, repeats: int | None, rows: int
) -> Cases | None:
    """The cases of a window whose rows have hashes ``keys``, when the evaluation (``rows``
    labelled rows, ``repeats`` of them repeating an earlier row's key) shows that the key
    identifies cases; None when it does not, or when no row repeats."""
    if keys is None or repeats is None or rows < MIN_EVALUATION_ROWS:
        return None
    if repeats > MAX_REPEAT_SHARE * rows:
        return None
    import pandas as pd

    index, uniques = pd.factorize(keys)
    n = len(keys)
    if len(uniques) == n:
        return None
    counts = np.bincount(index).astype(np.float64)
    identical = float(counts @ (counts - 1.0)) / 2.0
    q = repeats / (rows * (rows - 1) / 2.0)  # distinct cases sharing a key, per pair
    chance = q * n * (n - 1) / 2.0
    share = max(0.0, 1.0 - chance / identical)
    if share == 0.0:
        return None
    return Cases(index.astype(np.intp), share, key)


def window_cases(
    evidence: CalibrationEvidence, inputs: Any = None, scores: Any = None
) -> Cases | None:
    """The cases of one window: by its logged ``inputs`` (the evaluation's input columns,
    in its order) when given, else by its ``scores`` (the rows of class probabilities);
    None when neither identifies cases (see the module's docstring)."""
    if inputs is not None:
        return find_cases(
            row_keys(inputs), key="inputs", repeats=evidence.input_repeats, rows=evidence.rows
        )
    if scores is not None:
        return find_cases(
            row_keys(scores), key="scores", repeats=evidence.score_repeats, rows=evidence.rows
        )
    return None
