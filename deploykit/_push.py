"""The keyword arguments of a push, declared once for the four push methods.

``Registry.push``/``push_file`` and ``Client.push``/``push_file`` take the same
keywords; :class:`PushOptions` types them for mypy (``**options: Unpack[PushOptions]``)
and :func:`split_options` checks them at run time. Re-exported by :mod:`deploykit.backend`;
apart from it so that the registry and the client import it without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypedDict

__all__ = ["Progress", "PushOptions", "split_options"]

Progress = Callable[[int, int], None]


class PushOptions(TypedDict, total=False):
    """What a push takes besides the model (or file), its name and its format.

    Written once for ``Registry.push``/``push_file`` and ``Client.push``/``push_file``.
    ``X`` gives the signature and the reference profile; ``evaluation`` and ``gate`` the
    report and its deploy gate; ``deploy`` moves production if the gate passes;
    ``card`` the card's editable fields (intended use, limitations, owners); ``lineage`` a
    ``deploykit.cards.KernelContext`` from the magics; ``progress(sent, total)`` follows an
    upload (nothing is uploaded in-process, so the embedded registry never calls it).
    """

    X: Any
    evaluation: Any
    gate: Any
    deploy: bool
    description: str
    params: dict[str, Any] | None
    notebook: str | None
    author: str | None
    nullable: Sequence[str] | None
    signature: Any
    card: Mapping[str, Any] | None
    lineage: Any
    progress: Progress | None


_PUSH_KEYS = tuple(PushOptions.__annotations__)


def split_options(
    options: Mapping[str, Any], *, call: str
) -> tuple[dict[str, Any], bool, Progress | None]:
    """(``prepare_draft`` keywords, deploy, progress) of a push's ``options``.

    A misspelt keyword is a TypeError naming the method, as Python's own would be.
    """
    unknown = sorted(set(options) - set(_PUSH_KEYS))
    if unknown:
        raise TypeError(
            f"{call}() got unexpected keyword argument(s) {', '.join(map(repr, unknown))}; "
            f"it takes format, {', '.join(_PUSH_KEYS)}."
        )
    draft = dict(options)
    deploy = bool(draft.pop("deploy", False))
    progress = draft.pop("progress", None)
    return draft, deploy, progress
