"""A request body sent in chunks, with no Content-Length, meets the same limits.

Against a real ``deploykit serve`` on loopback, both predict routes (``/v1`` and the v2
``infer``) read bodies with :func:`deploykit.server.wire.read_body`: a body streamed in
small pieces is scored as if sent whole; one that grows past ``max_body_bytes``, or
(``/v1``) holds more values than ``max_cells`` allows, is refused with a 413 naming the
option, before any of it is decoded.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from deploykit.registry import Registry
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer
from deploykit.settings import Settings

COLUMNS = ["age", "tenure", "calls", "spend", "visits"]
LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, pd.DataFrame]]:
    X, y = make_classification(n_samples=200, n_features=5, random_state=0)
    frame = pd.DataFrame(X, columns=COLUMNS)
    home: Path = tmp_path_factory.mktemp("streamed-home")
    settings = Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"})
    with Registry(settings) as registry:
        registry.push(LogisticRegression().fit(frame, y), "lr", X=frame, deploy=True)
    config = ServerConfig(
        max_body_bytes=LIMIT,
        max_rows=200,
        max_columns=20,
        max_cells=1_000,
        log_sample_rate=0.0,
        predict_requires_token=False,
    )
    with LiveServer(settings, config) as server:
        yield server.url, frame


def in_pieces(body: bytes, size: int = 256) -> Iterator[bytes]:
    """The body as a chunked upload: httpx sends no Content-Length for an iterator."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def post(path: str, url: str, body: Any) -> httpx.Response:
    return httpx.post(
        f"{url}{path}", content=body, headers={"content-type": "application/json"}, timeout=60
    )


v1 = functools.partial(post, "/v1/models/lr/predict")
v2 = functools.partial(post, "/v2/models/lr/infer")


def v1_body(rows: pd.DataFrame) -> bytes:
    return orjson.dumps({"dataframe_split": rows.to_dict(orient="split")})


def v2_body(rows: pd.DataFrame) -> bytes:
    tensor = {
        "name": "input",
        "shape": list(rows.shape),
        "datatype": "FP64",
        "data": rows.to_numpy().ravel().tolist(),
    }
    return orjson.dumps({"inputs": [tensor]})


def test_a_body_streamed_in_small_pieces_is_scored_as_if_sent_whole(
    live: tuple[str, pd.DataFrame],
) -> None:
    url, frame = live
    rows = frame.head(50)
    for send, body in ((v1, v1_body(rows)), (v2, v2_body(rows))):
        assert len(body) > 10 * 256  # many pieces
        whole, streamed = send(url, body), send(url, in_pieces(body))
        assert whole.status_code == 200, whole.text
        assert streamed.status_code == 200, streamed.text
        assert "content-length" not in streamed.request.headers
        assert streamed.content.count(b",") == whole.content.count(b",")
        key = "predictions" if send is v1 else "outputs"
        assert streamed.json()[key] == whole.json()[key]


@pytest.mark.parametrize("send", [v1, v2], ids=["v1", "v2"])
def test_a_streamed_body_growing_past_max_body_bytes_gets_a_413(
    live: tuple[str, pd.DataFrame], send: Any
) -> None:
    url, _ = live
    body = b'{"inputs": ' + b" " * (3 * LIMIT) + b"[]}"  # no commas: only its size is wrong
    answer = send(url, in_pieces(body, 4096))
    assert answer.status_code == 413
    assert f"exceeds {LIMIT:,} bytes" in answer.text
    assert "max_body_bytes" in answer.text


def test_a_streamed_body_with_too_many_values_is_refused_before_decoding(
    live: tuple[str, pd.DataFrame],
) -> None:
    url, _ = live
    # Small, but 5,000 values where 1,000 cells are allowed, and never valid JSON: only
    # counting while reading can answer 413 (decoding it would answer 400).
    body = b'{"instances": [' + b"0," * 5_000
    assert len(body) < LIMIT
    answer = v1(url, in_pieces(body))
    assert answer.status_code == 413
    assert "max_cells" in answer.text
