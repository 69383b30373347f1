"""Record the library versions a model was pushed with; warn when a loader differs.

A pickled estimator run under another scikit-learn or numpy can predict
differently or fail on first use, so the versions travel with every version
of a model and are compared whenever it is loaded.
"""

from __future__ import annotations

import functools
import platform
import threading
import warnings
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version

from deploykit.errors import EnvironmentMismatchWarning

__all__ = ["capture_environment", "check_environment"]

_PACKAGES = ("scikit-learn", "numpy", "scipy", "joblib", "pandas", "skops")
# The ones whose differences change what a loaded model computes.
_CHECKED = ("python", "scikit-learn", "numpy", "joblib")

_warned: set[tuple[str, str, str, str]] = set()
_warned_lock = threading.Lock()


def capture_environment() -> dict[str, str]:
    """Versions of Python and the installed model libraries, plus the platform."""
    return dict(_environment())  # a copy: callers may add to it


@functools.cache  # metadata lookups cost ~15 ms and cannot change within a process
def _environment() -> tuple[tuple[str, str], ...]:
    env = {"python": platform.python_version()}
    for package in _PACKAGES:
        try:
            env[package] = version(package)  # reads metadata; imports nothing
        except PackageNotFoundError:
            continue
    env["platform"] = platform.platform()
    return tuple(env.items())


def check_environment(recorded: Mapping[str, str], *, model_ref: str) -> list[str]:
    """Compare ``recorded`` (from :func:`capture_environment`) with this process.

    Python is compared on major.minor, the libraries on their full version.
    Each mismatch is returned as a sentence and warned about with
    :class:`~deploykit.errors.EnvironmentMismatchWarning` once per process,
    so a server loading the same model on every replica reload stays quiet.
    """
    current = capture_environment()
    messages = []
    for package in _CHECKED:
        then = recorded.get(package)
        if not then:
            continue  # pushed by a version of deploykit that did not record it
        now = current.get(package)
        if package == "python":
            then, now = _minor(then), _minor(now or "")
        if then == now:
            continue
        message = _message(model_ref, package, then, now)
        messages.append(message)
        key = (model_ref, package, then, now or "")
        with _warned_lock:
            first = key not in _warned
            _warned.add(key)
        if first:
            warnings.warn(message, EnvironmentMismatchWarning, stacklevel=2)
    return messages


def _minor(python_version: str) -> str:
    return ".".join(python_version.split(".")[:2])


def _message(model_ref: str, package: str, then: str, now: str | None) -> str:
    if package == "python":
        return (
            f"Model {model_ref} was pushed with Python {then}; this process runs {now}. "
            f"Predictions may differ; retrain or serve it with Python {then}."
        )
    has = f"has {now}" if now else "does not have it installed"
    return (
        f"Model {model_ref} was pushed with {package} {then}; this process {has}. "
        f"Predictions may differ; retrain or pin {package}=={then}."
    )
