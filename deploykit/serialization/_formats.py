"""Write and read model files in the joblib (pickle) and skops formats.

A joblib file is a pickle: loading one runs whatever code it names, which is
why the registry only loads bytes whose digest it recorded at push time.
skops files are audited before loading: every type they hold must be trusted
by skops itself, by deploykit's rule for scikit-learn, NumPy and SciPy types (see
:mod:`deploykit.serialization._skops_trust`: built without running code chosen by
the file, tree indices checked after loading), or listed by the *loading* process
(``DEPLOYKIT_SKOPS_TRUSTED``). Other types found in the file are shown to the user,
never trusted automatically.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from deploykit.errors import (
    ArtifactError,
    InvalidInputError,
    UnreadableArtifactError,
    UntrustedArtifactError,
)

__all__ = ["FORMATS", "detect_format", "dump", "load", "untrusted_types"]

FORMATS = ("joblib", "skops")

_SUFFIXES = {".joblib": "joblib", ".pkl": "joblib", ".pickle": "joblib", ".skops": "skops"}
# A pickle (protocol 2+) starts with PROTO; joblib's compressed files with their codec's magic.
_JOBLIB_MAGIC = (b"\x80", b"\x78", b"\x1f\x8b", b"BZ", b"\xfd7zXZ", b"]\x00\x00")
_ZIP_MAGIC = b"PK\x03\x04"  # a skops file is a zip archive


def _check_format(format: str) -> str:
    if format not in FORMATS:
        raise InvalidInputError(
            f"The 'format' parameter must be one of {', '.join(map(repr, FORMATS))}. "
            f"Got {format!r} instead."
        )
    return format


def dump(model: Any, fileobj: BinaryIO, *, format: str = "joblib") -> None:
    """Serialize ``model`` into the open binary file object ``fileobj``.

    The file object only needs ``write`` and ``tell``; it is never sought, so a
    hashing stream can sit in front of the real file.
    """
    _check_format(format)
    if format == "joblib":
        import joblib

        try:
            joblib.dump(model, fileobj)
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            raise InvalidInputError(
                f"The model {type(model).__name__} cannot be pickled by joblib: {exc}. "
                "Define the functions and classes it uses at module level "
                "(no lambdas or functions nested in other functions)."
            ) from None
        return
    import skops.io
    from skops.io.exceptions import UnsupportedTypeException

    try:
        # skops builds the whole archive in memory, then hands it over in one write.
        skops.io.dump(model, fileobj)
    except UnsupportedTypeException as exc:
        raise InvalidInputError(
            f"The model {type(model).__name__} cannot be saved in the skops format: {exc} "
            "Push it with format='joblib' instead."
        ) from None


def load(
    path: str | os.PathLike[str],
    *,
    format: str,
    trusted: Sequence[str] = (),
    label: str | None = None,
) -> Any:
    """Load a model file written by :func:`dump`.

    For skops files, the types trusted are skops' defaults, deploykit's (see
    :func:`trusted_types`) and ``trusted`` (``Settings.skops_trusted``); a file holding
    any other type raises :class:`~deploykit.errors.UntrustedArtifactError` naming them.
    ``label`` (say ``"churn:3"``) names the file in error messages instead of its
    path: a registry's artifact paths are nobody's business over HTTP.
    """
    _check_format(format)
    path = Path(path)
    what = f"The model file of {label}" if label else f"The model file '{path}'"
    if format == "joblib":
        import joblib

        try:
            return joblib.load(path)
        except (ModuleNotFoundError, AttributeError) as exc:
            raise ArtifactError(
                f"{what} refers to code this process cannot import ({exc}). "
                "Install the package (or define the class) the model was trained with "
                "in this environment, then load it again."
            ) from None
        except (pickle.UnpicklingError, EOFError, ValueError, IndexError, KeyError) as exc:
            raise _unreadable(what, format, exc) from None
    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    from deploykit.serialization._skops_trust import verify_model

    try:
        allowed = trusted_types(path, trusted=trusted)
    except (zipfile.BadZipFile, EOFError, ValueError, KeyError) as exc:
        raise _unreadable(what, format, exc) from None
    try:
        model = skops.io.load(path, trusted=allowed)
    except UntrustedTypesFoundException:
        untrusted = untrusted_types(path, trusted=allowed)
        raise _untrusted_error(what, untrusted, trusted) from None
    except (zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise _unreadable(what, format, exc) from None
    verify_model(model, label or f"'{path}'")
    return model


def _unreadable(what: str, format: str, exc: BaseException) -> UnreadableArtifactError:
    return UnreadableArtifactError(
        f"{what} is not a readable {format} file ({type(exc).__name__}: {exc}): it is damaged, "
        f"truncated or of another format. Save the model again with deploykit (or "
        f"{'joblib.dump' if format == 'joblib' else 'skops.io.dump'}) and push that file."
    )


def trusted_types(path: str | os.PathLike[str], *, trusted: Sequence[str] = ()) -> list[str]:
    """The types to trust when loading the skops file at ``path``: ``trusted`` and those
    of its types that deploykit's rule accepts (scikit-learn, NumPy and SciPy types
    built without running code the file chose; see ``_skops_trust``)."""
    from deploykit.serialization._skops_trust import default_trusted

    return sorted({*trusted, *default_trusted(path, untrusted_types(path, trusted=trusted))})


def untrusted_types(path: str | os.PathLike[str], *, trusted: Sequence[str] = ()) -> list[str]:
    """Types in the skops file at ``path`` that neither skops nor ``trusted`` trust.

    Lets a push warn early that a file will not load under the current settings.
    """
    import skops.io

    return sorted(set(skops.io.get_untrusted_types(file=Path(path))) - set(trusted))


def _untrusted_error(
    what: str, untrusted: list[str], trusted: Sequence[str]
) -> UntrustedArtifactError:
    setting = ",".join(sorted({*trusted, *untrusted}))
    return UntrustedArtifactError(
        f"{what} (skops) holds types this process does not trust: "
        f"{', '.join(untrusted)}. skops refuses them because a crafted file using them can "
        "run code or crash the process. If you trust whoever pushed this model, allow them "
        f"with DEPLOYKIT_SKOPS_TRUSTED={setting} and load it again."
    )


def model_file(path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path, if it names an existing file; a one-line error otherwise."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(
            f"The model file '{path}' does not exist or is not a file. "
            "Pass the path of a file written by joblib.dump, skops or pickle."
        )
    return path


def detect_format(path: str | os.PathLike[str]) -> str:
    """``"joblib"`` or ``"skops"``, from the file suffix or else its first bytes."""
    path = Path(path)
    by_suffix = _SUFFIXES.get(path.suffix.lower())
    if by_suffix is not None:
        return by_suffix
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise InvalidInputError(
            f"Cannot read the model file '{path}' ({exc.strerror or exc}). "
            "Check the path and its permissions."
        ) from None
    if head.startswith(_ZIP_MAGIC):
        return "skops"
    if head.startswith(_JOBLIB_MAGIC):
        return "joblib"
    raise InvalidInputError(
        f"Cannot tell the format of the model file '{path}': expected a suffix among "
        f"{', '.join(sorted(_SUFFIXES))} or a pickle or zip header, got suffix "
        f"{path.suffix or '(none)'!r} and first bytes {head!r}. "
        f"Pass the format explicitly, one of {', '.join(map(repr, FORMATS))}."
    )
