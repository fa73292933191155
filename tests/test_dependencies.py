"""Every module the code imports is provided by the dependencies it declares.

A module imported at module level in ``src/meshprep`` must come from the base install; one
imported inside a function or a ``try`` block (an optional backend, which fails with a message
naming its extra) from the base install or an extra; a module imported by the tests from the
base install or the ``test`` extra. trimesh imports some modules lazily, only when a feature is
used: the features this code reaches are listed in ``TRIMESH_LAZY`` and checked the same way.
CI also runs the whole suite in a fresh venv with only ``.[test]``, which is what catches a lazy
import missing from that table.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "meshprep"
TESTS = REPO / "tests"

# Distributions that live outside the test venv (bpy pins numpy < 2 and gets its own venv;
# torch is installed by CI from a local CPU wheel): module name -> distribution name.
OUTSIDE_TEST_VENV = {"bpy": "bpy", "mathutils": "bpy", "torch": "torch",
                     "transformers": "transformers"}

# trimesh features that import an optional module when used: code pattern -> distributions.
TRIMESH_LAZY = {
    r"trimesh\.proximity|\.nearest\.": ["rtree"],  # closest points: an rtree of triangles
    r"\.ray\.|ray_triangle|\.contains\(": ["rtree"],  # ray queries (embree optional)
    r"\.dae\b|collada": ["pycollada"],
    r"\.3mf\b": ["lxml", "networkx"],
    r"\.split\(only_watertight|connected_components\(": ["networkx"],
}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def _declared() -> dict[str, set[str]]:
    """Declared distributions: ``"base"`` and one set per extra, canonical names."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]

    def names(reqs: list[str]) -> set[str]:
        return {_canonical(re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0]) for r in reqs}

    declared = {"base": names(project["dependencies"])}
    for extra, reqs in project.get("optional-dependencies", {}).items():
        declared[extra] = names(reqs)
    return declared


@cache
def _module_distributions() -> dict[str, list[str]]:
    """Top-level module -> distributions; Python 3.11's ``packages_distributions`` misses a
    wheel's top-level extension modules (OpenEXR's ``OpenEXR.cpython-*.so``), added here."""
    found = {k: list(v) for k, v in importlib.metadata.packages_distributions().items()}
    for dist in importlib.metadata.distributions():
        for file in dist.files or ():
            parts = Path(str(file)).parts
            if len(parts) == 1 and parts[0].endswith((".so", ".pyd")):
                names = found.setdefault(parts[0].split(".")[0], [])
                if dist.metadata["Name"] not in names:
                    names.append(dist.metadata["Name"])
    return found


def _distribution(module: str) -> str | None:
    """The distribution providing top-level ``module``; None for the standard library."""
    if module in sys.stdlib_module_names or module in ("meshprep", "tests", "__future__"):
        return None
    if module in OUTSIDE_TEST_VENV:
        return _canonical(OUTSIDE_TEST_VENV[module])
    found = _module_distributions().get(module)
    if not found:
        return f"<{module}: no installed distribution provides it>"
    return _canonical(found[0])


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(top-level module, guarded) for every import in ``path``; guarded = inside a function
    or a ``try`` block."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, guarded: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue  # annotations only, never executed
            inner = guarded or isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Try | ast.Lambda
            )
            if isinstance(child, ast.Import):
                found.extend((a.name.split(".")[0], inner) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append((child.module.split(".")[0], inner))
            visit(child, inner)

    visit(tree, False)
    return found


def _allowed(scope: str, guarded: bool) -> set[str]:
    declared = _declared()
    if scope == "tests":
        return declared["base"] | declared["test"] | set(OUTSIDE_TEST_VENV.values())
    if scope == "blender":  # a script that runs inside Blender's Python (the bpy worker)
        return declared["blender"] | ({"bpy"} if not guarded else set().union(*declared.values()))
    if not guarded:
        return declared["base"]
    return set().union(*declared.values())


def _undeclared(scope: str, root: Path) -> list[str]:
    problems = []
    for path in sorted(root.rglob("*.py")):
        imports = _imports(path)
        runs_in = "blender" if scope == "src" and ("bpy", False) in imports else scope
        for module, guarded in imports:
            dist = _distribution(module)
            if dist is not None and dist not in _allowed(runs_in, guarded):
                where = "inside a function/try" if guarded else "at module level"
                problems.append(f"{path.relative_to(root)}: {module} ({dist}) {where}")
    return problems


@pytest.mark.parametrize("scope, root", [("src", SRC), ("tests", TESTS)])
def test_every_import_is_declared(scope: str, root: Path) -> None:
    assert _undeclared(scope, root) == []


@pytest.mark.parametrize("scope, root", [("src", SRC), ("tests", TESTS)])
def test_trimesh_lazy_imports_are_declared(scope: str, root: Path) -> None:
    allowed = _allowed(scope, guarded=scope == "src")
    if scope == "src":  # the loader reaches these for any user file: base install
        allowed = _declared()["base"]
    problems = []
    for path in sorted(root.rglob("*.py")):
        if path == Path(__file__).resolve():
            continue
        text = path.read_text()
        for pattern, dists in TRIMESH_LAZY.items():
            if re.search(pattern, text):
                problems += [f"{path.relative_to(REPO)}: {d} for /{pattern}/"
                             for d in dists if _canonical(d) not in allowed]
    assert problems == []


def test_the_audit_sees_an_undeclared_import(tmp_path: Path) -> None:
    """Control: a module importing an undeclared distribution at module level is reported."""
    (tmp_path / "mod.py").write_text("import pytest\nimport numpy\n")
    problems = [p for p in _undeclared("src", tmp_path) if "pytest" in p]
    assert problems and "module level" in problems[0]
    assert not [p for p in _undeclared("src", tmp_path) if "numpy" in p]
