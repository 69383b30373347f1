"""Every bad input gets a 4xx with a message that says what is wrong, never a 500."""

from __future__ import annotations

import httpx

from tests.server.conftest import COLUMNS, Served


def _error(response: httpx.Response, status: int, kind: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == kind
    assert error["request_id"] == response.headers["x-request-id"]  # to quote in a bug report
    return error["message"]


def test_wrong_column_names_the_missing_and_the_unexpected(served: Served) -> None:
    body = {
        "dataframe_split": {
            "columns": ["age", "tenure", "calls", "spend", "visit"],
            "data": [[1, 2, 3, 4, 5]],
        }
    }
    response = served.post("/v1/models/lr/predict", body)
    message = _error(response, 422, "SignatureError")
    assert "visits" in message
    assert "visit" in message
    problems = response.json()["error"]["problems"]
    assert any("missing column" in p for p in problems)


def test_a_string_in_a_numeric_column_names_column_expected_and_received(served: Served) -> None:
    records = served.X.iloc[:2].to_dict(orient="records")
    records[1]["calls"] = "abc"
    message = _error(
        served.post("/v1/models/lr/predict", {"dataframe_records": records}), 422, "SignatureError"
    )
    assert "'calls'" in message
    assert "float64" in message
    assert "'abc'" in message


def test_an_unknown_category_type_and_a_null_are_reported(served: Served) -> None:
    records = served.mixed_frame.iloc[:2].to_dict(orient="records")
    records[0]["plan"] = 3.5
    records[1]["age"] = None
    response = served.post("/v1/models/mixed/predict", {"dataframe_records": records})
    message = _error(response, 422, "SignatureError")
    assert "'plan'" in message
    assert "'age'" in message


def test_rows_of_the_wrong_width_are_422(served: Served) -> None:
    message = _error(
        served.post("/v1/models/lr/predict", {"inputs": [[1.0, 2.0]]}), 422, "SignatureError"
    )
    assert "5 columns" in message


def test_a_body_without_a_scoring_key_lists_the_accepted_keys(served: Served) -> None:
    message = _error(
        served.post("/v1/models/lr/predict", {"data": [[1]]}), 422, "InvalidInputError"
    )
    assert "dataframe_split" in message
    assert "inputs" in message


def test_invalid_json_is_400(served: Served) -> None:
    response = httpx.post(
        f"{served.url}/v1/models/lr/predict",
        content=b'{"inputs": [[1, 2,',
        headers={"content-type": "application/json"},
    )
    assert "not valid JSON" in _error(response, 400, "InvalidInputError")


def test_a_non_json_content_type_is_415(served: Served) -> None:
    response = httpx.post(
        f"{served.url}/v1/models/lr/predict",
        content=b"age,tenure\n1,2\n",
        headers={"content-type": "text/csv"},
    )
    assert "application/json" in _error(response, 415, "InvalidInputError")


def test_curl_default_content_type_is_read_as_json(served: Served) -> None:
    response = httpx.post(
        f"{served.url}/v1/models/lr/predict",
        content=b'{"inputs": [[0, 0, 0, 0, 0]]}',
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200


def test_a_body_over_the_limit_is_413_declared_or_streamed(served: Served) -> None:
    big = b'{"inputs": [' + b"[0.5, 0.5, 0.5, 0.5, 0.5]," * 8000 + b"[0,0,0,0,0]]}"
    declared = httpx.post(
        f"{served.url}/v1/models/lr/predict",
        content=big,
        headers={"content-type": "application/json"},
    )
    assert "131,072 bytes" in _error(declared, 413, "InvalidInputError")

    def chunks():  # no Content-Length: the server counts while streaming
        for i in range(0, len(big), 8192):
            yield big[i : i + 8192]

    streamed = httpx.post(
        f"{served.url}/v1/models/lr/predict",
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    _error(streamed, 413, "InvalidInputError")


def test_an_unknown_model_is_404_with_a_hint_for_token_holders_only(served: Served) -> None:
    body = {"inputs": [[0] * 5]}
    message = _error(
        served.post("/v1/models/lrr/predict", body, headers=served.headers()),
        404,
        "ModelNotFoundError",
    )
    assert "did you mean 'lr'" in message
    # An anonymous caller learns that 'lrr' does not exist, not which models do.
    anonymous = _error(served.post("/v1/models/lrr/predict", body), 404, "ModelNotFoundError")
    assert anonymous == "No model named 'lrr'."


def test_a_model_without_production_is_404_saying_how_to_deploy(served: Served) -> None:
    message = _error(
        served.post("/v1/models/draft/predict", {"inputs": [[0] * 5]}), 404, "AliasNotFoundError"
    )
    assert "no 'production' version" in message
    assert "deploykit deploy draft 1" in message


def test_an_unknown_version_is_404(served: Served) -> None:
    _error(
        served.post(
            "/v1/models/lr/versions/9/predict", {"inputs": [[0] * 5]}, headers=served.headers()
        ),
        404,
        "VersionNotFoundError",
    )
    _error(
        served.post("/v1/models/lr/versions/x/predict", {"inputs": [[0] * 5]}),
        404,
        "VersionNotFoundError",
    )


def test_unknown_routes_and_methods_answer_json(served: Served) -> None:
    _error(httpx.get(f"{served.url}/v2/nothing"), 404, "NotFoundError")
    wrong_method = httpx.get(f"{served.url}/v1/models/lr/predict")
    _error(wrong_method, 405, "InvalidInputError")
    assert wrong_method.headers["allow"] == "POST"
    assert wrong_method.json()["error"]["request_id"] == wrong_method.headers["x-request-id"]


def test_proba_must_say_true_or_false(served: Served) -> None:
    body = {"inputs": [[0.0] * 5]}
    message = _error(
        served.post("/v1/models/lr/predict?proba=maybe", body), 422, "InvalidInputError"
    )
    assert message == (
        "The query parameter 'proba' must be true or false (or 1/0). Got 'maybe' instead."
    )
    assert "probabilities" not in served.post("/v1/models/lr/predict?proba=0", body).json()


def test_invalid_json_shows_what_came(served: Served) -> None:
    response = httpx.post(f"{served.url}/v1/models/lr/predict", content=b"not json{")
    assert "Got 'not json{' instead." in _error(response, 400, "InvalidInputError")


def test_feedback_labels_must_be_classes_the_model_could_predict(served: Served) -> None:
    rid = served.post("/v1/models/lr/predict", {"inputs": [[0.0] * 5]}).json()["request_id"]
    h = served.headers()
    message = _error(
        served.post("/v1/models/lr/feedback", {"request_id": rid, "label": "banana"}, headers=h),
        422,
        "InvalidInputError",
    )
    assert message == (
        "Feedback item 0: the label must be one of the classes of lr:1 (0, 1). "
        "Got a string 'banana' instead."
    )
    per_row = {"request_id": rid, "label": [1, 7]}
    assert "Got a number 7 instead" in _error(
        served.post("/v1/models/lr/feedback", per_row, headers=h), 422, "InvalidInputError"
    )
    accepted = served.post("/v1/models/lr/feedback", {"request_id": rid, "label": 1}, headers=h)
    assert accepted.json() == {"model": "lr", "recorded": 1, "authenticated": True}


def test_invalid_names_and_refs_in_admin_routes_are_4xx(served: Served) -> None:
    h = served.headers()
    assert httpx.get(f"{served.url}/v1/models/%20bad%20", headers=h).status_code == 422
    assert httpx.get(f"{served.url}/v1/models/lr/versions/staging", headers=h).status_code == 404
    assert httpx.get(f"{served.url}/v1/events?limit=0", headers=h).status_code == 422
    assert httpx.get(f"{served.url}/v1/events?since=yesterday", headers=h).status_code == 422
    assert httpx.get(f"{served.url}/v1/artifacts/sha256:nothex", headers=h).status_code == 422
    response = httpx.post(f"{served.url}/v1/models/lr/deploy", json={"version": "nine"}, headers=h)
    assert response.status_code in (404, 422)
    response = httpx.post(f"{served.url}/v1/models/lr/deploy", json=[1], headers=h)
    assert response.status_code == 422


def test_open_predict_still_refuses_an_unknown_token(served: Served) -> None:
    body = {"dataframe_records": [dict.fromkeys(COLUMNS, 1.0)]}
    assert served.post("/v1/models/lr/predict", body).status_code == 200
    denied = served.post("/v1/models/lr/predict", body, headers={"authorization": "Bearer dk_typo"})
    assert denied.status_code == 401
    assert "unknown or revoked" in denied.json()["error"]["message"]


def test_wrong_field_types_are_named_in_json_words(served: Served) -> None:
    r = served.post("/v1/models/lr/rollback", {"to": "two"}, headers=served.headers())
    assert r.status_code == 422
    assert r.json()["error"]["message"] == (
        "The field 'to' must be an integer. Got a string 'two' instead."
    )
    r = served.post("/v1/models/lr/predict", None)
    assert r.status_code in (400, 422)
    assert "NoneType" not in r.text
