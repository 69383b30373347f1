"""``deploykit verify``: rebuild a version's environment from its lock and reproduce it.

1. Read the version's lineage (the lock) and reference sample through any backend.
2. Choose what to install: the artifact's import closure (the distributions whose
   modules the pickled model references, the loader's library, pandas for a frame
   sample) and their requirements, each pinned to the lock's version. The lock records
   every distribution; installing all of a notebook's 300 is slow and tests nothing
   more about the model, so ``full=True`` is the option, not the default.
3. Build a fresh venv (``venv --without-pip``; this process's pip installs into it with
   ``--no-deps --only-binary=:all:``: exactly the lock's pins, no resolver, wheels only,
   through a reused pip cache).
4. Load the artifact there with nothing but its libraries (no deploykit), predict the
   reference rows, and compare with the predictions recorded at push.

Core: subprocesses only; no Jupyter, no web framework.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deploykit.errors import ConflictError

if TYPE_CHECKING:
    from deploykit.backend import Backend

__all__ = ["VerifyError", "VerifyReport", "import_closure", "verify"]

_LOADERS = {"joblib": "joblib", "skops": "skops"}
_PIP_TIMEOUT_S = 900.0
_RUN_TIMEOUT_S = 300.0
_SHOWN = 10  # differing rows listed in a report


class VerifyError(ConflictError):
    """A version that cannot be verified at all: no lineage, no reference sample."""


@dataclasses.dataclass(frozen=True)
class VerifyReport:
    """What ``deploykit verify`` found. ``ok``: the rebuilt environment reproduced every
    reference prediction. ``problem`` says why not, in one paragraph."""

    ref: str
    ok: bool
    python_recorded: str | None
    python_used: str
    installed: tuple[str, ...]
    lock_size: int
    skipped: tuple[str, ...]
    rows: int
    mismatches: tuple[dict[str, Any], ...] = ()
    problem: str | None = None
    seconds: float = 0.0

    def __str__(self) -> str:
        head = (
            f"{self.ref}: reproduced {self.rows} reference predictions in a fresh environment"
            if self.ok
            else f"{self.ref}: NOT reproduced. {self.problem}"
        )
        lines = [head]
        lines.append(
            f"  installed {len(self.installed)} of the {self.lock_size} locked packages "
            f"(the artifact's import closure): {', '.join(self.installed)}"
        )
        if self.skipped:
            lines.append(
                f"  not installable from a registry (local/editable): {', '.join(self.skipped)}"
            )
        if self.python_recorded and _minor(self.python_recorded) != _minor(self.python_used):
            lines.append(
                f"  note: pushed with Python {self.python_recorded}, verified with "
                f"{self.python_used}"
            )
        for m in self.mismatches[:_SHOWN]:
            lines.append(
                f"  row {m['row']}: {m['what']} recorded {m['expected']!r}, got {m['got']!r}"
            )
        if len(self.mismatches) > _SHOWN:
            lines.append(f"  … {len(self.mismatches) - _SHOWN} more differences")
        lines.append(f"  ({self.seconds:.1f} s)")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _modules_of(model: Any) -> set[str]:
    """Top-level modules of every object pickling ``model`` touches (nothing is written)."""
    found: set[str] = set()

    class _Walker(pickle.Pickler):
        def persistent_id(self, obj: Any) -> None:
            module = getattr(obj, "__module__", None) if isinstance(obj, type) else None
            module = module or type(obj).__module__
            if isinstance(module, str):
                found.add(module.split(".")[0])
            return None

    class _Sink:
        def write(self, data: bytes) -> int:
            return len(data)

    _Walker(_Sink(), protocol=pickle.HIGHEST_PROTOCOL).dump(model)
    return found - set(sys.stdlib_module_names) - {"builtins", "__main__"}


def import_closure(
    model: Any, lock: Mapping[str, str], *, format: str, frame: bool
) -> tuple[list[str], list[str]]:
    """(distributions to install, modules no locked distribution provides).

    The distributions owning the modules ``model`` references, the loader of ``format``,
    pandas for a DataFrame sample, and their requirements (markers evaluated here), all
    restricted to the lock.
    """
    from packaging.requirements import Requirement

    owners = metadata.packages_distributions()
    wanted: set[str] = {_LOADERS.get(format, format)}
    if frame:
        wanted.add("pandas")
    unowned = []
    for module in sorted(_modules_of(model)):
        dists = owners.get(module)
        if not dists:
            unowned.append(module)
        wanted.update(_canonical(d) for d in dists or ())
    locked = {_canonical(k): k for k in lock}
    todo = [w for w in wanted if w in locked]
    result: set[str] = set()
    while todo:
        name = todo.pop()
        if name in result:
            continue
        result.add(name)
        try:
            requires = metadata.requires(locked[name]) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            dep = _canonical(req.name)
            if dep in locked and dep not in result:
                todo.append(dep)
    return sorted(result), unowned


def verify(
    backend: Backend,
    name: str,
    version: int | str = "production",
    *,
    full: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    env_cache: str | os.PathLike[str] | None = None,
    tolerance: float = 1e-9,
    log: Any = None,
) -> VerifyReport:
    """Rebuild ``name:version``'s environment from its lock in a fresh venv, load the
    artifact there and reproduce its reference predictions. A :class:`VerifyReport`;
    ``report.ok`` is False (with ``report.problem``) when the environment cannot be built,
    the artifact cannot be loaded there, or a prediction differs.

    ``cache_dir`` is pip's cache (default: pip's own). ``env_cache``, a folder, keeps each
    environment built, named by the hash of its exact pins and Python, and reuses it for
    the same pins (CI runs that verify every push); without it every run builds afresh.
    """
    started = time.perf_counter()
    record = backend.version(name, version)
    stored = backend.lineage(name, record.version)
    lineage = (stored or {}).get("lineage")
    reference = (stored or {}).get("reference")
    if not lineage or not lineage.get("lock"):
        raise VerifyError(
            f"{record.ref} cannot be verified: it was pushed without a package lock (by a "
            "deploykit older than lineage). Push it again to record one."
        )
    if not reference:
        raise VerifyError(
            f"{record.ref} cannot be verified: it was pushed without training data (X), so "
            "no reference predictions were kept. Push it again with X=..."
        )
    lock: dict[str, str] = dict(lineage["lock"])
    local = {_canonical(p) for p in lineage.get("local_packages") or ()}
    model = backend.load(name, record.version)
    if full:
        chosen = sorted(_canonical(k) for k in lock)
    else:
        chosen, _ = import_closure(
            model, lock, format=record.format, frame=reference.get("kind") == "dataframe"
        )
    names = {_canonical(k): k for k in lock}
    skipped = sorted(c for c in chosen if c in local)
    install = [c for c in chosen if c not in local]
    pins = [f"{names[c]}=={lock[names[c]]}" for c in install]

    def report(ok: bool, problem: str | None = None, **extra: Any) -> VerifyReport:
        return VerifyReport(
            ref=record.ref,
            ok=ok,
            python_recorded=lineage.get("python"),
            python_used=".".join(map(str, sys.version_info[:3])),
            installed=tuple(pins),
            lock_size=len(lock),
            skipped=tuple(skipped),
            rows=len(reference.get("rows") or ()),
            problem=problem,
            seconds=time.perf_counter() - started,
            **extra,
        )

    artifact = backend.artifact_path(name, record.version)
    with tempfile.TemporaryDirectory(prefix="deploykit-verify-") as tmp:
        python, failed = _environment(pins, Path(tmp), cache_dir, env_cache, log)
        if failed is not None:
            return report(False, f"The recorded environment cannot be rebuilt: {failed}")
        sample = Path(tmp) / "sample.json"
        out = Path(tmp) / "out.json"
        sample.write_text(json.dumps(reference))
        _say(log, "loading the artifact there and predicting the reference rows")
        done = subprocess.run(
            [str(python), "-I", "-c", _RUNNER, str(artifact), record.format, str(sample), str(out)],
            capture_output=True,
            text=True,
            timeout=_RUN_TIMEOUT_S,
            check=False,
            cwd=tmp,
        )
        if done.returncode != 0 or not out.exists():
            why = _last_line(done.stderr) or f"exit status {done.returncode}"
            return report(
                False,
                f"The artifact did not load or predict in the rebuilt environment: {why}",
            )
        got = json.loads(out.read_text())
    mismatches = _compare(reference, got, tolerance)
    if mismatches:
        n = len({m["row"] for m in mismatches})
        return report(
            False,
            f"{n} of {len(reference['rows'])} reference rows predict differently in the "
            "rebuilt environment than at push.",
            mismatches=tuple(mismatches),
        )
    return report(True)


def _say(log: Any, message: str) -> None:
    if callable(log):
        log(message)


def _environment(
    pins: Sequence[str],
    tmp: Path,
    cache_dir: str | os.PathLike[str] | None,
    env_cache: str | os.PathLike[str] | None,
    log: Any,
) -> tuple[Path, str | None]:
    """(the python of an environment holding exactly ``pins``, why it failed or None)."""
    if env_cache is None:
        _say(log, f"building a fresh environment: {len(pins)} packages from the lock")
        python = _make_venv(tmp / "venv")
        return python, _pip_install(python, pins, cache_dir=cache_dir)
    key = hashlib.sha256("\n".join([sys.version, *sorted(pins)]).encode()).hexdigest()[:20]
    folder = Path(env_cache) / key
    python = folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if (folder / "deploykit-complete").exists():
        _say(log, f"reusing the environment built for these {len(pins)} pins ({key})")
        return python, None
    Path(env_cache).mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=env_cache))
    _say(log, f"building an environment: {len(pins)} packages from the lock")
    built = _make_venv(building / "venv")
    failed = _pip_install(built, pins, cache_dir=cache_dir)
    if failed is not None:
        shutil.rmtree(building, ignore_errors=True)
        return built, failed
    (building / "venv" / "deploykit-complete").write_text("\n".join(pins) + "\n")
    # atomic: a half-built one is never reused; OSError: another run finished it first
    with contextlib.suppress(OSError):
        (building / "venv").rename(folder)
    shutil.rmtree(building, ignore_errors=True)
    return python, None


def _make_venv(folder: Path) -> Path:
    # No pip inside (seconds saved): this process's pip installs into it with --python.
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(folder)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _pip_install(
    python: Path, pins: Sequence[str], *, cache_dir: str | os.PathLike[str] | None
) -> str | None:
    """None on success, else the reason pip gave, in one sentence."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(python),
        "install",
        "--no-deps",
        "--only-binary=:all:",
        "--no-input",
        "--disable-pip-version-check",
        *pins,
    ]
    if cache_dir is not None:
        command[5:5] = ["--cache-dir", str(cache_dir)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S, check=False, env=env
        )
    except subprocess.TimeoutExpired:
        return f"pip did not finish within {_PIP_TIMEOUT_S:.0f} s."
    if done.returncode == 0:
        return None
    text = done.stderr + done.stdout
    missing = re.search(r"No matching distribution found for (\S+)", text)
    if missing:
        return (
            f"no installable wheel of {missing.group(1)} (as the lock pins it) exists for "
            f"this platform and Python {sys.version_info[0]}.{sys.version_info[1]}."
        )
    return _last_line(text) or f"pip exited with status {done.returncode}."


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith(("error", "modulenotfounderror"))]
    chosen = errors[-1] if errors else (lines[-1] if lines else "")
    return chosen[:500]


