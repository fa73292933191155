import numpy as np
import trimesh

from meshprep.watertight.band import (
    BLOCK,
    build_band,
    from_grid,
    point_triangle_distance2,
    split_long_triangles,
    to_grid,
)


def _band_points(band):
    """Grid coordinates and stored values of every stored point inside the grid."""
    offsets = np.stack(np.meshgrid(*[np.arange(BLOCK)] * 3, indexing="ij"), -1).reshape(-1, 3)
    points = (band.block_origin[:, None, :] + offsets[None]).reshape(-1, 3)
    inside = (points < band.res).all(axis=1)
    return points[inside], band.udf.reshape(-1)[inside], band.crossed.reshape(-1)[inside]


def test_point_triangle_distance_matches_trimesh():
    rng = np.random.default_rng(1)
    for _ in range(20):
        tri = rng.normal(size=(3, 3))
        points = rng.normal(size=(50, 3)) * 2
        mesh = trimesh.Trimesh(tri, [[0, 1, 2]], process=False)
        _, expected, _ = trimesh.proximity.closest_point(mesh, points)
        ours = [np.sqrt(point_triangle_distance2(*p, tri)) for p in points]
        assert np.allclose(ours, expected, atol=1e-9)


def test_degenerate_triangles_do_not_fail():
    tri = np.array([[0.0, 0, 0], [0, 0, 0], [1, 1, 0]])  # two equal corners: a segment
    assert np.isclose(np.sqrt(point_triangle_distance2(1.0, 0.0, 0.0, tri)), np.sqrt(0.5))
    point = np.array([[0.0, 0, 0]] * 3)
    assert np.isclose(point_triangle_distance2(3.0, 4.0, 0.0, point), 25.0)


def test_band_distances_equal_brute_force_within_the_band():
    mesh = trimesh.creation.icosphere(2, radius=0.7)
    mesh.apply_translation([0.05, -0.1, 0.02])
    res, width = 40, 2.5
    band = build_band(mesh.vertices, mesh.faces, res, width)
    points, udf, _ = _band_points(band)
    _, exact, _ = trimesh.proximity.closest_point(mesh, from_grid(points, res))
    exact = exact / (2.0 / (res - 1))
    near = exact < width - 1e-6
    assert np.allclose(udf[near], exact[near], atol=1e-4)
    assert np.isinf(udf[exact > width + 1e-6]).all()
    # no grid point within the band is missing from the stored blocks
    grid = np.stack(np.meshgrid(*[np.arange(res)] * 3, indexing="ij"), -1).reshape(-1, 3)
    _, all_exact, _ = trimesh.proximity.closest_point(mesh, from_grid(grid, res))
    assert (all_exact / (2.0 / (res - 1)) < width - 1e-6).sum() == np.isfinite(udf).sum()


def test_crossing_bits_mark_edges_through_a_plane():
    res = 17
    z = 0.3  # the plane z = 0.3 in [-1, 1]: between grid planes
    v = np.array([[-0.9, -0.9, z], [0.9, -0.9, z], [0.9, 0.9, z], [-0.9, 0.9, z]])
    band = build_band(v, np.array([[0, 1, 2], [0, 2, 3]]), res, 2.0)
    points, _, crossed = _band_points(band)
    g = to_grid(np.array([[0, 0, z]]), res)[0, 2]
    lo, hi = to_grid(np.array([[-0.9, -0.9, 0]]), res)[0, :2], to_grid(np.array([[0.9, 0.9, 0]]),
                                                                        res)[0, :2]
    inside_xy = ((points[:, :2] >= lo) & (points[:, :2] <= hi)).all(axis=1)
    expect_z = inside_xy & (points[:, 2] == np.floor(g))
    assert np.array_equal((crossed & 4) > 0, expect_z)
    assert not (crossed & 3).any()  # lines along x and y are parallel to the plane


def test_split_long_triangles_preserves_area_and_orientation():
    slanted = np.array([[[0.0, 0, 0], [40, 0, 40], [0, 30, 30]]])
    pieces = split_long_triangles(slanted, max_edge=8.0)
    edges = np.linalg.norm(pieces - np.roll(pieces, -1, axis=1), axis=2)
    assert edges.max() <= 8.0
    normals = np.cross(pieces[:, 1] - pieces[:, 0], pieces[:, 2] - pieces[:, 0])
    expected = np.cross(slanted[0, 1] - slanted[0, 0], slanted[0, 2] - slanted[0, 0])
    assert np.isclose(np.linalg.norm(normals, axis=1).sum(), np.linalg.norm(expected))
    assert (normals @ expected > 0).all()
