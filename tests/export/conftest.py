"""Small sample stores the layout tests share (module-scoped: one watertight + sampling each)."""

from __future__ import annotations

import pytest
import trimesh

import meshprep as mp
from meshprep.sample.step import TrainingSamples


@pytest.fixture(scope="session")
def sphere() -> TrainingSamples:
    mesh = mp.normalize(trimesh.creation.icosphere(3))[0]
    watertight = mp.make_watertight(mesh, 64).mesh
    return mp.sample_asset(watertight, mesh, surface=4000, salient=4000, volume=4000,
                           near=8000, seed=0)


@pytest.fixture(scope="session")
def box() -> TrainingSamples:
    """A store with salient edges (the cube's), so near rows around salient samples exist."""
    mesh = mp.normalize(trimesh.creation.box(extents=(1.0, 0.8, 0.6)))[0]
    watertight = mp.make_watertight(mesh, 64).mesh
    out = mp.sample_asset(watertight, mesh, surface=4000, salient=4000, volume=4000,
                          near=8000, seed=0)
    assert out.sdf.salient_count > 2000
    return out
