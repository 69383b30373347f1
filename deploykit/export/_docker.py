"""A container build context for one model version, with Kubernetes manifests.

    DIR/
      Dockerfile            python:<major.minor>-slim, the Python the model was pushed with
      requirements.txt      the model's libraries pinned to the versions recorded at push
      serve.py              the entrypoint: a small ASGI server on uvicorn (no deploykit)
      dkinput/              the input contract, generated from deploykit's own modules
      model/<name>.<fmt>    the artifact, digest-checked when exported and at every start
      model/<name>.onnx     the compiled artifact, for a version that runs on ONNX Runtime
                            (then the image needs neither scikit-learn nor deploykit)
      model/model.json      name, version, digest, format, signature, environment
      k8s/deployment.yaml   readiness and liveness on /healthz, resources
      k8s/service.yaml
      k8s/hpa.yaml          autoscaling/v2 on CPU
      README.md             build, run, deploy
      MODEL_CARD.md         the version's model card (deploykit card NAME VERSION)

The image serves what a deploykit server serves for one model (MLflow scoring
formats, the version's signature checks, ``/healthz``) without the registry: it is
built once per version and rolled out by the cluster, not hot-swapped. Its input
checks are deploykit's, not a copy written twice: :func:`write_contract` copies the
modules behind ``deploykit serve``'s predict (errors, coercion, signature, payloads,
wire) into ``dkinput/``, rewriting only their imports.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from deploykit.errors import InvalidInputError
from deploykit.records import ModelVersion, utcnow

__all__ = ["ExportResult", "export_docker", "write_contract"]

_SERVER = Path(__file__).with_name("_container_server.py")
_PACKAGE = Path(__file__).resolve().parent.parent
# deploykit module -> file in dkinput/: what predict needs, none of it importing a framework.
CONTRACT = {
    "deploykit.errors": "errors.py",
    "deploykit._coerce": "_coerce.py",
    "deploykit._json": "_json.py",
    "deploykit._nullprobe": "_nullprobe.py",
    "deploykit.signature": "signature.py",
    "deploykit.server.payloads": "payloads.py",
    "deploykit.server.wire": "wire.py",
    "deploykit.compile._record": "_record.py",
    "deploykit.compile._runtime": "_runtime.py",
}
_IMPORT = re.compile(r"\b(" + "|".join(re.escape(m) for m in CONTRACT) + r")\b")
_LEFT = re.compile(r"^\s*(from|import)\s+deploykit\b", re.MULTILINE)
PORT = 8080
# Libraries the environment record may pin, in requirements.txt order; 'python' picks the image.
_PINNED = ("numpy", "scipy", "pandas", "scikit-learn", "joblib")
_K8S_NAME = re.compile(r"[^a-z0-9-]+")


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """What was written, and the commands to build and run it."""

    directory: Path
    model: str
    version: int
    python: str
    requirements: tuple[str, ...]
    files: tuple[str, ...]
    image: str

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["directory"] = str(self.directory)
        data["requirements"] = list(self.requirements)
        data["files"] = list(self.files)
        return data


def export_docker(
    registry: Any,
    name: str,
    ref: int | str,
    directory: str | os.PathLike[str],
    *,
    image: str | None = None,
    replicas: int = 2,
    max_replicas: int = 10,
    force: bool = False,
) -> ExportResult:
    """Write a container build context for version ``ref`` of ``name`` into ``directory``.

    ``registry`` is a :class:`deploykit.Registry` (or a Client); the model is loaded
    once, digest-checked, to prove it loads before anything is written. ``image``
    names the image in the manifests (default ``deploykit-<name>:<version>``).
    ``directory`` must be empty or absent unless ``force``.
    """
    for key, value, low in (("replicas", replicas, 1), ("max_replicas", max_replicas, replicas)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidInputError(
                f"The '{key}' parameter of export_docker must be an int >= {low}. "
                f"Got {value!r} instead."
            )
    record: ModelVersion = registry.version(name, ref)
    registry.load(name, record.version)  # refuses a tampered or untrusted artifact
    target = _prepare(Path(directory), force=force)
    python = _python(record)
    requirements = _requirements(record)
    image = image or f"deploykit-{_k8s_name(name)}:{record.version}"

    artifact = f"{name}-{record.version}.{record.format}"
    (target / "model").mkdir()
    shutil.copyfile(registry.artifact_path(name, record.version), target / "model" / artifact)
    runtime = _compiled(record)
    compiled = None
    if runtime is not None:  # the ONNX artifact, verified against its digest as it is read
        compiled = f"{name}-{record.version}.onnx"
        shutil.copyfile(registry.compiled_path(name, record.version), target / "model" / compiled)
    trusted = list(getattr(getattr(registry, "settings", None), "skops_trusted", ()) or ())
    if record.format == "skops":  # what loaded above: the settings' and deploykit's own rule
        from deploykit.serialization import trusted_types

        trusted = trusted_types(target / "model" / artifact, trusted=trusted)
    spec = {
        "model": name,
        "version": record.version,
        "digest": record.digest,
        "format": record.format,
        "file": artifact,
        "estimator": record.estimator,
        "signature": record.signature,
        "environment": record.environment,
        "skops_trusted": trusted,
        "runtime": runtime,
        "compiled_file": compiled,
        "exported_at": utcnow().isoformat(),
    }
    (target / "model" / "model.json").write_text(json.dumps(spec, indent=2) + "\n")
    shutil.copyfile(_SERVER, target / "serve.py")
    write_contract(target / "dkinput")
    (target / "requirements.txt").write_text(
        f"# {record.ref}: libraries recorded at push ({record.created_at:%Y-%m-%d}), and the\n"
        "# server. Their own dependencies are left to pip's resolver.\n"
        + "\n".join(requirements)
        + "\n"
    )
    (target / "Dockerfile").write_text(_dockerfile(python, record))
    (target / ".dockerignore").write_text("k8s/\nREADME.md\n")
    (target / "k8s").mkdir()
    k8s = _k8s_name(name)
    (target / "k8s" / "deployment.yaml").write_text(_deployment(k8s, image, record, replicas))
    (target / "k8s" / "service.yaml").write_text(_service(k8s))
    (target / "k8s" / "hpa.yaml").write_text(_hpa(k8s, replicas, max_replicas))
    (target / "README.md").write_text(_readme(record, image, python))
    (target / "MODEL_CARD.md").write_text(registry.card(name, record.version), encoding="utf-8")
    files = tuple(sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()))
    return ExportResult(target, name, record.version, python, tuple(requirements), files, image)


def write_contract(folder: Path) -> list[Path]:
    """Copy the predict input contract into ``folder`` as package ``dkinput``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "__init__.py"]
    written[0].write_text(
        '"""deploykit\'s predict input contract, copied by deploykit export."""\n'
    )
    for module, name in CONTRACT.items():
        source = _PACKAGE.joinpath(*module.split(".")[1:]).with_suffix(".py").read_text()
        text = _IMPORT.sub(lambda m: "dkinput." + CONTRACT[m.group(1)][:-3], source)
        left = _LEFT.search(text)
        if left:  # a contract module grew a dependency: export must not ship it half
            raise RuntimeError(f"{module} imports deploykit beyond the contract: {left.group(0)}")
        (folder / name).write_text(text)
        written.append(folder / name)
    return written


