"""Where a version came from: the notebook or script, the cells that ran, git, and the lock.

Captured in the process that pushes (the notebook's kernel, a script, a CI job) by
:func:`capture_lineage`, which a push calls through
:func:`deploykit.registry.prepare_draft`. Core: no IPython here. What only the kernel
knows (the notebook's path, the cells it ran) comes in as a :class:`KernelContext`
that the ``%deploy`` magics build (``deploykit.magics``); a push from plain Python
records the script and the git state of the working directory instead.

The package set is a lock: every distribution importable in the pushing process as
``name==version``, not just the model libraries, so that ``deploykit verify`` can
rebuild the environment (see :mod:`deploykit.cards.verify`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import platform
import subprocess
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["KernelContext", "capture_lineage", "cells_digest", "git_state", "package_lock"]

_GIT_TIMEOUT_S = 5.0
_MAX_SOURCE_CHARS = 200_000  # opt-in cell source kept with the version, at most this much


@dataclasses.dataclass(frozen=True)
class KernelContext:
    """What a notebook kernel knows at push time, handed over by the magics.

    ``notebook``: the notebook's path (JupyterLab's ``JPY_SESSION_NAME``, IPython's
    ``__session__``), None if unknown. ``cells``: the source of every cell that ran,
    in order (IPython's ``In``), up to the push. ``keep_source``: store that source
    with the version, not just its hash (off by default: cells may hold secrets).
    """

    notebook: str | None = None
    cells: tuple[str, ...] = ()
    keep_source: bool = False


def cells_digest(cells: Sequence[str]) -> str:
    """``sha256:`` of the cells, each length-prefixed so that splits cannot collide."""
    sha = hashlib.sha256()
    for cell in cells:
        data = cell.encode("utf-8", "surrogatepass")
        sha.update(f"{len(data)}:".encode())
        sha.update(data)
    return "sha256:" + sha.hexdigest()


def git_state(path: str | os.PathLike[str] | None) -> dict[str, Any] | None:
    """The commit, branch and dirty state of the git work tree holding ``path``; None when
    there is none (or git is missing, or slow). ``dirty`` lists the changed files, at most 50."""
    folder = Path(path) if path is not None else Path.cwd()
    if folder.is_file() or not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        return None
    top = _git(folder, "rev-parse", "--show-toplevel")
    commit = _git(folder, "rev-parse", "HEAD")
    if top is None or commit is None:
        return None
    status = _git(folder, "status", "--porcelain", "-z", "--untracked-files=no", strip=False)
    changed = [entry[3:] for entry in (status or "").split("\0") if len(entry) > 3]
    return {
        "commit": commit,
        "branch": _git(folder, "rev-parse", "--abbrev-ref", "HEAD"),
        "dirty": bool(changed),
        "changed": changed[:50],
        "remote": _git(folder, "config", "--get", "remote.origin.url"),
        "root": Path(top).name,  # the folder's name only: no absolute path leaves the machine
    }


def _git(folder: Path, *args: str, strip: bool = True) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0 or not done.stdout.strip():
        return None
    return done.stdout.strip() if strip else done.stdout


def package_lock() -> dict[str, str]:
    """Every installed distribution as name -> version, sorted by name (a copy)."""
    return dict(_scan()[0])


def local_packages() -> list[str]:
    """Distributions installed from a folder (editable or local): no registry has them."""
    return list(_scan()[1])


@functools.cache  # ~200 distributions: one pass over their metadata, once a process
def _scan() -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    found: dict[str, str] = {}
    local: set[str] = set()
    for dist in metadata.distributions():
        name, version = _name_version(dist)
        if not name or name in found:
            continue  # the first on sys.path is the one imported
        found[name] = version
        text = dist.read_text("direct_url.json") or ""
        if '"url": "file:' in text or '"url":"file:' in text:
            local.add(name)
    return tuple(sorted(found.items())), tuple(sorted(local))


def _name_version(dist: metadata.Distribution) -> tuple[str, str]:
    # A wheel's folder says both ("scikit_learn-1.9.1.dist-info"): ~10x faster than
    # parsing each METADATA file, which dominated a first push's lineage.
    folder = getattr(dist, "_path", None)
    stem = str(getattr(folder, "name", ""))
    if stem.endswith(".dist-info") and stem[: -len(".dist-info")].count("-") == 1:
        name, version = stem[: -len(".dist-info")].split("-")
        return _canonical(name), version
    return _canonical(dist.metadata["Name"] or ""), dist.version


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def capture_lineage(kernel: KernelContext | None = None) -> dict[str, Any]:
    """The lineage of a push from this process, as JSON-ready values.

    With ``kernel`` (from the magics): the notebook and the hash of its cells. Without:
    the script (``sys.argv[0]``) and, if JupyterLab named one, the notebook. Git is read
    from the folder of the notebook or script (else the working directory).
    """
    notebook = kernel.notebook if kernel else None
    notebook = notebook or os.environ.get("JPY_SESSION_NAME") or None
    script = None if kernel else _script()
    source: dict[str, Any] = {"kind": "notebook" if notebook else "script" if script else "python"}
    if notebook:
        source["notebook"] = notebook
    if script:
        source["script"] = script
    if kernel is not None:
        source["cells"] = len(kernel.cells)
        source["cells_sha256"] = cells_digest(kernel.cells)
        if kernel.keep_source:
            text = "\n\n# %% ---\n\n".join(kernel.cells)
            source["cells_source"] = text[:_MAX_SOURCE_CHARS]
            source["cells_source_truncated"] = len(text) > _MAX_SOURCE_CHARS
    where = notebook if notebook and Path(notebook).is_absolute() else script
    return {
        "source": source,
        "git": git_state(where if where and Path(where).exists() else None),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "lock": package_lock(),
        "local_packages": local_packages(),
    }


def _script() -> str | None:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv else None)
    if not path or path in ("-c", "-m") or not Path(path).exists():
        return None
    return str(Path(path).resolve())


def check_lineage(value: Mapping[str, Any]) -> None:
    """ValueError if ``value`` does not look like :func:`capture_lineage` output."""
    lock = value.get("lock", {})
    if not isinstance(lock, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in lock.items()
    ):
        raise ValueError("lock must map package names to version strings")
    if not isinstance(value.get("source", {}), Mapping):
        raise ValueError("source must be an object")
