import math

import numpy as np
import pytest
import trimesh

from meshprep.sample import salient_edges, sample_salient
from meshprep.sample._mesh import weld
from meshprep.sample.salient import _apportion

from ..conftest import open_box


def _distance_to_segments(points, a, b):
    """Distance from each point to the nearest of the segments ``a[i] -> b[i]``."""
    points = np.asarray(points, float)
    best = np.full(len(points), np.inf)
    for start, end in zip(a, b, strict=True):
        d = end - start
        t = np.clip((points - start) @ d / (d @ d), 0.0, 1.0)
        best = np.minimum(best, np.linalg.norm(points - start - t[:, None] * d, axis=1))
    return best


def _reference_edges(mesh, angle=30.0):
    """The published recipe's edge test: a Python loop over trimesh's face adjacency."""
    threshold = math.radians(angle)
    found = set()
    for i, (f0, f1) in enumerate(mesh.face_adjacency):
        cos = np.clip(np.dot(mesh.face_normals[f0], mesh.face_normals[f1]), -1.0, 1.0)
        if math.acos(cos) > threshold:
            v0, v1 = mesh.face_adjacency_edges[i]
            if np.linalg.norm(mesh.vertices[v0] - mesh.vertices[v1]) > 1e-8:
                found.add((min(v0, v1), max(v0, v1)))
    return found


def test_cube_points_lie_on_its_edges(cube):
    found = salient_edges(cube)
    assert len(found.edges) == 12
    points, normals = sample_salient(cube, 10_000, seed=0)
    assert points.shape == (10_000, 3) and points.dtype == np.float32
    ends = found.vertices[found.edges]
    assert _distance_to_segments(points, ends[:, 0], ends[:, 1]).max() < 1e-6
    # on an edge, the normal is the mean of the two faces': two components of +-1/sqrt(2)
    assert np.allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-6)
    interior = (np.abs(np.abs(points) - 0.5) < 1e-6).sum(axis=1) == 2
    assert np.allclose(np.sort(np.abs(normals[interior]), axis=1)[:, 1:], np.sqrt(0.5), atol=1e-6)


def test_same_edge_set_as_the_reference_loop(fandisk):
    found = salient_edges(fandisk)
    # the reference runs on the same welded vertex indexing
    vertices, faces = weld(np.asarray(fandisk.vertices), np.asarray(fandisk.faces))
    reference = _reference_edges(trimesh.Trimesh(vertices, faces, process=False))
    assert set(map(tuple, found.edges.tolist())) == reference
    assert len(reference) > 100


def test_count_is_exact_in_every_regime(fandisk):
    n_vertices = len(np.unique(salient_edges(fandisk).edges))
    for count in (1, n_vertices - 1, n_vertices, n_vertices + 1, 20_000):
        points, _, stats = sample_salient(fandisk, count, seed=0, return_stats=True)
        assert len(points) == count
        assert stats.farthest_point_sampled == (count < n_vertices)
        assert not stats.fallback


def test_fandisk_points_lie_on_salient_edges(fandisk):
    found = salient_edges(fandisk)
    ends = found.vertices[found.edges]
    for count in (300, 20_000):  # farthest point sampled vertices; vertices + edge points
        points, normals = sample_salient(fandisk, count, seed=1)
        assert _distance_to_segments(points, ends[:, 0], ends[:, 1]).max() < 1e-6
        assert np.allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-6)


def test_vertices_first_then_edge_points_in_proportion(cube):
    points, _ = sample_salient(cube, 8 + 12 * 9, seed=0, shuffle=False)
    corners = np.abs(np.abs(points[:8]) - 0.5).max(axis=1)
    assert corners.max() < 1e-6  # the 8 corners come first
    # equal edges: 9 points each at t = j / 10, never on a corner
    rest = points[8:].astype(float)
    on_corner = (np.abs(np.abs(rest) - 0.5) < 1e-6).all(axis=1)
    assert not on_corner.any()
    along = np.sort(rest[:9], axis=0)
    varying = np.ptp(along, axis=0).argmax()
    assert np.allclose(np.diff(along[:, varying]), 0.1, atol=1e-6)


def test_apportion_sums_exactly():
    lengths = np.random.default_rng(0).random(1000) + 1e-3
    for total in (0, 1, 999, 1000, 123_457):
        counts = _apportion(lengths, total)
        assert counts.sum() == total and counts.min() >= 0
        assert np.abs(counts - lengths * total / lengths.sum()).max() < 1.0


def test_smooth_mesh_falls_back_to_uniform(sphere):
    points, normals, stats = sample_salient(sphere, 3000, seed=0, return_stats=True)
    assert len(points) == 3000 and stats.fallback and stats.uniform_points == 3000
    assert np.allclose(np.linalg.norm(points, axis=1), 0.8, atol=0.02)


def test_boundary_edges_are_optional():
    box = open_box(0.5)
    plain = salient_edges(box)
    with_boundary = salient_edges(box, boundary=True)
    assert len(with_boundary.edges) == len(plain.edges) + 4
    assert with_boundary.boundary.sum() == 4


def test_split_vertices_are_welded(cube):
    # one vertex per face corner, as glTF exporters write hard edges
    split = trimesh.Trimesh(cube.triangles.reshape(-1, 3), np.arange(36).reshape(-1, 3),
                            process=False)
    assert len(salient_edges(split).edges) == 12
    assert len(salient_edges(split, weld_vertices=False).edges) == 0


def test_threshold_is_strict():
    # two faces folded at exactly 90 degrees: salient below 90, not at 90
    fold = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]],
                           [[0, 1, 2], [0, 3, 1]], process=False)
    assert len(salient_edges(fold, 89.0).edges) == 1
    assert len(salient_edges(fold, 90.5).edges) == 0


def test_seed_reproduces_bit_identical(fandisk):
    a = sample_salient(fandisk, 5000, seed=4)
    b = sample_salient(fandisk, 5000, seed=4)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    few = len(np.unique(salient_edges(fandisk).edges)) // 2
    c = sample_salient(fandisk, few, seed=4)
    d = sample_salient(fandisk, few, seed=5)
    assert not np.array_equal(np.sort(c[0], axis=0), np.sort(d[0], axis=0))


@pytest.mark.corpus
def test_corpus_edge_sets_match_the_reference(corpus_dir):
    from meshprep.geometry import normalize
    from meshprep.io import load
    for name in ("bunny_ply.ply", "featuretype.stl", "kenney_trees.glb", "teapot_stl.stl"):
        mesh, _ = normalize(load(corpus_dir / name))
        vertices, faces = weld(np.asarray(mesh.vertices), np.asarray(mesh.faces))
        reference = _reference_edges(trimesh.Trimesh(vertices, faces, process=False))
        assert set(map(tuple, salient_edges(mesh).edges.tolist())) == reference, name
