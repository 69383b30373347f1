"""A big compiled model is served from onnxruntime's own format: same answers, less memory.

A session built from an ONNX file holds ~3x the file; one built from the same model in ORT
format holds ~20 MB whatever the forest (RandomForest(100) of bench/serve: 62 against 26
MB). CompiledModel therefore reads a big
numeric model back in ORT format once loaded, keeps that session only if it answers a
probe exactly as the first one did, and leaves no file behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier

from deploykit.compile import CompiledModel, _runtime, compile_model


@pytest.fixture(scope="module")
def forest() -> tuple[bytes, object, pd.DataFrame]:
    X_, y = make_classification(n_samples=3000, n_features=8, flip_y=0.2, random_state=3)
    X = pd.DataFrame(X_, columns=[f"x{i}" for i in range(8)])
    model = RandomForestClassifier(n_estimators=300, random_state=0).fit(X, y)
    signature = {
        "kind": "dataframe",
        "inputs": [{"name": c, "dtype": "float64", "nullable": False} for c in X.columns],
    }
    compiled = compile_model(model, signature=signature, X=X.head(300))
    assert compiled.info.runtime == "onnx", compiled.info.reason
    assert len(compiled.onnx) > _runtime._COMPACT_BYTES  # big enough to be compacted
    return compiled.onnx, compiled.info, X


def _plain(onnx: bytes) -> object:
    import onnxruntime as ort

    return ort.InferenceSession(onnx, _runtime._options(ort), providers=["CPUExecutionProvider"])


def test_the_compacted_session_answers_bit_for_bit_and_leaves_no_file(
    forest: tuple[bytes, object, pd.DataFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    onnx, info, _ = forest
    path = tmp_path / "model.onnx"
    path.write_bytes(onnx)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    model = CompiledModel(str(path), info)
    plain = _plain(onnx)
    rows = np.random.default_rng(1).standard_normal((500, 8)) * 2
    feed = model.feed_matrix(rows)
    names = [o.name for o in plain.get_outputs()]
    for ours, theirs in zip(model.session.run(names, feed), plain.run(names, feed), strict=True):
        assert np.array_equal(ours, theirs)
    labels, _ = model.run(feed, True)
    assert labels.tolist() == plain.run(names, feed)[0].reshape(-1).tolist()
    assert list(Path(tmp_path / "tmp").iterdir()) == []  # the ORT file is gone once read


def test_a_probe_that_differs_keeps_the_session_verified_at_push(
    forest: tuple[bytes, object, pd.DataFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import onnxruntime as ort

    onnx, info, _ = forest
    written = str(tmp_path / "m.ort")
    first = ort.InferenceSession(
        onnx, _runtime._options(ort, written), providers=["CPUExecutionProvider"]
    )
    monkeypatch.setattr(_runtime.np, "array_equal", lambda a, b: False)
    assert _runtime._compacted(ort, first, written, info) is first
    assert not Path(written).exists()
    # and an unreadable file: the first session too
    assert _runtime._compacted(ort, first, str(tmp_path / "missing.ort"), info) is first


_RSS = """
import json, re, sys
from deploykit.compile import CompiledModel, RuntimeInfo
import onnxruntime, numpy
from deploykit.compile import _runtime
from deploykit.server.memory import release_free_memory
def rss():
    return int(re.search(r"VmRSS:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
if sys.argv[3] == "plain":
    _runtime._COMPACT_BYTES = 1 << 60
before = rss()
model = CompiledModel(sys.argv[1], RuntimeInfo.from_dict(json.loads(sys.argv[2])))
release_free_memory()
print(rss() - before)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmRSS from /proc")
def test_the_compacted_session_holds_less_memory(
    forest: tuple[bytes, object, pd.DataFrame], tmp_path: Path
) -> None:
    onnx, info, _ = forest
    path = tmp_path / "model.onnx"
    path.write_bytes(onnx)
    grown = {}
    for mode in ("plain", "compact"):
        out = subprocess.run(
            [sys.executable, "-c", _RSS, str(path), json.dumps(info.to_dict()), mode],  # type: ignore[attr-defined]
            capture_output=True,
            text=True,
            check=True,
        )
        grown[mode] = int(out.stdout.strip().splitlines()[-1])
    # 7.7 MB of ONNX: ~40 MB from the ONNX file, ~23 MB from the ORT one (on this machine)
    assert grown["compact"] < 0.75 * grown["plain"], grown
