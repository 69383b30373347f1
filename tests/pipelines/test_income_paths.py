"""An income-style pipeline pushed from a real kernel, then driven through every path.

The same table of inputs (nulls in every column, unseen categories, extra and reordered
columns, wrong types, malformed bodies) goes to ``%deploy predict`` in the kernel, to
``deploykit serve`` (uvicorn on loopback), to ``deploykit score`` (a subprocess) and to
the ``deploykit export --docker`` entrypoint running in a fresh venv that has the
model's libraries but no deploykit. Every path must give the same verdict and message;
accepted inputs must predict exactly what the model predicts in-process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nbformat
import numpy as np
import pandas as pd
import pytest
from nbclient import NotebookClient

from deploykit.export import export_docker
from deploykit.registry import Registry
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer
from deploykit.settings import Settings

from . import income
from .income import COLUMNS, in_process, income_frame
from .parity import Entrypoint, borrowed_venv

pytestmark = pytest.mark.slow  # a kernel, two servers, a CLI run

HERE = Path(__file__).parent


def _rows(n: int = 4) -> list[dict[str, Any]]:
    X, _ = income_frame(n=200, seed=7)
    frame = X.dropna().head(n)
    out = []
    for record in frame.astype(object).to_dict(orient="records"):
        out.append({k: (v.item() if hasattr(v, "item") else v) for k, v in record.items()})
    return out


def _nulls_everywhere() -> list[dict[str, Any]]:
    rows = []
    base = _rows(1)[0]
    for column in COLUMNS:  # one row per column blanked, and a row with nothing at all
        rows.append({**base, column: None})
    rows.append(dict.fromkeys(COLUMNS))
    return rows


def _with(row_changes: dict[str, Any], row: int = 1) -> list[dict[str, Any]]:
    rows = _rows()
    rows[row] = {**rows[row], **row_changes}
    return rows


def _split(records: list[dict[str, Any]], columns: list[str]) -> dict[str, Any]:
    return {"columns": columns, "data": [[r.get(c) for c in columns] for r in records]}


UNSEEN = {"occupation": "Astronaut", "native_country": "Atlantis", "workclass": "Guild"}
REORDERED = [*reversed(COLUMNS), "customer_id"]

# key -> (body, query); the body as JSON text when it is not plain JSON.
CASES: dict[str, tuple[Any, str]] = {
    "plain": ({"dataframe_records": _rows()}, ""),
    "proba": ({"dataframe_records": _rows()}, "?proba=true"),
    "nulls in every column": ({"dataframe_records": _nulls_everywhere()}, "?proba=true"),
    "unseen categories": ({"dataframe_records": _with(UNSEEN)}, ""),
    "extra and reordered": (
        {
            "dataframe_split": _split(
                [{**r, "customer_id": i} for i, r in enumerate(_rows())], REORDERED
            )
        },
        "",
    ),
    "extra in records": (
        {"dataframe_records": [{**r, "customer_id": i} for i, r in enumerate(_rows())]},
        "",
    ),
    "age with decimals": ({"dataframe_records": _with({"age": 39.99})}, ""),
    "age as text": ({"dataframe_records": _with({"age": "39"})}, ""),
    "bool as int": ({"dataframe_records": _with({"owns_home": 1})}, ""),
    "hours as text": ({"dataframe_records": _with({"hours_per_week": "forty"})}, ""),
    "category as number": ({"dataframe_records": _with({"workclass": 3})}, ""),
    "missing column": ({"dataframe_records": [{"age": 30}]}, ""),
    "no rows": ({"dataframe_records": []}, ""),
    "NaN literal": ('{"dataframe_records": [{"age": NaN}]}', ""),
    "not json": ("{", ""),
    "proba not a bool": ({"dataframe_records": _rows()}, "?proba=maybe"),
}
# Inputs a notebook user can hold in a variable (the others exist only on the wire).
MAGIC = [k for k, (body, query) in CASES.items() if isinstance(body, dict) and "maybe" not in query]


def _magic_data(body: dict[str, Any]) -> Any:
    if "dataframe_split" in body:
        split = body["dataframe_split"]
        return pd.DataFrame(split["data"], columns=split["columns"])
    return body["dataframe_records"]


def _post(url: str, key: str, path: str) -> httpx.Response:
    body, query = CASES[key]
    content = body if isinstance(body, str) else json.dumps(body)
    headers = {"content-type": "application/json", "x-request-id": f"case-{len(key)}"}
    return httpx.post(f"{url}{path}{query}", content=content, headers=headers, timeout=30)


KERNEL_CASES = """
import json
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output
cases = json.loads({cases!r})
magic_results = {{}}
for key, body in cases.items():
    rows = _magic_data(body)
    proba = " --proba" if "proba" in key or "nulls" in key else ""
    try:
        with capture_output():
            p = get_ipython().run_line_magic("deploy", f"predict income rows{{proba}}  # {{key}}")
        magic_results[key] = {{
            "predictions": list(p.predictions),
            "probabilities": p.probabilities,
            "ignored_columns": p.ignored_columns,
            "text": p._text(),
        }}
    except UsageError as exc:
        magic_results[key] = {{"error": str(exc)}}
