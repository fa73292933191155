"""The Warp band distances against the CPU (numba) path: on Warp's CPU backend everywhere, on
CUDA where a GPU is present (skipped cleanly otherwise)."""

import numpy as np
import pytest
import trimesh

import meshprep as mp
from meshprep.watertight.band import build_band, to_grid

warp = pytest.importorskip("warp")

from meshprep.watertight.band_warp import band_udf_warp  # noqa: E402
from tests.warp_devices import _devices  # noqa: E402


@pytest.mark.parametrize("device", _devices())
def test_band_distances_match_the_cpu_path(device):
    canonical, _ = mp.normalize(trimesh.creation.icosphere(2))
    res, width = 48, 2.0
    grid = to_grid(canonical.vertices, res)
    band = build_band(canonical.vertices, canonical.faces, res, width)
    ours = band_udf_warp(grid, canonical.faces, band.block_origin, width, device)
    inside = np.isfinite(band.udf) & (band.udf < width - 1e-3)
    assert inside.sum() > 1000
    assert np.abs(ours[inside] - band.udf[inside]).max() < 1e-4  # voxels
