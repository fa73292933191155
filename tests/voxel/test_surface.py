"""TRELLIS (v1) surface voxels against an exact separating-axis test, known answers and Open3D."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from meshprep.errors import InvalidGeometryError
from meshprep.voxel.surface import (
    _voxelize,
    normalize_for_trellis,
    read_voxel_ply,
    surface_voxels,
    write_voxel_ply,
)

# ---------------------------------------------------------------------------------------------
# the yardstick: an exact triangle/box separating-axis test in float64, written independently


def _sat_overlap(tri: np.ndarray, centres: np.ndarray, half: float) -> np.ndarray:
    """Which closed boxes (centres (M, 3), half size ``half``) meet the closed triangle (3, 3).

    Separating axes: the box normals, the triangle normal and the nine edge × box-axis
    directions (zero directions are skipped: they never separate). Touching is overlap.
    """
    edges = tri[[1, 2, 0]] - tri
    axes = [np.eye(3)[i] for i in range(3)] + [np.cross(edges[0], edges[1])]
    axes += [np.cross(e, np.eye(3)[i]) for e in edges for i in range(3)]
    rel = tri[None, :, :] - centres[:, None, :]  # (M, 3 corners, 3)
    overlap = np.ones(len(centres), bool)
    for axis in axes:
        if not np.any(axis):
            continue
        proj = rel @ axis
        radius = half * np.abs(axis).sum()
        overlap &= ~((proj.min(axis=1) > radius) | (proj.max(axis=1) < -radius))
    return overlap


def _centres(cells: np.ndarray, res: int) -> np.ndarray:
    return (cells + 0.5) / res - 0.5


def _all_cells(res: int) -> np.ndarray:
    return np.stack(np.meshgrid(*[np.arange(res)] * 3, indexing="ij"), -1).reshape(-1, 3)


def _open3d_range(tri: np.ndarray, res: int) -> np.ndarray:
    """The cells Open3D visits for a triangle: from ``floor((min + 0.5) * res)``,
    ``round(extent * res) + 2`` of them per axis (round halves up)."""
    lo, hi = tri.min(axis=0), tri.max(axis=0)
    first = np.floor((lo + 0.5) * res).astype(int)
    count = np.floor((hi - lo) * res + 0.5).astype(int) + 2
    axes = [np.arange(f, f + c) for f, c in zip(first, count, strict=True)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)


def _brute_force(v: np.ndarray, f: np.ndarray, res: int, *, visited_only: bool) -> set:
    """Cells meeting a triangle, by the exact test: over every cell of the grid, or (as Open3D)
    only over the cells each triangle's range visits."""
    v = np.clip(v.astype(np.float64), -0.5 + 1e-6, 0.5 - 1e-6)
    everything = _all_cells(res)
    found = set()
    for tri in v[f]:
        cells = _open3d_range(tri, res) if visited_only else everything
        cells = cells[((cells >= 0) & (cells < res)).all(axis=1)]
        hit = _sat_overlap(tri, _centres(cells, res), 0.5 / res)
        found.update(map(tuple, cells[hit].tolist()))
    return found


def _as_set(cells: np.ndarray) -> set:
    return set(map(tuple, cells.tolist()))


def _soup(rng: np.random.Generator, n: int, size: float | None = None) -> tuple:
    if size is None:
        v = rng.uniform(-0.5, 0.5, (3 * n, 3))
    else:
        centre = rng.uniform(-0.45, 0.45, (n, 1, 3))
        v = (centre + rng.normal(0.0, size, (n, 3, 3))).reshape(-1, 3)
    return v, np.arange(3 * n).reshape(-1, 3)


# ---------------------------------------------------------------------------------------------
# against the exact test


@pytest.mark.parametrize("seed", range(3))
def test_random_soup_equals_exact_test_over_the_whole_grid(seed):
    v, f = _soup(np.random.default_rng(seed), 60)
    ours = surface_voxels(v, 16, faces=f, normalize=False)
    assert _as_set(ours) == _brute_force(v, f, 16, visited_only=False)


@pytest.mark.parametrize("seed", range(3))
def test_small_triangles_equal_exact_test(seed):
    v, f = _soup(np.random.default_rng(10 + seed), 300, size=0.03)
    ours = surface_voxels(v, 64, faces=f, normalize=False)
    assert _as_set(ours) == _brute_force(v, f, 64, visited_only=True)


def test_sphere_equals_exact_test():
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.45)
    ours = surface_voxels(sphere, 64, normalize=False)
    assert _as_set(ours) == _brute_force(sphere.vertices, sphere.faces, 64, visited_only=True)
    assert len(np.unique(ours, axis=0)) == len(ours)


