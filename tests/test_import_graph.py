# SPDX-License-Identifier: GPL-3.0-or-later
"""The import graph of releasestation, readers and credgen: no cycles, and each package
imports only what ARCHITECTURE.md allows (readers nothing of releasestation, releasestation
nothing of credgen).

Every import statement counts, wherever it is: at the top, under `if TYPE_CHECKING:` and
inside functions (a cycle hidden there is still two modules that cannot be understood, or
changed, apart). Relative imports are resolved; `from pkg import name`, where `name` is a
submodule, is an import of that submodule (and of `pkg` itself only for names that are
not submodules).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("releasestation", "readers", "credgen")


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of PACKAGES."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imported(module: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The modules of `known` that `module` (at `path`) imports, anywhere in it."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(package, node)
            subs = [f"{source}.{a.name}" for a in node.names if f"{source}.{a.name}" in known]
            names = subs + ([source] if len(subs) < len(node.names) else [])
        else:
            continue
        for name in names:
            while name and name not in known:  # `import a.b.c` of a name inside a module
                name = name.rpartition(".")[0]
            if name and name != module:
                yield name


def _absolute(package: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = package.split(".")
    base = parts[: len(parts) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: set(imported(name, path, known)) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(edges[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def edges_between(edges: dict[str, set[str]], source: str, target: str) -> list[str]:
    return sorted(
        f"{a} -> {b}"
        for a, targets in edges.items()
        if a.partition(".")[0] == source
        for b in targets
        if b.partition(".")[0] == target
    )


def test_the_graph_is_read_whole():
    edges = graph()
    assert {"releasestation.app", "readers.swipe", "credgen.batch"} <= set(edges)
    # a hidden import counts: credgen's user module imports App for its type only
    assert "releasestation.app" in edges["credgen.user"]
    assert "releasestation.identity" in edges["releasestation.app"]  # in a function


def test_no_import_cycles():
    edges = graph()
    found = [describe(group, edges) for group in cycles(edges)]
    assert not found, "import cycles:\n" + "\n".join(found)


def describe(group: list[str], edges: dict[str, set[str]]) -> str:
    lines = [f"  {a} -> {', '.join(sorted(edges[a] & set(group)))}" for a in group]
    return "\n".join([" <-> ".join(group), *lines])


def test_releasestation_imports_nothing_of_credgen():
    assert edges_between(graph(), "releasestation", "credgen") == []


def test_readers_imports_nothing_of_releasestation_or_credgen():
    edges = graph()
    assert edges_between(edges, "readers", "releasestation") == []
    assert edges_between(edges, "readers", "credgen") == []


def test_every_kind_of_import_counts(tmp_path):
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    code = """
from typing import TYPE_CHECKING
from .. import sibling
from . import deep, NAME
import pkg.other.thing
if TYPE_CHECKING:
    from ..typed import Thing
def later():
    from pkg.sub.deep import function
"""
    path = tmp_path / "pkg" / "sub" / "here.py"
    path.write_text(code)
    known = {
        name: path
        for name in ("pkg", "pkg.sibling", "pkg.sub", "pkg.sub.here", "pkg.sub.deep",
                     "pkg.other", "pkg.typed")
    }  # fmt: skip
    found = set(imported("pkg.sub.here", path, known))
    assert found == {"pkg.sibling", "pkg.sub.deep", "pkg.sub", "pkg.other", "pkg.typed"}


def test_cycles_are_found_where_they_hide():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
