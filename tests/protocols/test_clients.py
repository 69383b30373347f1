"""Other stacks' own clients call deploykit unchanged: tritonclient (HTTP and gRPC), the
kserve SDK's REST client, MLflow's scoring client. Each runs in .venv-protocols."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.protocols.conftest import COLUMNS, Protocols

pytestmark = pytest.mark.slow

TRITON_HTTP = """
import numpy as np
import tritonclient.http as th
from tritonclient.utils import InferenceServerException
url = ARGS["url"].removeprefix("http://")
c = th.InferenceServerClient(url)
out = {
    "live": c.is_server_live(), "ready": c.is_server_ready(),
    "server": c.get_server_metadata(), "model_ready": c.is_model_ready("churn"),
    "unknown_ready": c.is_model_ready("nope"),
    "meta": c.get_model_metadata("churn"), "plans_meta": c.get_model_metadata("plans"),
}
rows = np.array(ARGS["rows"], dtype=np.float64)
x = th.InferInput("input", list(rows.shape), "FP64"); x.set_data_from_numpy(rows)  # binary
r = c.infer("churn", [x])
out["binary"] = {"predict": r.as_numpy("predict").tolist(),
                 "proba": r.as_numpy("predict_proba").tolist(),
                 "response": r.get_response()}
# one tensor per column, JSON data, JSON outputs, one asked for; an extra column is ignored
cols = []
for i, name in enumerate(ARGS["columns"] + ["customer_id"]):
    t = th.InferInput(name, [len(rows)], "FP64")
    t.set_data_from_numpy(rows[:, min(i, 3)].copy(), binary_data=False); cols.append(t)
want = [th.InferRequestedOutput("predict", binary_data=False)]
r = c.infer("churn", cols, outputs=want)
out["columns"] = {"predict": r.as_numpy("predict").tolist(), "response": r.get_response()}
errors = {}
for key, call in {
    "unknown": lambda: c.infer("nope", [x]),
    "missing": lambda: c.infer("churn", cols[:2]),
    "bad_output": lambda: c.infer("churn", [x], outputs=[th.InferRequestedOutput("logits")]),
    "unaliased": lambda: c.infer("churn", [x], model_version="1"),
}.items():
    try:
        call(); errors[key] = None
    except InferenceServerException as exc:
        errors[key] = {"status": exc.status(), "message": exc.message()}
out["errors"] = errors
strings = th.InferInput("plan", [2], "BYTES")
strings.set_data_from_numpy(np.array([b"pro", b"basic"], dtype=object))
spend = th.InferInput("spend", [2], "FP64"); spend.set_data_from_numpy(np.array([40.0, 70.0]))
r = c.infer("plans", [strings, spend])
out["plans"] = [v.decode() for v in r.as_numpy("predict").tolist()]
print(json.dumps(out))
"""


def _local(model: Any, rows: np.ndarray) -> list[int]:
    return list(model.predict(pd.DataFrame(rows, columns=COLUMNS)).tolist())


def _plans(served: Protocols) -> list[str]:
    frame = pd.DataFrame({"plan": ["pro", "basic"], "spend": [40.0, 70.0]})
    return list(served.plans_model.predict(frame).tolist())


def test_tritonclient_http(served: Protocols) -> None:
    rows = served.X.head(3).to_numpy()
    out = served.run(TRITON_HTTP, rows=rows.tolist(), columns=COLUMNS)
    assert out["live"]
    assert out["ready"]
    assert out["model_ready"]
    assert out["unknown_ready"] is False
    assert out["server"]["name"] == "deploykit"
    assert "binary_tensor_data" in out["server"]["extensions"]
    meta = out["meta"]
    assert meta["name"] == "churn"
    assert meta["versions"] == ["2"]
    assert meta["inputs"] == [{"name": "input", "datatype": "FP64", "shape": [-1, 4]}]
    assert {o["name"]: o["datatype"] for o in meta["outputs"]} == {
        "predict": "INT64",
        "predict_proba": "FP64",
    }
    # mixed types: one tensor per column, strings as BYTES; string classes
    assert out["plans_meta"]["inputs"] == [
        {"name": "plan", "datatype": "BYTES", "shape": [-1]},
        {"name": "spend", "datatype": "FP64", "shape": [-1]},
    ]
    assert out["plans_meta"]["outputs"][0]["datatype"] == "BYTES"
    # binary tensors both ways (tritonclient's default), same answers as the model
    expected = _local(served.churn, rows)
    assert out["binary"]["predict"] == expected
    proba = served.churn.predict_proba(served.X.head(3))
    np.testing.assert_allclose(out["binary"]["proba"], proba)
    response = out["binary"]["response"]
    assert response["model_name"] == "churn"
    assert response["model_version"] == "2"
    assert response["parameters"]["classes"] == "0,1"
    # per-column JSON tensors, one output asked for, the extra column listed as ignored
    assert out["columns"]["predict"] == expected
    assert [o["name"] for o in out["columns"]["response"]["outputs"]] == ["predict"]
    assert out["columns"]["response"]["parameters"]["ignored_columns"] == "customer_id"
    errors = out["errors"]
    assert errors["unknown"]["status"] == "404"
    assert "No model named 'nope'" in errors["unknown"]["message"]
    # the signature's verdict, naming the missing columns, as for /v1
    assert errors["missing"]["status"] == "422"
    assert "missing columns: 'calls', 'spend'" in errors["missing"]["message"]
    assert errors["bad_output"]["status"] == "422"
    assert (
        "outputs[0].name must be one of 'predict', 'predict_proba'"
        in (errors["bad_output"]["message"])
    )
    assert errors["unaliased"]["status"] == "401"
    assert "'deployer' role" in errors["unaliased"]["message"]
    assert out["plans"] == _plans(served)


TRITON_GRPC = """
import numpy as np
import tritonclient.grpc as tg
from tritonclient.utils import InferenceServerException
c = tg.InferenceServerClient(ARGS["grpc"])
out = {"live": c.is_server_live(), "ready": c.is_server_ready(),
       "model_ready": c.is_model_ready("churn"), "unknown_ready": c.is_model_ready("nope"),
       "server": c.get_server_metadata(as_json=True),
       "meta": c.get_model_metadata("churn", as_json=True)}
