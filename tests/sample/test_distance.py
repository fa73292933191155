import igl
import numpy as np
import pytest
import trimesh

from meshprep.sample import MeshDistance, signed_distance


def _wedge(angle_deg: float = 1.0, length: float = 1.0) -> trimesh.Trimesh:
    """A closed triangular prism whose cross-section has a very acute corner (a sliver)."""
    half = np.radians(angle_deg) / 2
    section = [[0.0, 0.0], [length * np.cos(half), -length * np.sin(half)],
               [length * np.cos(half), length * np.sin(half)]]  # counter-clockwise
    vertices = np.array([[x - 0.5, y, z] for z in (-0.3, 0.3) for x, y in section])
    faces = [[0, 2, 1], [3, 4, 5]]  # bottom, top
    for i in range(3):
        j = (i + 1) % 3
        faces += [[i, j, j + 3], [i, j + 3, i + 3]]
    prism = trimesh.Trimesh(vertices, faces, process=False)
    for _ in range(3):
        prism = prism.subdivide()
    assert prism.volume > 0
    return prism


def _thin_slab(thickness: float = 0.002) -> trimesh.Trimesh:
    """Two sheets ``thickness`` apart (half a voxel at 512), closed, finely triangulated."""
    slab = trimesh.creation.box(extents=(1.2, 1.2, thickness))
    for _ in range(4):
        slab = slab.subdivide()
    return slab


def _queries(mesh: trimesh.Trimesh, rng: np.random.Generator, scale: float) -> np.ndarray:
    volume = rng.uniform(-1.05, 1.05, (3000, 3))
    surface, _ = trimesh.sample.sample_surface(mesh, 3000, seed=int(rng.integers(1 << 30)))
    near = surface + rng.normal(0.0, scale, surface.shape)
    return np.concatenate([volume, near])


CLOSED = {
    "sphere": lambda: trimesh.creation.icosphere(subdivisions=3, radius=0.7),
    "cube": lambda: trimesh.creation.box(extents=(1.0, 0.8, 0.6)),
    "torus": lambda: trimesh.creation.torus(0.6, 0.2),
    "thin_slab": _thin_slab,
    "wedge": _wedge,
}


@pytest.mark.parametrize("name", sorted(CLOSED))
def test_signs_match_winding_numbers(name):
    mesh = CLOSED[name]()
    assert mesh.is_watertight and mesh.is_winding_consistent
    rng = np.random.default_rng(0)
    scale = 0.0005 if name in ("thin_slab", "wedge") else 0.01
    points = _queries(mesh, rng, scale)
    sdf = signed_distance(mesh, points)
    winding = igl.winding_number(np.asarray(mesh.vertices), np.asarray(mesh.faces, np.int64),
                                 points)
    inside = winding > 0.5
    # points closer than 1e-9 have no meaningful sign
    decided = np.abs(sdf) > 1e-9
    assert np.array_equal((sdf < 0)[decided], inside[decided])
    assert inside.sum() > 100  # the test sees both sides


@pytest.mark.parametrize("name", ["torus", "wedge"])
def test_distances_are_exact(name):
    mesh = CLOSED[name]()
    points = _queries(mesh, np.random.default_rng(1), 0.02)
    distance, closest, face = MeshDistance(mesh).closest(points)
    expected, _, _ = igl.point_mesh_squared_distance(
        points, np.asarray(mesh.vertices), np.asarray(mesh.faces, np.int64))
    assert np.allclose(distance, np.sqrt(expected), atol=1e-12)
    assert np.allclose(np.linalg.norm(points - closest, axis=1), distance, atol=1e-12)
    # the reported face holds the closest point: its distance to that triangle is the answer
    _, on_face, _ = trimesh.proximity.closest_point(
        trimesh.Trimesh(mesh.vertices, mesh.faces[face[:200]], process=False), closest[:200])
    assert on_face.max() < 1e-9


def test_thin_sliver_interior_is_negative():
    slab = _thin_slab(0.002)
    rng = np.random.default_rng(2)
    between = np.column_stack([rng.uniform(-0.55, 0.55, (500, 2)),
                               rng.uniform(-0.0009, 0.0009, 500)])
    sdf = signed_distance(slab, between)
    assert (sdf < 0).all()
    assert np.allclose(-sdf, 0.001 - np.abs(between[:, 2]), atol=1e-12)


def test_reuse_and_order_independence():
    mesh = trimesh.creation.torus(0.6, 0.2)
    points = _queries(mesh, np.random.default_rng(3), 0.02)
    field = MeshDistance(mesh)
    a = field.signed_distance(points)
    perm = np.random.default_rng(4).permutation(len(points))
    assert np.array_equal(field.signed_distance(points[perm]), a[perm])
    assert field.signed_distance(np.zeros((0, 3))).shape == (0,)


def test_bad_input():
    with pytest.raises(ValueError):
        MeshDistance((np.zeros((3, 3)), np.zeros((0, 3), np.int64)))
    with pytest.raises(ValueError):
        signed_distance(trimesh.creation.box(), [[np.nan, 0, 0]])
