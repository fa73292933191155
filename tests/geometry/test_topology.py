import numpy as np
import pytest
import trimesh

from meshprep.errors import TopologyError
from meshprep.geometry import check_topology, require_closed_manifold, weld_exact


def test_closed_sphere_and_torus_genus():
    sphere = trimesh.creation.icosphere(3)
    report = check_topology(sphere.vertices, sphere.faces)
    assert report.closed_2manifold and report.genus == 0 and report.euler == 2
    torus = trimesh.creation.torus(1.0, 0.3)
    report = check_topology(torus.vertices, torus.faces)
    assert report.closed_2manifold and report.genus == 1


def test_defects_are_counted():
    sphere = trimesh.creation.icosphere(2)
    holed = check_topology(sphere.vertices, sphere.faces[1:])
    assert not holed.closed_2manifold and holed.boundary_edges == 3
    flipped = sphere.faces.copy()
    flipped[0] = flipped[0, ::-1]
    assert check_topology(sphere.vertices, flipped).misoriented_edges > 0
    tripled = np.concatenate([sphere.faces, sphere.faces[:1, ::-1]])
    assert check_topology(sphere.vertices, tripled).nonmanifold_edges > 0
    degenerate = sphere.faces.copy()
    degenerate[0, 1] = degenerate[0, 0]
    assert check_topology(sphere.vertices, degenerate).degenerate_faces == 1


def test_two_spheres_sharing_one_vertex_are_not_manifold():
    a = trimesh.creation.icosphere(1)
    b = a.copy()
    b.apply_translation(a.vertices[0] - (-a.vertices[0]))  # touch at one vertex
    v = np.concatenate([a.vertices, b.vertices])
    f = np.concatenate([a.faces, b.faces + len(a.vertices)])
    v, f = weld_exact(v, f)
    report = check_topology(v, f)
    assert report.boundary_edges == 0 and report.nonmanifold_vertices == 1
    assert not report.closed_2manifold
    with pytest.raises(TopologyError):
        require_closed_manifold(v, f)


def test_components_and_empty():
    a = trimesh.creation.icosphere(1)
    b = a.copy()
    b.apply_translation([5, 0, 0])
    both = trimesh.util.concatenate([a, b])
    report = check_topology(both.vertices, both.faces)
    assert report.components == 2 and report.genus == 0
    assert not check_topology(np.zeros((0, 3)), np.zeros((0, 3), int)).closed_2manifold