rows = np.array(ARGS["rows"], dtype=np.float64)
x = tg.InferInput("input", list(rows.shape), "FP64"); x.set_data_from_numpy(rows)
r = c.infer("churn", [x])
out["predict"] = r.as_numpy("predict").tolist()
out["proba"] = r.as_numpy("predict_proba").tolist()
out["response"] = r.get_response(as_json=True)
admin = {"authorization": "Bearer " + ARGS["admin"]}
viewer = {"authorization": "Bearer " + ARGS["viewer"]}
r = c.infer("churn", [x], model_version="1", headers=admin)
out["v1_admin"] = r.as_numpy("predict").tolist()
wide = tg.InferInput("input", [1, 3], "FP64").set_data_from_numpy(rows[:1, :3].copy())
short = tg.InferInput("input", [1, 4], "FP64").set_data_from_numpy(rows[:1].copy())
short.set_shape([2, 4])  # says 2 rows, holds 1
errors = {}
for key, call in {
    "unknown": lambda: c.infer("nope", [x]),
    "unaliased_viewer": lambda: c.infer("churn", [x], model_version="1", headers=viewer),
    "bad_token": lambda: c.infer("churn", [x], headers={"authorization": "Bearer dk_nope"}),
    "wide": lambda: c.infer("churn", [wide]),
    "short": lambda: c.infer("churn", [short]),
}.items():
    try:
        call(); errors[key] = None
    except InferenceServerException as exc:
        errors[key] = {"status": exc.status(), "message": exc.message()}
    except Exception as exc:  # the client refusing before sending
        errors[key] = {"status": "client", "message": str(exc)}
out["errors"] = errors
print(json.dumps(out))
"""


def test_tritonclient_grpc(served: Protocols) -> None:
    rows = served.X.head(4).to_numpy()
    out = served.run(TRITON_GRPC, rows=rows.tolist(), admin=served.admin, viewer=served.viewer)
    assert out["live"]
    assert out["ready"]
    assert out["model_ready"]
    assert out["unknown_ready"] is False
    assert out["server"]["name"] == "deploykit"
    assert out["meta"]["inputs"] == [{"name": "input", "datatype": "FP64", "shape": ["-1", "4"]}]
    assert out["predict"] == _local(served.churn, rows)
    np.testing.assert_allclose(out["proba"], served.churn.predict_proba(served.X.head(4)))
    assert out["response"]["model_version"] == "2"
    # the request id deploykit signs (feedback can label it) comes back in the parameters
    assert out["response"]["parameters"]["request_id"]["string_param"]
    # a deployer token in gRPC metadata opens a version no alias points at
    assert out["v1_admin"] == _local(served.churn_v1, rows)
    errors = out["errors"]
    assert errors["unknown"]["status"] == "StatusCode.NOT_FOUND"
    assert errors["unaliased_viewer"]["status"] == "StatusCode.PERMISSION_DENIED"
    assert "'deployer' role" in errors["unaliased_viewer"]["message"]
    assert errors["bad_token"]["status"] == "StatusCode.UNAUTHENTICATED"
    assert errors["wide"]["status"] == "StatusCode.INVALID_ARGUMENT"
    assert "spend" in errors["wide"]["message"]  # names the column the rows lack
    assert errors["short"]["status"] == "StatusCode.INVALID_ARGUMENT"
    assert "needs 64 bytes. Got 32 bytes" in errors["short"]["message"]


KSERVE = """
import asyncio, httpx
import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

