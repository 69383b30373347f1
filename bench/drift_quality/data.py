"""Synthetic windows with known truth, shared by both sides (only numpy and pandas here).

Ten features of a plausible tabular model: eight numeric of different shapes (one
with 5% missing values, one discrete) and two categorical. The reference has
10,000 rows; each window draws a fresh reference and a fresh current sample from
the same seed, so the two tools see exactly the same data.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

REFERENCE_ROWS = 10_000
NUMERIC = [
    "normal",
    "lognormal",
    "exponential",
    "uniform",
    "bimodal",
    "count",
    "heavy_tail",
    "with_missing",
]
CATEGORICAL = ["city", "flag"]
FEATURES = NUMERIC + CATEGORICAL


def _draw(rng: np.random.Generator, n: int) -> pd.DataFrame:
    bimodal = np.where(rng.random(n) < 0.3, rng.normal(-2, 1, n), rng.normal(3, 0.5, n))
    with_missing = rng.normal(0, 1, n)
    with_missing[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "normal": rng.normal(50, 10, n),
            "lognormal": rng.lognormal(3, 0.8, n),
            "exponential": rng.exponential(2.0, n),
            "uniform": rng.uniform(0, 100, n),
            "bimodal": bimodal,
            "count": rng.poisson(3, n).astype(np.int64),
            "heavy_tail": rng.standard_t(4, n),
            "with_missing": with_missing,
            "city": rng.choice(
                np.array(["paris", "lyon", "nice", "lille", "nantes"], dtype=object),
                n,
                p=[0.4, 0.25, 0.15, 0.12, 0.08],
            ),
            "flag": rng.choice(np.array(["yes", "no"], dtype=object), n, p=[0.7, 0.3]),
        }
    )


def seed(*parts: object) -> int:
    return zlib.crc32(repr(parts).encode())


def window(n: int, scenario: str, index: int) -> tuple[pd.DataFrame, pd.DataFrame, str | None]:
    """(reference, current, shifted feature) of window ``index`` of ``scenario`` at size n.

    Scenarios: ``none`` (same distribution), ``shift`` (+0.25 reference std in one
    numeric feature, taking each in turn), ``harmless`` (+0.02 std, likewise).
    """
    rng = np.random.default_rng(seed(n, scenario, index))
    reference = _draw(rng, REFERENCE_ROWS)
    current = _draw(rng, n)
    shifted = None
    if scenario in ("shift", "harmless"):
        shifted = NUMERIC[index % len(NUMERIC)]
        size = 0.25 if scenario == "shift" else 0.02
        step = size * float(np.nanstd(reference[shifted].to_numpy(dtype=float)))
        current[shifted] = current[shifted].astype(float) + step
    return reference, current, shifted
