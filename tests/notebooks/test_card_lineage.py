"""A push from a real kernel inside a git repository: its card names the commit, the
notebook and the hash of the cells that ran; ``%deploy card`` shows it in the notebook."""

from __future__ import annotations

import subprocess
from pathlib import Path

import nbformat
import pytest

from deploykit.cards.lineage import cells_digest
from deploykit.registry import Registry

from .outputs import html_of, text_of

pytestmark = pytest.mark.slow  # a kernel

SETUP = """\
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
X, y = make_classification(n_samples=200, n_features=4, random_state=0)
model = LogisticRegression().fit(X, y)
card = {"intended_use": "lineage test", "owners": ["ana"]}"""


def _git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_a_kernel_push_records_commit_notebook_and_cells(execute, tmp_path, monkeypatch):
    cells = [
        nbformat.v4.new_code_cell("%load_ext deploykit"),
        nbformat.v4.new_code_cell(SETUP),
        nbformat.v4.new_code_cell("%deploy push model --name churn --data X --card card"),
        nbformat.v4.new_code_cell("model2 = LogisticRegression(C=0.1).fit(X, y)"),
        nbformat.v4.new_code_cell("%deploy push model2 --name churn --data X --keep-source"),
        nbformat.v4.new_code_cell("%deploy card churn 1"),
        nbformat.v4.new_code_cell("%deploy card churn 1 --diff 2"),
    ]
    notebook = tmp_path / "analysis.ipynb"
    notebook.write_text(nbformat.writes(nbformat.v4.new_notebook(cells=cells)))
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "analysis.ipynb")
    _git(tmp_path, "commit", "-qm", "analysis")
    commit = _git(tmp_path, "rev-parse", "HEAD")
    # What JupyterLab's server tells a notebook's kernel about its notebook.
    monkeypatch.setenv("JPY_SESSION_NAME", str(notebook))

    nb = execute(nbformat.read(notebook, as_version=4))

    with Registry() as reg:
        card = reg.card("churn", 1)
        lineage = reg.lineage("churn", 1)
    assert lineage is not None
    assert f"`{commit}` (clean)" in card
    assert f"| Notebook | `{notebook}` |" in card
    ran = [c.source for c in cells[:3]]  # the cells run up to the push, the push included
    assert lineage["lineage"]["source"]["cells_sha256"] == cells_digest(ran)
    assert f"| Cells run | 3, `{cells_digest(ran)}` |" in card
    assert "cells_source" not in lineage["lineage"]["source"]  # source only when asked
    assert "**Intended use.** lineage test" in card
    assert "model2 = LogisticRegression(C=0.1)" in reg_card(2)  # --keep-source

    shown = nb.cells[5]
    assert "<h1>Model card: churn, version 1</h1>" in html_of(shown)
    assert text_of(shown).startswith("# Model card: churn, version 1")
    diff = nb.cells[6]
    assert "What changed from churn:1 to churn:2" in html_of(diff)
    assert "| C | 1.0000 | 0.1000 |" in text_of(diff)


def reg_card(version: int) -> str:
    with Registry() as reg:
        return reg.card("churn", version)
