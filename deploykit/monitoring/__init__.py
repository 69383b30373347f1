"""Monitoring: what the training data looked like, and how live traffic drifts from it.

Core (no web or Jupyter imports). Modules, one concept each:

- ``profile`` — the reference profile recorded at push; ``fingerprint`` of data.
- ``stats`` — the statistics (KS, Wasserstein, chi-squared, PSI, Jensen–Shannon).
- ``methods`` — drift methods by name: config (``DriftMethod``) apart from calculation.
- ``options`` — ``DriftOptions``: the auto policy, per-kind and per-feature settings.
- ``columns`` / ``drift`` — current data reduced once; ``check_drift`` judges it.
- ``results`` — ``FeatureDrift``, ``DriftReport``, ``DriftWindow``, ``Accuracy``, ``DriftTimeline``.
- ``logs`` / ``timeline`` / ``accuracy`` — prediction logs from Parquet, per time window.
- ``monitor`` — ``drift(registry, name, ...)``: all of it for a model's live traffic.
- ``multivariate`` — PCA reconstruction-error drift (and a domain classifier) across features.
- ``evidence`` / ``estimate`` / ``performance`` — calibration evidence kept at push, metrics
  estimated from scores without labels (CBPE, an error model), per window of live traffic.
- ``rules`` / ``store`` / ``tables`` — alert rules and drift options in the registry.

The data stack (scipy, pyarrow) loads on first use of anything but the profile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deploykit._lazy import lazy_exports

if TYPE_CHECKING:
    from deploykit.monitoring.drift import check_drift
    from deploykit.monitoring.logs import read_log
    from deploykit.monitoring.methods import (
        DriftMethod,
        MethodSpec,
        method_names,
        register_method,
    )
    from deploykit.monitoring.monitor import drift
    from deploykit.monitoring.options import DriftOptions
    from deploykit.monitoring.profile import (
        DataFingerprint,
        FeatureProfile,
        ReferenceProfile,
        fingerprint,
    )
    from deploykit.monitoring.results import (
        Accuracy,
        AccuracyWindow,
        DriftReport,
        DriftTimeline,
        DriftWindow,
        FeatureDrift,
    )
    from deploykit.monitoring.rules import AlertRule, Breach
    from deploykit.monitoring.store import (
        alerts,
        delete_alert,
        drift_options,
        set_alert,
        set_drift_options,
    )

# Lazy, the profile too: a server's submodules (tables, logs) must not pull in pandas
# for a worker that serves compiled models only (see deploykit.compile).
_LAZY = {
    "DataFingerprint": "profile",
    "FeatureProfile": "profile",
    "ReferenceProfile": "profile",
    "fingerprint": "profile",
    "AlertRule": "rules",
    "Breach": "rules",
    "check_drift": "drift",
    "read_log": "logs",
    "DriftMethod": "methods",
    "MethodSpec": "methods",
    "method_names": "methods",
    "register_method": "methods",
    "drift": "monitor",
    "DriftOptions": "options",
    "Accuracy": "results",
    "AccuracyWindow": "results",
    "DriftReport": "results",
    "DriftTimeline": "results",
    "DriftWindow": "results",
    "FeatureDrift": "results",
    "alerts": "store",
    "delete_alert": "store",
    "drift_options": "store",
    "set_alert": "store",
    "set_drift_options": "store",
}

__all__ = [
    "Accuracy",
    "AccuracyWindow",
    "AlertRule",
    "Breach",
    "DataFingerprint",
    "DriftMethod",
    "DriftOptions",
    "DriftReport",
    "DriftTimeline",
    "DriftWindow",
    "FeatureDrift",
    "FeatureProfile",
    "MethodSpec",
    "ReferenceProfile",
    "alerts",
    "check_drift",
    "delete_alert",
    "drift",
    "drift_options",
    "fingerprint",
    "method_names",
    "read_log",
    "register_method",
    "set_alert",
    "set_drift_options",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
