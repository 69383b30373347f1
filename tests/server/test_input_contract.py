"""The server's input contract: extras ignored and said; pushes that cannot load refused."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.neighbors import KNeighborsClassifier

from deploykit import Client
from deploykit.errors import InvalidInputError
from tests.server.conftest import Served


def test_extra_columns_are_ignored_and_listed(served: Served) -> None:
    frame = served.X.iloc[:4]
    expected = served.models["lr"].predict(frame).tolist()
    records = [{"id": i, **r, "note": "x"} for i, r in enumerate(frame.to_dict(orient="records"))]
    answer = served.post("/v1/models/lr/predict", {"dataframe_records": records})
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == expected
    assert answer.json()["ignored_columns"] == ["id", "note"]
    columns = ["note", *reversed(frame.columns)]
    split = {"columns": columns, "data": [["x", *reversed(r)] for r in frame.to_numpy().tolist()]}
    answer = served.post("/v1/models/lr/predict", {"dataframe_split": split})
    assert answer.json()["predictions"] == expected
    assert answer.json()["ignored_columns"] == ["note"]
    # A misspelt column is still a missing one, and the extra it became says what it meant:
    # ignoring extras never hides a typo.
    renamed = [{("agee" if k == "age" else k): v for k, v in r.items()} for r in records]
    refused = served.post("/v1/models/lr/predict", {"dataframe_records": renamed})
    assert refused.status_code == 422
    assert refused.json()["error"]["problems"] == [
        "missing column: 'age'",
        "unexpected column 'agee' (did you mean 'age'?)",
    ]


def test_the_server_refuses_a_skops_push_it_could_not_load(served: Served) -> None:
    X = served.X.to_numpy()
    y = (X[:, 0] > 0).astype(int)
    with Client(served.url, token=served.token) as client:
        knn = KNeighborsClassifier(algorithm="kd_tree").fit(X, y)
        with pytest.raises(InvalidInputError) as excinfo:
            client.push(knn, "knn", X=X, format="skops", deploy=True)
        message = str(excinfo.value)
        assert message.startswith("knn was not pushed: it would not load where it is served.")
        assert "sklearn.neighbors._kd_tree.KDTree" in message
        assert str(served.settings.home) not in message  # no server path reaches the client
        assert "knn" not in [m.name for m in client.models()]

        hgb = HistGradientBoostingClassifier(max_iter=5).fit(X, y)
        version = client.push(hgb, "hgb", X=X, format="skops", deploy=True)
        assert version.aliases == ("production",)
        answer = served.post("/v1/models/hgb/predict", {"inputs": X[:3].tolist()})
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == hgb.predict(X[:3]).tolist()
        np.testing.assert_array_equal(client.load("hgb").predict(X), hgb.predict(X))


PARITY = {
    "ok": ({"dataframe_records": [{"age": 0.1, "tenure": 1.0, "plan": "gold"}]}, ""),
    "unseen and extra": (
        {"dataframe_split": {"columns": ["id", "plan", "tenure", "age"], "data": [[1, "x", 1, 2]]}},
        "?proba=1",
    ),
    "text for a number": ({"dataframe_records": [{"age": "1", "tenure": 1, "plan": "gold"}]}, ""),
    "null where refused": ({"inputs": {"age": [None], "tenure": [1.0], "plan": ["gold"]}}, ""),
    "bool for a number": ({"instances": [[True, 1.0, "gold"]]}, ""),
    "short row": ({"inputs": [[1.0, "gold"]]}, ""),
    "no rows": ({"dataframe_split": {"columns": ["age"], "data": []}}, ""),
    "two formats": ({"inputs": [], "instances": []}, ""),
    "NaN": ('{"inputs": [[NaN, 1.0, "gold"]]}', ""),
    "bad proba": ({"inputs": [[1.0, 1.0, "gold"]]}, "?proba=perhaps"),
}


def test_the_exported_server_answers_as_this_one(served: Served, tmp_path) -> None:
    """The same table against ``deploykit serve`` and the export's entrypoint (this venv)."""
    from deploykit.export import export_docker
    from tests.pipelines.parity import Entrypoint

    export_docker(served.registry, "mixed", "production", tmp_path / "ctx")
    exported = Entrypoint(tmp_path / "ctx")
    statuses = {}
    try:
        for key, (body, query) in PARITY.items():
            content = body if isinstance(body, str) else json.dumps(body)
            headers = {"content-type": "application/json", "x-request-id": "parity-1"}
            answers = [
                httpx.post(f"{url}{path}{query}", content=content, headers=headers, timeout=30)
                for url, path in (
                    (served.url, "/v1/models/mixed/predict"),
                    (exported.url, "/invocations"),
                )
            ]
            ours, theirs = (a.json() for a in answers)
            assert answers[0].status_code == answers[1].status_code, (key, ours, theirs)
            if answers[0].status_code == 200:
                ours.pop("request_id")
                theirs.pop("request_id")
            assert ours == theirs, key
            statuses[key] = answers[0].status_code
    finally:
        exported.stop()
    assert statuses == {
        "ok": 200,
        "unseen and extra": 200,
        "text for a number": 422,
        "null where refused": 422,  # a passthrough column into LogisticRegression
        "bool for a number": 422,
        "short row": 422,
        "no rows": 422,
        "two formats": 422,
        "NaN": 400,
        "bad proba": 422,
    }
