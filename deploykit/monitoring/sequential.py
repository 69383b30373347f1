"""Always-valid confidence sequences, and the promote / abort / wait decision they give.

An experiment is looked at again every few seconds. A fixed-sample test read that
often promotes a worse candidate far more often than its nominal 5% (every look is
another chance for noise to cross the line). A *confidence sequence* instead holds
at every sample size at once: the probability that it *ever* excludes the truth is
at most ``alpha``, however often it is read, so acting the first time it clears a
bound keeps the error rate at ``alpha``.

We use the asymptotic normal-mixture confidence sequence of Waudby-Smith, Arbour,
Sinha, Kennedy and Ramdas ("Time-uniform central limit theory and asymptotic
confidence sequences", 2021; the two-sided form, used one-sided, so conservative)::

    estimate ± sigma * sqrt(2 (t rho² + 1) / (t² rho²) * log(sqrt(t rho² + 1) / alpha))

with ``t`` the candidate's sample size, ``sigma`` the standard deviation of one
observation (for a difference of two proportions, that of the difference scaled to
the candidate's sample), and ``rho`` fixed in advance to be tightest near ``t_star``
(``min_requests``). It is the confidence-sequence reading of the mixture SPRT.
Proportions use ``(x + 0.5) / (n + 1)`` for the variance, so zero errors out of
``n`` still has a width.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from deploykit.monitoring.policy import Clause, Policy

__all__ = [
    "ClauseCheck",
    "Counts",
    "Decision",
    "Interval",
    "decide",
    "difference_bounds",
    "difference_sequence",
    "proportion_sequence",
]

DEFAULT_ALPHA = 0.05


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class Counts:
    """Successes and trials of one metric: the candidate's and (for comparisons) production's.

    For ``error_rate`` a success is an error; for ``accuracy`` a right label; for
    ``agreement`` a row where both versions agree (candidate fields only).
    """

    candidate_hits: int = 0
    candidate_n: int = 0
    production_hits: int = 0
    production_n: int = 0


def _rho(alpha: float, t_star: float) -> float:
    return math.sqrt((-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / max(t_star, 1.0))


def _half_width(sigma: float, t: float, alpha: float, t_star: float) -> float:
    rho2 = _rho(alpha, t_star) ** 2
    return sigma * math.sqrt(
        2 * (t * rho2 + 1) / (t * t * rho2) * math.log(math.sqrt(t * rho2 + 1) / alpha)
    )


def _smoothed(hits: int, n: int) -> float:
    return (hits + 0.5) / (n + 1)


def difference_bounds(
    candidate_hits: Any,
    candidate_n: Any,
    production_hits: Any,
    production_n: Any,
    *,
    alpha: float = DEFAULT_ALPHA,
    t_star: float = 1000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(estimate, low, high) of candidate minus production, vectorized over arrays of
    counts (all > 0): what :func:`difference_sequence` computes, for simulations."""
    xc, nc = np.asarray(candidate_hits, float), np.asarray(candidate_n, float)
    xp, n_p = np.asarray(production_hits, float), np.asarray(production_n, float)
    d = xc / nc - xp / n_p
    qc, qp = (xc + 0.5) / (nc + 1), (xp + 0.5) / (n_p + 1)
    sigma = np.sqrt((qc * (1 - qc) / nc + qp * (1 - qp) / n_p) * nc)
    rho2 = _rho(alpha, t_star) ** 2
    w = sigma * np.sqrt(
        2 * (nc * rho2 + 1) / (nc * nc * rho2) * np.log(np.sqrt(nc * rho2 + 1) / alpha)
    )
    return d, np.maximum(-1.0, d - w), np.minimum(1.0, d + w)


def proportion_sequence(
    hits: int, n: int, *, alpha: float = DEFAULT_ALPHA, t_star: float = 1000
) -> Interval:
    """The confidence sequence of a proportion after ``hits`` of ``n``."""
    if n <= 0:
        return Interval(math.nan, 0.0, 1.0)
    p = hits / n
    q = _smoothed(hits, n)
    w = _half_width(math.sqrt(q * (1 - q)), n, alpha, t_star)
    return Interval(p, max(0.0, p - w), min(1.0, p + w))


