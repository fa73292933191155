"""Shared fixtures: synthetic meshes and the optional corpus beside the repository."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import trimesh

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
CORPUS = REPO.parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The shared corpus of real assets; tests using it skip when it is absent."""
    if not (CORPUS / "manifest.csv").is_file():
        pytest.skip("../shared/corpus is not present")
    return CORPUS


def quad(size: float = 0.5, z: float = 0.0) -> trimesh.Trimesh:
    """A single open quad (two triangles): a zero-thickness sheet."""
    v = np.array([[-size, -size, z], [size, -size, z], [size, size, z], [-size, size, z]])
    return trimesh.Trimesh(v, [[0, 1, 2], [0, 2, 3]], process=False)


def open_box(size: float = 0.6) -> trimesh.Trimesh:
    """A cube with its top face removed."""
    box = trimesh.creation.box(extents=[2 * size] * 3)
    keep = box.face_normals[:, 2] < 0.5
    return trimesh.Trimesh(box.vertices, box.faces[keep], process=False)


@pytest.fixture
def no_blender(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Pretend no Python with bpy exists."""
    from meshprep.blender import blender_python

    monkeypatch.setenv("MESHPREP_BLENDER_PYTHON", "/nonexistent/python-with-bpy")
    blender_python.cache_clear()
    yield
    blender_python.cache_clear()
