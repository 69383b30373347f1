"""The package's import rules (CONTRIBUTING.md), read from the source with ``ast``.

Every import counts, at module level or inside a function, except those under
``if TYPE_CHECKING:`` (types only, never executed): no loop between modules, no front
end importing another, and the core importing no web or Jupyter framework.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "deploykit"
FRONT_ENDS = ("magics", "widgets", "console", "serverext", "cli")
CORE = (
    "registry",
    "serialization",
    "signature",
    "evaluation",
    "monitoring",
    "records",
    "errors",
    "settings",
)
WEB_OR_JUPYTER = ("starlette", "httpx", "IPython", "ipywidgets", "voila", "jupyter_server")


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(
    tree: ast.AST, module: str, is_package: bool, modules: frozenset[str] = frozenset()
) -> Iterator[str]:
    """Absolute names of what ``module`` imports when it runs (not under TYPE_CHECKING):
    ``from package import name`` imports ``package.name`` if that is one of ``modules``
    (the package's ``__init__`` runs first on any import of it, not an edge), else
    ``package``."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield full if full in modules else base
        stack.extend(ast.iter_child_nodes(node))


def _graph() -> dict[str, set[str]]:
    files = {
        _module(p): p
        for p in PACKAGE.rglob("*.py")
        if "migrations" not in p.relative_to(PACKAGE).parts
    }
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        found = _imports(tree, name, path.name == "__init__.py", frozenset(files))
        graph[name] = {n for n in found if n in files and n != name}
    return graph


GRAPH = _graph()


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_graph_is_read() -> None:
    assert "deploykit.ui.session" in GRAPH["deploykit.magics.commands"]
    assert "deploykit.monitoring.telemetry" in GRAPH["deploykit.server.telemetry"]


def test_no_import_loops_except_for_types() -> None:
    assert _cycles(GRAPH) == []


def test_a_loop_would_be_seen() -> None:
    looped = {
        **GRAPH,
        "deploykit.ui.markup": {*GRAPH["deploykit.ui.markup"], "deploykit.ui.render"},
    }
    assert ["deploykit.ui.markup", "deploykit.ui.render"] in _cycles(looped)


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_no_front_end_imports_another(front_end: str) -> None:
    crossings = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if _area(module) == front_end
        for target in targets
        if _area(target) in FRONT_ENDS and _area(target) != front_end
    )
    # Launchers, not front ends leaning on each other: `deploykit console`/`up` and the
    # Lab's console tab start or serve the console's Voila process (console.serve needs
    # no widget, kernel or Voila import to do so).
    allowed = {
        "deploykit.cli.app -> deploykit.console.serve",
        "deploykit.serverext.console -> deploykit.console.serve",
    }
    assert [c for c in crossings if c not in allowed] == []


@pytest.mark.parametrize("area", CORE)
def test_the_core_imports_no_web_or_jupyter_framework(area: str) -> None:
    offending = []
    for path in PACKAGE.rglob("*.py"):
        module = _module(path)
        if _area(module) != area or "migrations" in path.parts:
            continue
        names = _imports(ast.parse(path.read_text()), module, path.name == "__init__.py")
        offending += [f"{module}: {n}" for n in names if n.split(".")[0] in WEB_OR_JUPYTER]
    assert offending == []