def difference_sequence(
    counts: Counts, *, alpha: float = DEFAULT_ALPHA, t_star: float = 1000
) -> Interval:
    """The confidence sequence of candidate's proportion minus production's."""
    if counts.candidate_n <= 0 or counts.production_n <= 0:
        return Interval(math.nan, -1.0, 1.0)
    d, low, high = difference_bounds(
        counts.candidate_hits,
        counts.candidate_n,
        counts.production_hits,
        counts.production_n,
        alpha=alpha,
        t_star=t_star,
    )
    return Interval(float(d), float(low), float(high))


@dataclass(frozen=True)
class ClauseCheck:
    """One clause read against its confidence sequence."""

    clause: str
    metric: str
    status: str  # shown | breached | undecided | no data
    estimate: float | None
    low: float | None
    high: float | None
    bound: float
    candidate_n: int
    production_n: int
    guardrail: bool

    def sentence(self) -> str:
        if self.estimate is None:
            return f"{self.clause}: no data yet"
        what = "difference" if self.production_n else "value"
        return (
            f"{self.clause}: {self.metric} {what} {self.estimate:+.4f} "
            f"[{self.low:+.4f}, {self.high:+.4f}] vs bound {self.bound:+.4f} "
            f"({self.candidate_n} candidate"
            + (f", {self.production_n} production" if self.production_n else "")
            + f") -> {self.status}"
        )


@dataclass(frozen=True)
class Decision:
    """What the evidence says now: ``promote``, ``abort`` or ``wait``, and why."""

    action: str
    reason: str
    requests: int
    elapsed: float
    alpha: float
    checks: tuple[ClauseCheck, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["checks"] = [asdict(c) for c in self.checks]
        return _finite(out)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def check_clause(
    clause: Clause, counts: Counts, *, alpha: float = DEFAULT_ALPHA, t_star: float = 1000
) -> ClauseCheck:
    if clause.relative:
        interval = difference_sequence(counts, alpha=alpha, t_star=t_star)
        enough = counts.candidate_n > 0 and counts.production_n > 0
    else:
        interval = proportion_sequence(
            counts.candidate_hits, counts.candidate_n, alpha=alpha, t_star=t_star
        )
        enough = counts.candidate_n > 0
    bound = clause.margin
    if not enough:
        status = "no data"
    elif clause.lower_is_better:
        status = (
            "breached"
            if interval.low > bound
            else "shown"
            if interval.high <= bound
            else "undecided"
        )
    else:
        status = (
            "breached"
            if interval.high < bound
            else "shown"
            if interval.low >= bound
            else "undecided"
        )
    return ClauseCheck(
        clause=str(clause),
        metric=clause.metric,
        status=status,
        estimate=interval.estimate if enough else None,
        low=interval.low if enough else None,
        high=interval.high if enough else None,
        bound=bound,
        candidate_n=counts.candidate_n,
        production_n=counts.production_n if clause.relative else 0,
        guardrail=clause.guardrail,
    )


def decide(
    policy: Policy | None,
    evidence: dict[str, Counts],
    *,
    requests: int,
    min_requests: int,
    elapsed: float,
    max_duration: float | None,
    alpha: float = DEFAULT_ALPHA,
) -> Decision:
    """Promote when every clause to show is shown after ``min_requests``; abort on a breach,
    or when ``max_duration`` passes undecided; wait otherwise."""
    t_star = max(float(min_requests), 100.0)
    checks = tuple(
        check_clause(c, evidence.get(c.metric, Counts()), alpha=alpha, t_star=t_star)
        for c in (policy.clauses if policy is not None else ())
    )

    def made(action: str, reason: str) -> Decision:
        return Decision(action, reason, requests, elapsed, alpha, checks)

    breached = [c for c in checks if c.status == "breached"]
    if breached:
        return made("abort", "breach: " + "; ".join(c.sentence() for c in breached))
    late = max_duration is not None and elapsed >= max_duration
    if requests < min_requests:
        if late:
            return made(
                "abort",
                f"max_duration {max_duration:g}s passed with {requests} of the "
                f"{min_requests} requests min_requests asks for",
            )
        return made("wait", f"{requests} of {min_requests} requests so far")
    pending = [c for c in checks if not c.guardrail and c.status != "shown"]
    if not pending:
        shown = "; ".join(c.sentence() for c in checks) or "no policy clauses"
        return made("promote", f"evidence holds after {requests} requests: {shown}")
    if late:
        return made(
            "abort",
            f"max_duration {max_duration:g}s passed undecided: "
            + "; ".join(c.sentence() for c in pending),
        )
    return made("wait", "undecided: " + "; ".join(c.sentence() for c in pending))
