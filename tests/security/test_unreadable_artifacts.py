"""Bytes that are not a model file (damaged, truncated, another format) are the pusher's
mistake: one clear error naming the format, never a traceback or a 500 (a new-user trial
found both)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from deploykit.cli import main
from deploykit.errors import DeployKitError
from deploykit.registry import Registry
from deploykit.server.testing import LiveServer
from deploykit.settings import Settings


@pytest.mark.parametrize("suffix", [".skops", ".joblib"])
def test_pushing_a_file_that_is_no_model_is_one_clear_error(tmp_path: Path, suffix: str) -> None:
    junk = tmp_path / f"model{suffix}"
    junk.write_bytes(b"hello, not a model")
    with Registry(Settings.from_env({"DEPLOYKIT_HOME": str(tmp_path / "home")})) as reg:
        with pytest.raises(DeployKitError, match=f"is not a readable {suffix[1:]} file"):
            reg.push_file(junk, "junk")
        assert reg.models() == []


def test_the_cli_says_so_in_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("DEPLOYKIT_HOME", str(tmp_path / "home"))
    junk = tmp_path / "model.skops"
    junk.write_bytes(b"hello")
    with pytest.raises(SystemExit) as exit_:
        main(["push", str(junk), "--name", "junk"])
    out, err = capsys.readouterr()
    assert exit_.value.code == 1
    assert "Traceback" not in out + err
    assert "is not a readable skops file" in err
    assert len(err.strip().splitlines()) <= 3  # one message, folded at most


def test_a_server_refuses_a_skops_draft_of_junk_bytes_with_a_422(tmp_path: Path) -> None:
    with LiveServer(Settings.from_env({"DEPLOYKIT_HOME": str(tmp_path / "home")})) as server:
        auth = {"Authorization": f"Bearer {server.token}"}
        up = httpx.post(f"{server.url}/v1/artifacts", content=b"hello", headers=auth, timeout=30)
        assert up.status_code == 201, up.text
        digest = up.json()["digest"]
        draft = {"digest": digest, "format": "skops", "size": 5, "estimator": "x"}
        answer = httpx.post(
            f"{server.url}/v1/models/junk/versions",
            json={"draft": draft, "deploy": True},
            headers=auth,
            timeout=30,
        )
        assert answer.status_code == 422, answer.text
        assert "not a readable skops file" in answer.json()["error"]["message"]
