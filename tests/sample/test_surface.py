import numpy as np
import pytest
import trimesh

from meshprep.sample import sample_surface

from .conftest import two_parts


def test_count_dtype_and_points_on_the_surface(sphere):
    points, normals, faces = sample_surface(sphere, 5000, seed=0, return_faces=True)
    assert points.shape == (5000, 3) and normals.shape == (5000, 3)
    assert points.dtype == np.float32 and normals.dtype == np.float32
    # on the sampled face: distance to its plane is float32 rounding only
    tri = sphere.triangles[faces]
    offset = np.einsum("ij,ij->i", points - tri[:, 0], sphere.face_normals[faces])
    assert np.abs(offset).max() < 1e-6
    assert np.allclose(normals, sphere.face_normals[faces], atol=1e-7)


def test_area_weighting_is_unbiased():
    # two triangles with areas 1 : 3: counts must follow a binomial(n, 3/4)
    n = 200_000
    _, _, faces = sample_surface(two_parts(3.0), n, seed=1, return_faces=True)
    big = np.count_nonzero(faces == 1)
    z = (big - 0.75 * n) / np.sqrt(n * 0.75 * 0.25)
    assert abs(z) < 4.5


def test_points_are_uniform_inside_a_triangle():
    # split the unit triangle into its 4 midpoint sub-triangles (equal areas): chi-square, 3 dof
    tri = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]], process=False)
    points, _ = sample_surface(tri, 40_000, seed=2)
    x, y = points[:, 0].astype(float), points[:, 1].astype(float)
    cell = np.where(x > 0.5, 0, np.where(y > 0.5, 1, np.where(x + y < 0.5, 2, 3)))
    counts = np.bincount(cell, minlength=4)
    chi2 = ((counts - 10_000) ** 2 / 10_000).sum()
    assert chi2 < 20.0  # p ~ 2e-4 for 3 degrees of freedom


def test_vertex_normals_are_smooth_on_a_sphere(sphere):
    points, normals = sample_surface(sphere, 2000, seed=0, normals="vertex")
    radial = points / np.linalg.norm(points, axis=1, keepdims=True)
    assert np.allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-6)
    # interpolated normals follow the sphere much better than the flat face normals
    _, face_normals = sample_surface(sphere, 2000, seed=0)
    err_vertex = 1 - np.einsum("ij,ij->i", normals, radial)
    err_face = 1 - np.einsum("ij,ij->i", face_normals, radial)
    assert err_vertex.mean() < err_face.mean() / 3


def test_seed_reproduces_bit_identical(sphere):
    a = sample_surface(sphere, 3000, seed=7)
    b = sample_surface(sphere, 3000, seed=7)
    c = sample_surface(sphere, 3000, seed=8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])


def test_zero_area_faces_are_never_drawn():
    mesh = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [0, 1, 0], [2, 2, 2]],
                           [[0, 1, 1], [0, 1, 2], [3, 3, 3]], process=False)
    _, _, faces = sample_surface(mesh, 1000, seed=0, return_faces=True)
    assert set(np.unique(faces)) == {1}


def test_errors():
    flat = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [2, 0, 0]], [[0, 1, 2]], process=False)
    with pytest.raises(ValueError, match="no surface area"):
        sample_surface(flat, 10)
    with pytest.raises(ValueError):
        sample_surface(two_parts(), -1)
    with pytest.raises(ValueError):
        sample_surface(two_parts(), 10, normals="smooth")
    assert sample_surface(two_parts(), 0)[0].shape == (0, 3)
