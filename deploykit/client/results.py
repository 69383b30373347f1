"""What :meth:`deploykit.Client.predict` returns."""

from __future__ import annotations

import dataclasses
from typing import Any

from deploykit._fields import from_known

__all__ = ["Prediction"]


@dataclasses.dataclass(frozen=True)
class Prediction:
    """Predictions, with the version that answered and the request id to give feedback on."""

    predictions: list[Any]
    model: str
    version: int
    request_id: str
    probabilities: list[list[float]] | None = None
    classes: list[Any] | None = None
    #: named columns the model does not take, ignored (predict never fails on them)
    ignored_columns: list[str] = dataclasses.field(default_factory=list)

    def __len__(self) -> int:
        return len(self.predictions)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Prediction:
        return from_known(cls, data)
