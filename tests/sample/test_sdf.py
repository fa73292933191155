import numpy as np
import pytest
import trimesh

from meshprep.sample import MeshDistance, sample_salient, sample_sdf
from meshprep.sample.sdf import truncated_normal


@pytest.fixture(scope="module")
def ball():
    return trimesh.creation.icosphere(subdivisions=4, radius=0.6)


def test_counts_dtypes_and_ranges(ball, cube):
    salient, _ = sample_salient(cube, 2000, seed=0)
    out = sample_sdf(cube, volume=3000, near=6000, salient=salient, seed=0)
    assert out.volume_points.shape == (3000, 3) and out.volume_sdf.shape == (3000,)
    assert out.near_points.shape == (6000, 3) and out.near_sdf.shape == (6000,)
    assert out.volume_points.dtype == np.float32 and out.near_sdf.dtype == np.float32
    assert out.salient_count == 2000
    assert len(out.surface_near_points) == 4000 and len(out.salient_near_points) == 2000
    assert np.abs(out.volume_points).max() <= 1.05
    # the cube's exact SDF: outside distance to the box, inside minus the distance to a face
    q = np.abs(out.near_points.astype(float)) - 0.5
    exact = np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(axis=1), 0)
    assert np.allclose(out.near_sdf, exact, atol=1e-6)


def test_near_offsets_follow_the_sigmas(ball):
    out = sample_sdf(ball, volume=0, near=40_000, seed=1)
    # around a sphere of radius 0.6 the signed distance is |p| - 0.6 (up to facets)
    offsets = np.sort(np.abs(out.near_sdf))
    # half the points have sigma 0.005, half 0.05: the median |offset| sits between them
    assert 0.004 < np.median(offsets) < 0.03
    assert offsets.max() <= 0.25 * np.sqrt(3) + 1e-3  # truncated coordinates


def test_salient_groups_use_the_six_sigmas(cube):
    salient, _ = sample_salient(cube, 60_000, seed=0)
    out = sample_sdf(cube, volume=0, near=60_000, salient=salient, salient_fraction=1.0, seed=2)
    # |sdf| of Gaussian offsets from an edge is at most the offset length: the spread must
    # cover the smallest (0.001) and the largest (0.06) sigma
    spread = np.abs(out.near_sdf)
    assert np.quantile(spread, 0.05) < 0.002 and np.quantile(spread, 0.99) > 0.05


def test_truncation_and_occupancy(ball):
    out = sample_sdf(ball, volume=2000, near=2000, truncation=0.015, seed=3)
    assert np.abs(out.volume_sdf).max() <= 0.015
    assert out.truncation == 0.015
    occupancy = out.volume_occupancy
    assert occupancy.dtype == np.uint8
    inside = np.linalg.norm(out.volume_points, axis=1) < 0.59
    assert (occupancy[inside] == 1).all()
    assert (occupancy[np.linalg.norm(out.volume_points, axis=1) > 0.61] == 0).all()


def test_seed_reproduces_bit_identical_and_field_reuse(ball):
    field = MeshDistance(ball)
    a = sample_sdf(ball, volume=1000, near=2000, seed=5)
    b = sample_sdf(field, volume=1000, near=2000, seed=5)
    c = sample_sdf(field, volume=1000, near=2000, seed=6)
    for key in ("volume_points", "volume_sdf", "near_points", "near_sdf"):
        assert np.array_equal(getattr(a, key), getattr(b, key))
    assert not np.array_equal(a.near_points, c.near_points)


def test_truncated_normal_stays_in_bounds():
    values = truncated_normal(np.random.default_rng(0), 0.2, (100_000,), 0.25)
    assert np.abs(values).max() <= 0.25
    # truncation at 1.25 sigma: the standard deviation shrinks to about 0.64 sigma
    assert 0.12 < values.std() < 0.135


def test_bad_arguments(ball):
    with pytest.raises(ValueError):
        sample_sdf(ball, volume=-1)
    with pytest.raises(ValueError):
        sample_sdf(ball, salient_fraction=1.5)