@pytest.mark.parametrize("seed", range(4))
def test_grid_snapped_triangles_equal_exact_test(seed):
    """Corners on multiples of 1/128 (cell faces and centres): every product and sum of the
    test is exact in float64, so ties (triangles on faces, edges, corners) are decided exactly."""
    rng = np.random.default_rng(100 + seed)
    centre = rng.integers(-56, 57, (150, 1, 3))
    v = ((centre + rng.integers(-6, 7, (150, 3, 3))) / 128).reshape(-1, 3)
    f = np.arange(len(v)).reshape(-1, 3)
    ours = surface_voxels(v, 64, faces=f, normalize=False)
    assert _as_set(ours) == _brute_force(v, f, 64, visited_only=True)


_DEGENERATE = np.array([[0, 0, 0], [32, 32, 32], [48, 48, 48],  # a segment along a diagonal
                        [16, 16, 16], [16, 16, 16], [16, 16, 16],  # a point on a cell corner
                        [2, 2, 2], [38, 2, 2], [38, 2, 2],  # a segment along a cell edge
                        [-3, 5, 7], [9, -1, 7], [-3, 5, 7]], np.float64)  # a repeated corner


def test_degenerate_triangles_equal_exact_test():
    v = _DEGENERATE / 128  # on cell corners, edges and faces: exact in float64
    f = np.arange(len(v)).reshape(-1, 3)
    ours = surface_voxels(v, 64, faces=f, normalize=False)
    assert _as_set(ours) == _brute_force(v, f, 64, visited_only=True)


def test_large_triangles_use_columns_and_equal_exact_test():
    v, f = _soup(np.random.default_rng(7), 4)
    ours = surface_voxels(v, 64, faces=f, normalize=False)
    assert _as_set(ours) == _brute_force(v, f, 64, visited_only=True)


# ---------------------------------------------------------------------------------------------
# grid-aligned known answers (each checked against Open3D 0.20)


def test_axis_aligned_box_marks_the_cells_above_its_lower_faces():
    box = trimesh.creation.box((0.5, 0.5, 0.5))  # faces on the grid planes 16 and 48
    cells = surface_voxels(box, 64, normalize=False)
    assert len(cells) == 33**3 - 31**3
    assert cells.min() == 16 and cells.max() == 48


@pytest.mark.parametrize("axis", range(3))
def test_square_on_a_grid_plane_marks_one_layer(axis):
    square = np.array([[-0.3, -0.3], [0.3, -0.3], [0.3, 0.3], [-0.3, 0.3]])
    v = np.insert(square, axis, 0.0, axis=1)
    cells = surface_voxels(v, 64, faces=np.array([[0, 1, 2], [0, 2, 3]]), normalize=False)
    assert set(cells[:, axis].tolist()) == {32}
    assert len(cells) == (int(0.3 * 64) - int(-0.3 * 64) + 2) ** 2


def test_unit_box_is_clipped_inside_the_grid():
    cells = surface_voxels(trimesh.creation.box((1, 1, 1)), 64, normalize=False)
    assert cells.min() == 0 and cells.max() == 63
    assert len(cells) == 64**3 - 62**3


def test_sparse_and_dense_paths_agree():
    v, f = _soup(np.random.default_rng(3), 200, size=0.05)
    v = np.clip(v, -0.5 + 1e-6, 0.5 - 1e-6)
    f = f.astype(np.int32)
    dense = _voxelize(v, f, 64, dense=True)
    sparse = _voxelize(v, f, 64, dense=False)
    np.testing.assert_array_equal(dense, sparse)


def test_output_is_sorted_unique_int32():
    cells = surface_voxels(trimesh.creation.icosphere(2), 64)
    assert cells.dtype == np.int32 and cells.shape[1] == 3
    keys = (cells[:, 0] * 64 + cells[:, 1]) * 64 + cells[:, 2]
    assert np.all(np.diff(keys) > 0)


# ---------------------------------------------------------------------------------------------
# normalization, input checks


def test_normalize_for_trellis_centres_and_scales():
    rng = np.random.default_rng(5)
    v = rng.normal(size=(500, 3)) * [3.0, 1.0, 0.5] + [10.0, -4.0, 2.0]
    n = normalize_for_trellis(v)
    assert n.dtype == np.float32
    lo, hi = n.min(axis=0), n.max(axis=0)
    np.testing.assert_allclose((lo + hi) / 2, 0, atol=1e-7)
    np.testing.assert_allclose((hi - lo).max(), 1.0, atol=1e-6)
    # Blender's order (scale, then centre the scaled box) gives the same vertices
    s = 1.0 / (v.max(axis=0) - v.min(axis=0)).max()
    scaled = v * s
    expected = scaled - (scaled.min(axis=0) + scaled.max(axis=0)) / 2
    np.testing.assert_allclose(n, expected, atol=1e-6)


