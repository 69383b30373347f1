"""What a pickle means, said once per session: loading one runs the code it holds.

A push in the ``joblib`` format stores a pickle. Nothing is wrong with that on a
machine of one's own, but every process that loads the version (a server worker, a
colleague's notebook) runs whatever the file names. The first such push of a process
warns (:class:`~deploykit.errors.PickleWarning`, or a one-line note in the CLI and
``%deploy push``, which take the note themselves); later pushes stay quiet.
"""

from __future__ import annotations

import threading
import warnings

from deploykit.errors import PickleWarning

__all__ = ["CODE_FORMATS", "pickle_note", "warn_if_pickle"]

#: formats whose loading runs Python code held in the file
CODE_FORMATS = frozenset({"joblib"})

_lock = threading.Lock()
_said = False

_NOTE = (
    "{what} stores a pickle: loading it runs any code the file holds, on every server and "
    "notebook that loads this version. {fix} for a file that loads without running code; "
    "servers set to DEPLOYKIT_SERVE_FORMATS=onnx,skops refuse pickles (and still serve a "
    "version compiled to ONNX at push). (Said once per session.)"
)


def pickle_note(
    format: str | None,
    *,
    what: str = "format='joblib'",
    fix: str = "Push with format='skops'",
) -> str | None:
    """The note for a push in ``format``, the first time in this process; None after.

    ``what`` and ``fix`` word it for where it is shown (Python, CLI flags, magics).
    """
    global _said
    if format not in CODE_FORMATS:
        return None
    with _lock:
        if _said:
            return None
        _said = True
    return _NOTE.format(what=what, fix=fix)


def warn_if_pickle(format: str | None, *, stacklevel: int = 3) -> None:
    """Warn (once per process) that a push in ``format`` stores code, if it does."""
    note = pickle_note(format)
    if note is not None:
        warnings.warn(note, PickleWarning, stacklevel=stacklevel)


def _reset() -> None:
    """Forget that the note was said (tests)."""
    global _said
    with _lock:
        _said = False
