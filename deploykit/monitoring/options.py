"""Drift options: the policy's levels, and per-kind or per-feature methods and thresholds.

    DriftOptions()                                          # the auto policy everywhere
    DriftOptions(features={"age": 0.2})                     # auto, effect threshold 0.2
    DriftOptions(features={"plan": DriftMethod("psi", 0.25)}, numeric="ks")

A model's options are kept in the registry (:func:`deploykit.monitoring.store.set_drift_options`)
and travel as JSON (``to_dict``/``from_dict``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from deploykit._fields import field_names, refuse_unknown
from deploykit.errors import InvalidInputError
from deploykit.monitoring.methods import DriftMethod, _is_number, method_spec

__all__ = ["AUTO", "DriftOptions", "Setting"]

AUTO = "auto"
#: What a feature is checked with: the auto policy (with its effect threshold, or the
#: kind's default when None) or one method.
Setting = DriftMethod | float | None


def _fail(param: str, expected: str, got: Any) -> InvalidInputError:
    return InvalidInputError(
        f"The {param!r} parameter of DriftOptions must be {expected}. Got {got!r} instead."
    )


def _level(param: str, value: Any, *, upper: float = math.inf, closed: bool = True) -> float:
    ok = _is_number(value) and value > 0 and (value <= upper if closed else value < upper)
    if not ok:
        bound = f"({0}, {upper:g}]" if closed else f"(0, {upper:g})"
        raise _fail(param, f"a float in {bound}" if math.isfinite(upper) else "a float > 0", value)
    return float(value)


def parse_setting(value: Any, *, where: str) -> Setting:
    """A method name, ``"auto"``, a threshold, a DriftMethod or its dict -> a Setting."""
    if value is None or value == AUTO:
        return None
    if isinstance(value, DriftMethod):
        return value
    if isinstance(value, str):
        return DriftMethod(value)
    if _is_number(value):
        return _level(where, value)
    if isinstance(value, Mapping):
        unknown = set(value) - {"method", "threshold"}
        if unknown:
            raise InvalidInputError(
                f"The setting of {where} takes 'method' and 'threshold'. Got the key(s) "
                f"{', '.join(map(repr, sorted(unknown)))} instead."
            )
        name = value.get("method") or AUTO
        threshold = value.get("threshold")
        if name == AUTO:
            return None if threshold is None else _level(where, threshold)
        spec = method_spec(name)
        if threshold is not None:
            spec.check_threshold(threshold, where=f" (for {where})")
        return DriftMethod(name, threshold)
    raise InvalidInputError(
        f"The setting of {where} must be a method name ('auto', 'psi', ...), a threshold, "
        f'or {{"method": ..., "threshold": ...}}. Got {value!r} instead.'
    )


def _setting_dict(setting: Setting) -> Any:
    if isinstance(setting, DriftMethod):
        return setting.to_dict()
    return {"method": AUTO, "threshold": setting}


@dataclasses.dataclass(frozen=True)
class DriftOptions:
    """How drift is judged.

    The ``auto`` policy (the default) flags a feature when its change is *both*
    significant and large: a test p-value below ``alpha`` divided by the number of
    tests in the report (Bonferroni), so that at most ``alpha`` of no-drift windows
    raise any flag however many features there are; and an effect size at or above
    the threshold (``numeric_threshold`` in reference standard deviations of
    Wasserstein distance, ``categorical_threshold`` of Jensen–Shannon distance), so
    that harmless shifts stay quiet however large the window. On small windows the
    test decides, on large ones the effect size.

    ``numeric``/``categorical`` replace the policy by one method for that kind;
    ``features`` overrides single features (a method, or a float: the policy with
    that effect threshold). ``missing_threshold`` is the Jensen–Shannon distance
    between the reference's and the window's missing shares that counts as drift.
    """

    alpha: float = 0.005
    numeric_threshold: float = 0.1
    categorical_threshold: float = 0.1
    missing_threshold: float = 0.1
    numeric: Setting = None
    categorical: Setting = None
    features: Mapping[str, Setting] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "alpha", _level("alpha", self.alpha, upper=0.5))
        set_(self, "numeric_threshold", _level("numeric_threshold", self.numeric_threshold))
        for key in ("categorical_threshold", "missing_threshold"):  # JS distances: <= 1
            set_(self, key, _level(key, getattr(self, key), upper=1.0))
        for kind in ("numeric", "categorical"):
            setting = parse_setting(getattr(self, kind), where=kind)
            if isinstance(setting, DriftMethod) and kind not in setting.spec.kinds:
                raise _fail(kind, f"a method for {kind} features", setting.name)
            set_(self, kind, setting)
        if not isinstance(self.features, Mapping):
            raise _fail("features", "a mapping of feature name to setting", self.features)
        set_(
            self,
            "features",
            {
                str(name): parse_setting(value, where=f"feature {name!r}")
                for name, value in self.features.items()
            },
        )

    def setting(self, feature: str, kind: str) -> Setting:
        """What ``feature`` (of ``kind``) is checked with."""
        if feature in self.features:
            return self.features[feature]
        return self.numeric if kind == "numeric" else self.categorical

    def effect_threshold(self, kind: str, setting: Setting) -> float:
        if isinstance(setting, float):
            return setting
        return self.numeric_threshold if kind == "numeric" else self.categorical_threshold

    def to_dict(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "numeric_threshold": self.numeric_threshold,
            "categorical_threshold": self.categorical_threshold,
            "missing_threshold": self.missing_threshold,
            "numeric": _setting_dict(self.numeric),
            "categorical": _setting_dict(self.categorical),
            "features": {k: _setting_dict(v) for k, v in self.features.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DriftOptions:
        if not isinstance(d, Mapping):
            raise InvalidInputError(f"Drift options must be a JSON object. Got {d!r} instead.")
        refuse_unknown(
            d,
            field_names(cls),
            what="drift option",
            known_as="known options are",
            error=InvalidInputError,
        )
        return cls(**{k: v for k, v in d.items() if v is not None})
