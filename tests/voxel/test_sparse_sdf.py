"""Sparse SDF band against libigl's winding numbers and exact distances to the watertight output."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from meshprep.voxel.sparse_sdf import SparseSDF, read_sparse_sdf, sparse_sdf
from meshprep.watertight import make_watertight

igl = pytest.importorskip("igl")

RES = 40
TRUNC = 3.0


def _torus() -> trimesh.Trimesh:
    return trimesh.creation.torus(0.55, 0.25, major_sections=48, minor_sections=24)


def _box_with_small_hole() -> trimesh.Trimesh:
    """A closed box with a hole about one voxel wide in its top: the watertight step closes it."""
    box = trimesh.creation.box((1.2, 1.0, 0.9)).subdivide_to_size(0.02)
    centres = box.triangles_center
    hole = np.linalg.norm(centres - [0.0, 0.0, 0.45], axis=1) < 0.025
    assert 0 < hole.sum() < 40
    return trimesh.Trimesh(box.vertices, box.faces[~hole], process=False)


def _nested_spheres() -> trimesh.Trimesh:
    """A sphere inside a sphere: the inner one is interior and the watertight step drops it."""
    outer = trimesh.creation.icosphere(3, radius=0.85)
    inner = trimesh.creation.icosphere(2, radius=0.35)
    return trimesh.util.concatenate([outer, inner])


MESHES = {"torus": _torus, "box_with_hole": _box_with_small_hole, "nested": _nested_spheres}


def _truth(result, points):
    """Winding number > 1/2 and the distance in voxels to the watertight output."""
    vertices = np.asarray(result.mesh.vertices, np.float64)
    faces = np.asarray(result.mesh.faces, np.int64)
    inside = igl.winding_number(vertices, faces, points) > 0.5
    d2 = igl.point_mesh_squared_distance(points, vertices, faces)[0]
    return inside, np.sqrt(d2) * (result.stats["resolution"] - 1) / 2


@pytest.fixture(scope="module", params=sorted(MESHES))
def case(request):
    result = make_watertight(MESHES[request.param](), RES)
    return request.param, result, sparse_sdf(result, truncation=TRUNC)


def test_signs_are_winding_numbers_of_the_output(case):
    _, result, sdf = case
    inside, _ = _truth(result, sdf.points())
    agree = inside == (sdf.sparse_sdf < 0)
    assert agree.mean() >= 0.999
    assert agree.all()  # exact by construction: the step's own signs


def test_values_are_distances_to_the_output(case):
    _, result, sdf = case
    _, dist = _truth(result, sdf.points())
    value = np.abs(sdf.sparse_sdf.astype(np.float64)) * TRUNC
    error = np.abs(value - np.minimum(dist, TRUNC))
    assert (error < 0.1).mean() >= 0.99
    assert value.min() >= 0 and (value <= TRUNC).all()
    # every value is a distance to some output triangle: never (beyond rounding) below the truth
    assert (value >= dist - 2e-3).all()


def test_band_holds_the_nodes_near_the_output(case):
    _, result, sdf = case
    grid = np.stack(np.meshgrid(*[np.arange(RES)] * 3, indexing="ij"), -1).reshape(-1, 3)
    _, dist = _truth(result, grid / (RES - 1) * 2.0 - 1.0)
    stored = np.zeros((RES,) * 3, bool)
    stored[tuple(sdf.sparse_index.T.astype(np.int64))] = True
    near = dist.reshape((RES,) * 3) <= TRUNC - 0.1
    assert stored[near].all()
    assert (dist.reshape((RES,) * 3)[stored] <= TRUNC + 1e-6).all()
    assert len(np.unique(sdf.sparse_index, axis=0)) == len(sdf.sparse_index)


def test_interior_part_and_closed_hole():
    result = make_watertight(_nested_spheres(), RES)
    sdf = sparse_sdf(result, truncation=TRUNC)
    radius = np.linalg.norm(sdf.points(), axis=1)
    # no node near the dropped inner sphere (r = 0.35) is stored: only the outer surface's band
    assert radius.min() > 0.85 - (TRUNC + 1) * 2 / (RES - 1)
    box = make_watertight(_box_with_small_hole(), RES)
    sdf = sparse_sdf(box, truncation=TRUNC)
    below_hole = np.all(np.abs(sdf.points() - [0.0, 0.0, 0.38]) < 0.05, axis=1)
    assert below_hole.any() and (sdf.sparse_sdf[below_hole] < 0).all()  # the hole is closed


def test_index_convention_dtype_and_range(case):
    _, result, sdf = case
    assert sdf.sparse_index.dtype == np.uint16 and sdf.sparse_index.shape[1] == 3
    assert sdf.sparse_sdf.dtype == np.float16 and len(sdf.sparse_sdf) == len(sdf.sparse_index)
    assert np.abs(sdf.sparse_sdf).max() <= 1.0
    assert sdf.resolution == RES and sdf.truncation == TRUNC
    assert sdf.sparse_index.max() <= RES - 1
    i = sdf.sparse_index.astype(np.float64)
    np.testing.assert_allclose(sdf.points(), i / (RES - 1) * 2 - 1)
    # the frame of the watertight mesh: its vertices lie on edges between stored nodes
    grid = (np.asarray(result.mesh.vertices) + 1) * (RES - 1) / 2
    assert (np.abs(grid - np.rint(grid)) < 1e-6).sum(axis=1).min() == 2


def test_npz_round_trip(case, tmp_path):
    _, _, sdf = case
    path = sdf.save(tmp_path)
    assert path.name == f"sparse_sdf_{RES}.npz"
    with np.load(path) as data:
        assert set(data.files) == {"sparse_index", "sparse_sdf", "resolution", "truncation"}
        assert int(data["resolution"]) == RES and float(data["truncation"]) == TRUNC
    back = read_sparse_sdf(path)
    np.testing.assert_array_equal(back.sparse_index, sdf.sparse_index)
    np.testing.assert_array_equal(back.sparse_sdf, sdf.sparse_sdf)
    assert isinstance(back, SparseSDF) and back.resolution == RES


def test_mesh_input_matches_result_input():
    mesh = _torus()
    direct = sparse_sdf(mesh, 32, truncation=2)
    again = sparse_sdf(make_watertight(mesh, 32), truncation=2)
    np.testing.assert_array_equal(direct.sparse_index, again.sparse_index)
    np.testing.assert_array_equal(direct.sparse_sdf, again.sparse_sdf)
    assert direct.stats["watertight"]["resolution"] == 32


def test_rejects_what_it_cannot_sign():
    result = make_watertight(_torus(), 32)
    with pytest.raises(ValueError, match="resolution"):
        sparse_sdf(result, 64)
    with pytest.raises(ValueError, match="truncation"):
        sparse_sdf(result, truncation=0)
    decimated = make_watertight(_torus(), 32, target_faces=500)
    with pytest.raises(ValueError, match="undecimated"):
        sparse_sdf(decimated)
