"""What a version records about how it runs: ``onnx``, or ``sklearn`` and why.

A :class:`RuntimeInfo` is computed at push (:func:`deploykit.compile.compile_model`),
stored with the version (``ModelVersion.runtime``) and read by every front end and by
the server, which builds its ONNX session from it without importing scikit-learn.
Plain data only: this module imports nothing heavier than the standard library.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

__all__ = ["InputPlan", "RuntimeInfo", "describe_runtime"]


@dataclasses.dataclass(frozen=True)
class InputPlan:
    """How request columns become the ONNX graph's inputs.

    ``matrix``: every column is a number, fed as one ``[rows, columns]`` tensor of
    ``dtype`` named ``X`` (one input: the cheapest call). ``columns``: one ``[rows, 1]``
    input per column, named after it (strings for text columns), in signature order.
    ``names`` are the graph's input names in order; ``families`` and ``nullable`` the
    signature's, kept here so a server can check numbers without pandas.
    """

    layout: str
    dtype: str
    columns: tuple[str, ...]
    families: tuple[str, ...]
    nullable: tuple[bool, ...]
    kinds: tuple[str, ...] = ()  # per column, as fed: "float" (dtype), "int" (int64), "string"
    names: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Every field, its tuples as JSON lists."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> InputPlan:
        return cls(
            layout=str(d["layout"]),
            dtype=str(d["dtype"]),
            columns=tuple(d["columns"]),
            families=tuple(d["families"]),
            nullable=tuple(bool(x) for x in d["nullable"]),
            kinds=tuple(d.get("kinds") or ()),
            names=tuple(d.get("names") or ()),
        )

    @property
    def all_float(self) -> bool:
        """Whether the signature takes JSON numbers only (the server's pandas-free path)."""
        return all(f == "float" for f in self.families)


@dataclasses.dataclass(frozen=True)
class RuntimeInfo:
    """How a version runs, why, and what the verification measured.

    ``runtime`` is ``"onnx"`` (a verified ONNX artifact, ``digest``, serves it) or
    ``"sklearn"`` (the original estimator serves; ``reason`` says why).
    """

    runtime: str
    reason: str | None = None
    digest: str | None = None
    size: int = 0
    task: str | None = None  # "classifier" | "regressor"
    plan: InputPlan | None = None
    outputs: dict[str, str | None] = dataclasses.field(default_factory=dict)
    classes: list[Any] | None = None
    has_proba: bool = False
    rows: int = 0  # rows verified
    max_abs_diff: float | None = None
    worst_row: int | None = None
    tolerance: float | None = None
    speedup: float | None = None  # scikit-learn time / ONNX time, 1 row
    speedup_batch: float | None = None  # the same on 100 rows
    sklearn_ms: float | None = None
    onnx_ms: float | None = None
    seconds: float | None = None  # conversion + verification
    #: who answers rows holding a null: "onnx" (verified like the rest) or "sklearn"
    #: (``null_reason`` says why; such requests go to the original estimator)
    nulls: str = "onnx"
    null_reason: str | None = None
    #: how labels are read: "onnx" (the graph's label output) or "argmax" (the first
    #: class whose probability is within ``tolerance`` of the highest: scikit-learn's
    #: argmax breaks exact ties by order, which float32 sums in ONNX can tip either way)
    labels: str = "onnx"
    versions: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def compiled(self) -> bool:
        return self.runtime == "onnx" and bool(self.digest)

    def describe(self) -> str:
        """``onnx (41× faster on 1 row)`` or ``sklearn: <why>``: what front ends show."""
        return describe_runtime(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["plan"] = None if self.plan is None else self.plan.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RuntimeInfo:
        known = {f.name for f in dataclasses.fields(cls)}  # inline: export copies this module alone
        fields = {k: v for k, v in d.items() if k in known}
        plan = fields.get("plan")
        fields["plan"] = None if plan is None else InputPlan.from_dict(plan)
        return cls(**fields)

    @classmethod
    def sklearn(cls, reason: str, **extra: Any) -> RuntimeInfo:
        return cls(runtime="sklearn", reason=reason, **extra)


def describe_runtime(runtime: Mapping[str, Any] | None) -> str:
    """One line for a version's runtime record (None: pushed before runtimes were kept)."""
    if not runtime:
        return "sklearn"
    if runtime.get("runtime") == "onnx":
        speedup = runtime.get("speedup")
        text = f"onnx ({speedup:.0f}× faster on 1 row)" if speedup else "onnx"
        if runtime.get("nulls") == "sklearn":
            text += "; rows with nulls: sklearn"
        return text
    return f"sklearn: {runtime.get('reason') or 'not compiled'}"
