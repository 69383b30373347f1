from __future__ import annotations

import platform
import uuid
import warnings

import joblib
import numpy as np
import pytest
import sklearn

from deploykit.errors import EnvironmentMismatchWarning
from deploykit.serialization import capture_environment, check_environment


def unique_ref() -> str:
    # Warnings are deduplicated per process: each test needs a model never seen before.
    return f"churn-{uuid.uuid4().hex[:8]}:3"


def test_capture_records_the_running_versions() -> None:
    env = capture_environment()
    assert env["python"] == platform.python_version()
    assert env["scikit-learn"] == sklearn.__version__
    assert env["numpy"] == np.__version__
    assert env["joblib"] == joblib.__version__
    assert {"scipy", "pandas", "skops", "platform"} <= env.keys()


def test_the_same_environment_is_silent() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_environment(capture_environment(), model_ref=unique_ref()) == []


def test_a_mismatch_warns_once_per_process() -> None:
    ref = unique_ref()
    recorded = {**capture_environment(), "scikit-learn": "1.4.2"}
    expected = (
        f"Model {ref} was pushed with scikit-learn 1.4.2; this process has "
        f"{sklearn.__version__}. Predictions may differ; retrain or pin scikit-learn==1.4.2."
    )
    with pytest.warns(EnvironmentMismatchWarning) as record:
        assert check_environment(recorded, model_ref=ref) == [expected]
    assert [str(w.message) for w in record] == [expected]

    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        assert check_environment(recorded, model_ref=ref) == [expected]  # still reported
    assert again == []  # but not warned twice

    with pytest.warns(EnvironmentMismatchWarning, match="pin scikit-learn==1.4.2"):
        check_environment(recorded, model_ref=unique_ref())  # another model warns anew


def test_python_is_compared_on_major_minor_only() -> None:
    major, minor, _ = platform.python_version_tuple()
    same_minor = {**capture_environment(), "python": f"{major}.{minor}.0"}
    assert check_environment(same_minor, model_ref=unique_ref()) == []

    older = {**capture_environment(), "python": "3.8.10"}
    with pytest.warns(EnvironmentMismatchWarning, match=r"pushed with Python 3\.8; this process"):
        messages = check_environment(older, model_ref=unique_ref())
    assert len(messages) == 1


def test_every_checked_library_is_reported() -> None:
    recorded = {"python": "3.8.1", "scikit-learn": "0.1", "numpy": "0.2", "joblib": "0.3"}
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        messages = check_environment(recorded, model_ref=unique_ref())
    assert len(messages) == len(record) == 4
    assert all(issubclass(w.category, EnvironmentMismatchWarning) for w in record)
