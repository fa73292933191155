"""Small sample stores the layout and export tests share (session-scoped: each made once)."""

from __future__ import annotations

from pathlib import Path

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


@pytest.fixture(scope="session")
def examples_store(tmp_path_factory) -> Path:
    """``meshprep run`` of the bundled examples (watertight at 64, small sample counts): a
    store the export tests read (never modify: they copy it first)."""
    from meshprep.pipeline import resolve_config, run_dataset

    out = tmp_path_factory.mktemp("examples") / "ds"
    config = resolve_config(overrides={
        "run": {"steps": ["load", "normalize", "watertight", "sample", "write"]},
        "watertight": {"resolution": 64},
        "sample": {"surface": 3000, "salient": 3000, "volume": 3000, "near": 6000},
    })
    examples = Path(__file__).resolve().parents[2] / "examples"
    assert run_dataset(examples, out, config, progress=False).counts["ok"] == 3
    return out
