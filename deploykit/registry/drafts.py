"""A version before it has a number: everything the registry stores about it.

:func:`prepare_draft` is pure (no store, no database) so the HTTP client can call
it in the notebook, upload the artifact, and send the draft; the embedded
registry calls it too. Either way the registry then assigns the number.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from deploykit.errors import GateError, InvalidInputError

__all__ = ["VersionDraft", "json_safe", "prepare_draft"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class VersionDraft:
    """Everything about a version but its number, as JSON-ready values."""

    digest: str = ""
    format: str
    size: int = 0
    estimator: str
    description: str = ""
    notebook: str | None = None
    author: str | None = None  # None: the registry records its own actor
    signature: dict[str, Any] | None = None
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    evaluation: dict[str, Any] | None = None
    gate: dict[str, Any] | None = None
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    data_fingerprint: dict[str, Any] | None = None
    environment: dict[str, str] = dataclasses.field(default_factory=dict)
    profile: dict[str, Any] | None = None

    @property
    def gate_passed(self) -> bool | None:
        """Whether the gate passed; None when no gate was checked."""
        return None if self.gate is None else bool(self.gate.get("passed"))

    def with_artifact(self, digest: str, size: int) -> VersionDraft:
        """A copy naming the stored artifact."""
        return dataclasses.replace(self, digest=digest, size=size)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VersionDraft:
        """A draft from :meth:`to_dict` output; unknown keys are ignored (newer clients)."""
        if not isinstance(data, Mapping):
            raise InvalidInputError(
                f"A version draft must be a JSON object. Got {type(data).__name__} instead."
            )
        known = {f.name for f in dataclasses.fields(cls)}
        missing = sorted({"format", "estimator"} - set(data))
        if missing:
            raise InvalidInputError(
                f"A version draft needs the field(s) {', '.join(map(repr, missing))}. "
                "Build drafts with deploykit.registry.prepare_draft()."
            )
        return cls(**{k: v for k, v in data.items() if k in known})


def prepare_draft(
    model: Any,
    *,
    X: Any = None,
    format: str,
    evaluation: Any = None,
    gate: Any = None,
    description: str = "",
    params: Mapping[str, Any] | None = None,
    notebook: str | None = None,
    author: str | None = None,
    digest: str = "",
    size: int = 0,
    nullable: Sequence[str] | None = None,
    signature: Any = None,
) -> VersionDraft:
    """Describe ``model`` as a version draft: estimator, signature, profile, params, gate.

    ``X`` (training data, or a sample of it) gives the input signature, the
    reference profile drift is measured against and the data fingerprint.
    ``evaluation`` is a :class:`deploykit.EvaluationReport`; ``gate`` (a
    :class:`deploykit.Gate` or its text, e.g. ``"recall >= 0.8"``) is checked
    against it. ``nullable`` names columns that accept nulls whatever the data and the
    probe say; ``signature`` (a :class:`deploykit.Signature` or its dict) replaces the
    inferred one. Nothing is stored.
    """
    from deploykit.serialization import FORMATS, capture_environment, check_estimator

    if format not in FORMATS:
        raise InvalidInputError(
            f"The 'format' parameter must be one of {', '.join(map(repr, FORMATS))}. "
            f"Got {format!r} instead."
        )
    if not isinstance(description, str):
        raise InvalidInputError(
            f"The 'description' parameter must be a str. Got {type(description).__name__} instead."
        )
    estimator = check_estimator(model)
    report = _as_report(evaluation)
    gate_result = _check_gate(gate, report)
    # first: it names a mismatch between X and the model best
    signature_dict = _signature(X, model, nullable, signature)
    profile = fingerprint = None
    if X is not None:
        from deploykit.monitoring import ReferenceProfile
        from deploykit.monitoring import fingerprint as fingerprint_of

        profile = json_safe(ReferenceProfile.from_data(X, model=model).to_dict())
        fingerprint = json_safe(fingerprint_of(X).to_dict())
    return VersionDraft(
        digest=digest,
        format=format,
        size=size,
        estimator=estimator,
        description=description,
        notebook=notebook,
        author=author,
        signature=signature_dict,
        metrics=json_safe(dict(report.metrics)) if report is not None else {},
        evaluation=json_safe(report.to_dict()) if report is not None else None,
        gate=json_safe(gate_result.to_dict()) if gate_result is not None else None,
        params={**_params_of(model), **json_safe(dict(params or {}))},
        data_fingerprint=fingerprint,
        environment=dict(capture_environment()),
        profile=profile,
    )


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON: numpy scalars unwrapped, NaN/inf as None, the rest repr()'d."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalar
    if callable(item) and getattr(value, "ndim", None) == 0:
        return json_safe(item())
    return repr(value)


def _params_of(model: Any) -> dict[str, Any]:
    get_params = getattr(model, "get_params", None)
    if not callable(get_params):
        return {}
    try:
        return json_safe(dict(get_params(deep=False)))
    except Exception:  # a third-party estimator with a broken get_params; params are optional
        return {}


def _signature(
    X: Any, model: Any, nullable: Sequence[str] | None, given: Any
) -> dict[str, Any] | None:
    from deploykit.signature import ColumnSpec, Signature

    if given is not None:
        if isinstance(given, Mapping):
            given = Signature.from_dict(given)
        if not isinstance(given, Signature):
            raise InvalidInputError(
                "The 'signature' parameter must be a deploykit.Signature or its dict. "
                f"Got {type(given).__name__} instead."
            )
        return json_safe(given.with_nullable(nullable or ()).to_dict())
    if X is not None:
        return json_safe(Signature.infer(X, model=model, nullable=nullable).to_dict())
    if nullable:
        raise InvalidInputError(
            "The 'nullable' parameter needs the training data: pass X (or a signature) too."
        )
    # No data: the model still knows its column names (or count). Types are unknown, so
    # named columns accept anything and unnamed ones numbers, as scikit-learn needs.
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        specs = tuple(ColumnSpec(str(n), "object", True) for n in names)
        return json_safe(Signature(specs, "dataframe").to_dict())
    count = getattr(model, "n_features_in_", None)
    if isinstance(count, int) and count > 0:
        specs = tuple(ColumnSpec(f"f{i}", "float64", True) for i in range(count))
        return json_safe(Signature(specs, "array").to_dict())
    return None


def _as_report(evaluation: Any) -> Any:
    if evaluation is None:
        return None
    from deploykit.evaluation import EvaluationReport

    if isinstance(evaluation, EvaluationReport):
        return evaluation
    if isinstance(evaluation, Mapping):
        return EvaluationReport.from_dict(dict(evaluation))
    raise InvalidInputError(
        "The 'evaluation' parameter must be a deploykit.EvaluationReport, as returned by "
        f"deploykit.evaluate(...). Got {type(evaluation).__name__} instead."
    )


def _check_gate(gate: Any, report: Any) -> Any:
    """The gate result to store: ``gate`` checked against ``report``, else the report's own."""
    if gate is None:
        return None if report is None else report.gate
    if report is None:
        raise InvalidInputError(
            "a gate needs an evaluation: call deploykit.evaluate(...) and pass evaluation=report"
        )
    from deploykit.evaluation import Gate

    if isinstance(gate, str):
        gate = Gate.parse(gate)
    if not isinstance(gate, Gate):
        raise GateError(
            "The 'gate' parameter must be a deploykit.Gate or its text, such as "
            f"'recall >= 0.8'. Got {type(gate).__name__} instead."
        )
    return gate.check(report)
