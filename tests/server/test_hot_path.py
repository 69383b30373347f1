"""The predict hot path's shortcuts change nothing a caller sees (a real server).

numpy reads request values when the body holds no JSON boolean: a boolean, a string or a
null where the model takes numbers is still refused with the signature's named error,
on /v1 and on Open Inference v2 alike; v2 answers what /v1 answers for the same rows,
whether its tensor took the matrix shortcut (flat numbers) or not (nested lists); the
predict routes dispatched directly still answer 404/405 exactly where Starlette did;
signed request ids stay unique and valid for feedback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from deploykit.registry import Registry
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer
from deploykit.settings import Settings

COLUMNS = ["a", "b", "c"]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, pd.DataFrame]]:
    X, y = make_classification(n_samples=200, n_features=3, n_informative=3, n_redundant=0,
                               random_state=2)  # fmt: skip
    frame = pd.DataFrame(X, columns=COLUMNS)
    home: Path = tmp_path_factory.mktemp("hot-path")
    settings = Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"})
    with Registry(settings.replace(actor="tester")) as registry:
        registry.push(LogisticRegression().fit(frame, y), "m", X=frame, deploy=True)
    with LiveServer(settings, ServerConfig(workers=1, log_flush_seconds=0.2)) as server:
        assert server.token is not None
        yield server.url, server.token, frame


def _v2(rows: object, shape: list[int], **extra: object) -> dict[str, object]:
    tensor = {"name": "input", "shape": shape, "datatype": "FP64", "data": rows}
    return {"inputs": [tensor], **extra}


@pytest.mark.parametrize(
    ("row", "column", "got"),
    [
        ([0.5, True, 1.0], "b", "got True (row 1)"),
        ([0.5, 1.0, "2.5"], "c", "got '2.5' (row 1)"),
        ([None, 1.0, 2.0], "a", "null"),
    ],
)
def test_v1_refuses_what_is_not_a_number_by_column(
    live: tuple[str, str, pd.DataFrame], row: list[object], column: str, got: str
) -> None:
    url, _, _ = live
    body = {"dataframe_split": {"columns": COLUMNS, "data": [[0.1, 0.2, 0.3], row]}}
    answer = httpx.post(f"{url}/v1/models/m/predict", json=body, timeout=30)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["type"] == "SignatureError"
    assert any(column in p for p in error["problems"]), error
    assert got in error["message"] or any(got in p for p in error["problems"])


def test_v1_takes_integers_as_numbers_and_answers_as_for_floats(
    live: tuple[str, str, pd.DataFrame],
) -> None:
    url, _, _ = live
    as_ints = httpx.post(
        f"{url}/v1/models/m/predict?proba=true", json={"inputs": [[1, 0, -2]]}, timeout=30
    )
    as_floats = httpx.post(
        f"{url}/v1/models/m/predict?proba=true", json={"inputs": [[1.0, 0.0, -2.0]]}, timeout=30
    )
    assert as_ints.status_code == as_floats.status_code == 200
    assert as_ints.json()["probabilities"] == as_floats.json()["probabilities"]
    # columns in another order are put back in the signature's order
    reordered = httpx.post(
        f"{url}/v1/models/m/predict?proba=true",
        json={"dataframe_split": {"columns": ["c", "a", "b"], "data": [[-2.0, 1.0, 0.0]]}},
        timeout=30,
    )
    assert reordered.json()["probabilities"] == as_floats.json()["probabilities"]


def test_v2_answers_what_v1_answers_flat_or_nested(live: tuple[str, str, pd.DataFrame]) -> None:
    url, _, frame = live
    rows = frame.head(25).to_numpy().tolist()
    v1 = httpx.post(f"{url}/v1/models/m/predict?proba=true", json={"inputs": rows}, timeout=30)
    flat = httpx.post(
        f"{url}/v2/models/m/infer", json=_v2([v for r in rows for v in r], [25, 3]), timeout=30
    )
    nested = httpx.post(f"{url}/v2/models/m/infer", json=_v2(rows, [25, 3]), timeout=30)
    assert v1.status_code == flat.status_code == nested.status_code == 200, flat.text
    outputs = {o["name"]: o for o in flat.json()["outputs"]}
    assert outputs == {o["name"]: o for o in nested.json()["outputs"]}
    assert outputs["predict"]["data"] == v1.json()["predictions"]
    assert outputs["predict_proba"]["shape"] == [25, 2]
    proba = np.array(outputs["predict_proba"]["data"]).reshape(25, 2)
    assert proba.tolist() == v1.json()["probabilities"]  # the same floats, bit for bit


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ([0.1, True, 0.3], "must hold numbers for datatype FP64. Got a boolean True at position 1"),
        ([0.1, "x", 0.3], "must hold numbers for datatype FP64. Got a string 'x' at position 1"),
        ([0.1, None, 0.3], "must hold numbers for datatype FP64. Got null None at position 1"),
        ([0.1, 0.2], "shape [1, 3] holds 3 values. Got 2 values instead."),
    ],
)
def test_v2_refuses_what_is_not_a_number_where_it_is(
    live: tuple[str, str, pd.DataFrame], data: list[object], says: str
) -> None:
    url, _, _ = live
    answer = httpx.post(f"{url}/v2/models/m/infer", json=_v2(data, [1, 3]), timeout=30)
    assert answer.status_code == 422, answer.text
    assert says in answer.json()["error"]


def test_v2_integer_tensor_with_a_fraction_is_refused(live: tuple[str, str, pd.DataFrame]) -> None:
    url, _, _ = live
    body = {
        "inputs": [{"name": "input", "shape": [1, 3], "datatype": "INT64", "data": [1, 2.5, 3]}]
    }
    answer = httpx.post(f"{url}/v2/models/m/infer", json=body, timeout=30)
    assert answer.status_code == 422
    assert "must hold integers for datatype INT64" in answer.json()["error"]


def test_predict_routes_dispatched_directly_keep_starlettes_answers(
    live: tuple[str, str, pd.DataFrame],
) -> None:
    url, _, _ = live
    body = {"inputs": [[0.1, 0.2, 0.3]]}
    assert httpx.post(f"{url}/v1/models/m/predict", json=body).status_code == 200
    assert httpx.post(f"{url}/v1/models/m/versions/1/predict", json=body).status_code == 200
    assert httpx.post(f"{url}/v1/models/nope/predict", json=body).status_code == 404
    wrong_method = httpx.get(f"{url}/v1/models/m/predict")
    assert wrong_method.status_code == 405
    assert "POST" in wrong_method.headers["allow"]
    # no empty model name, no extra segment: Starlette's router answers as before
    assert httpx.post(f"{url}/v1/models//predict", json=body).status_code == 404
    assert httpx.post(f"{url}/v1/models/m/predict/extra", json=body).status_code == 404
    assert httpx.post(f"{url}/v2/models/m/versions/1/infer", json=_v2([0.1, 0.2, 0.3], [1, 3]))\
        .status_code == 200  # fmt: skip
    assert httpx.get(f"{url}/v2/models/m").status_code == 200  # metadata: Starlette's route


def test_signed_request_ids_are_unique_and_take_feedback(
    live: tuple[str, str, pd.DataFrame],
) -> None:
    url, token, _ = live
    ids = set()
    with httpx.Client(timeout=30) as client:
        for _ in range(300):
            answer = client.post(f"{url}/v1/models/m/predict", json={"inputs": [[0.1, 0.2, 0.3]]})
            ids.add(answer.json()["request_id"])
        assert len(ids) == 300
        feedback = client.post(
            f"{url}/v1/models/m/feedback",
            json={"request_id": sorted(ids)[0], "label": [1]},
            headers={"authorization": f"Bearer {token}"},
        )
        assert feedback.status_code == 200, feedback.text
        forged = client.post(
            f"{url}/v1/models/m/feedback",
            json={"request_id": "0" * 16 + "." + "0" * 32, "label": [1]},
            headers={"authorization": f"Bearer {token}"},
        )
        assert forged.status_code in (400, 404, 422), forged.text


@pytest.mark.parametrize("word", [True, False])
def test_v1_refuses_one_boolean_deep_in_a_large_body(
    live: tuple[str, str, pd.DataFrame], word: bool
) -> None:
    """Past a few kB the body is searched for true/false with numpy (each 'e', then the
    bytes before it): one boolean among 900 numbers, with exponents around, is still found."""
    url, _, _ = live
    rows: list[list[object]] = [[1e-05 * i, -2.5e3, 0.25] for i in range(300)]
    rows[250][1] = word
    body = {"dataframe_split": {"columns": COLUMNS, "data": rows}}
    answer = httpx.post(f"{url}/v1/models/m/predict", json=body, timeout=30)
    assert answer.status_code == 422, answer.text
    assert f"got {word} (row 250)" in answer.text


def test_the_boolean_search_agrees_with_a_substring_search() -> None:
    from deploykit.server.payloads import no_bool_literal

    rng = np.random.default_rng(0)
    pieces = [b"1e-05", b",", b"true", b"false", b"tru", b"fals", b"e", b"[", b"]", b"0.5", b" "]
    for n in (1, 3, 800, 3000):
        for _ in range(200):
            body = b"".join(pieces[i] for i in rng.integers(0, len(pieces), size=n))
            expected = b"true" not in body and b"false" not in body
            assert no_bool_literal(body) == expected, body[:80]
    words = [b"true", b"false", b"tru", b"fals", b"alse", b"rue", b"e", b"1e-05", b'"use"']
    for _ in range(500):  # kB of numbers, a few words in them: the 'e' positions are checked
        parts = [b"0.5,"] * 1500
        for i in rng.integers(0, len(parts), size=rng.integers(0, 6)):
            parts[i] = words[rng.integers(0, len(words))]
        body = b"".join(parts)
        assert no_bool_literal(body) == (b"true" not in body and b"false" not in body)
    assert no_bool_literal(b"false" + b"1," * 5000) is False  # at the very start
    assert no_bool_literal(b"1," * 5000 + b"true") is False  # at the very end
    assert no_bool_literal(b"e" + b"1e5," * 2000) is True