def test_normalize_true_is_normalize_then_voxelize():
    mesh = trimesh.creation.annulus(0.5, 2.0, height=1.0)
    mesh.apply_translation((3, 1, -2))
    direct = surface_voxels(mesh, 64)
    by_hand = surface_voxels(normalize_for_trellis(mesh.vertices), 64, faces=mesh.faces,
                             normalize=False)
    np.testing.assert_array_equal(direct, by_hand)


def test_bad_input_raises():
    with pytest.raises(InvalidGeometryError):
        surface_voxels(np.zeros((3, 3)), faces=np.zeros((0, 3), int))
    with pytest.raises(InvalidGeometryError):
        surface_voxels(np.full((3, 3), np.nan), faces=np.array([[0, 1, 2]]), normalize=False)
    with pytest.raises(InvalidGeometryError):
        surface_voxels(np.zeros((3, 3)), faces=np.array([[0, 1, 3]]))
    with pytest.raises(InvalidGeometryError):
        normalize_for_trellis(np.zeros((4, 3)))


# ---------------------------------------------------------------------------------------------
# TRELLIS's voxel PLY


def test_voxel_ply_round_trip(tmp_path):
    cells = surface_voxels(trimesh.creation.icosphere(3), 64)
    path = tmp_path / "voxels.ply"
    write_voxel_ply(path, cells, 64)
    data = path.read_bytes()
    header = (b"ply\nformat binary_little_endian 1.0\nelement vertex %d\n"
              b"property float x\nproperty float y\nproperty float z\nend_header\n" % len(cells))
    assert data.startswith(header) and len(data) == len(header) + 12 * len(cells)
    centres = np.frombuffer(data[len(header):], "<f4").reshape(-1, 3)
    np.testing.assert_array_equal(centres, ((cells + 0.5) / 64 - 0.5).astype(np.float32))
    np.testing.assert_array_equal(read_voxel_ply(path, 64), cells)
    # another reader sees the same points
    cloud = trimesh.load(path)
    np.testing.assert_allclose(np.asarray(cloud.vertices), centres, atol=0)


def test_voxel_ply_reads_extra_properties(tmp_path):
    path = tmp_path / "extra.ply"
    rows = np.zeros(2, [("x", "<f8"), ("nx", "<f4"), ("y", "<f8"), ("z", "<f8")])
    rows["x"], rows["y"], rows["z"] = [-0.4921875, 0.4921875], [0.0078125] * 2, [-0.0078125] * 2
    header = ("ply\nformat binary_little_endian 1.0\nelement vertex 2\nproperty double x\n"
              "property float nx\nproperty double y\nproperty double z\nend_header\n")
    path.write_bytes(header.encode() + rows.tobytes())
    np.testing.assert_array_equal(read_voxel_ply(path, 64), [[0, 32, 31], [63, 32, 31]])


def test_voxel_ply_rejects_ascii(tmp_path):
    path = tmp_path / "ascii.ply"
    path.write_text("ply\nformat ascii 1.0\nelement vertex 0\nproperty float x\nend_header\n")
    with pytest.raises(ValueError):
        read_voxel_ply(path)


# ---------------------------------------------------------------------------------------------
# against Open3D itself, where it is installed


def test_equals_open3d():
    o3d = pytest.importorskip("open3d")
    rng = np.random.default_rng(11)
    meshes = [_soup(rng, 100), _soup(rng, 300, size=0.03),
              ((rng.integers(-64, 65, (600, 3)) / 128), np.arange(600).reshape(-1, 3))]
    sphere = trimesh.creation.icosphere(3, 0.45)
    meshes.append((sphere.vertices, sphere.faces))
    # ties decided by rounding: a segment on the diagonal through inexact points, a point
    meshes.append((np.array([[0, 0, 0], [0.2, 0.2, 0.2], [0.4, 0.4, 0.4], [0.1, 0.1, 0.1],
                             [0.1, 0.1, 0.1], [0.1, 0.1, 0.1]]), np.arange(6).reshape(-1, 3)))
    meshes.append((_DEGENERATE / 128, np.arange(len(_DEGENERATE)).reshape(-1, 3)))
    for res in (64, 50):
        for v, f in meshes:
            clipped = np.clip(v, -0.5 + 1e-6, 0.5 - 1e-6)
            m = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(clipped),
                                          o3d.utility.Vector3iVector(f.astype(np.int32)))
            grid = o3d.geometry.VoxelGrid.create_from_triangle_mesh_within_bounds(
                m, voxel_size=1 / res, min_bound=(-0.5,) * 3, max_bound=(0.5,) * 3)
            theirs = {tuple(x.grid_index.tolist()) for x in grid.get_voxels()}
            assert _as_set(surface_voxels(v, res, faces=f, normalize=False)) == theirs
