"""Serve one model version over HTTP: the entrypoint of a `deploykit export --docker` image.

Written by deploykit, it imports nothing of deploykit: the image needs only the packages in
requirements.txt (the model's libraries at the versions recorded when it was pushed, and
uvicorn). The artifact's sha256 is checked against the registry's record before it is
unpickled; a mismatch stops the server.

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
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
SPEC: dict[str, Any] = json.loads((HERE / "model" / "model.json").read_text())
NAME: str = SPEC["model"]
MAX_BODY = int(os.environ.get("MAX_BODY_BYTES", 16 * 1024 * 1024))
_NUMERIC = ("float", "int", "bool")


class BadInputError(Exception):
    """A request the model cannot take: answered with 4xx and this message."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def load_model() -> Any:
    path = HERE / "model" / SPEC["file"]
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha.update(chunk)
    found = f"sha256:{sha.hexdigest()}"
    if found != SPEC["digest"]:
        sys.exit(
            f"serve.py: {path} hashes to {found}, not {SPEC['digest']} as recorded for "
            f"{NAME}:{SPEC['version']}. The file was altered; nothing was loaded. "
            "Export the version again."
        )
    if SPEC["format"] == "skops":
        import skops.io

        return skops.io.load(path, trusted=list(SPEC.get("skops_trusted") or []))
    import joblib

    return joblib.load(path)


MODEL = load_model()
SIGNATURE: dict[str, Any] | None = SPEC.get("signature")
COLUMNS: list[str] = [c["name"] for c in SIGNATURE["inputs"]] if SIGNATURE else []


# ---------------------------------------------------------------- input
def frame_from(body: Any) -> pd.DataFrame:
    """The request's rows as a DataFrame, from any of MLflow's scoring formats."""
    if not isinstance(body, dict):
        raise BadInputError('The request body must be a JSON object such as {"inputs": [[...]]}.')
    formats = [
        k for k in ("dataframe_split", "dataframe_records", "instances", "inputs") if k in body
    ]
    if len(formats) != 1:
        raise BadInputError(
            "The request body needs exactly one of 'dataframe_split', 'dataframe_records', "
            f"'instances' or 'inputs'. Got {sorted(body) or 'none'}."
        )
    data = body[formats[0]]
    try:
        if formats[0] == "dataframe_split":
            return pd.DataFrame(data["data"], columns=data.get("columns") or COLUMNS or None)
        if isinstance(data, dict):  # {"column": [values...]}
            return pd.DataFrame(data)
        if data and all(isinstance(row, dict) for row in data):
            return pd.DataFrame.from_records(data)
        rows = np.asarray(data, dtype=object)
        if rows.ndim == 1:
            rows = rows.reshape(1, -1)
        if COLUMNS and rows.shape[1] != len(COLUMNS):
            raise BadInputError(
                f"Each row must have {len(COLUMNS)} values ({', '.join(COLUMNS)}). "
                f"Got {rows.shape[1]}."
            )
        return pd.DataFrame(rows, columns=COLUMNS or None)
    except BadInputError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInputError(f"The {formats[0]!r} input is malformed: {exc}.") from None


def model_input(frame: pd.DataFrame) -> Any:
    """``frame`` with the training columns, order and dtypes; 422 naming what is wrong."""
    if not SIGNATURE:
        return frame.to_numpy()
    problems = []
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        problems.append(f"missing column(s) {', '.join(map(repr, missing))}")
    unknown = [str(c) for c in frame.columns if c not in COLUMNS]
    if unknown:
        problems.append(f"unknown column(s) {', '.join(map(repr, unknown))}")
    if problems:
        raise BadInputError(
            "The input does not match the model's signature: " + "; ".join(problems)
        )
    out = {}
    for spec in SIGNATURE["inputs"]:
        name, values = spec["name"], frame[spec["name"]]
        family = spec.get("family") or ""
        if family.startswith(_NUMERIC) or spec["dtype"].startswith(_NUMERIC):
            converted = pd.to_numeric(values, errors="coerce")
            bad = converted.isna() & values.notna()
            bad |= values.map(lambda v: isinstance(v, str))
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise BadInputError(
                    f"Column {name!r} expects {spec['dtype']} values; row {row} holds "
                    f"{values.iloc[row]!r}."
                )
            values = converted
        if not spec.get("nullable", True) and values.isna().any():
            row = int(np.flatnonzero(values.isna().to_numpy())[0])
            raise BadInputError(
                f"Column {name!r} had no missing values in training; row {row} is null."
            )
        try:
            out[name] = values.astype(spec["dtype"]) if spec["dtype"] != "object" else values
        except (TypeError, ValueError):
            out[name] = values
    frame = pd.DataFrame(out, columns=COLUMNS)
    return frame.to_numpy() if SIGNATURE.get("kind") == "array" else frame


def predict(body: Any, proba: bool) -> dict[str, Any]:
    X = model_input(frame_from(body))
    try:
        predictions = np.asarray(MODEL.predict(X))
        answer: dict[str, Any] = {
            "model": NAME,
            "version": SPEC["version"],
            "predictions": predictions.tolist(),
        }
        if proba:
            if not hasattr(MODEL, "predict_proba"):
                raise BadInputError(f"{NAME}:{SPEC['version']} does not predict probabilities.")
            answer["probabilities"] = np.asarray(MODEL.predict_proba(X)).tolist()
            answer["classes"] = np.asarray(MODEL.classes_).tolist()
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise BadInputError(f"The model could not predict on this input: {exc}") from None
    return answer


# ---------------------------------------------------------------- ASGI
async def _send_json(send: Any, status: int, payload: Any) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Any) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise BadInputError(f"The request body is larger than {MAX_BODY} bytes.", status=413)
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


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
    try:
        if method == "GET" and path == "/healthz":
            await _send_json(send, 200, {"status": "ok", "model": NAME, "version": SPEC["version"]})
        elif method == "GET" and path == "/v1/models":
            keys = ("model", "version", "digest", "format", "estimator", "signature")
            await _send_json(send, 200, [{k: SPEC.get(k) for k in keys}])
        elif method == "POST" and path in (f"/v1/models/{NAME}/predict", "/invocations"):
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            proba = query.get("proba", ["false"])[-1].lower() in ("1", "true", "yes")
            try:
                body = json.loads(await _read_body(receive) or b"null")
            except json.JSONDecodeError as exc:
                raise BadInputError(
                    f"The request body is not valid JSON: {exc}.", status=400
                ) from None
            await _send_json(send, 200, predict(body, proba))
        else:
            await _send_json(
                send,
                404,
                {"error": f"No such endpoint: {method} {path}. This image serves {NAME}."},
            )
    except BadInputError as exc:
        await _send_json(send, exc.status, {"error": str(exc)})


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
