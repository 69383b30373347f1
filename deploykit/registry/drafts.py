"""A version before it has a number: everything the registry stores about it.

:func:`prepare_draft` is pure (no store, no database) so the HTTP client can call
it in the notebook, upload the artifact, and send the draft; the embedded
registry calls it too. Either way the registry then assigns the number.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from deploykit._fields import known_items
from deploykit._json import json_safe
from deploykit._schema import json_type
from deploykit.errors import GateError, InvalidInputError

if TYPE_CHECKING:
    from deploykit.cards.lineage import KernelContext

__all__ = ["VersionDraft", "draft_schema", "json_safe", "prepare_draft"]

_T = TypeVar("_T")

_MAX_TEXT = 100_000  # characters in a free-text field (description, estimator, ...)


@functools.cache
def draft_schema() -> dict[str, Any]:
    """The JSON Schema of :meth:`VersionDraft.to_dict`: published in ``/openapi.json``
    and enforced by :meth:`VersionDraft.check`, so both say the same."""
    from deploykit.serialization import FORMATS

    def nullable(kind: str, description: str) -> dict[str, Any]:
        return {"type": [kind, "null"], "description": description}

    return {
        "type": "object",
        "description": "A version before it has a number: deploykit VersionDraft.to_dict(). "
        "Unknown fields are ignored (newer clients).",
        "required": ["estimator", "format"],
        "properties": {
            "digest": {
                "type": "string",
                "pattern": "^(sha256:[0-9a-f]{64})?$",
                "x-pattern-text": "'sha256:' followed by 64 lowercase hex digits",
                "description": "Of an artifact uploaded to /v1/artifacts (empty before)",
            },
            "format": {"type": "string", "enum": list(FORMATS)},
            "size": {"type": "integer", "minimum": 0, "description": "The artifact's bytes"},
            "estimator": {"type": "string", "minLength": 1, "maxLength": 1000},
            "description": {"type": "string", "maxLength": _MAX_TEXT},
            "notebook": {"type": ["string", "null"], "maxLength": 4096},
            "author": {"type": ["string", "null"], "maxLength": 200},
            "signature": nullable("object", "deploykit Signature.to_dict()"),
            "metrics": {
                "type": "object",
                "additionalProperties": {"type": ["number", "null"]},
                "description": "Metric name -> value (null: not finite)",
            },
            "evaluation": nullable("object", "deploykit EvaluationReport.to_dict()"),
            "gate": {
                "type": ["object", "null"],
                "description": "deploykit GateResult.to_dict()",
                "required": ["passed"],
                "properties": {
                    "passed": {"type": "boolean"},
                    "checks": {"type": "array", "items": {"type": "object"}},
                    "expression": {"type": "string"},
                    "summary": {"type": "string"},
                },
            },
            "params": {"type": "object", "description": "The estimator's get_params()"},
            "data_fingerprint": nullable("object", "deploykit DataFingerprint.to_dict()"),
            "environment": {
                "type": "object",
                "additionalProperties": {"type": "string", "maxLength": 1000},
                "description": "Package -> version at push time",
            },
            "profile": nullable("object", "deploykit ReferenceProfile.to_dict()"),
            "lineage": nullable(
                "object", "Where the version came from: deploykit.cards.capture_lineage()"
            ),
            "card": {
                "type": "object",
                "description": "The card's editable fields (intended_use, limitations, owners...)",
            },
            "reference": nullable(
                "object", "A few training rows and the model's predictions on them"
            ),
            "runtime": {
                "type": ["object", "null"],
                "description": "deploykit RuntimeInfo.to_dict(): 'onnx' with the digest of "
                "the compiled artifact (uploaded to /v1/artifacts), or 'sklearn' and why",
                "required": ["runtime"],
                "properties": {
                    "runtime": {"type": "string", "enum": ["onnx", "sklearn"]},
                    "reason": {"type": ["string", "null"], "maxLength": 2000},
                    "digest": {
                        "type": ["string", "null"],
                        "pattern": "^(sha256:[0-9a-f]{64})?$",
                        "x-pattern-text": "'sha256:' followed by 64 lowercase hex digits",
                    },
                },
            },
        },
    }


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
    lineage: dict[str, Any] | None = None
    card: dict[str, Any] = dataclasses.field(default_factory=dict)
    reference: dict[str, Any] | None = None
    runtime: dict[str, Any] | None = None

    @property
    def gate_passed(self) -> bool | None:
        """Whether the gate passed; None when no gate was checked."""
        return None if self.gate is None else bool(self.gate.get("passed"))

    def with_artifact(self, digest: str, size: int) -> VersionDraft:
        """A copy naming the stored artifact."""
        return dataclasses.replace(self, digest=digest, size=size)

    def with_runtime(self, runtime: dict[str, Any] | None) -> VersionDraft:
        """A copy saying how the version runs (deploykit.compile.RuntimeInfo.to_dict())."""
        return dataclasses.replace(self, runtime=runtime)

    def version_fields(self, actor: str) -> dict[str, Any]:
        """What the new version records from this draft: the ``versions`` row and the
        :class:`~deploykit.records.ModelVersion` handed to its first card share it."""
        return {
            "digest": self.digest,
            "format": self.format,
            "size": self.size,
            "author": self.author or actor,
            "estimator": self.estimator,
            "description": self.description,
            "notebook": self.notebook,
            "signature": self.signature,
            "metrics": self.metrics,
            "evaluation": self.evaluation,
            "gate": self.gate,
            "params": self.params,
            "data_fingerprint": self.data_fingerprint,
            "environment": self.environment,
            "runtime": self.runtime,
        }

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VersionDraft:
        """A draft from :meth:`to_dict` output (an HTTP body, say), every field checked
        against :func:`draft_schema`; unknown keys are ignored (newer clients)."""
        if not isinstance(data, Mapping):
            raise InvalidInputError(
                f"A version draft must be a JSON object. Got {json_type(data)} instead."
            )
        fields = known_items(cls, data)
        _check_fields(fields)
        return cls(**fields)

    def check(self) -> VersionDraft:
        """This draft, if every field is what the registry can store and read back;
        else :class:`InvalidInputError` naming the field, what was expected and what came."""
        _check_fields(self.to_dict())
        return self


def _check_fields(fields: dict[str, Any]) -> None:
    from deploykit._schema import check

    check(draft_schema(), fields, "draft")
    for name, read in _READERS.items():
        value = fields.get(name)
        if value is not None:
            try:
                read(value)
            except Exception as exc:  # whatever the reader trips on, it is the draft's fault
                what = _READ_AS[name]
                raise InvalidInputError(
                    f"The field 'draft.{name}' is not {what} deploykit can read "
                    f"({type(exc).__name__}: {str(exc)[:200]}). Build drafts with "
                    "deploykit.registry.prepare_draft()."
                ) from None


def _read_lineage(value: dict[str, Any]) -> None:
    from deploykit.cards.lineage import check_lineage

    check_lineage(value)


def _read_card(value: dict[str, Any]) -> None:
    from deploykit.cards.fields import check_fields

    if check_fields(value, parameter="draft.card") != value:
        raise ValueError("fields must be clean (see deploykit.cards.check_fields)")


def _read_reference(value: dict[str, Any]) -> None:
    if value.get("kind") not in ("dataframe", "array"):
        raise ValueError("kind must be 'dataframe' or 'array'")
    rows, predictions = value.get("rows"), value.get("predictions")
    if not isinstance(rows, list) or not isinstance(predictions, list):
        raise ValueError("rows and predictions must be lists")
    if len(rows) != len(predictions) or len(rows) > 1000:
        raise ValueError("rows and predictions must be as many, at most 1000")


def _read_signature(value: dict[str, Any]) -> None:
    from deploykit.signature import Signature

    signature = Signature.from_dict(value)
    if signature.kind not in ("dataframe", "array"):
        raise ValueError(f"kind must be 'dataframe' or 'array', got {signature.kind!r}")
    if len(set(signature.columns)) != len(signature.columns):
        raise ValueError("column names repeat")
    if not all(isinstance(c, str) for c in signature.columns):
        raise ValueError("column names must be strings")


def _read_runtime(value: dict[str, Any]) -> None:
    from deploykit.compile import RuntimeInfo

    info = RuntimeInfo.from_dict(value)
    if info.runtime == "onnx" and (not info.digest or info.plan is None or not info.outputs):
        raise ValueError("an 'onnx' runtime needs the digest, plan and outputs of its artifact")


def _read_profile(value: dict[str, Any]) -> None:
    from deploykit.monitoring import ReferenceProfile

    profile = ReferenceProfile.from_dict(value)
    if profile.rows < 0:
        raise ValueError(f"rows must be >= 0, got {profile.rows}")


def _read_evaluation(value: dict[str, Any]) -> None:
    from deploykit.evaluation import EvaluationReport

    EvaluationReport.from_dict(value)


def _read_gate(value: dict[str, Any]) -> None:
    from deploykit.evaluation import GateResult

    GateResult.from_dict(value)


def _read_fingerprint(value: dict[str, Any]) -> None:
    from deploykit.monitoring.profile import DataFingerprint

    DataFingerprint.from_dict(value)


_READERS = {
    "signature": _read_signature,
    "profile": _read_profile,
    "evaluation": _read_evaluation,
    "gate": _read_gate,
    "data_fingerprint": _read_fingerprint,
    "lineage": _read_lineage,
    "card": _read_card,
    "reference": _read_reference,
    "runtime": _read_runtime,
}
_READ_AS = {
    "signature": "a signature",
    "profile": "a reference profile",
    "evaluation": "an evaluation report",
    "gate": "a gate result",
    "data_fingerprint": "a data fingerprint",
    "lineage": "a lineage",
    "card": "card fields",
    "reference": "a reference sample",
    "runtime": "a runtime record",
}


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
    card: Mapping[str, Any] | None = None,
    lineage: KernelContext | None = None,
) -> VersionDraft:
    """Describe ``model`` as a version draft: estimator, signature, profile, params, gate.

    ``X`` (training data, or a sample of it) gives the input signature, the
    reference profile drift is measured against and the data fingerprint.
    ``evaluation`` is a :class:`deploykit.EvaluationReport`; ``gate`` (a
    :class:`deploykit.Gate` or its text, e.g. ``"recall >= 0.8"``) is checked
    against it. ``nullable`` names columns that accept nulls whatever the data and the
    probe say; ``signature`` (a :class:`deploykit.Signature` or its dict) replaces the
    inferred one. ``card`` holds the card's editable fields (intended use, limitations,
    owners, see :data:`deploykit.cards.CARD_FIELDS`); ``lineage`` what a notebook kernel
    knows (the magics pass it); the rest of the lineage (git, the package lock) is read
    here, in the pushing process. Nothing is stored.
    """
    from deploykit.cards.fields import check_fields
    from deploykit.cards.lineage import KernelContext, capture_lineage
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
    card_fields = check_fields(card)
    if lineage is not None and not isinstance(lineage, KernelContext):
        raise InvalidInputError(
            "The 'lineage' parameter must be a deploykit.cards.KernelContext (the %deploy "
            f"magics pass one). Got {type(lineage).__name__} instead."
        )
    estimator = check_estimator(model)
    report = _as_report(evaluation)
    gate_result = _check_gate(gate, report)
    # first: it names a mismatch between X and the model best
    signature_dict = _signature(X, model, nullable, signature)
    profile = fingerprint = reference = None
    if X is not None:
        from deploykit.cards.reference import reference_sample

        reference = reference_sample(model, X)
        from deploykit.monitoring import ReferenceProfile
        from deploykit.monitoring import fingerprint as fingerprint_of

        profile = json_safe(ReferenceProfile.from_data(X, model=model).to_dict())
        fingerprint = json_safe(fingerprint_of(X).to_dict())
    captured = json_safe(capture_lineage(lineage))
    return VersionDraft(
        digest=digest,
        format=format,
        size=size,
        estimator=estimator,
        description=description,
        notebook=(notebook or captured["source"].get("notebook") or "")[:1024] or None,
        author=author,
        signature=signature_dict,
        metrics=json_safe(dict(report.metrics)) if report is not None else {},
        evaluation=json_safe(report.to_dict()) if report is not None else None,
        gate=json_safe(gate_result.to_dict()) if gate_result is not None else None,
        params={**_params_of(model), **json_safe(dict(params or {}))},
        data_fingerprint=fingerprint,
        environment=dict(capture_environment()),
        profile=profile,
        lineage=captured,
        card=card_fields,
        reference=reference,
    )


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
        given = _coerced(given, Signature, Mapping, Signature.from_dict, "signature", "its dict")
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

    form = "its text, such as 'recall >= 0.8'"
    return _coerced(gate, Gate, str, Gate.parse, "gate", form, error=GateError).check(report)


def _coerced(
    value: Any,
    cls: type[_T],
    source: type,
    parse: Callable[[Any], _T],
    param: str,
    form: str,
    *,
    error: type[Exception] = InvalidInputError,
) -> _T:
    """``value`` as a ``cls``, parsed first if it came in its ``source`` form (a dict, a
    text); anything else is ``error`` naming ``param`` and what it takes."""
    if isinstance(value, source):
        value = parse(value)
    if not isinstance(value, cls):
        raise error(
            f"The {param!r} parameter must be a deploykit.{cls.__name__} or {form}. "
            f"Got {type(value).__name__} instead."
        )
    return value
