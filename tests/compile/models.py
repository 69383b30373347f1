"""Estimators for the compile tests, importable by the server subprocesses (pickles)."""

from __future__ import annotations

from sklearn.linear_model import LogisticRegression


class ShiftedLogistic(LogisticRegression):
    """A LogisticRegression under a name skl2onnx has no converter for."""
