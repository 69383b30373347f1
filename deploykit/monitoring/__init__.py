"""Monitoring: what the training data looked like, and how live traffic drifts from it."""

from deploykit.monitoring.profile import (
    DataFingerprint,
    FeatureProfile,
    ReferenceProfile,
    fingerprint,
)

__all__ = ["DataFingerprint", "FeatureProfile", "ReferenceProfile", "fingerprint"]
