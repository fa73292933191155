"""No two stages of meshprep import each other, directly or through other stages.

Every module of ``src/meshprep`` is read with :mod:`ast` (nothing is imported): its imports of
meshprep modules, at module level and inside functions, absolute and relative, are mapped to
their stage: the subpackage (``meshprep.io.load`` -> ``io``), or the top-level module itself
(``meshprep.cli`` -> ``cli``, the package's ``__init__`` -> ``meshprep``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "meshprep"


def module_name(path: Path) -> str:
    """The dotted name of a source file (``src/meshprep/io/__init__.py`` -> ``meshprep.io``)."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    """Whether ``name`` is a module or package of the source tree."""
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_names(path: Path) -> Iterator[str]:
    """The meshprep modules a source file imports, anywhere in the file.

    ``from X import y`` names ``X.y`` when that is a module (``from meshprep import io``), else
    ``X``; relative imports are resolved against the file's package.
    """
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield full if is_module(full) else base


def stage(module: str) -> str | None:
    """The stage of a meshprep module (``meshprep.io.load`` -> ``io``); None for others."""
    parts = module.split(".")
    if parts[0] != "meshprep":
        return None
    return parts[1] if len(parts) > 1 else "meshprep"


def stage_graph() -> dict[str, set[str]]:
    """Stage -> the other stages its modules import."""
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = stage(module_name(path))
        targets = {stage(name) for name in imported_names(path)} - {None, source}
        graph.setdefault(source, set()).update(targets)
    return graph


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every stage ``start`` imports, directly or through others."""
    seen: set[str] = set()
    todo = list(graph.get(start, ()))
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return seen


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of two or more stages that import each other in a cycle (sorted)."""
    reach = {node: reachable(graph, node) for node in graph}
    groups = {tuple(sorted(other for other in reach[node] if node in reach[other]))
              for node in graph if node in reach[node]}
    return sorted(list(group) for group in groups)


def test_no_two_stages_import_each_other():
    graph = stage_graph()
    pairs = sorted({tuple(sorted((a, b))) for a, targets in graph.items() for b in targets
                    if a in graph.get(b, ())})
    assert not pairs, "stages that import each other: " + ", ".join(
        f"{a} <-> {b}" for a, b in pairs)


def test_no_longer_cycles_between_stages():
    found = cycles(stage_graph())
    assert not found, "import cycles between stages: " + "; ".join(
        " -> ".join(group) for group in found)


def test_the_walk_sees_relative_and_function_level_imports():
    graph = stage_graph()
    assert "geometry" in graph["watertight"]  # from ..geometry.topology import ...
    assert "blender" in graph["io"]  # inside io.load's functions
    assert "errors" in graph["geometry"]  # from ..errors import TopologyError
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
