"""A version whose stored artifact has a flipped byte never becomes production, whichever
path the deploy takes (Python, the embedded CLI, HTTP), and a worker that cannot load
production says so without showing where files live."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from deploykit.errors import ArtifactIntegrityError, PickleWarning
from deploykit.registry import Registry
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer
from deploykit.settings import Settings

COLUMNS = ["age", "tenure", "calls"]


def settings_for(home: Path) -> Settings:
    return Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"}).replace(
        actor="tester"
    )


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.chmod(0o600)
    path.write_bytes(bytes(data))


@pytest.fixture
def reg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    monkeypatch.setenv("DEPLOYKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DEPLOYKIT_FSYNC", "0")
    monkeypatch.setenv("DEPLOYKIT_ACTOR", "tester")
    monkeypatch.delenv("DEPLOYKIT_SERVER_URL", raising=False)
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=COLUMNS)
    y = (X["age"] > 0).astype(int)
    registry = Registry(settings_for(tmp_path / "home"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PickleWarning)
        for c in (1.0, 0.5, 0.25):  # three distinct artifacts
            registry.push(LogisticRegression(C=c).fit(X, y), "churn", X=X)
    registry.deploy("churn", 1)
    yield registry
    registry.close()


def damage(reg: Registry, version: int) -> str:
    record = reg.version("churn", version)
    flip_a_byte(reg.artifacts.local_path(record.digest))
    compiled = (record.runtime or {}).get("digest")
    if compiled:  # the ONNX file served in its place is the version's bytes too
        flip_a_byte(reg.artifacts.local_path(compiled))
    return record.digest


def moves(reg: Registry) -> list[tuple[str, int | None]]:
    return [(e.action, e.to_version) for e in reg.events("churn") if e.action != "push"]


def test_core_deploy_refuses_a_damaged_version(reg: Registry) -> None:
    digest = damage(reg, 2)
    before = moves(reg)
    with pytest.raises(ArtifactIntegrityError) as caught:
        reg.deploy("churn", 2)
    message = str(caught.value)
    assert "churn:2 cannot become 'production'" in message
    assert "fails its digest check" in message
    assert "'production' stays on version 1" in message
    assert digest in message
    assert str(reg.settings.home) not in message
    assert reg.model("churn").aliases["production"] == 1
    assert moves(reg) == before  # no event: nothing moved
    # "latest" resolves to version 3, which is sound: that still works.
    assert reg.deploy("churn", "latest").version == 3


def test_core_rollback_refuses_a_damaged_target(reg: Registry) -> None:
    reg.deploy("churn", 2)
    reg.deploy("churn", 3)
    damage(reg, 2)
    before = moves(reg)
    with pytest.raises(ArtifactIntegrityError, match=r"churn:2 cannot become 'production'"):
        reg.rollback("churn")  # the stack says 2
    with pytest.raises(ArtifactIntegrityError, match="'production' stays on version 3"):
        reg.rollback("churn", to=2)
    assert reg.model("churn").aliases["production"] == 3
    assert moves(reg) == before
    assert reg.rollback("churn", to=1).version == 1  # a sound target still works


def test_other_aliases_are_guarded_too(reg: Registry) -> None:
    damage(reg, 3)
    with pytest.raises(ArtifactIntegrityError, match="'staging' points nowhere"):
        reg.deploy("churn", 3, alias="staging")
    assert "staging" not in reg.model("churn").aliases


def test_the_embedded_cli_refuses_it_in_one_line(
    reg: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    from deploykit.cli import main

    damage(reg, 2)
    with pytest.raises(SystemExit) as done:
        main(["deploy", "churn", "2"])
    assert done.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: churn:2 cannot become 'production'")
    assert "fails its digest check" in err
    assert "Traceback" not in err
    assert reg.model("churn").aliases["production"] == 1


@pytest.mark.slow
def test_http_deploy_and_a_respawned_worker(reg: Registry) -> None:
    home = reg.settings.home
    row = {"inputs": [[0.1, 0.2, 0.3]]}
    config = ServerConfig(workers=2)
    with LiveServer(reg.settings, config) as server:
        auth = {"authorization": f"Bearer {server.token}"}
        damage(reg, 2)
        answer = httpx.post(f"{server.url}/v1/models/churn/deploy", json={"version": 2},
                            headers=auth)  # fmt: skip
        assert answer.status_code >= 400, answer.text
        error = answer.json()["error"]
        assert error["type"] == "ArtifactIntegrityError"
        assert "churn:2" in error["message"]
        assert "failed its integrity check" in error["message"]
        assert str(home) not in answer.text
        assert reg.model("churn").aliases["production"] == 1
        answer = httpx.post(f"{server.url}/v1/models/churn/rollback", json={"to": 2},
                            headers=auth)  # fmt: skip
        assert answer.status_code >= 400, answer.text
        assert str(home) not in answer.text
        assert reg.model("churn").aliases["production"] == 1

        # Production's bytes are damaged after it was deployed; a worker started now
        # cannot load it. It answers with what is wrong, never with a path.
        reg.deploy("churn", 3)
        damage(reg, 3)
        with LiveServer(reg.settings, ServerConfig()) as fresh:
            for _ in range(3):  # the same answer each time, without rehashing each time
                answer = httpx.post(f"{fresh.url}/v1/models/churn/predict", json=row)
                assert answer.status_code == 500, answer.text
                message = answer.json()["error"]["message"]
                assert "churn:3 cannot be served here" in message
                assert "failed its integrity check" in message
                assert str(home) not in answer.text
                assert "/tmp" not in answer.text
            health = httpx.get(f"{fresh.url}/healthz").json()
            assert health["failures"]["churn"]["version"] == 3
            assert str(home) not in str(health)
