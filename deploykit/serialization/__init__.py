"""Turn a fitted estimator into bytes and back, and check it is safe to do so.

    check_estimator(model)           -> "sklearn.linear_model.LogisticRegression"
    dump(model, fileobj, format=...) streams the model into an open binary file
    load(path, format=..., trusted=...)
    detect_format(path)              -> "joblib" | "skops"
    capture_environment()            -> {"python": "3.11.9", "scikit-learn": "1.5.0", ...}
    check_environment(recorded, model_ref="churn:3") warns once per mismatch

Two formats: ``joblib`` (pickle; fast, loads anything, so only bytes whose
digest the registry recorded are loaded) and ``skops`` (audited: only types
trusted by skops, by deploykit's rule for scikit-learn/NumPy/SciPy types, or by
``DEPLOYKIT_SKOPS_TRUSTED`` load). A pickle push warns once per session what it means
(``warn_if_pickle``); servers choose the formats they load.
"""

from __future__ import annotations

from deploykit.serialization._environment import capture_environment, check_environment
from deploykit.serialization._estimator import check_estimator
from deploykit.serialization._formats import (
    FORMATS,
    detect_format,
    dump,
    load,
    model_file,
    trusted_types,
    untrusted_types,
)
from deploykit.serialization._trust import CODE_FORMATS, pickle_note, warn_if_pickle

__all__ = [
    "CODE_FORMATS",
    "FORMATS",
    "capture_environment",
    "check_environment",
    "check_estimator",
    "detect_format",
    "dump",
    "load",
    "model_file",
    "pickle_note",
    "trusted_types",
    "untrusted_types",
    "warn_if_pickle",
]