def _compare(
    reference: Mapping[str, Any], got: Mapping[str, Any], tolerance: float
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, (want, have) in enumerate(
        zip(reference["predictions"], got["predictions"], strict=False)
    ):
        if not _close(want, have, tolerance):
            out.append({"row": i, "what": "prediction", "expected": want, "got": have})
    if len(got["predictions"]) != len(reference["predictions"]):
        out.append(
            {
                "row": -1,
                "what": "row count",
                "expected": len(reference["predictions"]),
                "got": len(got["predictions"]),
            }
        )
    wanted = reference.get("probabilities")
    have_p = got.get("probabilities")
    if wanted is not None:
        for i, (w, h) in enumerate(zip(wanted, have_p or [None] * len(wanted), strict=False)):
            if h is None or any(not _close(a, b, tolerance) for a, b in zip(w, h, strict=False)):
                out.append({"row": i, "what": "probabilities", "expected": w, "got": h})
    return out


def _close(a: Any, b: Any, tolerance: float) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return abs(a - b) <= tolerance * max(1.0, abs(a), abs(b))
    return bool(a == b)


# Runs inside the rebuilt venv under ``python -I``: the artifact's own libraries only.
_RUNNER = r"""
import json, sys
artifact, fmt, sample_path, out_path = sys.argv[1:5]
if fmt == "skops":
    import skops.io as sio
    model = sio.load(artifact, trusted=sio.get_untrusted_types(file=artifact))
else:
    import joblib
    model = joblib.load(artifact)
sample = json.load(open(sample_path))
import numpy as np
if sample["kind"] == "dataframe":
    import pandas as pd
    X = pd.DataFrame(sample["rows"], columns=sample["columns"])
    for column, dtype in zip(sample["columns"], sample["dtypes"]):
        try:
            X[column] = X[column].astype(dtype)
        except Exception:
            pass
else:
    X = np.asarray(sample["rows"], dtype=sample.get("dtype") or None)

def plain(v):
    v = v.item() if hasattr(v, "item") and getattr(v, "ndim", 1) == 0 else v
    if isinstance(v, float) and v != v:
        return None
    return v if isinstance(v, (bool, int, float, str)) or v is None else str(v)

result = {"predictions": [plain(v) for v in np.asarray(model.predict(X)).tolist()]}
if "probabilities" in sample and hasattr(model, "predict_proba"):
    result["probabilities"] = np.asarray(model.predict_proba(X), dtype=float).round(12).tolist()
json.dump(result, open(out_path, "w"))
"""