async def main():
    client = InferenceRESTClient(RESTConfig(protocol="v2"))
    out = {"live": await client.is_server_live(ARGS["url"]),
           "ready": await client.is_server_ready(ARGS["url"]),
           "model_ready": await client.is_model_ready(ARGS["url"], "churn"),
           "unknown_ready": await client.is_model_ready(ARGS["url"], "nope")}
    rows = np.array(ARGS["rows"], dtype=np.float64)
    x = InferInput("input", list(rows.shape), "FP64"); x.set_data_from_numpy(rows)
    result = await client.infer(ARGS["url"], InferRequest("churn", [x]), model_name="churn")
    out["predict"] = result.outputs[0].as_numpy().tolist()
    out["names"] = [o.name for o in result.outputs]
    x = InferInput("input", list(rows.shape), "FP64"); x.set_data_from_numpy(rows, binary_data=True)
    result = await client.infer(ARGS["url"], InferRequest("churn", [x]), model_name="churn")
    out["binary"] = result.outputs[0].as_numpy().tolist()
    bad = InferInput("input", [1, 4], "BYTES")
    bad.set_data_from_numpy(np.array([["a", "b", "c", "d"]], dtype=object))
    try:
        await client.infer(ARGS["url"], InferRequest("churn", [bad]), model_name="churn")
        out["error"] = None
    except httpx.HTTPStatusError as exc:
        out["error"] = {"status": exc.response.status_code, "message": str(exc)}
    await client.close()
    return out

print(json.dumps(asyncio.run(main())))
"""


def test_kserve_rest_client(served: Protocols) -> None:
    rows = served.X.head(2).to_numpy()
    out = served.run(KSERVE, rows=rows.tolist())
    assert out["live"]
    assert out["ready"]
    assert out["model_ready"]
    assert out["unknown_ready"] is False
    assert out["names"] == ["predict", "predict_proba"]
    assert out["predict"] == _local(served.churn, rows)
    assert out["binary"] == _local(served.churn, rows)
    assert out["error"]["status"] == 422
    # the signature names the column, what it expects and what came
    assert "'age'" in out["error"]["message"]
    assert "'a'" in out["error"]["message"]


MLFLOW = """
import pandas as pd, requests
from mlflow.pyfunc.scoring_server.client import ScoringServerClient
host, port = ARGS["url"].removeprefix("http://").split(":")
client = ScoringServerClient(host, int(port))
client.wait_server_ready(timeout=10)
frame = pd.DataFrame(ARGS["rows"], columns=ARGS["columns"])
out = {"version": client.get_version(),
       "predictions": client.invoke(frame).get_predictions().iloc[:, 0].tolist()}
named = ScoringServerClient(host, int(port))
named.url_prefix += "/models/plans"  # the per-model base URL
named.ping()
plans = pd.DataFrame({"plan": ["pro", "basic"], "spend": [40.0, 70.0]})
out["plans"] = named.invoke(plans).get_predictions().iloc[:, 0].tolist()
csv = requests.post(ARGS["url"] + "/invocations", data=frame.to_csv(index=False),
                    headers={"Content-Type": "text/csv"})
out["csv"] = csv.json()
try:
    client.invoke(frame.drop(columns=["spend"]))
    out["error"] = None
except Exception as exc:
    out["error"] = str(exc)
bad = requests.post(ARGS["url"] + "/invocations", data="<x/>", headers={"Content-Type": "text/xml"})
out["unsupported"] = [bad.status_code, bad.json()]
print(json.dumps(out))
"""


def test_mlflow_scoring_client(served: Protocols) -> None:
    rows = served.X.head(3).to_numpy()
    out = served.run(MLFLOW, rows=rows.tolist(), columns=COLUMNS)
    expected = _local(served.churn, rows)
    assert out["predictions"] == expected  # /invocations scores `serve --model churn`
    assert out["csv"] == {"predictions": expected}
    assert out["plans"] == _plans(served)
    assert out["version"]
    assert "error code 400" in out["error"]
    assert '"error_code": "INVALID_PARAMETER_VALUE"' in out["error"].replace('":"', '": "')
    assert "missing column: 'spend'" in out["error"]
    assert out["unsupported"][0] == 415
    assert out["unsupported"][1]["error_code"] == "BAD_REQUEST"
