"""The package's layout reads one way: no module imports, even for type checking only, a module
that imports it back (directly or around a circle). Each shared type lives below its users."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO


def _imports() -> dict[str, set[str]]:
    """Each dbt_braze module -> the dbt_braze modules it imports, anywhere in it. `from a import
    b` where b is a module depends on b alone, not on a's __init__."""
    modules: dict[str, Path] = {}
    for path in (REPO / "dbt_braze").rglob("*.py"):
        name = ".".join(path.relative_to(REPO).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dbt_braze"):
                assert node.module is not None
                submodules = [f"{node.module}.{a.name}" for a in node.names]
                found = [m for m in submodules if m in modules]
                targets = found if len(found) == len(submodules) else [node.module, *found]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("dbt_braze")]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph = _imports()

    assert len(graph) > 40  # every module was read
    assert _circles(graph) == []


def test_the_circle_check_finds_a_circle() -> None:
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
