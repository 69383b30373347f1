"""Promotion policies: ``"error_rate<=production; accuracy>=production-0.01"``.

A policy is clauses joined by ``;`` (or ``and``). A clause compares a figure of the
candidate with production's (``production``, ``production+0.01``, ``production-0.01``)
or with a number (``agreement>=0.95``):

========== ===================================================== ============
metric      what it is                                            data
========== ===================================================== ============
error_rate  share of requests answered with a 5xx                 telemetry
accuracy    share of labelled rows predicted right                feedback
agreement   share of rows where candidate and production agree    shadow pairs
========== ===================================================== ============

How each clause is judged (:mod:`deploykit.monitoring.sequential`): a clause with a
margin or a number must be *shown*, i.e. its always-valid confidence sequence lies on
the right side of the bound; a clause against production with no margin
(``error_rate<=production``) is a *guardrail*: equality cannot be shown from data, so
it only aborts on evidence of harm. The candidate is promoted once ``min_requests``
came, every shown clause holds and no clause is breached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from deploykit.errors import InvalidInputError

__all__ = ["METRICS", "Clause", "Policy", "parse_policy"]

#: metric -> needs a production figure to compare with (False: only a number).
METRICS = {"error_rate": True, "accuracy": True, "agreement": False}
_OPS = ("<=", ">=")
_CLAUSE = re.compile(
    r"^\s*(?P<metric>[a-z_]+)\s*(?P<op><=|>=|<|>|==|=)\s*(?P<rhs>.+?)\s*$", re.IGNORECASE
)
_RELATIVE = re.compile(r"^production\s*(?:(?P<sign>[+-])\s*(?P<margin>[0-9.eE+-]+))?$")
_EXAMPLE = "error_rate<=production; accuracy>=production-0.01"


@dataclass(frozen=True)
class Clause:
    """``metric op bound``; ``bound`` is production + ``margin`` if ``relative``."""

    metric: str
    op: str  # "<=" or ">="
    relative: bool
    margin: float  # relative: added to production's figure; else the number itself

    @property
    def guardrail(self) -> bool:
        """A no-margin comparison with production: it aborts on harm, never needs showing."""
        return self.relative and self.margin == 0.0

    @property
    def lower_is_better(self) -> bool:
        return self.op == "<="

    def __str__(self) -> str:
        if not self.relative:
            return f"{self.metric}{self.op}{self.margin:g}"
        if self.margin == 0:
            return f"{self.metric}{self.op}production"
        return f"{self.metric}{self.op}production{self.margin:+g}"


@dataclass(frozen=True)
class Policy:
    clauses: tuple[Clause, ...]

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.metric for c in self.clauses))

    def __str__(self) -> str:
        return "; ".join(str(c) for c in self.clauses)


def parse_policy(text: object, *, param: str = "promote_when") -> Policy:
    """The :class:`Policy` ``text`` says; InvalidInputError naming the clause otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError(
            f"The {param!r} parameter must be a policy such as {_EXAMPLE!r}. Got {text!r} instead."
        )
    parts = [p for p in re.split(r";|\band\b", text) if p.strip()]
    clauses = tuple(_clause(part, param) for part in parts)
    return Policy(clauses)


def _clause(part: str, param: str) -> Clause:
    match = _CLAUSE.match(part)
    if match is None:
        raise InvalidInputError(
            f"The {param!r} clause {part.strip()!r} must read METRIC <= BOUND or METRIC >= "
            f"BOUND, as in {_EXAMPLE!r}."
        )
    metric, op, rhs = match["metric"].lower(), match["op"], match["rhs"].strip().lower()
    if metric not in METRICS:
        raise InvalidInputError(
            f"The {param!r} clause {part.strip()!r} names an unknown metric {metric!r}; "
            f"known metrics are {', '.join(map(repr, METRICS))}."
        )
    op = {"<": "<=", ">": ">="}.get(op, op)
    if op not in _OPS:
        raise InvalidInputError(
            f"The {param!r} clause {part.strip()!r} must compare with <= or >=. Got {op!r}."
        )
    relative = _RELATIVE.match(rhs)
    if relative is not None:
        if not METRICS[metric]:
            raise InvalidInputError(
                f"The {param!r} clause {part.strip()!r}: {metric} compares the two versions "
                f"already, so its bound is a number in [0, 1], as in '{metric}>=0.95'."
            )
        margin = 0.0
        if relative["margin"] is not None:
            margin = _number(relative["margin"], part, param)
            margin = -margin if relative["sign"] == "-" else margin
        if not -1.0 < margin < 1.0:
            raise InvalidInputError(
                f"The {param!r} clause {part.strip()!r}: the margin is a share, between -1 "
                f"and 1. Got {margin:g}."
            )
        return Clause(metric, op, True, margin)
    value = _number(rhs, part, param)
    if not 0.0 <= value <= 1.0:
        raise InvalidInputError(
            f"The {param!r} clause {part.strip()!r}: {metric} is a share, so a bound must be "
            f"in [0, 1]. Got {value:g}."
        )
    return Clause(metric, op, False, value)


def _number(text: str, part: str, param: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidInputError(
            f"The {param!r} clause {part.strip()!r} must end in 'production', "
            f"'production+NUMBER', 'production-NUMBER' or a number. Got {text!r}."
        ) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidInputError(f"The {param!r} clause {part.strip()!r} needs a finite number.")
    return value
