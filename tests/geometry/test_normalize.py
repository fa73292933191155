import numpy as np
import pytest
import trimesh

from meshprep.geometry import apply_transform, denormalize, normalization_transform, normalize


def test_normalize_fits_bound_and_centres():
    mesh = trimesh.creation.box(extents=[4, 2, 1])
    mesh.apply_translation([10, -3, 7])
    out, transform = normalize(mesh, bound=0.9)
    lo, hi = out.bounds
    assert np.allclose((lo + hi) / 2, 0)
    assert np.isclose((hi - lo).max(), 1.8)
    assert np.allclose(apply_transform(mesh.vertices, transform), out.vertices)


def test_round_trip_restores_original_coordinates():
    rng = np.random.default_rng(0)
    mesh = trimesh.Trimesh(rng.normal(size=(50, 3)) * 100 + 5, rng.integers(0, 50, (30, 3)),
                           process=False)
    out, transform = normalize(mesh)
    back = denormalize(out, transform)
    assert np.allclose(back.vertices, mesh.vertices, atol=1e-9)
    assert np.array_equal(back.faces, mesh.faces)


def test_flat_and_point_inputs():
    flat = np.array([[0, 0, 0], [2, 0, 0], [0, 2, 0.0]])
    t = normalization_transform(flat)
    assert np.isclose(np.abs(apply_transform(flat, t)).max(), 0.95)
    single = np.array([[1.0, 2, 3]])
    assert np.allclose(apply_transform(single, normalization_transform(single)), 0)
    with pytest.raises(ValueError):
        normalization_transform(flat, bound=0)
