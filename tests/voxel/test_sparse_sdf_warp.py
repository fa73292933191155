"""The sparse SDF's Warp path (every step on the device; one closest-point query per node on
the output's BVH): exact distances, the CPU path's signs and node order. On Warp's CPU backend
everywhere, on CUDA where a GPU is present (skipped cleanly otherwise)."""

import numpy as np
import pytest

from meshprep.voxel.sparse_sdf import sparse_sdf
from meshprep.watertight import make_watertight

warp = pytest.importorskip("warp")

from tests.voxel.test_sparse_sdf import MESHES, RES, TRUNC, _truth  # noqa: E402
from tests.warp_devices import _devices  # noqa: E402

#: float16 keeps 11 significant bits of ``distance / truncation`` (values up to 1)
_F16_VOXELS = TRUNC * 2.0**-11


@pytest.mark.parametrize("device", _devices())
@pytest.mark.parametrize("name", sorted(MESHES))
def test_warp_values_are_exact_and_signs_are_the_cpu_paths(name, device):
    result = make_watertight(MESHES[name](), RES)
    sdf = sparse_sdf(result, truncation=TRUNC, device="warp-cpu" if device == "cpu" else device)
    assert sdf.stats["device"] == ("cpu" if device == "cpu" else device)
    inside, dist = _truth(result, sdf.points())
    assert (inside == (sdf.sparse_sdf < 0)).all()
    value = np.abs(sdf.sparse_sdf.astype(np.float64)) * TRUNC
    assert np.abs(value - dist).max() < _F16_VOXELS + 1e-3  # float32 queries, float16 storage
    # the same band as the truth: every node within the truncation, none beyond it
    grid = np.stack(np.meshgrid(*[np.arange(RES)] * 3, indexing="ij"), -1).reshape(-1, 3)
    _, all_dist = _truth(result, grid / (RES - 1) * 2.0 - 1.0)
    stored = np.zeros((RES,) * 3, bool)
    stored[tuple(sdf.sparse_index.T.astype(np.int64))] = True
    assert stored[(all_dist <= TRUNC - 1e-3).reshape((RES,) * 3)].all()
    assert (all_dist.reshape((RES,) * 3)[stored] <= TRUNC + 1e-3).all()
    # where both paths store a node, they give it the same sign, in the same order
    cpu = sparse_sdf(result, truncation=TRUNC)
    assert_same_nodes_as_cpu(sdf, cpu)


def assert_same_nodes_as_cpu(sdf, cpu):
    """Both paths store nearly the same nodes (the CPU path's propagation may put a few just
    past the truncation), in the same order and with the same signs."""
    ours = {node: n for n, node in enumerate(map(tuple, sdf.sparse_index.tolist()))}
    theirs = [(ours.get(node, -1), n) for n, node in enumerate(map(tuple,
                                                                     cpu.sparse_index.tolist()))]
    common = np.array([pair for pair in theirs if pair[0] >= 0])
    assert len(common) > 0.99 * len(cpu.sparse_sdf) and len(common) > 0.99 * len(sdf.sparse_sdf)
    assert (np.diff(common[:, 0]) > 0).all()  # the same order
    np.testing.assert_array_equal(sdf.sparse_sdf[common[:, 0]] < 0,
                                  cpu.sparse_sdf[common[:, 1]] < 0)
    return common


@pytest.mark.parametrize("device", _devices())
def test_grid_not_a_multiple_of_the_block_or_the_parity_word(device):
    """37 nodes per axis: the last block overhangs the grid, the parity words hold 5 spare
    bits; values within float16 of the CPU path's where it is exact."""
    result = make_watertight(MESHES["torus"](), 37)
    warp = sparse_sdf(result, truncation=2.5, device="warp-cpu" if device == "cpu" else device)
    cpu = sparse_sdf(result, truncation=2.5)
    assert warp.sparse_index.max() <= 36
    pairs = assert_same_nodes_as_cpu(warp, cpu)
    gap = np.abs(warp.distances()[pairs[:, 0]] - cpu.distances()[pairs[:, 1]])
    assert np.mean(gap < 0.1) > 0.99


def test_rejects_a_mesh_that_is_not_a_contour():
    result = make_watertight(MESHES["torus"](), 32)
    moved = result.mesh.copy()
    moved.vertices += 0.37 / 31  # off every grid line
    result.mesh = moved
    with pytest.raises(ValueError, match="not a contour"):
        sparse_sdf(result, truncation=2, device="warp-cpu")
