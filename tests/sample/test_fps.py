import numpy as np
import pytest

from meshprep.sample import farthest_point_sampling
from meshprep.sample.fps import default_height


def _min_spacing(points):
    d = np.linalg.norm(points[:, None] - points[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    return d.min()


def test_indices_unique_exact_and_spread():
    rng = np.random.default_rng(0)
    points = rng.random((20_000, 3))
    idx = farthest_point_sampling(points, 300, start=5)
    assert idx.shape == (300,) and idx.dtype == np.int64
    assert len(np.unique(idx)) == 300
    # farthest points are far better spread than a random subset of the same size
    assert _min_spacing(points[idx]) > 3 * _min_spacing(points[rng.choice(20_000, 300)])


def test_seeded_start_is_deterministic():
    points = np.random.default_rng(1).random((5000, 3))
    a = farthest_point_sampling(points, 100, seed=3)
    assert np.array_equal(a, farthest_point_sampling(points, 100, seed=3))
    assert not np.array_equal(a, farthest_point_sampling(points, 100, seed=4))


def test_every_point_is_the_farthest_from_those_before():
    points = np.random.default_rng(5).random((3000, 3))
    idx = farthest_point_sampling(points, 40, seed=0)
    for k in range(1, 40):
        gap = np.linalg.norm(points[:, None] - points[idx[:k]][None], axis=-1).min(axis=1)
        assert np.isclose(gap[idx[k]], gap.max(), atol=1e-6)


def test_exact_start():
    points = np.random.default_rng(6).random((2000, 3))
    idx = farthest_point_sampling(points, 50, start=123, exact_start=True)
    assert idx[0] == 123 and len(np.unique(idx)) == 50


def test_edge_counts():
    points = np.random.default_rng(2).random((64, 3))
    assert farthest_point_sampling(points, 0).shape == (0,)
    assert np.array_equal(farthest_point_sampling(points, 1, start=9), [9])
    assert sorted(farthest_point_sampling(points, 64)) == list(range(64))
    with pytest.raises(ValueError):
        farthest_point_sampling(points, 65)
    with pytest.raises(ValueError):
        farthest_point_sampling(points, 3, start=64)


def test_default_height_grows_with_the_cloud():
    assert default_height(100) == 3
    assert default_height(70_000) == 7
    assert default_height(10**9) == 11
