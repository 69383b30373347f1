"""Bad drift parameters are one clear line: the parameter, what it takes, what came."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from deploykit.errors import InvalidInputError
from deploykit.monitoring import DriftMethod, DriftOptions, method_names, register_method
from deploykit.monitoring.methods import MethodSpec, Pair, method_spec
from deploykit.monitoring.periods import MAX_WINDOWS, parse_time, period


def test_an_unknown_method_lists_the_known_ones() -> None:
    with pytest.raises(InvalidInputError) as info:
        DriftMethod("wasserstien")
    message = str(info.value)
    assert "Unknown drift method 'wasserstien'" in message
    assert "'chi2', 'jensenshannon', 'ks', 'psi', 'wasserstein'" in message
    assert "Did you mean 'wasserstein'?" in message
    with pytest.raises(InvalidInputError, match="Unknown drift method 'kss'"):
        DriftOptions(features={"age": {"method": "kss", "threshold": 0.1}})


@pytest.mark.parametrize(
    ("name", "threshold", "expected"),
    [
        ("ks", 1.5, r"must be a float in \(0, 1\) \(a p-value\)\. Got 1\.5"),
        ("chi2", 0, r"a float in \(0, 1\)"),
        ("jensenshannon", 1.2, r"a float > 0, at most 1\. Got 1\.2"),
        ("psi", -0.1, r"'threshold' parameter of drift method 'psi' must be a float > 0"),
        ("wasserstein", "0.1", r"Got '0\.1' instead"),
        ("psi", True, r"Got True instead"),
    ],
)
def test_a_threshold_out_of_range_says_the_range(
    name: str, threshold: object, expected: str
) -> None:
    with pytest.raises(InvalidInputError, match=expected):
        DriftMethod(name, threshold=threshold)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"alpha": 0.9}, r"'alpha' parameter of DriftOptions must be a float in \(0, 0\.5\]"),
        ({"numeric_threshold": 0}, r"'numeric_threshold' .* a float > 0\. Got 0"),
        ({"categorical_threshold": 2}, r"'categorical_threshold' .* in \(0, 1\]"),
        ({"numeric": "jensenshannon"}, r"'numeric' .* a method for numeric features"),
        ({"features": {"age": [1]}}, r"setting of feature 'age' must be a method name"),
        ({"features": {"age": {"metod": "psi"}}}, r"takes 'method' and 'threshold'"),
        ({"aplha": 0.01}, r"Unknown drift option\(s\) 'aplha'; known options are alpha,"),
    ],
)
def test_bad_options_are_named(options: dict, expected: str) -> None:
    with pytest.raises(InvalidInputError, match=expected):
        DriftOptions.from_dict(options)


def test_options_round_trip_as_json() -> None:
    options = DriftOptions(
        alpha=0.01,
        categorical="chi2",
        features={"age": 0.3, "plan": DriftMethod("psi", 0.25), "city": "auto"},
    )
    again = DriftOptions.from_dict(options.to_dict())
    assert again == options
    assert again.setting("age", "numeric") == 0.3
    assert again.setting("city", "categorical") is None  # the auto policy
    assert again.setting("other", "categorical") == DriftMethod("chi2")


def test_methods_are_registered_by_name() -> None:
    spec = MethodSpec("mean_shift", ("numeric",), "distance", 0.2, _mean_shift, "demo")
    register_method(spec)
    try:
        assert "mean_shift" in method_names()
        assert DriftMethod("mean_shift").cutoff == 0.2
        assert method_spec("psi").is_drift(0.3, 0.1)
        assert method_spec("ks").is_drift(0.01, 0.05)
    finally:
        from deploykit.monitoring import methods

        methods._REGISTRY.pop("mean_shift")


def _mean_shift(pair: Pair) -> float:
    return 0.0


def test_periods_parse_iso_and_epoch_and_refuse_empty_ones() -> None:
    utc = timezone.utc
    assert parse_time("2025-01-31T12:00:00", "since") == datetime(2025, 1, 31, 12, tzinfo=utc)
    assert parse_time("1738324800", "since") == datetime(2025, 1, 31, 12, tzinfo=utc)
    assert parse_time(None, "since") is None
    with pytest.raises(InvalidInputError, match="The 'until' parameter must be an ISO 8601"):
        parse_time("yesterday", "until")
    with pytest.raises(InvalidInputError, match="'since' parameter must be before 'until'"):
        period("2025-02-01", "2025-01-01")
    with pytest.raises(InvalidInputError, match=r"must be before 'until'.*an empty period"):
        period("2025-01-01", "2025-01-01")
    with pytest.raises(
        InvalidInputError, match=f"at most {MAX_WINDOWS} are allowed. Use step >= 87"
    ):
        period("2025-01-01", "2025-01-02", 1)
    with pytest.raises(InvalidInputError, match="'step' parameter must be a whole number"):
        period("2025-01-01", "2025-01-02", 0)
    span = period("2025-01-01T00:00:00", "2025-01-01T02:30:00", 3600)
    assert [e.hour for e in span.edges] == [0, 1, 2, 2]
    assert span.edges[-1].minute == 30
