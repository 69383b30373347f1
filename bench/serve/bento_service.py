"""BentoML reference services for ``run.py``: the same pickled LR and RF, BentoML's defaults.

Runs in bench/serve/.venv-bentoml (BentoML 1.4), never in deploykit's environment:
``bentoml serve bento_service:Models`` (or ``:Batched``) with ``BENCH_MODELS_DIR`` holding
``lr.joblib`` and ``rf.joblib``. Each service holds both models in one worker, as the
deploykit worker it is compared with does, and answers ``POST /lr`` and ``POST /rf`` with a
body ``{"x": [[20 floats], ...]}``: BentoML's own JSON for an ``np.ndarray`` argument.
"""

from __future__ import annotations

import os
import warnings

import bentoml
import joblib
import numpy as np

# The models were fitted on a DataFrame; an ndarray gets scikit-learn's feature-name warning
# on every call. Every reference here predicts on an ndarray, so none pays for warnings.
warnings.filterwarnings("ignore", message="X does not have valid feature names")


def _load() -> dict[str, object]:
    root = os.environ["BENCH_MODELS_DIR"]
    return {name: joblib.load(os.path.join(root, f"{name}.joblib")) for name in ("lr", "rf")}


@bentoml.service(workers=1)  # BentoML's default, said explicitly: one worker
class Models:
    """``@bentoml.api`` with its defaults: one request, one ``predict`` call."""

    def __init__(self) -> None:
        self.models = _load()

    @bentoml.api
    def lr(self, x: np.ndarray) -> np.ndarray:
        return self.models["lr"].predict(x)  # type: ignore[attr-defined]

    @bentoml.api
    def rf(self, x: np.ndarray) -> np.ndarray:
        return self.models["rf"].predict(x)  # type: ignore[attr-defined]


@bentoml.service(workers=1)
class Batched:
    """Adaptive batching: rows of concurrent requests merged along axis 0, waiting 10 ms at most."""

    def __init__(self) -> None:
        self.models = _load()

    @bentoml.api(batchable=True, max_latency_ms=10)
    def lr(self, x: np.ndarray) -> np.ndarray:
        return self.models["lr"].predict(x)  # type: ignore[attr-defined]

    @bentoml.api(batchable=True, max_latency_ms=10)
    def rf(self, x: np.ndarray) -> np.ndarray:
        return self.models["rf"].predict(x)  # type: ignore[attr-defined]