print(json.dumps(magic_results))
"""


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The kernel fits the pipeline, pushes it (joblib, and skops), and predicts each case."""
    work = tmp_path_factory.mktemp("income")
    home = work / "home"
    env = {
        "DEPLOYKIT_HOME": str(home),
        "DEPLOYKIT_ACTOR": "tester",
        "DEPLOYKIT_FSYNC": "0",
        "XDG_CACHE_HOME": str(work / "cache"),
        "IPYTHONDIR": str(work / "ipython"),
    }
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("DEPLOYKIT_")}
    os.environ.update(env)
    magic_cases = {key: CASES[key][0] for key in MAGIC}
    cells = [
        "%load_ext deploykit",
        (HERE / "income.py").read_text()
        + "\nX, y = income_frame()\nmodel = income_pipeline().fit(X, y)",
        "import pandas as pd\n"
        "def _magic_data(body):\n"
        "    if 'dataframe_split' in body:\n"
        "        s = body['dataframe_split']\n"
        "        return pd.DataFrame(s['data'], columns=s['columns'])\n"
        "    return body['dataframe_records']",
        "%deploy push model --name income --data X --deploy  # the HGB pipeline",
        "%deploy push model --name income --data X  # again: nothing changed",
        "%deploy push model --name income_skops --data X --format skops --deploy",
        KERNEL_CASES.format(cases=json.dumps(magic_cases)),
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    try:
        NotebookClient(
            nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(work)}}
        ).execute()
    finally:
        for key in env:
            os.environ.pop(key, None)
        os.environ.update(saved)
    settings = Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"})
    outputs = [cell.outputs for cell in nb.cells]
    magic = json.loads(outputs[-1][-1]["text"].strip().splitlines()[-1])
    with Registry(settings) as reg:
        yield {
            "work": work,
            "settings": settings,
            "registry": reg,
            "model": reg.load("income"),
            "outputs": outputs,
            "magic": magic,
        }


@pytest.fixture(scope="module")
def http(pushed: dict[str, Any]) -> Iterator[dict[str, httpx.Response]]:
    with LiveServer(pushed["settings"], ServerConfig(log_flush_seconds=0.5)) as server:
        answers = {key: _post(server.url, key, "/v1/models/income/predict") for key in CASES}
        skops = httpx.post(
            f"{server.url}/v1/models/income_skops/predict",
            json=CASES["plain"][0],
            timeout=30,
        )
        answers["skops"] = skops
        yield answers


@pytest.fixture(scope="module")
def exported(pushed: dict[str, Any]) -> Iterator[dict[str, httpx.Response]]:
    context = pushed["work"] / "ctx"
    export_docker(pushed["registry"], "income", "production", context)
    python = borrowed_venv(pushed["work"] / "venv")
    server = Entrypoint(context, python=python)
    try:
        yield {key: _post(server.url, key, "/v1/models/income/predict") for key in CASES}
    finally:
        server.stop()


def test_the_push_from_the_kernel_probed_nullability_and_noticed_a_repeat(pushed) -> None:
    outputs = pushed["outputs"]
    first = outputs[3][0]["data"]["text/plain"]
    assert "production → 1" in first
    assert "identical to version 1" in outputs[4][0]["data"]["text/plain"]
    skops = outputs[5][0]["data"]["text/plain"]
    assert "Pushed income_skops:1" in skops
    assert "production → 1" in skops
    signature = pushed["registry"].version("income", 1).signature
    by = {c["name"]: (c["nullable"], c.get("nullable_by", "data")) for c in signature["inputs"]}
    for column in COLUMNS:  # every column takes nulls: the imputers fill them
        expected = "data" if column in income.WITH_MISSING else "probe"
        assert by[column] == (True, expected), column
    assert signature["probe"]["rows"] == 3
    assert signature["probe"]["predict_calls"] == 1


def test_http_and_the_exported_server_answer_alike(http, exported) -> None:
    for key in CASES:
        ours, theirs = http[key], exported[key]
        assert (key, ours.status_code) == (key, theirs.status_code)
        if ours.status_code == 200:  # a server may answer with its own (signed) request id
            assert _without_id(ours.json()) == _without_id(theirs.json()), key
        else:  # errors echo the caller's X-Request-Id on both
            assert ours.json() == theirs.json(), key


def _without_id(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "request_id"}