def _prepare(target: Path, *, force: bool) -> Path:
    if target.exists() and not target.is_dir():
        raise InvalidInputError(f"'{target}' is a file; pass a folder for the build context.")
    if target.is_dir() and any(target.iterdir()):
        if not force:
            raise InvalidInputError(
                f"The folder '{target}' is not empty. Pass an empty or new folder, or "
                "--force to replace what is in it."
            )
        for child in target.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    target.mkdir(parents=True, exist_ok=True)
    return target


def _python(record: ModelVersion) -> str:
    recorded = record.environment.get("python", "")
    match = re.match(r"(\d+)\.(\d+)", recorded)
    if match is None:
        raise InvalidInputError(
            f"{record.ref} has no Python version in its environment record ({recorded!r}), "
            "so the image's Python cannot be chosen. Push it again with this deploykit."
        )
    return f"{match.group(1)}.{match.group(2)}"


def _compiled(record: ModelVersion) -> dict[str, Any] | None:
    """The version's runtime record if it runs compiled (ONNX), else None."""
    runtime = record.runtime or {}
    if runtime.get("runtime") == "onnx" and runtime.get("digest"):
        return runtime
    return None


def _requirements(record: ModelVersion) -> list[str]:
    env = record.environment
    runtime = _compiled(record)
    if runtime is not None and runtime.get("nulls") != "sklearn":
        # Everything runs on ONNX Runtime: no scikit-learn, SciPy or joblib; pandas stays
        # for the input contract's checks of non-numeric requests.
        pins = [f"{p}=={env[p]}" for p in ("numpy", "pandas") if env.get(p)]
        ort = (runtime.get("versions") or {}).get("onnxruntime") or _installed("onnxruntime")
        pins.append(f"onnxruntime=={ort}" if ort else "onnxruntime")
        for package in ("orjson", "uvicorn"):
            found = _installed(package)
            pins.append(f"{package}=={found}" if found else package)
        return pins
    pins = [f"{package}=={env[package]}" for package in _PINNED if env.get(package)]
    if runtime is not None:  # compiled, with rows holding nulls answered by scikit-learn
        ort = (runtime.get("versions") or {}).get("onnxruntime") or _installed("onnxruntime")
        pins.append(f"onnxruntime=={ort}" if ort else "onnxruntime")
    if record.format == "skops":
        skops = env.get("skops") or _installed("skops")
        pins.append(f"skops=={skops}" if skops else "skops")
    for package in ("orjson", "uvicorn"):  # the contract's JSON, and the server
        found = _installed(package)
        pins.append(f"{package}=={found}" if found else package)
    if not any(p.startswith("scikit-learn==") for p in pins):
        raise InvalidInputError(
            f"{record.ref} has no scikit-learn version in its environment record, so its "
            "requirements cannot be pinned. Push it again with this deploykit."
        )
    return pins


