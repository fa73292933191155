"""The Warp SDF labels against the CPU (numba) path: on Warp's CPU backend everywhere, on CUDA
where a GPU is present (skipped cleanly otherwise)."""

import numpy as np
import pytest
import trimesh

import meshprep as mp

warp = pytest.importorskip("warp")

from meshprep.sample.distance_warp import signed_distance_warp  # noqa: E402
from tests.warp_devices import _devices  # noqa: E402


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