def test_verdicts_and_predictions_are_those_of_the_model_in_process(pushed, http) -> None:
    model = pushed["model"]
    statuses = {key: http[key].status_code for key in CASES}
    accepted = [k for k, s in statuses.items() if s == 200]
    assert accepted == [
        "plain",
        "proba",
        "nulls in every column",
        "unseen categories",
        "extra and reordered",
        "extra in records",
    ]
    for key in accepted:
        body = CASES[key][0]
        records = body.get("dataframe_records") or [
            dict(zip(body["dataframe_split"]["columns"], row, strict=True))
            for row in body["dataframe_split"]["data"]
        ]
        answer = http[key].json()
        X = in_process(records)
        assert answer["predictions"] == model.predict(X).tolist(), key
        if "probabilities" in answer:
            np.testing.assert_allclose(answer["probabilities"], model.predict_proba(X))
    assert http["extra and reordered"].json()["ignored_columns"] == ["customer_id"]
    assert "ignored_columns" not in http["plain"].json()

    errors = {key: http[key].json()["error"] for key in CASES if statuses[key] != 200}
    assert {k: (statuses[k], e["type"]) for k, e in errors.items()} == {
        "age with decimals": (422, "SignatureError"),
        "age as text": (422, "SignatureError"),
        "bool as int": (422, "SignatureError"),
        "hours as text": (422, "SignatureError"),
        "category as number": (422, "SignatureError"),
        "missing column": (422, "SignatureError"),
        "no rows": (422, "SignatureError"),
        "NaN literal": (400, "InvalidInputError"),
        "not json": (400, "InvalidInputError"),
        "proba not a bool": (422, "InvalidInputError"),
    }
    assert (
        "column 'age': expected int64, got 39.99 (row 1)" in errors["age with decimals"]["message"]
    )
    assert "column 'owns_home': expected bool, got 1 (row 1)" in errors["bool as int"]["message"]
    assert errors["no rows"]["problems"] == ["the input has no rows"]
    for error in errors.values():
        assert error["request_id"].startswith("case-")


def test_the_magic_gives_the_same_verdicts(pushed, http) -> None:
    magic = pushed["magic"]
    assert sorted(magic) == sorted(MAGIC)
    for key in MAGIC:
        answer = http[key].json()
        if http[key].status_code == 200:
            assert magic[key]["predictions"] == answer["predictions"], key
            assert magic[key]["ignored_columns"] == answer.get("ignored_columns", []), key
            if "probabilities" in answer:
                np.testing.assert_allclose(magic[key]["probabilities"], answer["probabilities"])
        else:
            assert magic[key] == {"error": answer["error"]["message"]}, key
    # --proba shows a table of the rows, one probability column per class
    table = magic["proba"]["text"]
    assert "P(<=50K)" in table
    assert "P(>50K)" in table
    assert len([line for line in table.splitlines() if line.strip()[:1].isdigit()]) == 4


def test_deploykit_score_gives_the_same_verdicts(pushed, http) -> None:
    """Batch takes typed columns: the cases a Parquet file can hold, extras passed through."""
    work: Path = pushed["work"]
    env = {**os.environ, "DEPLOYKIT_HOME": str(pushed["settings"].home), "DEPLOYKIT_FSYNC": "0"}
    batch = ("plain", "nulls in every column", "unseen categories", "extra and reordered")
    # one file for the accepted cases (the reordered one brings an extra id column)
    frame = pd.concat([pd.DataFrame(_magic_data(CASES[key][0])) for key in batch])
    frame["workclass"] = frame["workclass"].astype("category")
    source, out = work / "accepted.parquet", work / "accepted-scored.parquet"
    frame.to_parquet(source, index=False)
    run = subprocess.run(
        [sys.executable, "-m", "deploykit", "score", "income", str(source), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    scored = pd.read_parquet(out)
    expected = [p for key in batch for p in http[key].json()["predictions"]]
    assert scored["prediction"].tolist() == expected
    assert scored["customer_id"].tolist()[-4:] == [0, 1, 2, 3]  # passed through
    frame = pd.DataFrame(_rows())
    frame["age"] = frame["age"].astype(str)  # a column of numbers as text, as a CSV export has it
    frame.to_parquet(work / "text.parquet")
    run = subprocess.run(
        [sys.executable, "-m", "deploykit", "score", "income", str(work / "text.parquet"),
         str(work / "text-scored.parquet")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert run.returncode == 1
    assert "column 'age': expected int64, got '" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_skops_hist_gradient_boosting_serves_with_no_setting(pushed, http) -> None:
    assert "DEPLOYKIT_SKOPS_TRUSTED" not in os.environ
    assert pushed["settings"].skops_trusted == ()
    assert http["skops"].status_code == 200, http["skops"].text
    assert http["skops"].json()["predictions"] == http["plain"].json()["predictions"]