def _installed(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _k8s_name(name: str) -> str:
    return _K8S_NAME.sub("-", name.lower()).strip("-")[:50] or "model"


def _dockerfile(python: str, record: ModelVersion) -> str:
    return f"""# {record.ref} ({record.estimator}), exported by deploykit.
FROM python:{python}-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \\
    HOST=0.0.0.0 PORT={PORT} WORKERS=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY model/ model/
COPY dkinput/ dkinput/
COPY serve.py .
USER 10001
EXPOSE {PORT}
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \\
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:{PORT}/healthz')"
CMD ["python", "serve.py"]
"""


def _deployment(k8s: str, image: str, record: ModelVersion, replicas: int) -> str:
    # Memory: the interpreter and libraries (~250 MiB) plus a few times the artifact.
    memory = 256 + 3 * max(1, record.size >> 20)
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {k8s}
  labels: {{app: {k8s}, deploykit/model: "{record.model}", deploykit/version: "{record.version}"}}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {k8s}}}
  template:
    metadata:
      labels: {{app: {k8s}, deploykit/version: "{record.version}"}}
    spec:
      containers:
        - name: model
          image: {image}
          ports:
            - {{name: http, containerPort: {PORT}}}
          env:
            - {{name: WORKERS, value: "1"}}
          readinessProbe:
            httpGet: {{path: /healthz, port: http}}
            initialDelaySeconds: 2
            periodSeconds: 5
          livenessProbe:
            httpGet: {{path: /healthz, port: http}}
            initialDelaySeconds: 20
            periodSeconds: 10
          resources:
            requests: {{cpu: 250m, memory: {memory}Mi}}
            limits: {{cpu: "1", memory: {2 * memory}Mi}}
"""


def _service(k8s: str) -> str:
    return f"""apiVersion: v1
kind: Service
metadata:
  name: {k8s}
  labels: {{app: {k8s}}}
spec:
  selector: {{app: {k8s}}}
  ports:
    - {{name: http, port: 80, targetPort: http}}
"""


def _hpa(k8s: str, replicas: int, max_replicas: int) -> str:
    return f"""apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {k8s}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: {k8s}}}
  minReplicas: {replicas}
  maxReplicas: {max_replicas}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target: {{type: Utilization, averageUtilization: 70}}
"""


def _readme(record: ModelVersion, image: str, python: str) -> str:
    return f"""# {record.ref}, exported by deploykit

{record.estimator}, pushed {record.created_at:%Y-%m-%d} by {record.author}; artifact
{record.digest}. Python {python}; libraries pinned in requirements.txt as recorded at push.

    docker build -t {image} .
    docker run -p {PORT}:{PORT} {image}
    curl -s localhost:{PORT}/v1/models/{record.model}/predict -d '{{"inputs": [[...]]}}'
    kubectl apply -f k8s/          # Deployment, Service, HorizontalPodAutoscaler

Without Docker:

    python{python} -m venv v && v/bin/pip install -r requirements.txt && v/bin/python serve.py
"""
