"""The Warp flood fill and signing against the numba path: equal arrays, on Warp's CPU backend
everywhere and on CUDA where a GPU is present (skipped cleanly otherwise)."""

import numpy as np
import pytest
import trimesh

import meshprep as mp
from meshprep.watertight.band import build_band
from meshprep.watertight.floodfill import sign_band

warp = pytest.importorskip("warp")

from meshprep.watertight.floodfill_warp import sign_band_warp  # noqa: E402
from tests.warp_devices import _devices  # noqa: E402


def _quad():
    return trimesh.Trimesh([[-.5, -.5, 0], [.5, -.5, 0], [.5, .5, 0], [-.5, .5, 0]],
                           [[0, 1, 2], [0, 2, 3]])


def _open_box():
    box = trimesh.creation.box(extents=(1.2, 0.8, 1.0))
    return trimesh.Trimesh(box.vertices, box.faces[2:], process=False)  # one side open


def _soup():
    rng = np.random.default_rng(3)
    centres = rng.uniform(-0.6, 0.6, (40, 1, 3))
    return trimesh.Trimesh((centres + rng.normal(0, 0.15, (40, 3, 3))).reshape(-1, 3),
                           np.arange(120).reshape(-1, 3), process=False)


def _hollow():
    outer = trimesh.creation.icosphere(2, radius=1.0)
    inner = trimesh.creation.icosphere(2, radius=0.6)
    inner.invert()
    return trimesh.util.concatenate([outer, inner])


MESHES = {"torus": lambda: trimesh.creation.torus(1.0, 0.3), "quad": _quad,
          "open_box": _open_box, "soup": _soup, "hollow": _hollow}


@pytest.mark.parametrize("device", _devices())
@pytest.mark.parametrize("name", sorted(MESHES))
def test_labels_and_field_equal_the_cpu_path(name, device):
    canonical, _ = mp.normalize(MESHES[name]())
    res = 40
    eps = (res - 1) / res
    band = build_band(canonical.vertices, canonical.faces, res, eps + 1.0)
    field, empty_outside = sign_band(band, eps)
    gpu_field, gpu_empty, passes = sign_band_warp(band, eps, device=device)
    assert passes >= 1
    assert np.array_equal(gpu_empty, empty_outside)
    assert np.array_equal(gpu_field, field)
    assert (field < 0).any() and (field > 0).any()


def test_make_watertight_with_warp_signing_is_the_same_mesh():
    canonical, _ = mp.normalize(_open_box())
    cpu = mp.make_watertight(canonical, 48)
    warp_result = mp.make_watertight(canonical, 48, device="warp-cpu")
    assert warp_result.topology.closed_2manifold
    assert np.array_equal(cpu.mesh.faces, warp_result.mesh.faces)
    assert np.array_equal(cpu.mesh.vertices, warp_result.mesh.vertices)
    assert warp_result.stats["sign_passes"] >= 1
