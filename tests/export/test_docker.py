"""`deploykit export --docker`: the build context, and its entrypoint answering requests.

No Docker engine here: the entrypoint runs as the image would run it (``python serve.py``
in the context folder), first with this environment's Python, then (slow) in a fresh venv
built only from the generated requirements.txt.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from deploykit.errors import InvalidInputError
from deploykit.export import export_docker
from deploykit.registry import Registry
from deploykit.server.testing import free_port

COLUMNS = ["age", "tenure", "calls", "spend"]


@pytest.fixture(scope="module")
def pushed(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Registry, pd.DataFrame, LogisticRegression]]:
    X, y = make_classification(n_samples=200, n_features=4, random_state=0)
    frame = pd.DataFrame(X, columns=COLUMNS)
    model = LogisticRegression().fit(frame, y)
    home = tmp_path_factory.mktemp("export-home")
    with Registry(home=home, actor="ana") as reg:
        reg.push(LogisticRegression(C=0.01).fit(frame, y), "churn", X=frame)
        reg.push(model, "churn", X=frame, deploy=True)
        yield reg, frame, model


class Entrypoint:
    """``python serve.py`` in the context folder, on a free port."""

    def __init__(self, context: Path, python: str = sys.executable) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PORT": str(self.port), "HOST": "127.0.0.1", "LOG_LEVEL": "warning"}
        self.proc = subprocess.Popen(
            [python, "serve.py"],
            cwd=context,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(self.proc.stdout.read().decode() if self.proc.stdout else "")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise AssertionError("serve.py did not answer /healthz in 60 s")

    def post(self, path: str, body: object) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", json=body, timeout=10)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        if self.proc.stdout:
            self.proc.stdout.close()


def test_a_compiled_version_exports_without_scikit_learn(pushed, tmp_path) -> None:
    """Version 2 was compiled at push: the image runs its ONNX artifact, so it pins
    onnxruntime and neither scikit-learn, SciPy nor joblib (nor deploykit)."""
    reg, _, _ = pushed
    version = reg.version("churn", 2)
    assert version.runtime["runtime"] == "onnx", version.runtime_label
    result = export_docker(reg, "churn", 2, tmp_path / "ctx")
    ctx = result.directory
    assert {"model/churn-2.onnx", "dkinput/_record.py", "dkinput/_runtime.py"} <= set(result.files)
    requirements = [
        r.split("==")[0]
        for r in (ctx / "requirements.txt").read_text().splitlines()
        if r and r[0] != "#"
    ]
    assert requirements == ["numpy", "pandas", "onnxruntime", "orjson", "uvicorn"]
    onnx = (ctx / "model" / "churn-2.onnx").read_bytes()
    assert f"sha256:{hashlib.sha256(onnx).hexdigest()}" == version.runtime["digest"]
    assert "deploykit" not in "".join(
        line
        for line in (ctx / "dkinput" / "_runtime.py").read_text().splitlines()
        if line.lstrip().startswith(("from ", "import "))
    )


def test_the_context_pins_what_the_version_was_pushed_with(pushed, tmp_path) -> None:
    reg, frame, _ = pushed
    plain = Registry(reg.settings.replace(compile=False))  # serves with scikit-learn
    plain.push(LogisticRegression().fit(frame, np.arange(len(frame)) % 2), "churn-plain", X=frame)
    assert plain.version("churn-plain", 1).runtime_label.startswith("sklearn: compilation is off")
    reg = plain
    result = export_docker(reg, "churn-plain", 1, tmp_path / "ctx")
    ctx = result.directory
    version = reg.version("churn-plain", 1)
    env = version.environment
    assert set(result.files) == {
        ".dockerignore",
        "Dockerfile",
        "MODEL_CARD.md",
        "README.md",
        "k8s/deployment.yaml",
        "k8s/hpa.yaml",
        "k8s/service.yaml",
        "model/churn-plain-1.joblib",
        "model/model.json",
        "requirements.txt",
        "serve.py",
        # the predict contract, generated from deploykit's own modules
        "dkinput/__init__.py",
        "dkinput/errors.py",
        "dkinput/_coerce.py",
        "dkinput/_json.py",
        "dkinput/_nullprobe.py",
        "dkinput/signature.py",
        "dkinput/payloads.py",
        "dkinput/wire.py",
        "dkinput/_record.py",
        "dkinput/_runtime.py",
    }
    requirements = [
        r for r in (ctx / "requirements.txt").read_text().splitlines() if r and r[0] != "#"
    ]
    assert requirements[:5] == [
        f"numpy=={env['numpy']}",
        f"scipy=={env['scipy']}",
        f"pandas=={env['pandas']}",
        f"scikit-learn=={env['scikit-learn']}",
        f"joblib=={env['joblib']}",
    ]
    assert requirements[5].startswith("orjson==")
    assert requirements[6].startswith("uvicorn==")
    assert "COPY dkinput/ dkinput/" in (ctx / "Dockerfile").read_text()
    contract = (ctx / "dkinput" / "signature.py").read_text()
    assert "from dkinput._coerce import" in contract
    assert "deploykit" not in "".join(
        line for line in contract.splitlines() if line.lstrip().startswith(("from ", "import "))
    )
    python = ".".join(env["python"].split(".")[:2])
    dockerfile = (ctx / "Dockerfile").read_text()
    assert dockerfile.splitlines()[1] == f"FROM python:{python}-slim"
    assert 'CMD ["python", "serve.py"]' in dockerfile
    spec = json.loads((ctx / "model" / "model.json").read_text())
    assert (spec["model"], spec["version"], spec["digest"]) == ("churn-plain", 1, version.digest)
    artifact = (ctx / "model" / "churn-plain-1.joblib").read_bytes()
    assert f"sha256:{hashlib.sha256(artifact).hexdigest()}" == version.digest
    assert spec["runtime"] is None
    plain.close()


def test_kubernetes_manifests_probe_healthz_and_scale_the_deployment(pushed, tmp_path) -> None:
    reg, _, _ = pushed
    export_docker(reg, "churn", "production", tmp_path / "ctx", image="registry.local/churn:2")
    k8s = tmp_path / "ctx" / "k8s"
    deployment = yaml.safe_load((k8s / "deployment.yaml").read_text())
    service = yaml.safe_load((k8s / "service.yaml").read_text())
    hpa = yaml.safe_load((k8s / "hpa.yaml").read_text())
    assert [deployment["kind"], service["kind"], hpa["kind"]] == [
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
    ]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.local/churn:2"
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["ports"][0]["containerPort"] == 8080
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)


def test_the_entrypoint_serves_the_model_in_mlflow_formats(pushed, tmp_path) -> None:
    reg, frame, model = pushed
    export_docker(reg, "churn", 2, tmp_path / "ctx")
    rows = frame.head(5)
    expected = model.predict(rows).tolist()
    server = Entrypoint(tmp_path / "ctx")
    try:
        split = {"dataframe_split": {"columns": COLUMNS, "data": rows.to_numpy().tolist()}}
        answer = server.post("/v1/models/churn/predict", split).json()
        assert answer == {
            "model": "churn",
            "version": 2,
            "predictions": expected,
            "request_id": answer["request_id"],
        }
        records = {"dataframe_records": rows.to_dict(orient="records")}
        assert server.post("/invocations", records).json()["predictions"] == expected
        inputs = {"inputs": rows.to_numpy().tolist()}
        assert server.post("/invocations", inputs).json()["predictions"] == expected
        proba = server.post("/invocations?proba=true", inputs).json()
        assert np.allclose(proba["probabilities"], model.predict_proba(rows))
        assert proba["classes"] == [0, 1]

        missing = server.post("/invocations", {"dataframe_records": [{"age": 1.0}]})
        assert missing.status_code == 422
        error = missing.json()["error"]
        assert error["type"] == "SignatureError"
        assert error["problems"] == ["missing columns: 'tenure', 'calls', 'spend'"]
        text = rows.to_dict(orient="records")
        text[1]["calls"] = "three"
        wrong = server.post("/invocations", {"dataframe_records": text})
        assert wrong.status_code == 422
        assert wrong.json()["error"]["problems"] == [
            "column 'calls': expected float64, got 'three' (row 1)"
        ]
        bad_json = httpx.post(f"{server.url}/invocations", content=b"{", timeout=10)
        assert bad_json.status_code == 400
        assert server.post("/v1/models/other/predict", inputs).status_code == 404
    finally:
        server.stop()


def test_a_tampered_artifact_stops_the_entrypoint_before_loading(pushed, tmp_path) -> None:
    reg, _, _ = pushed
    export_docker(reg, "churn", 1, tmp_path / "ctx")
    artifact = tmp_path / "ctx" / "model" / "churn-1.joblib"
    artifact.write_bytes(artifact.read_bytes() + b"\0")
    run = subprocess.run(
        [sys.executable, "serve.py"],
        cwd=tmp_path / "ctx",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert "The file was altered; nothing was loaded." in run.stderr


def test_a_tampered_compiled_artifact_stops_the_entrypoint(pushed, tmp_path) -> None:
    reg, _, _ = pushed
    export_docker(reg, "churn", 2, tmp_path / "ctx")
    onnx = tmp_path / "ctx" / "model" / "churn-2.onnx"
    onnx.write_bytes(onnx.read_bytes() + b"\0")
    run = subprocess.run(
        [sys.executable, "serve.py"],
        cwd=tmp_path / "ctx",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert "churn-2.onnx hashes to" in run.stderr
    assert "The file was altered; nothing was loaded." in run.stderr


def test_a_non_empty_folder_is_kept_unless_forced(pushed, tmp_path) -> None:
    reg, _, _ = pushed
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "notes.txt").write_text("mine")
    with pytest.raises(InvalidInputError, match=r"folder '.*ctx' is not empty"):
        export_docker(reg, "churn", 1, tmp_path / "ctx")
    assert (tmp_path / "ctx" / "notes.txt").exists()
    export_docker(reg, "churn", 1, tmp_path / "ctx", force=True)
    assert not (tmp_path / "ctx" / "notes.txt").exists()
    with pytest.raises(InvalidInputError, match="'replicas' parameter of export_docker"):
        export_docker(reg, "churn", 1, tmp_path / "other", replicas=0)


@pytest.mark.slow
def test_a_fresh_venv_from_the_generated_requirements_serves_a_request(pushed, tmp_path) -> None:
    """Installs the pinned requirements from PyPI into a venv without this one's packages.

    Needs the network. Measured here: ~40-90 s (pip download + install), most of it pip.
    """
    reg, frame, model = pushed
    export_docker(reg, "churn", 2, tmp_path / "ctx")
    venv = tmp_path / "venv"
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    install = subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            "requirements.txt",
        ],
        cwd=tmp_path / "ctx",
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    took = time.monotonic() - start
    isolated = subprocess.run(
        [python, "-c", "import deploykit"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert isolated.returncode != 0  # the image's environment knows nothing of deploykit
    no_sklearn = subprocess.run(
        [python, "-c", "import sklearn"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert no_sklearn.returncode != 0  # version 2 runs compiled: onnxruntime, no scikit-learn
    assert platform.python_version().startswith(reg.version("churn", 2).environment["python"][:4])
    server = Entrypoint(tmp_path / "ctx", python=python)
    try:
        rows = frame.head(3)
        answer = server.post(
            "/invocations", {"dataframe_split": rows.to_dict(orient="split")}
        ).json()
        assert answer["predictions"] == model.predict(rows).tolist()
    finally:
        server.stop()
    print(f"fresh venv from requirements.txt: {took:.1f} s")
