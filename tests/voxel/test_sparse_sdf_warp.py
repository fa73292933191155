"""The sparse SDF's Warp path (one closest-point query per node on the output's BVH): exact
distances with the CPU path's signs. On Warp's CPU backend everywhere, on CUDA where a GPU is
present (skipped cleanly otherwise)."""

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
    # where both paths store a node, they give it the same sign
    cpu = sparse_sdf(result, truncation=TRUNC)
    ours = dict(zip(map(tuple, sdf.sparse_index.tolist()), sdf.sparse_sdf < 0, strict=True))
    theirs = zip(map(tuple, cpu.sparse_index.tolist()), cpu.sparse_sdf < 0, strict=True)
    common = [ours[node] == inside for node, inside in theirs if node in ours]
    assert len(common) > 0.99 * len(cpu.sparse_sdf) and all(common)
