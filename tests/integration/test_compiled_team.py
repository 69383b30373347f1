"""Compiled inference on PostgreSQL + S3: the ONNX artifact goes to the bucket beside the
original, by digest, comes back verified, and garbage collection keeps it."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from deploykit.compile import CompiledModel, RuntimeInfo
from tests.integration.conftest import Team


def test_the_compiled_artifact_lives_in_the_bucket_beside_the_original(team: Team) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = (X[:, 0] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    with team.registry() as reg:
        version = reg.push(model, "churn", X=X, deploy=True)
        digest = version.runtime["digest"]
        assert version.runtime["runtime"] == "onnx"
        keys = team.objects()  # <prefix>/sha256/<2 hex>/<62 hex>

        def stored(d: str) -> bool:
            hexes = d.split(":")[1]
            return any(key.endswith(f"{hexes[:2]}/{hexes[2:]}") for key in keys)

        assert stored(digest)
        assert stored(version.digest)
        assert not reg.gc(older_than=0).removed
        path = reg.compiled_path("churn")  # downloaded from S3, verified against its digest
        compiled = CompiledModel(path.read_bytes(), RuntimeInfo.from_dict(version.runtime))
        labels, _ = compiled.run(compiled.feed(X), False)
        assert labels.tolist() == model.predict(X).tolist()
