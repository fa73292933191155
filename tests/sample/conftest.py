"""Small meshes shared by the sampling tests."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from meshprep.io import load

from ..conftest import DATA


@pytest.fixture(scope="session")
def cube() -> trimesh.Trimesh:
    """The unit cube centred at the origin (12 triangles, 12 sharp edges)."""
    return trimesh.creation.box(extents=(1.0, 1.0, 1.0))


@pytest.fixture(scope="session")
def sphere() -> trimesh.Trimesh:
    """A smooth closed sphere of radius 0.8 (no edge above 30 degrees)."""
    return trimesh.creation.icosphere(subdivisions=3, radius=0.8)


@pytest.fixture(scope="session")
def fandisk() -> trimesh.Trimesh:
    """A real CAD mesh with creases (5750 faces), from tests/data."""
    return load(DATA / "fandisk.obj")


def two_parts(scale: float = 3.0) -> trimesh.Trimesh:
    """Two disjoint unit right triangles; the second ``scale`` times the area of the first."""
    s = np.sqrt(scale)
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0],
                         [2, 0, 0], [2 + s, 0, 0], [2, s, 0]], float)
    return trimesh.Trimesh(vertices, [[0, 1, 2], [3, 4, 5]], process=False)
