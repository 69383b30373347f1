"""Lineage captured in the pushing process: git state, cells hash, the package lock."""

from __future__ import annotations

import subprocess
from importlib.metadata import version
from pathlib import Path

from deploykit.cards.lineage import KernelContext, capture_lineage, cells_digest, git_state


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def make_repo(folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    _git(folder, "init", "-q")
    (folder / "train.py").write_text("print('hi')\n")
    _git(folder, "add", "train.py")
    _git(folder, "commit", "-qm", "first")
    return _git(folder, "rev-parse", "HEAD")


def test_git_state_names_the_commit_and_whether_the_tree_is_dirty(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commit = make_repo(repo)
    clean = git_state(repo / "train.py")
    assert clean is not None
    assert clean["commit"] == commit
    assert clean["dirty"] is False
    assert clean["changed"] == []
    assert clean["root"] == "repo"  # a folder name, never an absolute path
    (repo / "train.py").write_text("print('changed')\n")
    dirty = git_state(repo)
    assert dirty is not None
    assert dirty["dirty"] is True
    assert dirty["changed"] == ["train.py"]


def test_no_repository_is_none(tmp_path: Path) -> None:
    assert git_state(tmp_path) is None


def test_the_cells_hash_changes_with_any_cell_and_with_how_they_split() -> None:
    a = cells_digest(["x = 1", "y = 2"])
    assert a == cells_digest(["x = 1", "y = 2"])
    assert a != cells_digest(["x = 1", "y = 3"])
    assert a != cells_digest(["x = 1y = 2"])
    assert a.startswith("sha256:")
    assert len(a) == 7 + 64


def test_lineage_from_a_kernel_keeps_source_only_when_asked(tmp_path: Path) -> None:
    cells = ("import sklearn", "model.fit(X, y)  # token=hunter2")
    hidden = capture_lineage(KernelContext(notebook="nb.ipynb", cells=cells))
    assert hidden["source"]["notebook"] == "nb.ipynb"
    assert hidden["source"]["cells"] == 2
    assert hidden["source"]["cells_sha256"] == cells_digest(cells)
    assert "cells_source" not in hidden["source"]
    kept = capture_lineage(KernelContext(notebook="nb.ipynb", cells=cells, keep_source=True))
    assert "hunter2" in kept["source"]["cells_source"]


def test_the_lock_pins_every_installed_distribution() -> None:
    lineage = capture_lineage()
    lock = lineage["lock"]
    assert lock["scikit-learn"] == version("scikit-learn")
    assert lock["numpy"] == version("numpy")
    assert "threadpoolctl" in lock  # a dependency of a dependency
    assert len(lock) > 50  # everything, not just the model libraries
    assert "deploykit" in lineage["local_packages"]  # editable: no registry has it


def test_a_script_push_records_the_script_and_its_commit(tmp_path: Path) -> None:
    """A push from plain Python (no kernel): the script's path and the git state of its repo."""
    import os
    import sys

    repo = tmp_path / "project"
    repo.mkdir()
    (repo / "train.py").write_text(
        "import warnings\n"
        "from sklearn.datasets import make_classification\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "from deploykit.registry import Registry\n"
        "X, y = make_classification(n_samples=50, n_features=4, random_state=0)\n"
        "warnings.simplefilter('ignore')\n"
        f"reg = Registry(home={str(tmp_path / 'home')!r})\n"
        "reg.push(LogisticRegression().fit(X, y), 'm', X=X)\n"
    )
    commit = make_repo_with(repo, "train.py")
    env = {**os.environ, "DEPLOYKIT_FSYNC": "0"}
    env.pop("JPY_SESSION_NAME", None)
    subprocess.run([sys.executable, "train.py"], cwd=repo, check=True, env=env, timeout=120)
    from deploykit.registry import Registry

    with Registry(home=tmp_path / "home") as reg:
        lineage = reg.lineage("m", 1)
        card = reg.card("m", 1)
    assert lineage is not None
    source = lineage["lineage"]["source"]
    assert source == {"kind": "script", "script": str(repo / "train.py")}
    assert lineage["lineage"]["git"]["commit"] == commit
    assert f"| Script | `{repo / 'train.py'}` |" in card
    assert f"`{commit}` (clean)" in card


def make_repo_with(folder: Path, name: str) -> str:
    _git(folder, "init", "-q")
    _git(folder, "add", name)
    _git(folder, "commit", "-qm", "train")
    return _git(folder, "rev-parse", "HEAD")
