"""``deploykit card`` and ``deploykit export`` as a user types them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deploykit.cli import main
from deploykit.registry import Registry
from tests.cards.conftest import push_quietly, settings_for


@pytest.fixture
def home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, churn_data: Any, churn_model: Any
) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("DEPLOYKIT_HOME", str(home))
    monkeypatch.setenv("DEPLOYKIT_FSYNC", "0")
    monkeypatch.setenv("DEPLOYKIT_ACTOR", "ci-bot")
    X, _ = churn_data
    with Registry(settings_for(home)) as reg:
        push_quietly(reg, churn_model, X=X.drop(columns="region"), deploy=True)
        push_quietly(reg, churn_model, X=X.drop(columns="region").iloc[:200])
    return home


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = 0
    try:
        main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_card_prints_amends_and_diffs(home: Path, capsys: Any, tmp_path: Path) -> None:
    code, out, _ = run(capsys, "card", "churn")  # production by default
    assert code == 0
    assert out.startswith("# Model card: churn, version 1")
    amend = ["--set", "owners=ana, bo", "--set", "limitations=No business accounts"]
    code, out, _ = run(capsys, "card", "churn", "1", *amend, "--reason", "review")
    assert (code, out.strip()) == (0, "churn:1: card revision 2 written.")
    code, out, _ = run(capsys, "card", "churn", "1")
    assert "**Owners.** ana, bo" in out
    assert "card revision 2 | ci-bot | review" in out
    code, out, _ = run(capsys, "card", "churn", "1", "--diff", "2")
    assert code == 0
    assert "rows 400 → 200" in out
    code, out, _ = run(capsys, "card", "churn", "1", "--html", "-o", str(tmp_path / "c.html"))
    assert code == 0
    assert "<h1>Model card: churn, version 1</h1>" in (tmp_path / "c.html").read_text()
    code, _, err = run(capsys, "card", "churn", "1", "--set", "colour")
    assert code == 1
    assert "--set takes FIELD=VALUE" in err
    code, _, err = run(capsys, "card", "churn", "9")
    assert code == 1
    assert "no version 9" in err


def test_export_puts_the_card_in_the_build_context(home: Path, capsys: Any, tmp_path: Path) -> None:
    code, _, err = run(capsys, "export", "churn", "--docker", str(tmp_path / "ctx"))
    assert code == 0, err
    card = (tmp_path / "ctx" / "MODEL_CARD.md").read_text()
    assert card.startswith("# Model card: churn, version 1")
    assert "## History" in card
    assert "## Package lock" in card
