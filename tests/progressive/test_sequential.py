"""The promotion policy: parsing, and the always-valid test that reads it."""

from __future__ import annotations

import numpy as np
import pytest

from deploykit.errors import InvalidInputError
from deploykit.monitoring.policy import parse_policy
from deploykit.monitoring.sequential import Counts, decide, difference_bounds


def test_policy_parses_the_documented_example() -> None:
    policy = parse_policy("error_rate<=production; accuracy>=production-0.01")
    first, second = policy.clauses
    assert (first.metric, first.op, first.relative, first.margin) == ("error_rate", "<=", True, 0)
    assert first.guardrail
    assert (second.metric, second.op, second.margin) == ("accuracy", ">=", -0.01)
    assert not second.guardrail
    assert str(parse_policy("agreement > 0.95")) == "agreement>=0.95"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "must be a policy such as"),
        ("accuracy", "must read METRIC <= BOUND"),
        ("speed<=production", "unknown metric 'speed'"),
        ("agreement>=production", "its bound is a number"),
        ("accuracy>=production-2", "between -1 and 1"),
        ("error_rate<=1.5", r"in \[0, 1\]"),
    ],
)
def test_bad_policies_name_the_clause(text: str, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        parse_policy(text)


def _simulate(p_candidate: float, runs: int = 400) -> np.ndarray:
    """Promotions of accuracy>=production-0.01 when looked at every 100 candidate rows."""
    rng = np.random.default_rng(7)
    looks, per = 300, 100
    xc = rng.binomial(per, p_candidate, size=(runs, looks)).cumsum(axis=1)
    xp = rng.binomial(per * 9, 0.9, size=(runs, looks)).cumsum(axis=1)
    nc = np.arange(1, looks + 1) * per
    _, low, high = difference_bounds(xc, nc, xp, nc * 9, t_star=1000)
    promote = (low >= -0.01) & (nc >= 1000)
    first_abort = np.where((high < -0.01).any(1), (high < -0.01).argmax(1), looks)
    first_promote = np.where(promote.any(1), promote.argmax(1), looks)
    return first_promote < first_abort


def test_peeking_at_every_look_keeps_false_promotions_under_alpha() -> None:
    assert _simulate(0.89).mean() <= 0.05  # worse by exactly the margin
    assert _simulate(0.92).mean() >= 0.95  # better: promoted


def test_decide_waits_for_min_requests_then_promotes_a_shown_policy() -> None:
    policy = parse_policy("error_rate<=production; accuracy>=production-0.01")
    evidence = {
        "error_rate": Counts(0, 5000, 0, 45000),
        "accuracy": Counts(4700, 5000, 40500, 45000),  # 0.94 vs 0.90
    }
    early = decide(policy, evidence, requests=500, min_requests=1000, elapsed=10, max_duration=None)
    assert early.action == "wait"
    assert "500 of 1000" in early.reason
    done = decide(policy, evidence, requests=5000, min_requests=1000, elapsed=10, max_duration=None)
    assert done.action == "promote"
    assert [c.status for c in done.checks] == ["undecided", "shown"]  # the guardrail needs none
    assert done.to_dict()["checks"][1]["low"] > -0.01


def test_decide_aborts_on_a_breach_and_when_time_runs_out() -> None:
    policy = parse_policy("error_rate<=production")
    harm = {"error_rate": Counts(300, 5000, 10, 45000)}
    breach = decide(policy, harm, requests=5000, min_requests=1000, elapsed=5, max_duration=None)
    assert breach.action == "abort"
    assert breach.reason.startswith("breach: error_rate<=production")
    slow = decide(
        parse_policy("accuracy>=production"),
        {"accuracy": Counts(0, 0, 0, 0)},
        requests=10,
        min_requests=1000,
        elapsed=120,
        max_duration=60,
    )
    assert slow.action == "abort"
    assert "max_duration 60s" in slow.reason
