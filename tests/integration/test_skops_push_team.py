"""A skops push on PostgreSQL + S3 is loaded (from the bucket) before it becomes a version."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.neighbors import KNeighborsClassifier

from deploykit.errors import InvalidInputError
from tests.integration.conftest import Team


def test_skops_pushes_are_checked_against_the_stored_object(team: Team) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] > 0).astype(int)
    with team.registry() as reg:
        hgb = HistGradientBoostingClassifier(max_iter=5).fit(X, y)
        version = reg.push(hgb, "hgb", X=X, format="skops", deploy=True)
        assert version.aliases == ("production",)
        np.testing.assert_array_equal(reg.load("hgb").predict(X), hgb.predict(X))
        with pytest.raises(InvalidInputError, match="knn was not pushed"):
            reg.push(KNeighborsClassifier().fit(X, y), "knn", X=X, format="skops")
        assert [m.name for m in reg.models()] == ["hgb"]
