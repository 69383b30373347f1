"""A synthetic income table and the pipeline a data scientist would fit on it (no download).

Like the adult census data: ints, floats, zero-inflated amounts, string categoricals
with a rare long tail, a ``category`` column, a bool, and ~3% missing values in four
columns. The label is a string (``">50K"`` / ``"<=50K"``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

NUMERIC = ["age", "education_num", "fnlwgt", "capital_gain", "capital_loss", "hours_per_week"]
CATEGORICAL = ["occupation", "native_country", "workclass", "owns_home"]
COLUMNS = NUMERIC + CATEGORICAL
WITH_MISSING = ["hours_per_week", "capital_loss", "occupation", "workclass"]
OCCUPATIONS = ["Prof-specialty", "Craft-repair", "Exec-managerial", "Adm-clerical", "Sales"]
WORKCLASSES = ["Private", "Self-emp", "Federal-gov", "Local-gov"]


def income_frame(n: int = 2000, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    countries = ["United-States"] * 90 + ["Mexico"] * 4 + [f"Country-{i}" for i in range(40)]
    X = pd.DataFrame(
        {
            "age": rng.integers(17, 90, n).astype(np.int64),
            "education_num": rng.integers(1, 17, n).astype(np.int64),
            "fnlwgt": rng.normal(190_000, 100_000, n).round(1),
            # zero-inflated: 92% zeros, then a long tail
            "capital_gain": np.where(rng.random(n) < 0.92, 0.0, rng.exponential(8000, n).round()),
            "capital_loss": np.where(rng.random(n) < 0.95, 0.0, rng.exponential(1500, n).round()),
            "hours_per_week": rng.normal(40, 12, n).clip(1, 99).round(),
            "occupation": rng.choice(OCCUPATIONS, n),
            "native_country": rng.choice(countries, n),  # a rare long tail
            "workclass": pd.Categorical(rng.choice(WORKCLASSES, n), categories=WORKCLASSES),
            "owns_home": rng.random(n) < 0.6,
        }
    )
    score = (
        0.04 * (X["age"] - 40)
        + 0.3 * (X["education_num"] - 9)
        + (X["capital_gain"] > 0) * 2.0
        + 0.03 * (X["hours_per_week"] - 40)
        + X["owns_home"] * 0.5
        + rng.normal(0, 1, n)
    )
    y = pd.Series(np.where(score > 1.0, ">50K", "<=50K"), name="income")
    for column in WITH_MISSING:  # ~3% missing
        X.loc[rng.random(n) < 0.03, column] = np.nan
    return X, y


def income_pipeline() -> Pipeline:
    numeric = Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())])
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    pre = ColumnTransformer([("num", numeric, NUMERIC), ("cat", categorical, CATEGORICAL)])
    return Pipeline([("pre", pre), ("model", HistGradientBoostingClassifier(max_iter=40))])


def in_process(records: list[dict[str, Any]]) -> pd.DataFrame:
    """What a user would build in the notebook from these records: None as NaN."""
    frame = pd.DataFrame(records)[COLUMNS]
    return frame.astype(object).where(frame.notna(), np.nan)
