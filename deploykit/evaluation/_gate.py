"""Quality gates: conditions a model's evaluation must meet before it may be pushed or deployed.

A gate is a list of :class:`Threshold` clauses, each ``metric OP bound`` where the bound is
an absolute number or relative to the production model or the baseline, like MLflow's
``MetricThreshold`` (absolute ``threshold`` and ``min_absolute_change`` /
``min_relative_change`` against a baseline model). Written as text (``%deploy push --gate``,
the CLI)::

    roc_auc>=0.9; roc_auc>=production-0.01; log_loss<=production
    accuracy>baseline+0.05; recall>=production*0.98

Clauses are separated by ``;`` or newlines. ``OP`` is one of ``>= > <= <``. The bound is a
number, or ``production``/``baseline`` optionally followed by ``*factor`` and/or
``+offset``/``-offset``. In code the same clauses are
``Threshold("roc_auc", ">=", 0.9)`` and ``Threshold("roc_auc", ">=", -0.01, against="production")``,
gathered in ``Gate([...])``.

A clause relative to production **passes**, with the note "no production version to compare
with", when the report has no production figures: a model's first deploy must be possible.
A clause whose metric was not computed for the model (``mape`` with zeros in y) fails: a
gate never passes on missing evidence.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import operator
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from deploykit._fields import from_known
from deploykit.errors import GateError
from deploykit.evaluation._metrics import GREATER_IS_BETTER, TASK_METRICS

if TYPE_CHECKING:
    from deploykit.evaluation._report import EvaluationReport

__all__ = ["Gate", "GateCheck", "GateResult", "Threshold"]

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}
_NEGATED = {">=": "<", ">": "<=", "<=": ">", "<": ">="}
REFERENCES = ("production", "baseline")
NO_PRODUCTION = "no production version to compare with"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_UNSIGNED = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_CLAUSE = re.compile(r"[^;\n]+")


@dataclasses.dataclass(frozen=True)
class Threshold:
    """One clause: ``metric op bound``.

    With ``against=None`` the bound is ``value``. With ``against="production"`` or
    ``"baseline"`` it is ``factor * that_model[metric] + value``: so
    ``Threshold("roc_auc", ">=", -0.01, against="production")`` is
    ``roc_auc>=production-0.01`` and ``Threshold("recall", ">=", against="production",
    factor=0.98)`` is ``recall>=production*0.98``.
    """

    metric: str
    op: str
    value: float = 0.0
    against: str | None = None
    factor: float = 1.0

    def __post_init__(self) -> None:
        if self.metric not in GREATER_IS_BETTER:
            raise GateError(f"Unknown metric {self.metric!r}{_suggest(self.metric)}. {_known()}")
        if self.op not in OPERATORS:
            raise GateError(
                "The 'op' parameter of Threshold must be one of '>=', '>', '<=', '<'. "
                f"Got {self.op!r} instead."
            )
        if self.against not in (None, *REFERENCES):
            raise GateError(
                "The 'against' parameter of Threshold must be None, 'production' or "
                f"'baseline'. Got {self.against!r} instead."
            )
        for field in ("value", "factor"):
            number = getattr(self, field)
            if (
                isinstance(number, bool)
                or not isinstance(number, (int, float))
                or not (math.isfinite(number))
            ):
                raise GateError(
                    f"The '{field}' parameter of Threshold must be a finite number. "
                    f"Got {number!r} instead."
                )
            object.__setattr__(self, field, float(number))
        if self.against is None and self.factor != 1.0:
            raise GateError(
                "The 'factor' parameter of Threshold only applies with against='production' "
                f"or 'baseline'. Got factor={self.factor!r} with against=None."
            )

    def __str__(self) -> str:
        if self.against is None:
            return f"{self.metric}{self.op}{_num(self.value)}"
        rhs = self.against
        if self.factor != 1.0:
            rhs += f"*{_num(self.factor)}"
        if self.value:
            rhs += f"{'+' if self.value > 0 else '-'}{_num(abs(self.value))}"
        return f"{self.metric}{self.op}{rhs}"


@dataclasses.dataclass(frozen=True)
class GateCheck:
    """How one clause fared. ``threshold`` is the bound it resolved to (None if unchecked)."""

    clause: str
    metric: str
    op: str
    threshold: float | None
    actual: float | None
    passed: bool
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateCheck:
        return from_known(cls, data)


@dataclasses.dataclass(frozen=True)
class GateResult:
    """Whether every clause of a gate passed, and each clause's figures."""

    passed: bool
    checks: tuple[GateCheck, ...]
    expression: str

    def summary(self) -> str:
        """One line: ``gate passed (3/3)`` or ``gate failed: roc_auc 0.87 < 0.9``."""
        if self.passed:
            skipped = [c for c in self.checks if c.note and c.threshold is None]
            checked = len(self.checks) - len(skipped)
            if not skipped:
                return f"gate passed ({checked}/{checked})"
            # say plainly when a clause was waived (e.g. no production yet), never "1/1"
            reasons = "; ".join(sorted({c.note for c in skipped if c.note}))
            return (
                f"gate passed ({checked}/{checked} checked, {len(skipped)} not checked: {reasons})"
            )
        return "gate failed: " + "; ".join(_explain(c) for c in self.checks if not c.passed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "checks": [c.to_dict() for c in self.checks],
            "expression": self.expression,
            "summary": self.summary(),  # for readers that only show text; ignored on read
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateResult:
        return cls(
            passed=bool(data["passed"]),
            checks=tuple(GateCheck.from_dict(c) for c in data.get("checks", ())),
            expression=str(data.get("expression", "")),
        )


@dataclasses.dataclass(frozen=True, init=False)
class Gate:
    """An ordered list of :class:`Threshold` clauses; all must pass.

    ``Gate([Threshold("roc_auc", ">=", 0.9), ...])`` or ``Gate.parse("roc_auc>=0.9; ...")``;
    ``str(gate)`` writes the text form back, and ``Gate.parse(str(gate)) == gate``.
    """

    thresholds: tuple[Threshold, ...]

    def __init__(self, thresholds: Iterable[Threshold]) -> None:
        if isinstance(thresholds, (str, Threshold)):
            raise GateError(
                "Gate takes a list of Threshold objects; use Gate.parse(text) for a gate "
                f"written as text. Got {type(thresholds).__name__} instead."
            )
        thresholds = tuple(thresholds)
        if not thresholds:
            raise GateError("A gate needs at least one clause, such as 'roc_auc>=0.9'.")
        for t in thresholds:
            if not isinstance(t, Threshold):
                raise GateError(f"A Gate holds Threshold objects. Got {type(t).__name__} instead.")
        object.__setattr__(self, "thresholds", thresholds)

    def __str__(self) -> str:
        return "; ".join(str(t) for t in self.thresholds)

    @classmethod
    def parse(cls, text: str) -> Gate:
        """Read a gate written as text; see the module docstring for the syntax.

        Errors name the clause, its number and the character where reading stopped.
        """
        if not isinstance(text, str):
            raise GateError(f"A gate expression must be a str. Got {type(text).__name__} instead.")
        clauses: list[Threshold] = []
        for match in _CLAUSE.finditer(text):
            raw = match.group()
            if raw.strip():
                start = match.start() + len(raw) - len(raw.lstrip())
                clauses.append(_parse_clause(raw.strip(), len(clauses) + 1, start))
        if not clauses:
            raise GateError("The gate expression is empty; write clauses such as 'roc_auc>=0.9'.")
        return cls(tuple(clauses))

    def validate(self, task: str) -> None:
        """Raise GateError if a clause names a metric that ``task`` does not compute."""
        available = TASK_METRICS[task]
        for number, t in enumerate(self.thresholds, 1):
            if t.metric not in available:
                raise GateError(
                    f"Gate clause {number} '{t}': {t.metric} is not a metric of {task} "
                    f"evaluation; available metrics: {', '.join(available)}."
                )

    def check(self, report: EvaluationReport) -> GateResult:
        """Check every clause against ``report``; see the module docstring for missing figures."""
        self.validate(report.task)
        checks = tuple(_check(t, report) for t in self.thresholds)
        return GateResult(passed=all(c.passed for c in checks), checks=checks, expression=str(self))


def _check(t: Threshold, report: EvaluationReport) -> GateCheck:
    actual = report.metrics.get(t.metric)

    def result(threshold: float | None, passed: bool, note: str | None = None) -> GateCheck:
        return GateCheck(str(t), t.metric, t.op, threshold, actual, passed, note)

    bound = t.value
    if t.against is not None:
        reference = report.production if t.against == "production" else report.baseline
        if reference is None:
            if report.production_version is None:
                return result(None, True, NO_PRODUCTION)
            return result(
                None,
                True,
                f"production version {report.production_version} could not be evaluated "
                "on this data",
            )
        if t.metric not in reference:
            return result(None, True, f"{t.against} has no {t.metric} to compare with")
        bound = t.factor * reference[t.metric] + t.value
    if actual is None:
        reason = next((n for n in report.notes if n.startswith(f"{t.metric} ")), None)
        return result(bound, False, reason or f"{t.metric} was not computed for this model")
    return result(bound, OPERATORS[t.op](actual, bound))


def _parse_clause(clause: str, number: int, start: int) -> Threshold:
    def fail(at: int, message: str) -> GateError:
        return GateError(
            f"Gate clause {number} '{clause}', at character {start + at + 1}: {message}"
        )

    def skip(i: int) -> int:
        while i < len(clause) and clause[i].isspace():
            i += 1
        return i

    name = _NAME.match(clause)
    if name is None:
        raise fail(0, "expected a metric name such as roc_auc.")
    metric, i = name.group(), skip(name.end())
    if metric not in GREATER_IS_BETTER:
        raise fail(0, f"unknown metric {metric!r}{_suggest(metric)}. {_known()}")
    op = next((o for o in (">=", "<=", ">", "<") if clause.startswith(o, i)), None)
    if op is None:
        token = re.match(r"[=!<>]*", clause[i:]).group() or clause[i : i + 8]  # type: ignore[union-attr]
        equality = " Equality of floats makes a brittle gate; use >= or <=."
        hint = {
            "=>": " Did you mean '>='?",
            "=<": " Did you mean '<='?",
            "=": equality,
            "==": equality,
            "!=": equality,
        }.get(token, "")
        got = repr(token) if token else "nothing"
        raise fail(i, f"expected an operator >=, >, <=, < after '{metric}'; got {got}.{hint}")
    i = skip(i + len(op))
    value, factor, against = 0.0, 1.0, None
    if m := _NUMBER.match(clause, i):
        value, i = float(m.group()), m.end()
    elif m := _NAME.match(clause, i):
        against, i = m.group(), skip(m.end())
        if against not in REFERENCES:
            raise fail(
                m.start(),
                f"expected a number, 'production' or 'baseline' after '{op}'; got "
                f"{against!r}{_suggest(against, REFERENCES)}.",
            )
        if clause.startswith("*", i):
            i = skip(i + 1)
            if not (m := _UNSIGNED.match(clause, i)):
                raise fail(i, f"expected a number after '{against}*'.")
            factor, i = float(m.group()), skip(m.end())
        if clause[i : i + 1] in ("+", "-"):
            sign = -1.0 if clause[i] == "-" else 1.0
            i = skip(i + 1)
            if not (m := _UNSIGNED.match(clause, i)):
                raise fail(i, f"expected a number after '{against}{'-' if sign < 0 else '+'}'.")
            value, i = sign * float(m.group()), m.end()
    else:
        got = clause[i : i + 12] or "nothing"
        raise fail(i, f"expected a number, 'production' or 'baseline' after '{op}'; got {got!r}.")
    i = skip(i)
    if i < len(clause):
        rest = clause[i:]
        hint = " Separate clauses with ';'." if rest.startswith(",") else ""
        raise fail(i, f"unexpected {rest!r} after the bound.{hint}")
    return Threshold(metric, op, value, against=against, factor=factor)


def _explain(check: GateCheck) -> str:
    if check.actual is None or check.threshold is None:
        return f"{check.metric} not computed ({check.note})" if check.note else check.clause
    actual, bound = _pair(check.actual, check.threshold)
    rhs = check.clause[len(check.metric) + len(check.op) :]
    source = "" if rhs == _num(check.threshold) else f" ({rhs})"
    return f"{check.metric} {actual} {_NEGATED[check.op]} {bound}{source}"


def _pair(a: float, b: float) -> tuple[str, str]:
    # Enough digits that two different numbers never print the same ("0.9 < 0.9").
    for digits in range(4, 17):
        x, y = f"{a:.{digits}g}", f"{b:.{digits}g}"
        if x != y or a == b:
            return x, y
    return repr(a), repr(b)


def _num(value: float) -> str:
    short = f"{value:g}"
    return short if float(short) == value else repr(value)


def _known() -> str:
    return f"Known metrics: {', '.join(GREATER_IS_BETTER)}."


def _suggest(word: str, choices: Iterable[str] = GREATER_IS_BETTER) -> str:
    choices = list(choices)
    # A prefix ("prod", "bal") is the likeliest slip; else the closest spelling.
    close = [c for c in choices if c.startswith(word)] if len(word) >= 3 else []
    close = close or difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
