"""Serve one model version over HTTP: the entrypoint of a `deploykit export --docker` image.

Written by deploykit, it needs no deploykit installed: the input contract comes from
the ``dkinput/`` package beside it, which the export generated from deploykit's own
modules (``errors``, ``_coerce``, ``signature``, ``server/payloads``, ``server/wire``),
so this server checks, coerces and answers exactly as ``deploykit serve`` does. The
image needs only requirements.txt (the model's libraries at the versions recorded at
push, orjson, uvicorn). The artifact's sha256 is checked against the registry's record
before it is loaded; a mismatch stops the server. A version compiled at push runs on
its ONNX artifact (``dkinput/_runtime.py``, as ``deploykit serve`` runs it): the image
then needs onnxruntime instead of scikit-learn, unless rows with nulls go to the original.

    python serve.py          # HOST (0.0.0.0), PORT (8080), WORKERS (1) from the environment

Routes (the deploykit server's, for one model):
  GET  /healthz                         200 once the model is loaded (readiness, liveness)
  GET  /v1/models                       the model, version, digest and signature
  POST /v1/models/<name>/predict        MLflow scoring formats: dataframe_split,
  POST /invocations                     dataframe_records, instances, inputs; ?proba=true
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from dkinput import wire  # noqa: E402
from dkinput.errors import DeployKitError, InvalidInputError  # noqa: E402
from dkinput.payloads import (  # noqa: E402
    InputSpec,
    ignored_columns,
    parse_body,
    predict_failure,
    to_model_input,
)

SPEC: dict[str, Any] = json.loads((HERE / "model" / "model.json").read_text())
NAME: str = SPEC["model"]
REF = f"{NAME}:{SPEC['version']}"
MAX_BODY = int(os.environ.get("MAX_BODY_BYTES", 16 * 1024 * 1024))
# scikit-learn warns when a model fitted on a DataFrame predicts on an ndarray; the
# deploykit server does that on purpose for all-numeric inputs, and so does this one.
warnings.filterwarnings("ignore", message="X does not have valid feature names")


def _checked(path: Path, digest: str) -> bytes:
    data = path.read_bytes()
    found = f"sha256:{hashlib.sha256(data).hexdigest()}"
    if found != digest:
        sys.exit(
            f"serve.py: {path} hashes to {found}, not {digest} as recorded for "
            f"{REF}. The file was altered; nothing was loaded. Export the version again."
        )
    return data


def load_model() -> Any:
    path = HERE / "model" / SPEC["file"]
    _checked(path, SPEC["digest"])
    if SPEC["format"] == "skops":
        import skops.io

        # The types deploykit checked when it exported this digest (see model.json).
        return skops.io.load(path, trusted=list(SPEC.get("skops_trusted") or []))
    import joblib

    return joblib.load(path)


def load_compiled() -> Any:
    from dkinput._record import RuntimeInfo
    from dkinput._runtime import CompiledModel

    info = RuntimeInfo.from_dict(SPEC["runtime"])
    onnx = _checked(HERE / "model" / SPEC["compiled_file"], str(info.digest))
    return CompiledModel(onnx, info, label=REF)


COMPILED = load_compiled() if SPEC.get("runtime") else None
if COMPILED is not None:
    _checked(HERE / "model" / SPEC["file"], SPEC["digest"])  # the original: checked, not loaded
    MODEL: Any = None  # loaded for rows with nulls only, if the runtime sends them there
    _plan = COMPILED.plan
    INPUT = InputSpec.light(SPEC["signature"], _plan.families) if SPEC.get("signature") else None
    WANT_ARRAY = _plan.layout == "matrix"
    HAS_PROBA = COMPILED.has_proba
    CLASSES = COMPILED.info.classes
else:
    MODEL = load_model()
    INPUT = InputSpec.from_signature(SPEC["signature"]) if SPEC.get("signature") else None
    # The server predicts on an ndarray when that is what the model was fitted on.
    WANT_ARRAY = (
        INPUT is None
        or INPUT.kind == "array"
        or (getattr(MODEL, "feature_names_in_", None) is None and INPUT.all_float)
    )
    HAS_PROBA = hasattr(MODEL, "predict_proba")
    CLASSES = np.asarray(MODEL.classes_).tolist() if hasattr(MODEL, "classes_") else None


def _has_nulls(data: Any) -> bool:
    if isinstance(data, np.ndarray):
        if data.dtype.kind == "f":
            return bool(np.isnan(data).any())
        return data.dtype.kind == "O" and any(v is None or v != v for v in data.ravel())
    isna = getattr(data, "isna", None)
    return bool(isna().to_numpy().any()) if callable(isna) else False


def run_model(data: Any, proba: bool) -> tuple[Any, Any]:
    """(predictions, probabilities): on ONNX Runtime when compiled, as deploykit serve."""
    global MODEL
    if COMPILED is not None and not (COMPILED.info.nulls == "sklearn" and _has_nulls(data)):
        if type(data) is np.ndarray and data.dtype == np.float64:
            return COMPILED.run(COMPILED.feed_matrix(data), proba)
        return COMPILED.run(COMPILED.feed(data), proba)
    if MODEL is None:
        MODEL = load_model()
    predictions = np.asarray(MODEL.predict(data))
    return predictions, np.asarray(MODEL.predict_proba(data)) if proba else None


def predict(body: bytes, query: bytes, request_id: str) -> dict[str, Any]:
    parsed = parse_body(wire.parse_json(body))
    proba = wire.wants_proba(query)
    if proba and not HAS_PROBA:
        raise InvalidInputError(
            f"Model {REF} ({SPEC.get('estimator')}) has no predict_proba; drop ?proba=true."
        )
    data, _rows = to_model_input(parsed, INPUT, want_array=WANT_ARRAY)
    try:
        predictions, probabilities = run_model(data, proba)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise predict_failure(REF, exc) from None
    answer: dict[str, Any] = {
        "predictions": predictions,
        "model": NAME,
        "version": SPEC["version"],
        "request_id": request_id,
    }
    if probabilities is not None:
        answer["probabilities"] = probabilities
        answer["classes"] = CLASSES
    ignored = ignored_columns(parsed, INPUT)
    if ignored:
        answer["ignored_columns"] = ignored
    return answer


# ---------------------------------------------------------------- ASGI
async def _send(send: Any, status: int, payload: bytes, request_id: str | None) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    if request_id:
        headers.append((b"x-request-id", request_id.encode()))
        headers.append((b"x-model-version", str(SPEC["version"]).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    method, path = scope["method"], scope["path"].rstrip("/")
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    if method == "GET" and path == "/healthz":
        await _send(
            send, 200, wire.dumps({"status": "ok", "model": NAME, "version": SPEC["version"]}), None
        )
    elif method == "GET" and path == "/v1/models":
        keys = ("model", "version", "digest", "format", "estimator", "signature")
        await _send(send, 200, wire.dumps([{k: SPEC.get(k) for k in keys}]), None)
    elif method == "POST" and path in (f"/v1/models/{NAME}/predict", "/invocations"):
        request_id = wire.request_id_from(headers.get("x-request-id", ""))
        try:
            wire.check_json_type(headers.get("content-type"))
            wire.check_length(headers.get("content-length"), MAX_BODY)
            answer = predict(
                await wire.read_body(receive, MAX_BODY), scope.get("query_string", b""), request_id
            )
            status, payload = 200, wire.dumps(answer)
        except DeployKitError as exc:
            status, payload = wire.status_of(exc), wire.dumps(wire.error_body(exc, request_id))
        except Exception as exc:  # a fault, not the caller's: logged, answered without details
            print(f"serve.py: unexpected error in request {request_id}: {exc!r}", file=sys.stderr)
            status, payload = 500, wire.dumps(wire.error_body(exc, request_id))
        await _send(send, status, payload, request_id)
    else:
        error = {
            "type": "NotFoundError",
            "message": f"No such endpoint: {method} {path}. This image serves {NAME}.",
            "request_id": wire.new_request_id(),
        }
        await _send(send, 404, wire.dumps({"error": error}), None)


if __name__ == "__main__":
    import uvicorn

    workers = int(os.environ.get("WORKERS", "1"))
    options: dict[str, Any] = {
        "host": os.environ.get("HOST", "0.0.0.0"),  # all interfaces: a container's port
        "port": int(os.environ.get("PORT", "8080")),
        "log_level": os.environ.get("LOG_LEVEL", "info"),
    }
    if workers > 1:
        uvicorn.run("serve:app", workers=workers, app_dir=str(HERE), **options)
    else:
        uvicorn.run(app, **options)
