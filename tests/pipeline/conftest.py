"""Small datasets and a fast configuration for the runner tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh

from meshprep.pipeline import resolve_config

REPO = Path(__file__).resolve().parents[2]
TROUBLE = "tests.pipeline.user_steps:trouble"


def fast_config(steps=None, **limits) -> dict:
    """Everything at toy size: a 32^3 grid and a few thousand samples."""
    return resolve_config(overrides={
        "run": {"steps": steps or ["load", "normalize", "watertight", "sample", "write"]},
        "watertight": {"resolution": 32},
        "sample": {"surface": 2000, "salient": 1000, "volume": 1000, "near": 2000},
        "limits": limits,
    })


def write_models(folder: Path, names: list[str]) -> dict[str, Path]:
    """One small distinct closed mesh per name (the extension picks the format)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for index, name in enumerate(names):
        mesh = trimesh.creation.icosphere(subdivisions=1, radius=1.0 + 0.1 * index)
        mesh.apply_translation(np.full(3, 0.37 * index))
        path = folder / name
        mesh.export(path)
        paths[Path(name).stem] = path
    return paths


@pytest.fixture
def config_factory():
    return fast_config
