"""Evaluation: a model's metrics beside a baseline and the production model, and quality gates.

    from deploykit.evaluation import evaluate
    report = evaluate(model, X_test, y_test, against=registry, name="churn", cv=5,
                      gate="roc_auc>=0.8; roc_auc>=production-0.01")
    report.metrics["roc_auc"], report.delta("production"), report.gate.summary()

* :func:`evaluate` → :class:`EvaluationReport` (``to_dict``/``from_dict`` for JSON).
* :class:`Gate` of :class:`Threshold` clauses → :class:`GateResult` of :class:`GateCheck`.
* :data:`TASK_METRICS`: the metric names of each task; :data:`GREATER_IS_BETTER`: which way
  each one improves.

Nothing here imports the registry: ``against`` is any object with
``version(name, alias)`` and ``load(name, alias)``.
"""

from deploykit.evaluation._evaluate import evaluate
from deploykit.evaluation._gate import Gate, GateCheck, GateResult, Threshold
from deploykit.evaluation._metrics import GREATER_IS_BETTER, TASK_METRICS
from deploykit.evaluation._report import EvaluationReport

__all__ = [
    "GREATER_IS_BETTER",
    "TASK_METRICS",
    "EvaluationReport",
    "Gate",
    "GateCheck",
    "GateResult",
    "Threshold",
    "evaluate",
]
