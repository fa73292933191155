"""Warp kernels against the CPU (numba) path: on Warp's CPU backend everywhere, on CUDA where a
GPU is present (skipped cleanly otherwise)."""

import numpy as np
import pytest
import trimesh

import meshprep as mp
from meshprep.watertight.band import build_band, to_grid

warp = pytest.importorskip("warp")

from meshprep.gpu import band_udf_warp, resolve_device, signed_distance_warp  # noqa: E402


def _devices():
    warp.config.quiet = True
    warp.init()
    no_gpu = warp.get_cuda_device_count() == 0
    return ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(
        no_gpu, reason="no CUDA GPU: the same kernels ran on Warp's CPU backend")])]


def _closed_mesh():
    canonical, _ = mp.normalize(trimesh.creation.torus(1.0, 0.35))
    return mp.make_watertight(canonical, 64).mesh


@pytest.mark.parametrize("device", _devices())
def test_sdf_labels_match_the_cpu_path(device):
    mesh = _closed_mesh()
    points = np.random.default_rng(0).uniform(-1.05, 1.05, (5000, 3))
    reference = mp.signed_distance(mesh, points)
    ours = signed_distance_warp(mesh.vertices, mesh.faces, points, device)
    assert np.abs(np.abs(ours) - np.abs(reference)).max() < 1e-5  # float32 vs float64
    far = np.abs(reference) > 1e-4  # signs on the surface itself are a coin toss
    assert (np.sign(ours[far]) == np.sign(reference[far])).mean() >= 0.999


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


def test_device_resolution():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda:0")
    if warp.get_cuda_device_count() == 0:
        with pytest.raises(mp.MeshprepError, match="no usable NVIDIA GPU"):
            resolve_device("cuda")
